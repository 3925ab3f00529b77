// Sums over long runs (BatchNorm statistics: up to ~10⁶ values per channel) that are accurate and still
// vectorise: eight Double lanes, each Float widened before it is added. A strict left-to-right Double sum
// cannot vectorise (the compiler may not reassociate it); a Float sum loses the low digits.

private typealias FloatLanes = SIMD8<Float>
private typealias DoubleLanes = SIMD8<Double>

@inline(__always)
private func loadWidened(_ p: UnsafePointer<Float>) -> DoubleLanes {
    DoubleLanes(UnsafeRawPointer(p).loadUnaligned(as: FloatLanes.self))
}

/// Σ x[i]
public func blockedSum(_ x: UnsafePointer<Float>, count n: Int) -> Double {
    var acc = DoubleLanes(), i = 0
    while i + 8 <= n { acc += loadWidened(x + i); i += 8 }
    var s = acc.sum()
    while i < n { s += Double(x[i]); i += 1 }
    return s
}

/// Σ (x[i] − mean)², in Double throughout.
public func blockedSquaredDeviation(_ x: UnsafePointer<Float>, count n: Int, mean: Double) -> Double {
    var acc = DoubleLanes(), i = 0
    let m = DoubleLanes(repeating: mean)
    while i + 8 <= n { let d = loadWidened(x + i) - m; acc += d * d; i += 8 }
    var s = acc.sum()
    while i < n { let d = Double(x[i]) - mean; s += d * d; i += 1 }
    return s
}

/// LeakyReLU′ of a BatchNorm output z = (x − mean)·scale + shift, recomputed from the BatchNorm input with
/// the same Float operations as the forward's output pass, so its sign, and the gate, are the forward's.
public struct LeakyReLUGate {
    /// The forward's mean, scale (γ·invStd) and shift (β) for one (group, channel), and the LeakyReLU slope
    /// (1 passes g through unchanged).
    public var mean: Float, scale: Float, shift: Float, slope: Float
    /// Creates a gate from the BatchNorm forward's per-group operands.
    public init(mean: Float, scale: Float, shift: Float, slope: Float) {
        self.mean = mean; self.scale = scale; self.shift = shift; self.slope = slope
    }

    /// g where z > 0, slope·g elsewhere.
    @inline(__always)
    public func apply(_ g: Float, x: Float) -> Float { (x - mean) * scale + shift > 0 ? g : slope * g }

    @inline(__always)
    func apply(_ g: SIMD8<Float>, x: SIMD8<Float>) -> SIMD8<Float> {
        let z = (x - mean) * scale + shift
        return g.replacing(with: g * slope, where: z .<= 0)
    }
}

/// (Σ g'[i], Σ g'[i]·(x[i] − mean)) with g' = gate.apply(g[i], x[i]), in Double throughout (BatchNorm's
/// backward sums; a gate of slope 1 leaves g as it is).
public func blockedSumAndCenteredDot(
    _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, count n: Int, mean: Double,
    gate: LeakyReLUGate
) -> (Double, Double) {
    var accG = DoubleLanes(), accD = DoubleLanes(), i = 0
    let m = DoubleLanes(repeating: mean)
    while i + 8 <= n {
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: FloatLanes.self)
        let gv = DoubleLanes(gate.apply(UnsafeRawPointer(g + i).loadUnaligned(as: FloatLanes.self), x: xv))
        accG += gv; accD += gv * (DoubleLanes(xv) - m); i += 8
    }
    var s = accG.sum(), d = accD.sum()
    while i < n { let gi = Double(gate.apply(g[i], x: x[i])); s += gi; d += gi * (Double(x[i]) - mean); i += 1 }
    return (s, d)
}
