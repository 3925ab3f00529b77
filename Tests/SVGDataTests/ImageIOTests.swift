// PNG and GIF round trips through the library writers and giflib's own reader (DGifSlurp).
import CGIF
import Foundation
import XCTest
@testable import SVGData

final class ImageIOTests: TemporaryFolderTestCase {
    func testPNGRoundTripGrayAndRGBValueForValue() throws {
        var rng = TestRNG(1)
        for (channels, height, width) in [(1, 64, 64), (3, 64, 64), (1, 7, 5), (3, 3, 11)] {
            let image = rng.image(channels: channels, height: height, width: width)
            let file = path("round-\(channels)-\(height)x\(width).png")
            try writePNG(file, image)
            let back = try readPNG(file)
            XCTAssertEqual(back.channels, channels)
            XCTAssertEqual(back.height, height)
            XCTAssertEqual(back.width, width)
            XCTAssertEqual(back.pixels, image.pixels, "PNG \(channels)×\(height)×\(width) did not round-trip exactly")
        }
    }

    func testPNGWriteClampsAndRounds() throws {
        let image = Image(channels: 1, height: 1, width: 4, pixels: [-0.5, 1.5, 0.5 / 255 + 0.001, 0.2])
        let file = path("clamp.png")
        try writePNG(file, image)
        let back = try readPNG(file)
        XCTAssertEqual(back.pixels, [0, 1, 1 / 255, Float(51) / 255])
    }

