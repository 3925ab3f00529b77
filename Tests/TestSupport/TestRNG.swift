// The test suites' own random generator: SplitMix64, deliberately not the engine's generator, so a
// test does not share the bugs of the code it checks. One copy for every test target.

public struct TestRNG {
    public var state: UInt64
    public init(_ seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(Double(next() >> 11) / Double(1 << 53))
    }

    public mutating func array(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
        (0..<n).map { _ in uniform(lo, hi) }
    }

    /// A uniformly random byte (the top eight bits).
    public mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next() >> 56) }
}
