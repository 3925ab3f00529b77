import XCTest
@testable import Kernels
import TestSupport

final class AdamTests: XCTestCase {
    func testDefaultsAreThePapersSettings() {
        let h = AdamHyperparameters()
        XCTAssertEqual(h.learningRate, 0.002)
        XCTAssertEqual(h.beta1, 0.9)
        XCTAssertEqual(h.beta2, 0.999)
        XCTAssertEqual(h.eps, 1e-8)
    }

    /// Three steps on four scalars, the expected values written out in Double from PyTorch's rule.
    /// Chosen gradients: an ordinary one; a large one that changes sign; one that is zero at steps 1
    /// and 3 (the parameter still moves at step 3 through momentum); and one of size 1e-9, where
    /// sqrt(v̂) = 1e-9 is comparable to eps = 1e-8, so the update is sensitive to where eps is added.
    func testThreeStepsMatchHandComputedSequence() {
        let lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8
        let hyper = AdamHyperparameters(learningRate: Float(lr), beta1: Float(b1), beta2: Float(b2), eps: Float(eps))
        let p0: [Double] = [1.0, -0.5, 0.25, 2.0]
        let grads: [[Double]] = [
            [0.1, -2.0, 0.0, 1e-9],
            [0.3, 1.5, 0.5, -1e-9],
            [-0.2, -0.5, 0.0, 1e-9]
        ]

        var params = p0.map { Float($0) }
        var m = [Float](repeating: 0, count: 4), v = m
        var ep = p0, em = [Double](repeating: 0, count: 4), ev = em
        for t in 1...3 {
            let g = grads[t - 1]
            // Expected, step by step.
            let bc1 = 1 - pow(b1, Double(t)) // 0.1, 0.19, 0.271
            let bc2 = 1 - pow(b2, Double(t)) // 0.001, 0.001999, 0.002997001
            for k in 0..<4 {
                em[k] = b1 * em[k] + (1 - b1) * g[k]
                ev[k] = b2 * ev[k] + (1 - b2) * g[k] * g[k]
                let denom = ev[k].squareRoot() / bc2.squareRoot() + eps
                ep[k] -= (lr / bc1) * em[k] / denom
            }
            // Actual.
            let gf = g.map { Float($0) }
            params.withUnsafeMutableBufferPointer { p in
                gf.withUnsafeBufferPointer { gp in
                    m.withUnsafeMutableBufferPointer { mp in
                        v.withUnsafeMutableBufferPointer { vp in
                            adamStep(
                                params: p.baseAddress!, grads: gp.baseAddress!, m: mp.baseAddress!, v: vp.baseAddress!,
                                count: 4, step: t, hyper: hyper)
                        }
                    }
                }
            }
            // Parameters |p| ≤ 2 take three Float updates of size ≤ lr: rounding is a few ulp(2) ≈ 1e-6 at most.
            // Misplacing eps changes the fourth parameter by ~1e-3 at step 1, a thousand times the bound.
            assertClose(params, ep, atol: 1e-6, rtol: 1e-6, "Adam params after step \(t)")
            // Moments are two Float multiply-adds per step: relative error a few 1e-7, any magnitude (v reaches 1e-21).
            assertClose(m, em, atol: 0, rtol: 2e-6, "Adam first moment after step \(t)")
            assertClose(v, ev, atol: 0, rtol: 2e-6, "Adam second moment after step \(t)")
        }
        // A zero gradient at step 1 leaves the parameter where it was; the first step moves every other
        // parameter by about lr·sign(g) (m̂ = g, sqrt(v̂) = |g|), the 1e-9 one by lr·1e-9/(1e-9 + 1e-8) = lr/11.
        var fresh = p0.map { Float($0) }
        var m1 = [Float](repeating: 0, count: 4), v1 = m1
        let g1 = grads[0].map { Float($0) }
        adamStep(params: &fresh, grads: g1, m: &m1, v: &v1, count: 4, step: 1, hyper: hyper)
        assertClose(fresh, [1.0 - lr, -0.5 + lr, 0.25, 2.0 - lr / 11], atol: 1e-6, rtol: 1e-6, "Adam first step closed form")
    }
    /// A tensor large enough to be split over the workers (300 001 values: an odd count, so the ranges
    /// are uneven): every element, the first and last of each range among them, must take exactly one
    /// update, checked against the same rule in Double for two steps.
    func testLargeTensorSplitOverWorkersUpdatesEveryElementOnce() {
        let n = 300_001, lr = 0.002, b1 = 0.9, b2 = 0.999, eps = 1e-8
        let hyper = AdamHyperparameters()
        var rng = TestRNG(7)
        var params = rng.array(n), m = [Float](repeating: 0, count: n), v = m
        var ep = params.map { Double($0) }, em = [Double](repeating: 0, count: n), ev = em
        for t in 1...2 {
            let gf = rng.array(n, -0.5, 0.5)
            let bc1 = 1 - pow(b1, Double(t)), bc2 = 1 - pow(b2, Double(t))
            for k in 0..<n {
                let g = Double(gf[k])
                em[k] = b1 * em[k] + (1 - b1) * g
                ev[k] = b2 * ev[k] + (1 - b2) * g * g
                ep[k] -= (lr / bc1) * em[k] / (ev[k].squareRoot() / bc2.squareRoot() + eps)
            }
            adamStep(params: &params, grads: gf, m: &m, v: &v, count: n, step: t, hyper: hyper)
        }
        // Two updates of size ≤ lr on |p| ≤ 1: a few ulp(1). An element updated twice or never is off by ~lr.
        assertClose(params, ep, atol: 1e-6, rtol: 1e-6, "Adam params, 300 001 values")
        // m = 0.09·g₁ + 0.1·g₂ cancels where the two gradients differ in sign, so its error is bounded in
        // absolute terms: three Float roundings of terms ≤ 0.05, a few ulp(0.05) = 3.7e-9 each.
        assertClose(m, em, atol: 2e-8, rtol: 0, "Adam first moment, 300 001 values")
    }

