// Moving MNIST generated on the fly, as the SVG reference (edenton/svg, data/moving_mnist.py) does it:
//   output: T × 1 × 64 × 64 Float in [0, 1] per sequence; `batch` lays B of them out as T × B × 1 × 64 × 64.
//   Per digit, in this order of random draws: digit index uniform in 0..<N, start x then y uniform in 0..<32,
//   velocity dx then dy uniform in −4…4. Each frame: the y edge is checked first, then x; a digit at
//   y < 0 is put at 0, at y ≥ 32 at 31 (the reference clamps to 64 − 32 − 1), and then either reflects
//   (deterministic) or draws a new velocity away from that edge (1…4 or −4…−1) and a new velocity on the
//   other axis (−4…4). The 32 × 32 digit is added at its position, then the position advances.
//   After all digits the canvas is clipped to 1.
// Randomness is the project's RandomGenerator, so a seed fixes the stream (not NumPy's stream).
import Foundation
import Kernels

/// Moving MNIST generated on the fly as the SVG reference does (MODEL.md "Presets"): 1–3 bouncing digits on a
/// 64 × 64 canvas, every random draw from the caller's seeded `RandomGenerator`.
public struct MovingMNIST: Sendable {
    /// Side of the square canvas, in pixels.
    public static let canvasSize = 64
    /// Side every digit is resized to, in pixels.
    public static let digitSize = 32
    /// Positions run over 0 … 31 so the digit never leaves the canvas (the reference's 64 − 32 − 1).
    public static let maxPosition = canvasSize - digitSize - 1

    /// One digit's place in one frame: the top-left corner it is drawn at, and the velocity applied after.
    public struct DigitState: Sendable, Equatable {
        /// Column of the digit's top-left corner.
        public var x: Int
        /// Row of the digit's top-left corner.
        public var y: Int
        /// Horizontal velocity, in pixels per frame.
        public var dx: Int
        /// Vertical velocity, in pixels per frame.
        public var dy: Int
    }

    /// MNIST digits of any size (28 × 28 as shipped), resized to 32 × 32 on first use.
    public let digits: [Image]
    /// Digits per sequence, 1 to 3.
    public let numDigits: Int
    /// Frames per sequence, T.
    public let length: Int
    /// Whether a digit at an edge reverses its velocity instead of drawing a new one (the stochastic bounce is
    /// the reference's, used for training and test).
    public let deterministic: Bool
    /// Resized digits (32·32 values each), filled lazily: only the digits drawn are ever resized.
    private var resized: [[Float]?]

    /// A generator over `digits` (gray, at least one); `numDigits` in 1…3 and `length` > 0 (preconditions).
    public init(digits: [Image], numDigits: Int = 2, length: Int, deterministic: Bool = false) {
        precondition(!digits.isEmpty, "MovingMNIST needs at least one digit")
        precondition((1...3).contains(numDigits), "MovingMNIST: numDigits \(numDigits), expected 1, 2 or 3")
        precondition(length > 0, "MovingMNIST: length \(length)")
        precondition(digits.allSatisfy { $0.channels == 1 }, "MovingMNIST digits must be gray (1 channel)")
        self.digits = digits
        self.numDigits = numDigits
        self.length = length
        self.deterministic = deterministic
        self.resized = Array(repeating: nil, count: digits.count)
    }

    /// Always 1: the canvas is gray.
    public var channels: Int { 1 }

    /// One sequence, T × 1 × 64 × 64.
    public mutating func sequence(rng: inout RandomGenerator) -> [Float] {
        let size = Self.canvasSize, frame = size * size
        var video = [Float](repeating: 0, count: length * frame)
        for _ in 0..<numDigits {
            let index = rng.uniformInt(0...(digits.count - 1))
            let digit = resizedDigit(index)
            let states = Self.trajectory(length: length, deterministic: deterministic, rng: &rng)
            for (t, state) in states.enumerated() {
                for r in 0..<Self.digitSize {
                    let rowStart = t * frame + (state.y + r) * size + state.x
                    for c in 0..<Self.digitSize { video[rowStart + c] += digit[r * Self.digitSize + c] }
                }
            }
        }
        for k in video.indices where video[k] > 1 { video[k] = 1 }
        return video
    }

    /// B sequences laid out time-major, T × B × 1 × 64 × 64, as `Trainer.step` takes them.
    public mutating func batch(size batchSize: Int, rng: inout RandomGenerator) -> [Float] {
        var sequences: [[Float]] = []
        for _ in 0..<batchSize { sequences.append(sequence(rng: &rng)) }
        return timeMajor(sequences, length: length, frameSize: Self.canvasSize * Self.canvasSize)
    }

