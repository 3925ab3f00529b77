import XCTest
@testable import Kernels

/// parallelFor hands every index to exactly one worker, with the workers capped or not.
final class ParallelTests: XCTestCase {
    struct Marks { var counts: UnsafeMutablePointer<Int32> }

    func coverage(_ count: Int, minimumPerWorker: Int) -> [Int32] {
        var counts = [Int32](repeating: 0, count: count)
        counts.withUnsafeMutableBufferPointer { p in
            parallelFor(count, minimumPerWorker: minimumPerWorker, Marks(counts: p.baseAddress!)) { raw, lo, hi in
                let m = arguments(raw, as: Marks.self)
                for i in lo..<hi { m.counts[i] += 1 }
            }
        }
        return counts
    }

    func testEveryIndexRunsExactlyOnce() {
        defer { setKernelThreadCount(Int.max) }
        for cap in [1, 2, Int.max] {
            setKernelThreadCount(cap)
            for (count, minimum) in [(0, 1), (1, 1), (7, 1), (1000, 1), (1000, 600), (100_003, 1)] {
                XCTAssertEqual(
                    coverage(count, minimumPerWorker: minimum), [Int32](repeating: 1, count: count),
                    "count \(count), minimum \(minimum), cap \(cap)")
            }
        }
        XCTAssertGreaterThanOrEqual(kernelThreadCount, 1)
    }
}
