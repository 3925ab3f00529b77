// Splitting memory-bound loops (im2col, col2im, BatchNorm, activations, the softmax) over the cores.
// OpenBLAS threads only its own GEMMs; everything between GEMMs would otherwise run on one core.
//
// parallelFor(count, args) { args, range in … } runs the body on disjoint ranges covering 0..<count,
// one per worker, and returns when all are done. The body is a C function pointer and its arguments
// a plain struct passed by pointer: handing a Swift closure to another thread allocates (a context for
// the escaping conversion), and a training step must allocate nothing. The workers are threads started
// once and woken by semaphores. Small counts run inline, and so does a call made while the pool is busy.
import Dispatch
import Foundation
import Synchronization

/// Elementwise loops (activations, Adam) split large arrays over the cores; below this many values per
/// worker the hand-off costs more than it saves.
let valuesPerWorker = 1 << 16

/// body(arguments, lowerBound, upperBound)
public typealias RangeBody = @convention(c) (UnsafeRawPointer, Int, Int) -> Void

/// Worker count for the non-BLAS loops: the online cores unless capped by setKernelThreadCount.
public var kernelThreadCount: Int { min(WorkerPool.shared.workers, WorkerPool.shared.cap.load(ordering: .relaxed)) }

/// Caps the workers of the non-BLAS loops (the command line's --threads sets this and OpenBLAS's count).
public func setKernelThreadCount(_ n: Int) { WorkerPool.shared.cap.store(max(1, n), ordering: .relaxed) }

/// Runs `body` on disjoint ranges covering 0..<count, one per worker, and returns when all are done;
/// `arguments` reaches the body by pointer (read it with `arguments(_:as:)`). Runs inline when the count is
/// small for `minimumPerWorker` or the pool is busy. Allocates nothing.
@inline(__always)
public func parallelFor<Arguments>(_ count: Int, minimumPerWorker: Int = 1, _ arguments: Arguments, _ body: RangeBody) {
    withUnsafePointer(to: arguments) { args in
        let raw = UnsafeRawPointer(args)
        let pool = WorkerPool.shared
        let workers = min(pool.workers, pool.cap.load(ordering: .relaxed), count / max(minimumPerWorker, 1))
        if workers <= 1 || !pool.tryAcquire() { body(raw, 0, count); return }
        pool.run(count: count, workers: workers, arguments: raw, body: body)
    }
}

/// The arguments struct inside a body.
@inline(__always)
public func arguments<Arguments>(_ raw: UnsafeRawPointer, as: Arguments.Type) -> Arguments {
    raw.assumingMemoryBound(to: Arguments.self).pointee
}

final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(workers: ProcessInfo.processInfo.activeProcessorCount)

    let workers: Int
    let cap = Atomic<Int>(Int.max)
    private let busy = Atomic<Bool>(false)
    private let start: [DispatchSemaphore]
    private let done = DispatchSemaphore(value: 0)
    // The current job, read by the workers between `start` and `done` (the semaphores order the accesses).
    private var body: RangeBody? = nil
    private var jobArguments: UnsafeRawPointer? = nil
    private var jobCount = 0
    private var jobWorkers = 0

    private init(workers: Int) {
        self.workers = max(1, workers)
        start = (0..<self.workers).map { _ in DispatchSemaphore(value: 0) }
        for w in 1..<self.workers {
            let thread = Thread { [unowned self] in self.serve(w) }
            thread.name = "svgnet-worker-\(w)"
            thread.start()
        }
    }

    func tryAcquire() -> Bool { busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged }

    private func bounds(_ w: Int) -> (Int, Int) { (jobCount * w / jobWorkers, jobCount * (w + 1) / jobWorkers) }

    private func serve(_ w: Int) {
        while true {
            start[w].wait()
            let (lo, hi) = bounds(w)
            body!(jobArguments!, lo, hi)
            done.signal()
        }
    }

    /// Caller holds `busy`; released on return.
    func run(count: Int, workers n: Int, arguments: UnsafeRawPointer, body: RangeBody) {
        jobCount = count; jobWorkers = n; jobArguments = arguments; self.body = body
        for w in 1..<n { start[w].signal() }
        let (lo, hi) = bounds(0)
        body(arguments, lo, hi)
        for _ in 1..<n { done.wait() }
        self.body = nil; jobArguments = nil
        busy.store(false, ordering: .releasing)
    }
}