    func testPNGWriteIsAtomicAndLeavesNoTemporaryFiles() throws {
        var rng = TestRNG(2)
        let file = path("atomic.png")
        try writePNG(file, rng.image(channels: 1, height: 8, width: 8))
        try writePNG(file, rng.image(channels: 3, height: 8, width: 8)) // overwrite in place
        XCTAssertEqual(try readPNG(file).channels, 3)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["atomic.png"])
        assertThrowsMentioning(path("missing-folder/x.png"), try writePNG(path("missing-folder/x.png"), rng.image(channels: 1, height: 2, width: 2)))
        assertThrowsMentioning(path("four.png"), try writePNG(path("four.png"), Image(channels: 4, height: 2, width: 2)), "4 channels")
    }

    func testPNGReadErrorsNameThePath() throws {
        assertThrowsMentioning(path("absent.png"), try readPNG(path("absent.png")), "no such")
        let garbage = path("garbage.png")
        try Data("this is not a png".utf8).write(to: URL(fileURLWithPath: garbage))
        assertThrowsMentioning(garbage, try readPNG(garbage), "PNG")
        // A valid file cut in half: the header reads, the pixel data does not.
        var rng = TestRNG(3)
        let whole = path("whole.png")
        try writePNG(whole, rng.image(channels: 3, height: 64, width: 64))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
        let truncated = path("truncated.png")
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        assertThrowsMentioning(truncated, try readPNG(truncated), "corrupt")
        assertThrowsMentioning(folder, try readPNG(folder), "directory")
    }

    func testGIFGrayRoundTripThroughDGifSlurp() throws {
        var rng = TestRNG(4)
        let frames = (0..<5).map { _ in rng.image(channels: 1, height: 16, width: 12) }
        let file = path("gray.gif")
        try writeGIF(file, frames: frames, delayCentiseconds: 25)
        let decoded = try slurp(file)
        XCTAssertEqual(decoded.frames.count, 5)
        XCTAssertEqual(decoded.width, 12)
        XCTAssertEqual(decoded.height, 16)
        XCTAssertEqual(decoded.delays, [Int](repeating: 25, count: 5))
        XCTAssertTrue(decoded.loops)
        // Readable like the PNGs and the metrics (giflib on its own would create it 0600).
        let mask = umask(0); umask(mask)
        let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue
        XCTAssertEqual(mode, 0o644 & ~Int(mask), "GIF file mode")
        for (t, frame) in frames.enumerated() {
            // Gray GIFs are lossless for byte-grid values: palette entry k is gray k.
            XCTAssertEqual(decoded.frames[t].map { Float($0.red) / 255 }, frame.pixels, "gray frame \(t)")
            XCTAssertTrue(decoded.frames[t].allSatisfy { $0.red == $0.green && $0.green == $0.blue })
        }
    }

    func testGIFColourQuantisesToTheFixedCube() throws {
        var rng = TestRNG(5)
        let frames = (0..<3).map { _ in rng.image(channels: 3, height: 9, width: 10) }
        let file = path("colour.gif")
        try writeGIF(file, frames: frames, delayCentiseconds: 10, loop: false)
        let decoded = try slurp(file)
        XCTAssertEqual(decoded.frames.count, 3)
        XCTAssertFalse(decoded.loops)
        for (t, frame) in frames.enumerated() {
            let plane = 90
            for p in 0..<plane {
                let pixel = decoded.frames[t][p]
                // Each channel is the nearest of 6 (red, blue) or 7 (green) levels: at most half a step away.
                XCTAssertEqual(Float(pixel.red) / 255, frame.pixels[p], accuracy: 0.5 / 5 + 0.002, "red t\(t) p\(p)")
                XCTAssertEqual(Float(pixel.green) / 255, frame.pixels[plane + p], accuracy: 0.5 / 6 + 0.002, "green t\(t) p\(p)")
                XCTAssertEqual(Float(pixel.blue) / 255, frame.pixels[2 * plane + p], accuracy: 0.5 / 5 + 0.002, "blue t\(t) p\(p)")
            }
        }
        // Exact palette colours survive exactly.
        let pure = Image(channels: 3, height: 1, width: 3, pixels: [1, 0, 0.6, 0, 1, 0.5, 0, 0, 0.2])
        try writeGIF(path("pure.gif"), frames: [pure], delayCentiseconds: 0)
        let back = try slurp(path("pure.gif")).frames[0]
        XCTAssertEqual(back.map { [$0.red, $0.green, $0.blue] }, [[255, 0, 0], [0, 255, 0], [153, 128, 51]])
    }

    func testGIFErrors() {
        assertThrowsMentioning(path("none.gif"), try writeGIF(path("none.gif"), frames: [], delayCentiseconds: 5), "without frames")
        let mixed = [Image(channels: 1, height: 4, width: 4), Image(channels: 1, height: 4, width: 5)]
        assertThrowsMentioning(path("mixed.gif"), try writeGIF(path("mixed.gif"), frames: mixed, delayCentiseconds: 5), "frame 1")
        assertThrowsMentioning(path("no/such/dir.gif"), try writeGIF(path("no/such/dir.gif"), frames: [mixed[0]], delayCentiseconds: 5))
    }

    struct Pixel { var red: UInt8; var green: UInt8; var blue: UInt8 }
    struct DecodedGIF { var width: Int; var height: Int; var frames: [[Pixel]]; var delays: [Int]; var loops: Bool }

    /// Reads a GIF with giflib's whole-file reader, resolving every pixel through its palette.
    func slurp(_ file: String) throws -> DecodedGIF {
        var error: Int32 = 0
        guard let gif = DGifOpenFileName(file, &error) else { throw DataError(file, "DGifOpenFileName failed \(error)") }
        defer { var ignored: Int32 = 0; DGifCloseFile(gif, &ignored) }
        guard DGifSlurp(gif) == GIF_OK else { throw DataError(file, "DGifSlurp failed \(gif.pointee.Error)") }
        let width = Int(gif.pointee.SWidth), height = Int(gif.pointee.SHeight)
        var result = DecodedGIF(width: width, height: height, frames: [], delays: [], loops: false)
        for i in 0..<Int(gif.pointee.ImageCount) {
            let saved = gif.pointee.SavedImages[i]
            let map = saved.ImageDesc.ColorMap ?? gif.pointee.SColorMap!
            let count = Int(saved.ImageDesc.Width) * Int(saved.ImageDesc.Height)
            result.frames.append(
                (0..<count).map { p in
                    let c = map.pointee.Colors[Int(saved.RasterBits[p])]
                    return Pixel(red: c.Red, green: c.Green, blue: c.Blue)
                })
            var control = GraphicsControlBlock()
            if DGifSavedExtensionToGCB(gif, Int32(i), &control) == GIF_OK { result.delays.append(Int(control.DelayTime)) }
            for e in 0..<Int(saved.ExtensionBlockCount) {
                let block = saved.ExtensionBlocks[e]
                if block.Function == APPLICATION_EXT_FUNC_CODE, block.ByteCount == 11,
                    String(decoding: UnsafeBufferPointer(start: block.Bytes, count: 11), as: UTF8.self) == "NETSCAPE2.0"
                {
                    result.loops = true
                }
            }
        }
        return result
    }
}
