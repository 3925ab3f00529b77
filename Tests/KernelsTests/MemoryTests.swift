import XCTest
@testable import Kernels

final class MemoryTests: XCTestCase {
    /// The arena's block: 2 MiB aligned (so madvise covers whole huge pages from its start) and every
    /// float writable, including a count that is not a whole number of huge pages.
    func testAllocateFloatsIsHugePageAlignedAndWritable() {
        for count in [1, 1000, hugePageBytes / 4 + 3] {
            let p = allocateFloats(count)
            XCTAssertEqual(Int(bitPattern: p) % hugePageBytes, 0, "\(count) floats")
            for i in 0..<count { p[i] = Float(i) }
            XCTAssertEqual(p[count - 1], Float(count - 1))
            p.deallocate()
        }
    }
}