    /// The eight-lane loop and the scalar tail do the same operations in the same order: 19 values updated
    /// at once (two blocks of eight and a tail of three) give the same bits as each updated on its own,
    /// which runs the scalar loop only.
    func testEightLaneLoopGivesTheScalarLoopsBits() {
        var rng = TestRNG(77)
        let n = 19
        // Parameters start at zero, so the update's own last bit shows in them instead of vanishing below theirs.
        let p0 = [Float](repeating: 0, count: n), g = rng.array(n, -1e-3, 1e-3), m0 = rng.array(n, -1e-3, 1e-3), v0 = rng.array(n, 0, 1e-6)
        var (pa, ma, va) = (p0, m0, v0), (pb, mb, vb) = (p0, m0, v0)
        let hyper = AdamHyperparameters()
        g.withUnsafeBufferPointer { pg in
            pa.withUnsafeMutableBufferPointer { pp in
                ma.withUnsafeMutableBufferPointer { pm in
                    va.withUnsafeMutableBufferPointer { pv in
                        adamStep(params: pp.baseAddress!, grads: pg.baseAddress!, m: pm.baseAddress!, v: pv.baseAddress!, count: n, step: 3, hyper: hyper)
                    }
                }
            }
            pb.withUnsafeMutableBufferPointer { pp in
                mb.withUnsafeMutableBufferPointer { pm in
                    vb.withUnsafeMutableBufferPointer { pv in
                        for k in 0..<n {
                            adamStep(
                                params: pp.baseAddress! + k, grads: pg.baseAddress! + k, m: pm.baseAddress! + k, v: pv.baseAddress! + k,
                                count: 1, step: 3, hyper: hyper)
                        }
                    }
                }
            }
        }
        XCTAssertEqual(pa.map(\.bitPattern), pb.map(\.bitPattern), "params")
        XCTAssertEqual(ma.map(\.bitPattern), mb.map(\.bitPattern), "first moment")
        XCTAssertEqual(va.map(\.bitPattern), vb.map(\.bitPattern), "second moment")
        XCTAssertNotEqual(pa, p0, "the step should move the parameters")
    }
}
