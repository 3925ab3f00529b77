// gunzip against gzip streams made here with zlib's own deflate (gzip wrapper), and the MNIST IDX reader on
// the shipped test set and on small files written here.
import CSystemZlib
import Foundation
import XCTest
@testable import SVGData

/// gzip-compresses with zlib's deflate, windowBits 16 + 15 selecting the gzip wrapper.
func gzipWithZlib(_ input: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) -> Data {
    var stream = z_stream()
    precondition(
        deflateInit2_(
            &stream, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY,
            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 64)
    var source = input
    let produced = source.withUnsafeMutableBufferPointer { inBuffer in
        output.withUnsafeMutableBufferPointer { outBuffer -> Int in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            stream.next_out = outBuffer.baseAddress
            stream.avail_out = uInt(outBuffer.count)
            precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
            return outBuffer.count - Int(stream.avail_out)
        }
    }
    return Data(output[0..<produced])
}

final class GzipTests: XCTestCase {
    func testRoundTripRandomAndCompressible() throws {
        var rng = TestRNG(7)
        let random = (0..<100_000).map { _ in rng.byte() }
        let compressible = [UInt8]((0..<600_000).map { UInt8($0 % 7) }) // inflates past one 256 KiB chunk
        for input in [random, compressible, [UInt8]()] {
            let packed = gzipWithZlib(input)
            XCTAssertEqual(packed.prefix(2), Data([0x1F, 0x8B]))
            XCTAssertEqual([UInt8](try gunzip(packed)), input)
        }
    }

    func testConcatenatedMembers() throws {
        let a = [UInt8]("first member ".utf8), b = [UInt8]("second member".utf8)
        XCTAssertEqual([UInt8](try gunzip(gzipWithZlib(a) + gzipWithZlib(b))), a + b)
    }

    func testErrorsNameTheSource() throws {
        let packed = gzipWithZlib([UInt8](repeating: 42, count: 10_000) + (0..<1000).map { UInt8($0 & 0xFF) })
        assertThrowsMentioning("cut.gz", try gunzip(packed.prefix(packed.count - 10), source: "cut.gz"), "truncated")
        // A zlib stream (compress()) is not gzip.
        var zlibStream = [UInt8](repeating: 0, count: 100)
        var length = uLongf(zlibStream.count)
        let source = [UInt8]("hello hello hello".utf8)
        XCTAssertEqual(compress(&zlibStream, &length, source, uLong(source.count)), Z_OK)
        assertThrowsMentioning("z.bin", try gunzip(Data(zlibStream[0..<Int(length)]), source: "z.bin"), "not valid gzip")
        assertThrowsMentioning("empty.gz", try gunzip(Data(), source: "empty.gz"), "empty")
    }
}

final class MNISTTests: TemporaryFolderTestCase {
    func testShippedTestSet() throws {
        let mnist = try MNIST.load()
        XCTAssertEqual(mnist.count, 10_000)
        XCTAssertEqual(mnist.rows, 28)
        XCTAssertEqual(mnist.columns, 28)
        XCTAssertTrue(mnist.imagesPath.hasSuffix("t10k-images-idx3-ubyte.gz"))
        XCTAssertEqual(mnist.labels?.prefix(10).map(Int.init), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
        for i in 0..<10 {
            let image = mnist.image(i)
            let ink = image.pixels.filter { $0 > 0.5 }.count
            XCTAssertGreaterThan(ink, 30, "digit \(i) is (nearly) empty")
            XCTAssertGreaterThan(image.pixels.max()!, 0.9, "digit \(i) should reach (nearly) full intensity")
            // Ink sits in the middle: the border rows of MNIST digits are blank.
            XCTAssertEqual(image.pixels[0..<28].reduce(0, +), 0)
        }
        let train = mnist.indices(.train), test = mnist.indices(.test)
        XCTAssertEqual(train, 0..<8000)
        XCTAssertEqual(test, 8000..<10_000)
        XCTAssertEqual(mnist.digits(.test).count, 2000)
        XCTAssertEqual(mnist.digits(.test)[0], mnist.image(8000))
    }

    func testPlainIDXAndOverridePath() throws {
        let dir = try makeFolder("plain")
        let pixels: [UInt8] = (0..<(3 * 4 * 5)).map { UInt8($0 * 4) }
        try writeIDX(dir + "/train-images-idx3-ubyte", magic: 2051, dims: [3, 4, 5], bytes: pixels)
        try writeIDX(dir + "/train-labels-idx1-ubyte", magic: 2049, dims: [3], bytes: [3, 1, 4])
        let mnist = try MNIST.load(directory: dir, part: .train)
        XCTAssertEqual([mnist.count, mnist.rows, mnist.columns], [3, 4, 5])
        XCTAssertEqual(mnist.labels, [3, 1, 4])
        XCTAssertEqual(mnist.image(1).pixels, pixels[20..<40].map { Float($0) / 255 })
        // The same bytes gzipped read the same.
        let gz = try makeFolder("gz")
        let idx = try Data(contentsOf: URL(fileURLWithPath: dir + "/train-images-idx3-ubyte"))
        try gzipWithZlib([UInt8](idx)).write(to: URL(fileURLWithPath: gz + "/t10k-images-idx3-ubyte.gz"))
        XCTAssertEqual(try MNIST.load(directory: gz).pixels, pixels)
        XCTAssertNil(try MNIST.load(directory: gz).labels)
    }

    func testBadIDXFilesNameThePath() throws {
        let dir = try makeFolder("bad")
        assertThrowsMentioning(dir + "/t10k-images-idx3-ubyte", try MNIST.load(directory: dir), "not found")
        assertThrowsMentioning(path("nowhere"), try MNIST.load(directory: path("nowhere")), "no such")
        let file = dir + "/t10k-images-idx3-ubyte"
        try writeIDX(file, magic: 2049, dims: [1, 2, 2], bytes: [0, 0, 0, 0])
        assertThrowsMentioning(file, try MNIST.load(directory: dir), "magic 2049")
        try writeIDX(file, magic: 2051, dims: [2, 2, 2], bytes: [0, 0, 0, 0])
        assertThrowsMentioning(file, try MNIST.load(directory: dir), "truncated")
        try Data([0, 0, 8]).write(to: URL(fileURLWithPath: file))
        assertThrowsMentioning(file, try MNIST.load(directory: dir), "truncated")
        try writeIDX(file, magic: 2051, dims: [1, 2, 2], bytes: [0, 0, 0, 0])
        try writeIDX(dir + "/t10k-labels-idx1-ubyte", magic: 2049, dims: [2], bytes: [1, 2])
        assertThrowsMentioning(dir + "/t10k-labels-idx1-ubyte", try MNIST.load(directory: dir), "2 labels for 1 images")
        try FileManager.default.removeItem(atPath: file)
        let gz = file + ".gz"
        try Data([0x1F, 0x8B, 8, 0, 0, 0]).write(to: URL(fileURLWithPath: gz))
        assertThrowsMentioning(gz, try MNIST.load(directory: dir))
    }

    private func writeIDX(_ file: String, magic: Int, dims: [Int], bytes: [UInt8]) throws {
        var data = Data()
        for v in [magic] + dims { data.append(contentsOf: [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]) }
        data.append(contentsOf: bytes)
        try data.write(to: URL(fileURLWithPath: file))
    }
}
