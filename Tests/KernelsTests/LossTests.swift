import XCTest
@testable import Kernels

final class LossTests: XCTestCase {
    // MARK: MSE

    func mse(_ pred: [Float], _ target: [Float], divisor: Double) -> Double {
        pred.withUnsafeBufferPointer { p in
            target.withUnsafeBufferPointer { t in
                mseForward(pred: p.baseAddress!, target: t.baseAddress!, count: pred.count, divisor: divisor)
            }
        }
    }

    func testMSEForwardAndBackward() {
        var rng = TestRNG(300)
        for (count, divisor, scale) in [(1, 1.0, Float(1)), (37, 37.0, 1), (60, 20.0, 0.7)] {
            var pred = rng.array(count), target = rng.array(count)
            var want = 0.0
            for k in 0..<count { want += (Double(pred[k]) - Double(target[k])) * (Double(pred[k]) - Double(target[k])) }
            want /= divisor
            // Both sides sum exact Float differences in Double: only Double rounding separates them.
            XCTAssertEqual(mse(pred, target, divisor: divisor), want, accuracy: 1e-12 * max(1, want), "mse forward n=\(count)")

            let grad: [Float] = .buffer(count) { g in
                pred.withUnsafeBufferPointer { p in
                    target.withUnsafeBufferPointer { t in
                        mseBackward(pred: p.baseAddress!, target: t.baseAddress!, gradPred: g, count: count, divisor: divisor, scale: scale)
                    }
                }
            }
            // The loss is quadratic and evaluated in Double, so central differences are exact up to Double
            // rounding; the analytic gradient carries one or two Float roundings (rel ~1e-7).
            let ts = target, ps = pred
            checkGradient("mse pred n=\(count)", values: &pred, analytic: grad, step: 1e-2, atol: 1e-6, rtol: 1e-5) {
                Double(scale) * self.mse($0, ts, divisor: divisor)
            }
            // And, by symmetry of the square, the gradient with respect to the target is its negative.
            checkGradient("mse target n=\(count)", values: &target, analytic: grad.map { -$0 }, step: 1e-2, atol: 1e-6, rtol: 1e-5) {
                Double(scale) * self.mse(ps, $0, divisor: divisor)
            }
        }
    }

    // MARK: KL

    /// KL written literally from the formula with σ = exp(½·logvar), in Double.
    static func naiveKL(_ muQ: [Float], _ lvQ: [Float], _ muP: [Float], _ lvP: [Float], batch: Int) -> Double {
        var s = 0.0
        for k in 0..<muQ.count {
            let sq = exp(0.5 * Double(lvQ[k])), sp = exp(0.5 * Double(lvP[k])), dm = Double(muQ[k]) - Double(muP[k])
            s += log(sp / sq) + (sq * sq + dm * dm) / (2 * sp * sp) - 0.5
        }
        return s / Double(batch)
    }

    func kl(_ v: [[Float]], batch: Int) -> Double {
        v[0].withUnsafeBufferPointer { a in
            v[1].withUnsafeBufferPointer { b in
                v[2].withUnsafeBufferPointer { c in
                    v[3].withUnsafeBufferPointer { d in
                        klDiagonalGaussianForward(
                            muQ: a.baseAddress!, logvarQ: b.baseAddress!, muP: c.baseAddress!, logvarP: d.baseAddress!,
                            count: v[0].count, batch: batch)
                    }
                }
            }
        }
    }

    func klGrads(_ v: [[Float]], batch: Int, scale: Float) -> [[Float]] {
        let n = v[0].count, a = RecurrentTestArena()
        let g = (0..<4).map { _ in a.filled(n, .nan) }
        klDiagonalGaussianBackward(
            muQ: a.copy(v[0]), logvarQ: a.copy(v[1]), muP: a.copy(v[2]), logvarP: a.copy(v[3]),
            gradMuQ: g[0], gradLogvarQ: g[1], gradMuP: g[2], gradLogvarP: g[3],
            count: n, batch: batch, scale: scale)
        return g.map { a.read($0, n) }
    }

