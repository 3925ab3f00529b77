// PNG files through libpng's simplified API (png_image_*), which reports failures as return codes and a
// message instead of longjmp-ing out of its error handler — a longjmp across Swift frames is undefined.
//   readPNG:  8-bit gray, gray+alpha, RGB, RGBA or palette PNG of any size → Image, C = 1 (gray) or 3 (colour),
//             values byte/255; an alpha channel is dropped (the stored colour is kept, not composited).
//   writePNG: Image with C = 1 or 3 → 8-bit gray or RGB PNG, values rounded to the nearest byte; atomic.
//             Also straight from 8-bit samples, pixel-interleaved (the converters' frames).
import CPNG
import Foundation

/// The largest PNG readPNG decodes, in pixels (8192 × 8192); the video frames it serves are 64 × 64.
public let maximumPNGPixels = 1 << 26

/// Reads an 8-bit PNG as an Image: C = 1 for gray, 3 for colour, values byte/255, any alpha dropped. Throws
/// `DataError` when the file is missing, not a readable PNG, or 16-bit.
public func readPNG(_ path: String) throws -> Image {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DataError(path, "no such PNG file")
    }
    if isDirectory.boolValue { throw DataError(path, "is a directory, expected a PNG file") }

    var image = png_image()
    image.version = png_uint_32(PNG_IMAGE_VERSION)
    guard png_image_begin_read_from_file(&image, path) != 0 else {
        throw DataError(path, "not a readable PNG (libpng: \(pngMessage(image)))")
    }
    let fileFormat = image.format
    if fileFormat & png_uint_32(PNG_FORMAT_FLAG_LINEAR) != 0 {
        // libpng would convert 16-bit (linear) samples to 8-bit sRGB with a gamma curve, changing values.
        png_image_free(&image)
        throw DataError(path, "16-bit PNG; only 8-bit PNGs are supported")
    }
    let hasColor = fileFormat & png_uint_32(PNG_FORMAT_FLAG_COLOR) != 0
    let hasAlpha = fileFormat & png_uint_32(PNG_FORMAT_FLAG_ALPHA) != 0
    // Ask for the file's own layout (minus any palette) so libpng performs no colour conversion.
    image.format = (hasColor ? png_uint_32(PNG_FORMAT_FLAG_COLOR) : 0) | (hasAlpha ? png_uint_32(PNG_FORMAT_FLAG_ALPHA) : 0)
    let stored = (hasColor ? 3 : 1) + (hasAlpha ? 1 : 0)
    let channels = hasColor ? 3 : 1
    let width = Int(image.width), height = Int(image.height)
    // The header's size is allocated before the pixels are decoded: a few bytes may claim 10⁶ × 10⁶.
    guard width * height <= maximumPNGPixels else {
        png_image_free(&image)
        throw DataError(path, "PNG of \(width)×\(height) pixels; at most \(maximumPNGPixels) pixels are read")
    }
    var bytes = [UInt8](repeating: 0, count: width * height * stored)
    let ok = bytes.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
    guard ok != 0 else {
        throw DataError(path, "corrupt PNG (libpng: \(pngMessage(image)))")
    }

    var pixels = [Float](repeating: 0, count: channels * height * width)
    let plane = height * width
    for p in 0..<plane {
        for c in 0..<channels { pixels[c * plane + p] = Float(bytes[p * stored + c]) / 255 }
    }
    return Image(channels: channels, height: height, width: width, pixels: pixels)
}

/// Writes an Image with 1 or 3 channels as an 8-bit gray or RGB PNG, values rounded to the nearest byte; the
/// write is atomic. Throws `DataError`.
public func writePNG(_ path: String, _ image: Image) throws {
    guard image.channels == 1 || image.channels == 3 else {
        throw DataError(path, "cannot write a PNG with \(image.channels) channels (1 or 3 expected)")
    }
    let plane = image.height * image.width, channels = image.channels
    var bytes = [UInt8](repeating: 0, count: plane * channels)
    for p in 0..<plane {
        for c in 0..<channels { bytes[p * channels + c] = byteFromUnit(image.pixels[c * plane + p]) }
    }
    try bytes.withUnsafeBytes { try writePNG(path, width: image.width, height: image.height, channels: channels, bytes: $0) }
}

/// Writes 8-bit samples as a gray (`channels` 1) or RGB (3) PNG: `bytes` holds height rows of width pixels,
/// each pixel's channels adjacent (RGBRGB…), the layout of the converters' sources. The write is atomic.
/// Throws `DataError`.
public func writePNG(_ path: String, width: Int, height: Int, channels: Int, bytes: UnsafeRawBufferPointer) throws {
    guard channels == 1 || channels == 3 else {
        throw DataError(path, "cannot write a PNG with \(channels) channels (1 or 3 expected)")
    }
    guard width > 0, height > 0 else { throw DataError(path, "cannot write an empty PNG") }
    guard bytes.count == width * height * channels else {
        throw DataError(path, "cannot write \(bytes.count) bytes as a \(width)×\(height) PNG of \(channels) channel(s)")
    }
    try writeAtomically(to: path) { temporary in
        var png = png_image()
        png.version = png_uint_32(PNG_IMAGE_VERSION)
        png.width = png_uint_32(width)
        png.height = png_uint_32(height)
        png.format = channels == 3 ? png_uint_32(PNG_FORMAT_FLAG_COLOR) : 0
        let ok = png_image_write_to_file(&png, temporary, 0, bytes.baseAddress, 0, nil)
        guard ok != 0 else { throw DataError(path, "cannot write PNG (libpng: \(pngMessage(png)))") }
    }
}

/// libpng leaves a NUL-terminated message in the fixed 64-byte `message` field.
private func pngMessage(_ image: png_image) -> String {
    withUnsafeBytes(of: image.message) { raw in
        let chars = raw.bindMemory(to: UInt8.self)
        let end = chars.firstIndex(of: 0) ?? chars.count
        return String(decoding: chars[0..<end], as: UTF8.self)
    }
}
