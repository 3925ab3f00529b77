// Adam, torch.optim.Adam's update (no weight decay, no amsgrad, not maximize), on one flat tensor.
//   params, grads, m (first moment), v (second moment): count;  step t ≥ 1 (this update's 1-based index)
//   m = β1·m + (1 − β1)·g
//   v = β2·v + (1 − β2)·g²
//   bc1 = 1 − β1^t,  bc2 = 1 − β2^t
//   p −= (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)
// m and v start at zero and are the optimiser state a checkpoint must keep, together with t.
// eps is added after the bias correction of sqrt(v), as PyTorch does; the textbook form (eps inside
// m̂/(sqrt(v̂) + eps) with v̂ = v/bc2) is the same thing, but adding eps to sqrt(v) before dividing is not.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Adam's hyperparameters (PyTorch's names; no weight decay). The defaults are the training defaults of
/// MODEL.md "Training step".
public struct AdamHyperparameters: Sendable {
    /// Step size lr.
    public var learningRate: Float = 0.002
    /// Decay rate β1 of the first moment m.
    public var beta1: Float = 0.9
    /// Decay rate β2 of the second moment v.
    public var beta2: Float = 0.999
    /// Added to the bias-corrected sqrt(v) before dividing, as PyTorch does.
    public var eps: Float = 1e-8

    /// Creates a set of hyperparameters; every argument defaults to the training default.
    public init(learningRate: Float = 0.002, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
    }
}

/// One Adam update of `count` parameters in place, torch.optim.Adam's rule: updates the moments `m` and `v`
/// and `params` from `grads`. `step` is this update's 1-based index (precondition); any split over the cores
/// gives the same bits.
public func adamStep(
    params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
    m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
    count: Int, step: Int, hyper: AdamHyperparameters
) {
    precondition(step >= 1, "Adam step count is 1-based")
    // PyTorch holds lr and the betas as Python doubles (0.999) and forms 1 − β2 and β2^t in Double.
    // From Float(0.999) instead, 1 − β2 comes out 1.3e-5 too small (cancellation), which shifts v and
    // bc2 well above Float noise. So the scalars start from the decimal each Float was written as.
    let lr = intendedDecimal(hyper.learningRate), b1 = intendedDecimal(hyper.beta1), b2 = intendedDecimal(hyper.beta2)
    let bc1 = 1 - pow(b1, Double(step))
    let bc2 = 1 - pow(b2, Double(step))
    // The per-element arithmetic is Float with each scalar rounded once, as PyTorch's CPU kernels do.
    let stepSize = Float(lr / bc1), bc2Sqrt = Float(bc2.squareRoot()), eps = hyper.eps
    let beta1 = Float(b1), beta2 = Float(b2), oneMinusB1 = Float(1 - b1), oneMinusB2 = Float(1 - b2)
    let args = AdamArguments(
        params: params, grads: grads, m: m, v: v, stepSize: stepSize, bc2Sqrt: bc2Sqrt, eps: eps,
        beta1: beta1, beta2: beta2, oneMinusB1: oneMinusB1, oneMinusB2: oneMinusB2)
    // Each element's update reads only that element: any split over the cores gives the same bits.
    parallelFor(count, minimumPerWorker: valuesPerWorker, args) { raw, lo, hi in
        let a = arguments(raw, as: AdamArguments.self)
        // Eight lanes at a time, written out: the compiler cannot vectorise the scalar loop itself, since
        // params, grads, m and v might alias. Lane-wise the operations are the scalar loop's, in its order
        // (no fused multiply-adds), so both give the same bits.
        var k = lo
        while k + 8 <= hi {
            let g = UnsafeRawPointer(a.grads + k).loadUnaligned(as: SIMD8<Float>.self)
            let m0 = UnsafeRawPointer(a.m + k).loadUnaligned(as: SIMD8<Float>.self)
            let v0 = UnsafeRawPointer(a.v + k).loadUnaligned(as: SIMD8<Float>.self)
            let p0 = UnsafeRawPointer(a.params + k).loadUnaligned(as: SIMD8<Float>.self)
            let mk = a.beta1 * m0 + a.oneMinusB1 * g
            let vk = a.beta2 * v0 + a.oneMinusB2 * g * g
            let pk = p0 - a.stepSize * mk / (vk.squareRoot() / a.bc2Sqrt + a.eps)
            UnsafeMutableRawPointer(a.m + k).storeBytes(of: mk, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(a.v + k).storeBytes(of: vk, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(a.params + k).storeBytes(of: pk, as: SIMD8<Float>.self)
            k += 8
        }
        for k in k..<hi {
            let g = a.grads[k]
            let mk = a.beta1 * a.m[k] + a.oneMinusB1 * g
            let vk = a.beta2 * a.v[k] + a.oneMinusB2 * g * g
            a.m[k] = mk
            a.v[k] = vk
            a.params[k] -= a.stepSize * mk / (vk.squareRoot() / a.bc2Sqrt + a.eps)
        }
    }
}

private struct AdamArguments {
    var params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>
    var m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
    var stepSize: Float, bc2Sqrt: Float, eps: Float, beta1: Float, beta2: Float, oneMinusB1: Float, oneMinusB2: Float
}

/// The Double a Float hyperparameter was written as: its shortest round-trip decimal ("0.999"), which
/// is within half a Float ulp of the Float, so it is never a worse reading than Double(x).
private func intendedDecimal(_ x: Float) -> Double { Double(x.description) ?? Double(x) }