    func testKLForwardAndAllFourGradients() {
        var rng = TestRNG(301)
        for (batch, dim, scale) in [(1, 1, Float(1)), (3, 5, 0.3), (4, 7, 2)] {
            let n = batch * dim
            var v = [rng.array(n), rng.array(n, -2, 2), rng.array(n), rng.array(n, -1.5, 1.5)]
            // Independent Double formulations (log-variance difference vs log of a σ ratio): Double rounding only.
            let want = Self.naiveKL(v[0], v[1], v[2], v[3], batch: batch)
            XCTAssertEqual(kl(v, batch: batch), want, accuracy: 1e-12 * max(1, abs(want)), "KL forward \(batch)×\(dim)")
            // Identical distributions have zero divergence.
            XCTAssertEqual(kl([v[0], v[1], v[0], v[1]], batch: batch), 0, accuracy: 1e-12, "KL(q‖q)")

            let g = klGrads(v, batch: batch, scale: scale)
            // The loss is evaluated in Double from Float inputs, so its own rounding (~1e-16·|KL| / 2·step) is
            // negligible; step 1e-4 keeps the truncation step²/6·|f'''| ≲ 1e-7 even where exp(lvq − lvp) ≈ 30.
            // What remains is the analytic side's Float rounding (rel ~1e-7).
            let names = ["muQ", "logvarQ", "muP", "logvarP"]
            for which in 0..<4 {
                let fixed = v
                checkGradient("KL \(names[which]) \(batch)×\(dim)", values: &v[which], analytic: g[which], step: 1e-4, atol: 1e-6, rtol: 1e-5) {
                    var w = fixed; w[which] = $0; return Double(scale) * self.kl(w, batch: batch)
                }
            }
        }
    }

    // MARK: Reparameterisation

    func testReparameterizeForwardAndBackward() {
        var rng = TestRNG(302)
        let n = 23
        var mu = rng.array(n), logvar = rng.array(n, -3, 2)
        let eps = rng.array(n, -2.5, 2.5)
        func forward(_ mu: [Float], _ logvar: [Float]) -> [Float] {
            .buffer(n) { z in
                mu.withUnsafeBufferPointer { m in
                    logvar.withUnsafeBufferPointer { l in
                        eps.withUnsafeBufferPointer { e in
                            reparameterizeForward(mu: m.baseAddress!, logvar: l.baseAddress!, eps: e.baseAddress!, z: z, count: n)
                        }
                    }
                }
            }
        }
        let want = (0..<n).map { Double(mu[$0]) + exp(0.5 * Double(logvar[$0])) * Double(eps[$0]) }
        // expf is within a few ulp and there is one multiply and one add: rel ~3e-7 of |z| ≤ ~5.
        assertClose(forward(mu, logvar), want, atol: 2e-6, rtol: 1e-6, "reparameterize forward")

        let r = rng.array(n) // loss = Σ r·z, gradZ = r
        func backward(initialMu: [Float], initialLogvar: [Float]) -> (mu: [Float], logvar: [Float]) {
            var gm = initialMu, gl = initialLogvar
            r.withUnsafeBufferPointer { pr in
                logvar.withUnsafeBufferPointer { l in
                    eps.withUnsafeBufferPointer { e in
                        gm.withUnsafeMutableBufferPointer { pgm in
                            gl.withUnsafeMutableBufferPointer { pgl in
                                reparameterizeBackward(
                                    gradZ: pr.baseAddress!, logvar: l.baseAddress!, eps: e.baseAddress!,
                                    gradMu: pgm.baseAddress!, gradLogvar: pgl.baseAddress!, count: n)
                            }
                        }
                    }
                }
            }
            return (gm, gl)
        }
        let zeros = [Float](repeating: 0, count: n)
        let g = backward(initialMu: zeros, initialLogvar: zeros)
        // z is Float: a probe moves one z whose rounding (≲ 3e-7 for |z| ≤ 5) over 2·step = 0.02 gives ≲ 3e-5;
        // truncation step²/6 · |¼·r·ε·exp(½ lv)| ≲ 2e-5. Bound 1e-4.
        let (ms, ls) = (mu, logvar)
        checkGradient("reparameterize mu", values: &mu, analytic: g.mu, step: 1e-2, atol: 1e-4, rtol: 1e-4) { dot(r, forward($0, ls)) }
        checkGradient("reparameterize logvar", values: &logvar, analytic: g.logvar, step: 1e-2, atol: 1e-4, rtol: 1e-4) { dot(r, forward(ms, $0)) }

        // The backward adds to what the KL term left there: one Float addition per entry.
        let priorMu = rng.array(n), priorLogvar = rng.array(n)
        let acc = backward(initialMu: priorMu, initialLogvar: priorLogvar)
        assertClose(acc.mu, (0..<n).map { Double(priorMu[$0]) + Double(g.mu[$0]) }, atol: 1e-6, rtol: 1e-6, "reparameterize accumulates gradMu")
        assertClose(acc.logvar, (0..<n).map { Double(priorLogvar[$0]) + Double(g.logvar[$0]) }, atol: 1e-6, rtol: 1e-6, "reparameterize accumulates gradLogvar")
    }
}