    /// The reference's motion for one digit: draws x, y, dx, dy, then bounces frame by frame.
    /// Element t is where the digit is drawn in frame t and the velocity that moves it to frame t + 1.
    public static func trajectory(length: Int, deterministic: Bool, rng: inout RandomGenerator) -> [DigitState] {
        let span = canvasSize - digitSize // 32: start positions 0..<32
        var x = rng.uniformInt(0...(span - 1))
        var y = rng.uniformInt(0...(span - 1))
        var dx = rng.uniformInt(-4...4)
        var dy = rng.uniformInt(-4...4)
        var states: [DigitState] = []
        states.reserveCapacity(length)
        /// Brings a coordinate that left 0..<span back to the edge. Deterministic: its velocity reverses.
        /// Stochastic: it draws a new velocity pointing inward, then a new cross velocity (in that order,
        /// as the reference does).
        func bounce(_ p: inout Int, _ v: inout Int, _ cross: inout Int) {
            guard p < 0 || p >= span else { return }
            let low = p < 0
            p = low ? 0 : span - 1
            if deterministic { v = -v; return }
            v = low ? rng.uniformInt(1...4) : rng.uniformInt(-4...(-1))
            cross = rng.uniformInt(-4...4)
        }
        for _ in 0..<length {
            bounce(&y, &dy, &dx)
            bounce(&x, &dx, &dy)
            states.append(DigitState(x: x, y: y, dx: dx, dy: dy))
            y += dy
            x += dx
        }
        return states
    }

    private mutating func resizedDigit(_ index: Int) -> [Float] {
        if let done = resized[index] { return done }
        let digit = digits[index]
        let bytes = digit.pixels.map(byteFromUnit)
        let out = resizeBilinearPillow(
            bytes, height: digit.height, width: digit.width,
            toHeight: Self.digitSize, toWidth: Self.digitSize
        ).map { Float($0) / 255 }
        resized[index] = out
        return out
    }
}

/// Stacks sequences of T frames (each T × frameSize) into T × B × frameSize.
func timeMajor(_ sequences: [[Float]], length: Int, frameSize: Int) -> [Float] {
    let batch = sequences.count
    var out = [Float](repeating: 0, count: length * batch * frameSize)
    for (b, sequence) in sequences.enumerated() {
        precondition(sequence.count == length * frameSize, "sequence \(b) has \(sequence.count) values, expected \(length * frameSize)")
        for t in 0..<length {
            let source = t * frameSize, target = (t * batch + b) * frameSize
            out.replaceSubrange(target..<target + frameSize, with: sequence[source..<source + frameSize])
        }
    }
    return out
}

// The reference resizes with torchvision's Scale(32) on a PIL image, i.e. Pillow's bilinear resize, then
// ToTensor divides by 255. Pillow's bilinear (Pillow ≥ 4, convolution resampling) uses half-pixel centres —
// the align_corners=False convention of PyTorch's interpolate: source coordinate (i + 0.5)·in/out − 0.5,
// weights 1 − distance to the two nearest source pixels; at the borders the out-of-range tap is dropped and
// the rest renormalised, which equals PyTorch's clamping to the edge pixel. When shrinking, the triangle
// widens by in/out (antialiasing). Pillow works on bytes: horizontal pass first, each pass rounded to a byte,
// coefficients in 22-bit fixed point; this reproduces that arithmetic, so the digits match Pillow's exactly.
func resizeBilinearPillow(_ pixels: [UInt8], height: Int, width: Int, toHeight: Int, toWidth: Int) -> [UInt8] {
    let horizontal = pillowCoefficients(inSize: width, outSize: toWidth)
    var temp = [UInt8](repeating: 0, count: height * toWidth)
    for r in 0..<height {
        for c in 0..<toWidth {
            let (start, weights) = horizontal[c]
            var sum = 1 << (pillowPrecisionBits - 1)
            for (k, w) in weights.enumerated() { sum += Int(pixels[r * width + start + k]) * w }
            temp[r * toWidth + c] = pillowClip8(sum)
        }
    }
    let vertical = pillowCoefficients(inSize: height, outSize: toHeight)
    var out = [UInt8](repeating: 0, count: toHeight * toWidth)
    for r in 0..<toHeight {
        let (start, weights) = vertical[r]
        for c in 0..<toWidth {
            var sum = 1 << (pillowPrecisionBits - 1)
            for (k, w) in weights.enumerated() { sum += Int(temp[(start + k) * toWidth + c]) * w }
            out[r * toWidth + c] = pillowClip8(sum)
        }
    }
    return out
}

private let pillowPrecisionBits = 32 - 8 - 2

private func pillowClip8(_ value: Int) -> UInt8 {
    if value >= (1 << pillowPrecisionBits) << 8 { return 255 }
    if value <= 0 { return 0 }
    return UInt8(value >> pillowPrecisionBits)
}

/// Pillow's precompute_coeffs for the bilinear (triangle, support 1) filter, then normalize_coeffs_8bpc.
private func pillowCoefficients(inSize: Int, outSize: Int) -> [(start: Int, weights: [Int])] {
    let scale = Double(inSize) / Double(outSize)
    let filterScale = max(scale, 1)
    let support = 1.0 * filterScale
    return (0..<outSize).map { i in
        let center = (Double(i) + 0.5) * scale
        let first = max(Int(center - support + 0.5), 0) // Int() truncates toward zero, like C's (int)
        let last = min(Int(center + support + 0.5), inSize)
        var weights: [Double] = []
        for x in first..<last {
            let distance = abs((Double(x) - center + 0.5) / filterScale)
            weights.append(distance < 1 ? 1 - distance : 0)
        }
        let total = weights.reduce(0, +)
        let fixed = weights.map { w -> Int in
            let v = (total != 0 ? w / total : w) * Double(1 << pillowPrecisionBits)
            return Int(v < 0 ? (v - 0.5).rounded(.towardZero) : (v + 0.5).rounded(.towardZero))
        }
        return (first, fixed)
    }
}
