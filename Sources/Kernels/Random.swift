// Seeded random numbers for initialisation, the reparameterisation noise ε and data sampling.
//   state:  four UInt64 words of xoshiro256** (Blackman & Vigna), never all zero
//   seed:   expanded into the four words by four successive splitmix64 outputs (the authors' advice:
//           splitmix64 spreads nearby seeds such as 0, 1, 2 into unrelated states)
//   nextUInt64:  result = rotl(s1·5, 7)·9, then the xoshiro256 linear state transition
//   uniform:     top 24 bits · 2⁻²⁴ ∈ [0, 1)        (exactly the Float grid, no rounding up to 1)
//   uniformInt:  Lemire's multiply-and-reject, unbiased for any range width
//   normal:      Box–Muller in Double from two 53-bit uniforms, u1 ∈ (0, 1] so log u1 is finite;
//                the sine partner is discarded so that `state` alone determines the whole stream
//   fillUniform: low + (high − low)·uniform();   fillNormal: mean + std·normal()
// Integer outputs are bit-identical on every machine. Normals go through libm's log and cos in Double
// and are rounded to Float, so they agree across machines unless two libms differ in a last Double
// bit exactly at a Float rounding boundary.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Seeded xoshiro256** generator for initialisation, the noise ε and data sampling; its state alone
/// determines the stream, so it can be checkpointed and resumed.
public struct RandomGenerator: Sendable {
    /// The four xoshiro256** state words; never all zero.
    public var state: (UInt64, UInt64, UInt64, UInt64)

    /// Expands `seed` into the state by four splitmix64 outputs, so nearby seeds give unrelated streams.
    public init(seed: UInt64) {
        var sm = seed
        state = (Self.splitMix64(&sm), Self.splitMix64(&sm), Self.splitMix64(&sm), Self.splitMix64(&sm))
    }

    /// The state as an array, for checkpoints. Setting it resumes the stream exactly where it was read.
    public var stateWords: [UInt64] {
        get { [state.0, state.1, state.2, state.3] }
        set {
            precondition(newValue.count == 4, "RandomGenerator state has four words")
            precondition(newValue.contains { $0 != 0 }, "the all-zero xoshiro state is a fixed point")
            state = (newValue[0], newValue[1], newValue[2], newValue[3])
        }
    }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func nextUInt64() -> UInt64 {
        let result = Self.rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = Self.rotl(state.3, 45)
        return result
    }

    /// A uniform Float in [0, 1), on the 2⁻²⁴ grid.
    @inline(__always)
    public mutating func uniform() -> Float {
        Float(nextUInt64() >> 40) * 0x1p-24
    }

    /// A uniform integer in `range`, unbiased (Lemire's multiply-and-reject).
    public mutating func uniformInt(_ range: ClosedRange<Int>) -> Int {
        let span = UInt64(bitPattern: Int64(range.upperBound &- range.lowerBound)) &+ 1
        // span wraps to 0 only for the full Int range, where every 64-bit pattern is a valid answer.
        if span == 0 { return Int(bitPattern: UInt(nextUInt64())) }
        var product = nextUInt64().multipliedFullWidth(by: span)
        if product.low < span {
            // Reject the 2⁶⁴ mod span low products that would over-represent some results.
            let threshold = (0 &- span) % span
            while product.low < threshold { product = nextUInt64().multipliedFullWidth(by: span) }
        }
        return range.lowerBound &+ Int(bitPattern: UInt(product.high))
    }

    /// A standard normal Float by Box–Muller in Double; takes two 64-bit draws.
    public mutating func normal() -> Float {
        let u1 = Double((nextUInt64() >> 11) + 1) * 0x1p-53
        let u2 = Double(nextUInt64() >> 11) * 0x1p-53
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// Fills `count` floats with low + (high − low)·uniform().
    public mutating func fillUniform(_ p: UnsafeMutablePointer<Float>, count: Int, low: Float, high: Float) {
        let width = high - low
        for k in 0..<count { p[k] = low + width * uniform() }
    }

    /// Fills `count` floats with mean + std·normal().
    public mutating func fillNormal(_ p: UnsafeMutablePointer<Float>, count: Int, mean: Float = 0, std: Float = 1) {
        for k in 0..<count { p[k] = mean + std * normal() }
    }

    // Static members, not free functions: other kernel files are written in parallel into this module.
    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 &- k)) }

    /// One splitmix64 output; advances `x` by the golden-ratio increment.
    @inline(__always)
    private static func splitMix64(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
