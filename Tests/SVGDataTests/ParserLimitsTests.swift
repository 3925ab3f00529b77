// Headers that claim more than any file holds must be errors, not traps or allocations: the defects the
// fuzz targets (Fuzz/, `make fuzz`) look for, each pinned by a hand-built input.
import Foundation
import XCTest
import Kernels
@testable import SVGData

final class ParserLimitsTests: XCTestCase {
    var folder = ""
    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("svgnet-limits-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    func expectError(_ what: String, mentioning: String, _ body: () throws -> Void) {
        do { try body(); XCTFail("\(what): no error") } catch {
            XCTAssertTrue("\(error)".contains(mentioning), "\(what): '\(error)' does not mention '\(mentioning)'")
        }
    }

    func testCheckedProduct() {
        XCTAssertEqual(checkedProduct([]), 1)
        XCTAssertEqual(checkedProduct([3, 0, 5]), 0)
        XCTAssertEqual(checkedProduct([1 << 31, 1 << 31]), 1 << 62)
        XCTAssertNil(checkedProduct([1 << 32, 1 << 32]))
        XCTAssertNil(checkedProduct([2, -1]))
    }

    /// The input libFuzzer found (Fuzz/corpus/fuzz-idx/crash-dims-overflow): magic 2051 and three dims of
    /// 0x5D5D5D5D, whose product overflowed Int and trapped.
    func testIDXDimsThatOverflow() throws {
        var bytes: [UInt8] = [0, 0, 8, 3]
        for _ in 0..<3 { bytes += [0x5D, 0x5D, 0x5D, 0x5D] }
        try Data(bytes).write(to: URL(fileURLWithPath: folder + "/t10k-images-idx3-ubyte"))
        expectError("IDX", mentioning: "multiply past any file size") { _ = try MNIST.load(directory: folder) }
    }

    func testNPYShapeThatOverflows() throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        let data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8))
        try data.write(to: URL(fileURLWithPath: folder + "/big.npy"))
        expectError("npy", mentioning: "multiplies past any file size") { _ = try NPY.read(folder + "/big.npy") }
    }

    /// A 100,000 × 100,000 gray PNG header (with a tiny, wrong IDAT): refused before its 10¹⁰ bytes are
    /// allocated.
    func testPNGHeaderClaimingGigapixels() throws {
        func chunk(_ kind: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(kind.utf8) + body
            var crc = UInt32(0xFFFF_FFFF)
            for b in typed { crc ^= UInt32(b); for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 } }
            crc ^= 0xFFFF_FFFF
            func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
            return be(UInt32(body.count)) + typed + be(crc)
        }
        let side: [UInt8] = [0, 0x01, 0x86, 0xA0] // 100,000
        let png =
            [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", side + side + [8, 0, 0, 0, 0])
            + chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + chunk("IEND", [])
        try Data(png).write(to: URL(fileURLWithPath: folder + "/huge.png"))
        expectError("PNG", mentioning: "at most \(maximumPNGPixels) pixels") { _ = try readPNG(folder + "/huge.png") }
    }

    /// 64 MiB of zeros gzip to ~64 KiB: past the limit they are an error; within it, the bytes.
    func testGzipThatInflatesPastTheLimit() throws {
        let zeros = Data(count: 64 << 20)
        let path = folder + "/zeros"
        try zeros.write(to: URL(fileURLWithPath: path))
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-kf", path]
        try gzip.run(); gzip.waitUntilExit()
        let packed = try Data(contentsOf: URL(fileURLWithPath: path + ".gz"))
        XCTAssertLessThan(packed.count, 1 << 20)
        expectError("gzip", mentioning: "inflates to more than 16 MiB") { _ = try gunzip(packed, limit: 16 << 20) }
        XCTAssertEqual(try gunzip(packed, limit: 64 << 20), zeros)
    }
}
