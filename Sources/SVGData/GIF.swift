// Animated GIFs through giflib's sequential encoder (EGif*), which reports failures as error codes.
//   writeGIF: frames [Image], all the same size, all C = 1 or all C = 3, → one GIF89a, 8-bit palette:
//     gray:   256 grays, index = round(255·v)
//     colour: a fixed 6×7×6 cube (252 of 256 entries; green gets 7 levels because the eye is most
//             sensitive to it), index = 42·round(5r) + 6·round(6g) + round(5b); the rest of the palette is black
//   Each frame carries a graphics-control block (delay in 1/100 s, "do not dispose"); `loop` adds the
//   NETSCAPE2.0 block with loop count 0 (= forever). The write is atomic.
import CGIF
import Foundation

/// Writes `frames` as an animated GIF89a, `delayCentiseconds` per frame, looping forever when `loop`; the
/// write is atomic. Throws `DataError` for no frames, frames of different sizes or channel counts, channels
/// other than 1 or 3, a delay outside 0…65535, or a giflib failure.
public func writeGIF(_ path: String, frames: [Image], delayCentiseconds: Int, loop: Bool = true) throws {
    guard let first = frames.first else { throw DataError(path, "cannot write a GIF without frames") }
    let width = first.width, height = first.height, channels = first.channels
    guard channels == 1 || channels == 3 else {
        throw DataError(path, "cannot write a GIF with \(channels) channels (1 or 3 expected)")
    }
    guard width > 0, height > 0, width <= 65535, height <= 65535 else {
        throw DataError(path, "cannot write a \(width)×\(height) GIF")
    }
    for (t, frame) in frames.enumerated()
    where frame.width != width || frame.height != height || frame.channels != channels {
        throw DataError(path, "frame \(t) is \(frame.channels)×\(frame.height)×\(frame.width), frame 0 is \(channels)×\(height)×\(width)")
    }
    guard (0...65535).contains(delayCentiseconds) else {
        throw DataError(path, "GIF delay \(delayCentiseconds) cs outside 0…65535")
    }

    let palette = channels == 1 ? grayPalette() : colourCubePalette()
    let indexed = frames.map { gifIndices($0) }

    try writeAtomically(to: path) { temporary in
        var openError: Int32 = 0
        // giflib's EGifOpenFileName creates the file 0600; opened here, it gets 0644 less the umask, like
        // every other file the tools write. giflib owns the descriptor once EGifOpenFileHandle succeeds.
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw DataError(path, "cannot create GIF: \(String(cString: strerror(errno)))") }
        guard let gif = EGifOpenFileHandle(fd, &openError) else {
            close(fd)
            throw DataError(path, "cannot create GIF (giflib: \(gifMessage(openError)))")
        }
        var closed = false
        defer { if !closed { var ignored: Int32 = 0; _ = EGifCloseFile(gif, &ignored) } }
        func check(_ status: Int32, _ step: String) throws {
            if status == GIF_ERROR { throw DataError(path, "cannot write GIF \(step) (giflib: \(gifMessage(gif.pointee.Error)))") }
        }

        EGifSetGifVersion(gif, true) // extension blocks need GIF89a
        var colors = palette
        guard let map = colors.withUnsafeMutableBufferPointer({ GifMakeMapObject(256, $0.baseAddress) }) else {
            throw DataError(path, "cannot allocate the GIF palette")
        }
        defer { GifFreeMapObject(map) }
        try check(EGifPutScreenDesc(gif, Int32(width), Int32(height), 8, 0, map), "screen descriptor")

        if loop {
            // NETSCAPE2.0 application block: sub-block id 1, then the loop count (0 = forever), little-endian.
            try check(EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE), "loop block")
            let identifier = Array("NETSCAPE2.0".utf8)
            try check(identifier.withUnsafeBytes { EGifPutExtensionBlock(gif, 11, $0.baseAddress) }, "loop block")
            let loopCount: [UInt8] = [1, 0, 0]
            try check(loopCount.withUnsafeBytes { EGifPutExtensionBlock(gif, 3, $0.baseAddress) }, "loop block")
            try check(EGifPutExtensionTrailer(gif), "loop block")
        }

        for (t, indices) in indexed.enumerated() {
            // Graphics control: packed = disposal 1 ("do not dispose") << 2, no transparency; delay; index.
            let control: [UInt8] = [1 << 2, UInt8(delayCentiseconds & 0xFF), UInt8(delayCentiseconds >> 8), 0]
            try check(
                control.withUnsafeBytes { EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, $0.baseAddress) },
                "frame \(t) delay")
            try check(EGifPutImageDesc(gif, 0, 0, Int32(width), Int32(height), false, nil), "frame \(t)")
            var row = [GifPixelType](repeating: 0, count: width)
            for y in 0..<height {
                for x in 0..<width { row[x] = indices[y * width + x] }
                try check(EGifPutLine(gif, &row, Int32(width)), "frame \(t) row \(y)")
            }
        }

        closed = true
        var closeError: Int32 = 0
        guard EGifCloseFile(gif, &closeError) == GIF_OK else {
            throw DataError(path, "cannot finish GIF (giflib: \(gifMessage(closeError)))")
        }
    }
}

/// Palette index of every pixel, H × W row-major.
func gifIndices(_ image: Image) -> [UInt8] {
    let plane = image.height * image.width
    var indices = [UInt8](repeating: 0, count: plane)
    if image.channels == 1 {
        for p in 0..<plane { indices[p] = byteFromUnit(image.pixels[p]) }
    } else {
        for p in 0..<plane {
            let r = level(image.pixels[p], 5), g = level(image.pixels[plane + p], 6), b = level(image.pixels[2 * plane + p], 5)
            indices[p] = UInt8(42 * r + 6 * g + b)
        }
    }
    return indices
}

/// Nearest of `top + 1` evenly spaced levels 0…top for v in [0, 1] (clamped).
@inline(__always)
private func level(_ v: Float, _ top: Int) -> Int {
    guard v > 0 else { return 0 }
    guard v < 1 else { return top }
    return Int((v * Float(top)).rounded())
}

private func grayPalette() -> [GifColorType] {
    (0..<256).map { GifColorType(Red: UInt8($0), Green: UInt8($0), Blue: UInt8($0)) }
}

/// The 6×7×6 colour cube: entry 42r + 6g + b holds (255r/5, 255g/6, 255b/5) rounded.
func colourCubePalette() -> [GifColorType] {
    var colors = [GifColorType](repeating: GifColorType(Red: 0, Green: 0, Blue: 0), count: 256)
    for r in 0..<6 {
        for g in 0..<7 {
            for b in 0..<6 {
                colors[42 * r + 6 * g + b] = GifColorType(
                    Red: UInt8((Double(r) * 255 / 5).rounded()),
                    Green: UInt8((Double(g) * 255 / 6).rounded()),
                    Blue: UInt8((Double(b) * 255 / 5).rounded()))
            }
        }
    }
    return colors
}

private func gifMessage(_ code: Int32) -> String {
    if let message = GifErrorString(code) { return String(cString: message) + " (code \(code))" }
    return "error code \(code)"
}
