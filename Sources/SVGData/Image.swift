// An image as the engine sees it: Float in [0, 1], C × H × W row-major (C = 1 gray, 3 RGB).
import Foundation

/// A C × H × W image of Floats in [0, 1], row-major: C = 1 gray, 3 RGB.
public struct Image: Sendable, Equatable {
    /// Channels C.
    public var channels: Int
    /// Rows H.
    public var height: Int
    /// Columns W.
    public var width: Int
    /// C × H × W, row-major.
    public var pixels: [Float]

    /// An image from its C·H·W pixels, channel planes in order (precondition on the count).
    public init(channels: Int, height: Int, width: Int, pixels: [Float]) {
        precondition(
            pixels.count == channels * height * width,
            "Image: \(pixels.count) pixels for \(channels)×\(height)×\(width)")
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = pixels
    }

    /// A black image.
    public init(channels: Int, height: Int, width: Int) {
        self.init(
            channels: channels, height: height, width: width,
            pixels: [Float](repeating: 0, count: channels * height * width))
    }

    /// The value at (channel, row, column).
    public subscript(channel: Int, row: Int, column: Int) -> Float {
        get { pixels[(channel * height + row) * width + column] }
        set { pixels[(channel * height + row) * width + column] = newValue }
    }
}

/// Float in [0, 1] → byte, rounding to nearest; out-of-range values (and NaN) are clamped, so k/255 → k exactly.
@inline(__always)
func byteFromUnit(_ v: Float) -> UInt8 {
    guard v > 0 else { return 0 }
    guard v < 1 else { return 255 }
    return UInt8((v * 255).rounded())
}
