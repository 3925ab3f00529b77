// Replicas of a data-parallel computation as threads of one test process: the sum every replica gets is
// Σ over ranks in rank order, the same bits on each, as MPI_Allreduce gives every rank the same result.
import Foundation
import Kernels

/// `count` replicas that meet at a barrier; `run` starts one thread per replica and waits for all.
public final class ThreadReplicaHub: @unchecked Sendable {
    public let count: Int
    /// Each replica's buffer of the sum in progress; raw storage, since the replicas write their slots at once.
    private let buffers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let condition = NSCondition()
    private var arrived = 0, generation = 0

    public init(count: Int) {
        self.count = count
        buffers = .allocate(capacity: count)
        buffers.initialize(repeating: nil, count: count)
    }
    deinit { buffers.deallocate() }

    /// Runs `body(replica)` on one thread per replica and returns when every one has finished.
    public func run(_ body: @escaping @Sendable (ThreadReplica) -> Void) {
        let done = DispatchGroup()
        for rank in 0..<count {
            done.enter()
            let t = Thread {
                body(ThreadReplica(hub: self, rank: rank)); done.leave()
            }
            t.stackSize = 16 << 20
            t.start()
        }
        done.wait()
    }

    fileprivate func barrier() {
        condition.lock()
        let mine = generation
        arrived += 1
        if arrived == count { arrived = 0; generation += 1; condition.broadcast() } else { while mine == generation { condition.wait() } }
        condition.unlock()
    }

    fileprivate func sum<T: BinaryFloatingPoint>(_ values: UnsafeMutablePointer<T>, count n: Int, rank: Int) {
        buffers[rank] = UnsafeMutableRawPointer(values)
        barrier()
        var total = [T](repeating: 0, count: n)
        for r in 0..<count {
            let p = buffers[r]!.assumingMemoryBound(to: T.self)
            for i in 0..<n { total[i] += p[i] }
        }
        barrier() // every replica has read every buffer before any is overwritten
        for i in 0..<n { values[i] = total[i] }
        barrier()
    }
}

/// One thread's view of the hub.
public final class ThreadReplica: ReplicaGroup, @unchecked Sendable {
    let hub: ThreadReplicaHub
    public let rank: Int
    public var count: Int { hub.count }
    init(hub: ThreadReplicaHub, rank: Int) { self.hub = hub; self.rank = rank }
    public func sum(_ values: UnsafeMutablePointer<Double>, count: Int) { hub.sum(values, count: count, rank: rank) }
    public func sum(_ values: UnsafeMutablePointer<Float>, count: Int) { hub.sum(values, count: count, rank: rank) }
}

/// A value shared by the replica threads of a test, behind a lock.
public final class Locked<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()
    public init(_ value: Value) { stored = value }
    public var value: Value { lock.lock(); defer { lock.unlock() }; return stored }
    public func update(_ body: (inout Value) -> Void) { lock.lock(); body(&stored); lock.unlock() }
}
