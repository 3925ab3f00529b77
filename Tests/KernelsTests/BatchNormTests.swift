import XCTest
@testable import Kernels

/// Direct BatchNorm in Double over NCHW data with PyTorch's semantics, applied once per time-step group:
/// frames g·B ..< (g+1)·B form group g (the engine batches time steps frame-major, MODEL.md "Training step").
enum NaiveNorm {
    struct Training {
        var y: [Double]
        var mean: [Double], invStd: [Double] // G × C, [g][c]
        var runningMean: [Double], runningVar: [Double]
    }

    static func training(
        _ x: [Float], groups: Int, framesPerGroup: Int, channels: Int, plane: Int,
        gamma: [Float], beta: [Float], runningMean: [Float], runningVar: [Float],
        momentum: Double = 0.1, eps: Double = 1e-5
    ) -> Training {
        let m = framesPerGroup * plane
        var out = Training(
            y: [Double](repeating: 0, count: x.count),
            mean: [Double](repeating: 0, count: groups * channels),
            invStd: [Double](repeating: 0, count: groups * channels),
            runningMean: runningMean.map(Double.init), runningVar: runningVar.map(Double.init))
        func index(_ g: Int, _ b: Int, _ c: Int, _ p: Int) -> Int { ((g * framesPerGroup + b) * channels + c) * plane + p }
        for g in 0..<groups {
            for c in 0..<channels {
                var sum = 0.0
                for b in 0..<framesPerGroup { for p in 0..<plane { sum += Double(x[index(g, b, c, p)]) } }
                let mu = sum / Double(m)
                var squares = 0.0
                for b in 0..<framesPerGroup { for p in 0..<plane { let d = Double(x[index(g, b, c, p)]) - mu; squares += d * d } }
                let s = 1 / (squares / Double(m) + eps).squareRoot()
                for b in 0..<framesPerGroup {
                    for p in 0..<plane {
                        let i = index(g, b, c, p)
                        out.y[i] = Double(gamma[c]) * (Double(x[i]) - mu) * s + Double(beta[c])
                    }
                }
                out.mean[g * channels + c] = mu
                out.invStd[g * channels + c] = s
                out.runningMean[c] = (1 - momentum) * out.runningMean[c] + momentum * mu
                out.runningVar[c] = (1 - momentum) * out.runningVar[c] + momentum * squares / Double(m - 1)
            }
        }
        return out
    }

    static func inference(
        _ x: [Float], frames: Int, channels: Int, plane: Int, gamma: [Float], beta: [Float],
        runningMean: [Float], runningVar: [Float], eps: Double = 1e-5
    ) -> [Double] {
        var y = [Double](repeating: 0, count: x.count)
        for n in 0..<frames {
            for c in 0..<channels {
                for p in 0..<plane {
                    let i = (n * channels + c) * plane + p
                    y[i] = Double(gamma[c]) * (Double(x[i]) - Double(runningMean[c])) / (Double(runningVar[c]) + eps).squareRoot() + Double(beta[c])
                }
            }
        }
        return y
    }
}

final class BatchNormTests: XCTestCase {
    struct Case: CustomStringConvertible {
        var channels, groups, framesPerGroup, height, width: Int
        var frames: Int { groups * framesPerGroup }
        var plane: Int { height * width }
        var count: Int { frames * channels * plane }
        var shape: BatchNormShape { BatchNormShape(channels: channels, groups: groups, framesPerGroup: framesPerGroup, plane: plane) }
        var description: String { "C\(channels) G\(groups)×B\(framesPerGroup) \(height)×\(width)" }
    }
    // Batch 1, channels 1 and 3, one group and several, odd and non-square planes, and the 1×1 plane of
    // the encoder's last BatchNorm (statistics over frames only).
    let cases: [Case] = [
        Case(channels: 1, groups: 1, framesPerGroup: 1, height: 5, width: 7),
        Case(channels: 3, groups: 3, framesPerGroup: 2, height: 3, width: 5),
        Case(channels: 2, groups: 4, framesPerGroup: 3, height: 4, width: 3),
        Case(channels: 3, groups: 2, framesPerGroup: 6, height: 1, width: 1),
        Case(channels: 3, groups: 1, framesPerGroup: 4, height: 2, width: 3)
    ]

    struct Forward { var y: [Float]; var mean: [Float]; var invStd: [Float]; var runningMean: [Float]; var runningVar: [Float] }

    /// Training forward on NCHW data; running statistics are updated only when given.
    func train(
        _ k: Case, x: [Float], gamma: [Float], beta: [Float], running: (mean: [Float], var: [Float])? = nil,
        leakySlope: Float? = nil
    ) -> Forward {
        let xc = toCNHW(x, n: k.frames, c: k.channels, p: k.plane)
        var mean = [Float](repeating: .nan, count: k.groups * k.channels), invStd = mean
        var rm = running?.mean ?? [], rv = running?.var ?? []
        let y: [Float] = .buffer(k.count) { py in
            xc.withUnsafeBufferPointer { px in
                gamma.withUnsafeBufferPointer { pg in
                    beta.withUnsafeBufferPointer { pb in
                        mean.withUnsafeMutableBufferPointer { pm in
                            invStd.withUnsafeMutableBufferPointer { ps in
                                rm.withUnsafeMutableBufferPointer { prm in
                                    rv.withUnsafeMutableBufferPointer { prv in
                                        batchNorm2dTrainingForward(
                                            x: px.baseAddress!, y: py, gamma: pg.baseAddress!, beta: pb.baseAddress!,
                                            mean: pm.baseAddress!, invStd: ps.baseAddress!,
                                            runningMean: running == nil ? nil : prm.baseAddress!,
                                            runningVar: running == nil ? nil : prv.baseAddress!, leakySlope: leakySlope, shape: k.shape)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Forward(y: toNCHW(y, n: k.frames, c: k.channels, p: k.plane), mean: mean, invStd: invStd, runningMean: rm, runningVar: rv)
    }

    /// Inference forward on NCHW data (running statistics), optionally with the fused LeakyReLU; NCHW out.
    func infer(_ k: Case, x: [Float], gamma: [Float], beta: [Float], rm: [Float], rv: [Float], leakySlope: Float? = nil) -> [Float] {
        let xc = toCNHW(x, n: k.frames, c: k.channels, p: k.plane)
        let y: [Float] = .buffer(k.count) { py in
            xc.withUnsafeBufferPointer { px in
                gamma.withUnsafeBufferPointer { pg in
                    beta.withUnsafeBufferPointer { pb in
                        rm.withUnsafeBufferPointer { prm in
                            rv.withUnsafeBufferPointer { prv in
                                batchNorm2dInferenceForward(
                                    x: px.baseAddress!, y: py, gamma: pg.baseAddress!, beta: pb.baseAddress!,
                                    runningMean: prm.baseAddress!, runningVar: prv.baseAddress!, leakySlope: leakySlope, shape: k.shape)
                            }
                        }
                    }
                }
            }
        }
        return toNCHW(y, n: k.frames, c: k.channels, p: k.plane)
    }

    /// Backward on NCHW gradients; returns gradX in NCHW.
    /// With `leakySlope` (and `beta`), gradY is the gradient at the fused LeakyReLU's output.
    func backward(
        _ k: Case, gradY: [Float], x: [Float], gamma: [Float], mean: [Float], invStd: [Float],
        gradGamma: inout [Float], gradBeta: inout [Float], accumulate: Bool = false,
        beta: [Float] = [], leakySlope: Float? = nil
    ) -> [Float] {
        let gyc = toCNHW(gradY, n: k.frames, c: k.channels, p: k.plane), xc = toCNHW(x, n: k.frames, c: k.channels, p: k.plane)
        let gx: [Float] = .buffer(k.count) { pgx in
            gyc.withUnsafeBufferPointer { pgy in
                xc.withUnsafeBufferPointer { px in
                    gamma.withUnsafeBufferPointer { pg in
                        mean.withUnsafeBufferPointer { pm in
                            invStd.withUnsafeBufferPointer { ps in
                                beta.withUnsafeBufferPointer { pb in
                                    gradGamma.withUnsafeMutableBufferPointer { pgg in
                                        gradBeta.withUnsafeMutableBufferPointer { pgb in
                                            batchNorm2dBackward(
                                                gradY: pgy.baseAddress!, x: px.baseAddress!, gamma: pg.baseAddress!, mean: pm.baseAddress!,
                                                invStd: ps.baseAddress!, gradX: pgx, gradGamma: pgg.baseAddress!, gradBeta: pgb.baseAddress!,
                                                beta: leakySlope == nil ? nil : pb.baseAddress!, leakySlope: leakySlope,
                                                shape: k.shape, accumulateParams: accumulate)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return toNCHW(gx, n: k.frames, c: k.channels, p: k.plane)
    }

    /// x = per-channel offset + U(−1, 1): the offset moves the mean away from 0 without changing σ ≈ 0.58.
    func input(_ k: Case, _ rng: inout TestRNG) -> [Float] {
        let offsets = rng.array(k.channels, -2, 2)
        var x = rng.array(k.count)
        for i in 0..<x.count { x[i] += offsets[(i / k.plane) % k.channels] }
        return x
    }

    func testTrainingForwardMatchesReference() {
        var rng = TestRNG(30)
        for k in cases {
            let x = input(k, &rng), gamma = rng.array(k.channels, 0.5, 1.5), beta = rng.array(k.channels)
            let rm0 = rng.array(k.channels), rv0 = rng.array(k.channels, 0.2, 2)
            let got = train(k, x: x, gamma: gamma, beta: beta, running: (rm0, rv0))
            let want = NaiveNorm.training(
                x, groups: k.groups, framesPerGroup: k.framesPerGroup, channels: k.channels, plane: k.plane,
                gamma: gamma, beta: beta, runningMean: rm0, runningVar: rv0)
            // The mean rounded to Float (≤ 1.2e-7 at |μ| ≤ 3) times γ·s (≲ 4.5) plus three roundings of |y| ≲ 5
            // (2.4e-7 each) is ≤ 1.3e-6.
            assertClose(got.y, want.y, atol: 2e-6, rtol: 1e-6, "BN training y \(k)")
            // Saved statistics are Double results rounded once to Float: half an ulp, 2^-24 ≈ 6e-8 relative.
            assertClose(got.mean, want.mean, atol: 1e-12, rtol: 7e-8, "BN saved mean \(k)")
            assertClose(got.invStd, want.invStd, atol: 1e-12, rtol: 7e-8, "BN saved invStd \(k)")
            // Up to 4 sequential Float updates of values ≤ 2, each ~3 roundings of half an ulp.
            assertClose(got.runningMean, want.runningMean, atol: 1e-6, rtol: 1e-6, "BN running mean \(k)")
            assertClose(got.runningVar, want.runningVar, atol: 1e-6, rtol: 1e-6, "BN running var \(k)")

            // Without running buffers the output and saved statistics are the same.
            let bare = train(k, x: x, gamma: gamma, beta: beta)
            XCTAssertEqual(bare.y, got.y, "BN y must not depend on running-stat tracking \(k)")
            XCTAssertEqual(bare.mean, got.mean); XCTAssertEqual(bare.invStd, got.invStd)
        }
    }

    /// Runs of 30,000 values at mean 100: a Float or one-pass (E[x²] − μ²) variance would be off by far more
    /// than the tolerance; the Double two-pass statistics are not.
    func testLongRunsWithLargeOffsetKeepPrecision() {
        var rng = TestRNG(31)
        let k = Case(channels: 2, groups: 2, framesPerGroup: 2, height: 100, width: 150)
        let x = rng.array(k.count).map { $0 + 100 }
        let gamma = rng.array(k.channels, 0.5, 1.5), beta = rng.array(k.channels)
        let rm0: [Float] = [0, 0], rv0: [Float] = [1, 1]
        let got = train(k, x: x, gamma: gamma, beta: beta, running: (rm0, rv0))
        let want = NaiveNorm.training(
            x, groups: k.groups, framesPerGroup: k.framesPerGroup, channels: k.channels, plane: k.plane,
            gamma: gamma, beta: beta, runningMean: rm0, runningVar: rv0)
        // μ ≈ 100 cannot be held in Float closer than half an ulp (3.8e-6); times γ·s ≤ 1.5·1.8 that is 7e-6,
        // and x − μ itself is exact (Sterbenz), so 1e-5 absolute bounds y.
        assertClose(got.y, want.y, atol: 1e-5, rtol: 1e-6, "BN y on long offset runs")
        assertClose(got.mean, want.mean, atol: 1e-12, rtol: 7e-8, "BN saved mean on long runs")
        assertClose(got.invStd, want.invStd, atol: 1e-12, rtol: 7e-8, "BN saved invStd on long runs")
        assertClose(got.runningVar, want.runningVar, atol: 1e-6, rtol: 1e-6, "BN running var on long runs")
    }

    func testInferenceForwardMatchesReference() {
        var rng = TestRNG(32)
        for k in cases {
            let x = input(k, &rng), gamma = rng.array(k.channels, 0.5, 1.5), beta = rng.array(k.channels)
            let rm = rng.array(k.channels, -2, 2), rv = rng.array(k.channels, 0.2, 2)
            var xc = toCNHW(x, n: k.frames, c: k.channels, p: k.plane)
            let y = infer(k, x: x, gamma: gamma, beta: beta, rm: rm, rv: rv)
            let want = NaiveNorm.inference(
                x, frames: k.frames, channels: k.channels, plane: k.plane, gamma: gamma, beta: beta,
                runningMean: rm, runningVar: rv)
            // |x − μ| ≤ 5, scale ≤ 3.4, |y| ≲ 18: four Float roundings of values of that size ≈ 4e-6.
            assertClose(y, want, atol: 5e-6, rtol: 1e-6, "BN inference y \(k)")

            // In place (y == x) gives the same bits.
            xc.withUnsafeMutableBufferPointer { p in
                gamma.withUnsafeBufferPointer { pg in
                    beta.withUnsafeBufferPointer { pb in
                        rm.withUnsafeBufferPointer { prm in
                            rv.withUnsafeBufferPointer { prv in
                                batchNorm2dInferenceForward(
                                    x: p.baseAddress!, y: p.baseAddress!, gamma: pg.baseAddress!, beta: pb.baseAddress!,
                                    runningMean: prm.baseAddress!, runningVar: prv.baseAddress!, shape: k.shape)
                            }
                        }
                    }
                }
            }
            XCTAssertEqual(toNCHW(xc, n: k.frames, c: k.channels, p: k.plane), y, "BN inference in place \(k)")
        }
    }

    /// leakySlope: LeakyReLU applied in BatchNorm's output pass, in both forwards, against the Double
    /// reference followed by a Double LeakyReLU.
    func testFusedLeakyReLUMatchesReference() {
        var rng = TestRNG(33)
        let slope: Float = 0.2
        func leaky(_ v: [Double]) -> [Double] { v.map { $0 > 0 ? $0 : Double(slope) * $0 } }
        for k in cases where k.framesPerGroup * k.plane > 1 {
            let x = input(k, &rng), gamma = rng.array(k.channels, 0.5, 1.5), beta = rng.array(k.channels)
            let got = train(k, x: x, gamma: gamma, beta: beta, leakySlope: slope)
            let want = NaiveNorm.training(
                x, groups: k.groups, framesPerGroup: k.framesPerGroup, channels: k.channels, plane: k.plane,
                gamma: gamma, beta: beta, runningMean: [Float](repeating: 0, count: k.channels),
                runningVar: [Float](repeating: 1, count: k.channels))
            // As testTrainingForwardMatchesReference; LeakyReLU only scales by 0.2 (one more rounding).
            assertClose(got.y, leaky(want.y), atol: 2e-6, rtol: 1e-6, "BN training + LeakyReLU \(k)")
            XCTAssert(got.y.contains { $0 < 0 } && got.y.contains { $0 > 0 }, "both branches exercised \(k)")

            let rm = rng.array(k.channels, -2, 2), rv = rng.array(k.channels, 0.2, 2)
            let y = infer(k, x: x, gamma: gamma, beta: beta, rm: rm, rv: rv, leakySlope: slope)
            let wantInference = NaiveNorm.inference(
                x, frames: k.frames, channels: k.channels, plane: k.plane, gamma: gamma, beta: beta,
                runningMean: rm, runningVar: rv)
            assertClose(
                y, leaky(wantInference), atol: 5e-6, rtol: 1e-6,
                "BN inference + LeakyReLU \(k)")
        }
    }

    /// The backward through the fused LeakyReLU (gate recomputed from x) against the two steps it
    /// replaces, each checked on its own (LeakyReLU's backward in ActivationTests, BatchNorm's against
    /// finite differences below): LeakyReLU′ applied to gradY at the forward's output y, then BatchNorm's
    /// backward. The gated values and the sums are the same Float and Double operations, so the bits agree;
    /// a gate taken from the wrong sign, shift or scale changes gradX and both parameter gradients.
    func testBackwardThroughFusedLeakyReLUMatchesTheTwoSteps() {
        var rng = TestRNG(36)
        let slope: Float = 0.2
        for k in cases where k.framesPerGroup * k.plane > 1 {
            let x = input(k, &rng), gamma = rng.array(k.channels, 0.5, 1.5), beta = rng.array(k.channels)
            let f = train(k, x: x, gamma: gamma, beta: beta, leakySlope: slope)
            XCTAssert(f.y.contains { $0 < 0 } && f.y.contains { $0 > 0 }, "both branches exercised \(k)")
            let r = rng.array(k.count)
            let gz = zip(r, f.y).map { g, y in y > 0 ? g : slope * g }
            var ggRef = [Float](repeating: 0, count: k.channels), gbRef = ggRef
            let gxRef = backward(k, gradY: gz, x: x, gamma: gamma, mean: f.mean, invStd: f.invStd, gradGamma: &ggRef, gradBeta: &gbRef)
            var gg = [Float](repeating: .nan, count: k.channels), gb = gg
            let gx = backward(
                k, gradY: r, x: x, gamma: gamma, mean: f.mean, invStd: f.invStd, gradGamma: &gg, gradBeta: &gb,
                beta: beta, leakySlope: slope)
            XCTAssertEqual(gx, gxRef, "BN + LeakyReLU backward gradX \(k)")
            XCTAssertEqual(gg, ggRef, "BN + LeakyReLU backward gradGamma \(k)")
            XCTAssertEqual(gb, gbRef, "BN + LeakyReLU backward gradBeta \(k)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(33)
        for k in cases {
            var x = input(k, &rng), gamma = rng.array(k.channels, 0.5, 1.5), beta = rng.array(k.channels)
            let f = train(k, x: x, gamma: gamma, beta: beta)
            let r = rng.array(k.count) // loss = Σ r·y, so gradY = r
            var gGamma = [Float](repeating: .nan, count: k.channels), gBeta = gGamma // overwritten, not accumulated
            let gx = backward(k, gradY: r, x: x, gamma: gamma, mean: f.mean, invStd: f.invStd, gradGamma: &gGamma, gradBeta: &gBeta)
            let (xs, gs, bs) = (x, gamma, beta)
            // Nonlinear in x. Truncation h²/6·|∂³L|: ∂³L ~ γ·s³·|r|·(few)/M, ≲ 6 even for the M = 6 group → ≤ 1e-4 at h = 1e-2.
            // Rounding: only the perturbed group's M ≤ 36 outputs change, each by ≤ 3e-7·|r| (three Float roundings of
            // |y| ≲ 5), so ≤ 2·36·3e-7 / (2h) = 1.1e-3 worst case. 1.5e-3 covers both; a wrong or missing term is O(0.1).
            checkGradient("BN x \(k)", values: &x, analytic: gx, step: 1e-2, atol: 1.5e-3, rtol: 1e-3) {
                dot(r, self.train(k, x: $0, gamma: gs, beta: bs).y)
            }
            // y is exactly linear in γ and β, so a large step costs no truncation; rounding of the ≤ 144 outputs of a
            // channel gives ≤ 2·144·3e-7 / (2·0.1) = 4.3e-4.
            checkGradient("BN gamma \(k)", values: &gamma, analytic: gGamma, step: 1e-1, atol: 5e-4, rtol: 1e-4) {
                dot(r, self.train(k, x: xs, gamma: $0, beta: bs).y)
            }
            checkGradient("BN beta \(k)", values: &beta, analytic: gBeta, step: 1e-1, atol: 5e-4, rtol: 1e-4) {
                dot(r, self.train(k, x: xs, gamma: gs, beta: $0).y)
            }
        }
    }

    func testInPlaceForwardAndBackwardGiveSameBits() {
        var rng = TestRNG(34)
        for k in cases {
            let x = input(k, &rng), gamma = rng.array(k.channels, 0.5, 1.5), beta = rng.array(k.channels)
            let rm0 = rng.array(k.channels), rv0 = rng.array(k.channels, 0.2, 2)
            let ref = train(k, x: x, gamma: gamma, beta: beta, running: (rm0, rv0))

            var buffer = toCNHW(x, n: k.frames, c: k.channels, p: k.plane)
            var mean = [Float](repeating: .nan, count: k.groups * k.channels), invStd = mean
            var rm = rm0, rv = rv0
            buffer.withUnsafeMutableBufferPointer { p in
                gamma.withUnsafeBufferPointer { pg in
                    beta.withUnsafeBufferPointer { pb in
                        mean.withUnsafeMutableBufferPointer { pm in
                            invStd.withUnsafeMutableBufferPointer { ps in
                                rm.withUnsafeMutableBufferPointer { prm in
                                    rv.withUnsafeMutableBufferPointer { prv in
                                        batchNorm2dTrainingForward(
                                            x: p.baseAddress!, y: p.baseAddress!, gamma: pg.baseAddress!, beta: pb.baseAddress!,
                                            mean: pm.baseAddress!, invStd: ps.baseAddress!,
                                            runningMean: prm.baseAddress!, runningVar: prv.baseAddress!, shape: k.shape)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            XCTAssertEqual(toNCHW(buffer, n: k.frames, c: k.channels, p: k.plane), ref.y, "BN forward in place \(k)")
            XCTAssertEqual(mean, ref.mean); XCTAssertEqual(invStd, ref.invStd)
            XCTAssertEqual(rm, ref.runningMean); XCTAssertEqual(rv, ref.runningVar)

            let r = rng.array(k.count)
            var gg = [Float](repeating: 0, count: k.channels), gb = gg
            let gxRef = backward(k, gradY: r, x: x, gamma: gamma, mean: ref.mean, invStd: ref.invStd, gradGamma: &gg, gradBeta: &gb)
            var grad = toCNHW(r, n: k.frames, c: k.channels, p: k.plane)
            let xc = toCNHW(x, n: k.frames, c: k.channels, p: k.plane)
            var gg2 = [Float](repeating: 0, count: k.channels), gb2 = gg2
            grad.withUnsafeMutableBufferPointer { p in
                xc.withUnsafeBufferPointer { px in
                    gamma.withUnsafeBufferPointer { pg in
                        ref.mean.withUnsafeBufferPointer { pm in
                            ref.invStd.withUnsafeBufferPointer { ps in
                                gg2.withUnsafeMutableBufferPointer { pgg in
                                    gb2.withUnsafeMutableBufferPointer { pgb in
                                        batchNorm2dBackward(
                                            gradY: p.baseAddress!, x: px.baseAddress!, gamma: pg.baseAddress!, mean: pm.baseAddress!,
                                            invStd: ps.baseAddress!, gradX: p.baseAddress!, gradGamma: pgg.baseAddress!,
                                            gradBeta: pgb.baseAddress!, shape: k.shape)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            XCTAssertEqual(toNCHW(grad, n: k.frames, c: k.channels, p: k.plane), gxRef, "BN backward in place \(k)")
            XCTAssertEqual(gg2, gg); XCTAssertEqual(gb2, gb)
        }
    }

    func testParameterGradientsAccumulateWhenAsked() {
        var rng = TestRNG(35)
        let k = cases[1]
        let x = input(k, &rng), gamma = rng.array(k.channels, 0.5, 1.5), beta = rng.array(k.channels)
        let f = train(k, x: x, gamma: gamma, beta: beta)
        let r = rng.array(k.count)
        var gg = [Float](repeating: 0, count: k.channels), gb = gg
        _ = backward(k, gradY: r, x: x, gamma: gamma, mean: f.mean, invStd: f.invStd, gradGamma: &gg, gradBeta: &gb)
        let earlierG = rng.array(k.channels), earlierB = rng.array(k.channels)
        var accG = earlierG, accB = earlierB
        _ = backward(k, gradY: r, x: x, gamma: gamma, mean: f.mean, invStd: f.invStd, gradGamma: &accG, gradBeta: &accB, accumulate: true)
        // One Float addition each: exactly what the caller would get adding the two itself.
        XCTAssertEqual(accG, zip(earlierG, gg).map { $0 + $1 })
        XCTAssertEqual(accB, zip(earlierB, gb).map { $0 + $1 })
    }

    /// gradXSum, the bias gradient of the conv before BatchNorm, is each channel's Σ gradX. Checked
    /// against a Double sum of the returned gradX (Σ gradX is ≈ 0 by BatchNorm's algebra, so the bound is
    /// one Float rounding of the result plus Double rounding over ≤ 10³ values of size ≤ 10: 1e-12 absolute,
    /// 1.2e-7 relative); where a group's run is a multiple of eight values, as in every model shape, it must
    /// also be the very bits of sumRows(gradX), the separate pass it replaces. Accumulating adds onto what
    /// is there with one Float addition. With and without the fused LeakyReLU.
    func testGradXSumIsTheChannelSumOfGradX() {
        var rng = TestRNG(36)
        let lanesOnly = [
            Case(channels: 3, groups: 2, framesPerGroup: 2, height: 4, width: 4), // runs of 32
            Case(channels: 2, groups: 3, framesPerGroup: 4, height: 2, width: 3)
        ] // runs of 24
        for k in cases + lanesOnly {
            for slope: Float? in [nil, leakyReLUSlope] {
                let x = input(k, &rng), gamma = rng.array(k.channels, 0.5, 1.5), beta = rng.array(k.channels)
                let f = train(k, x: x, gamma: gamma, beta: beta, leakySlope: slope)
                let gyc = toCNHW(rng.array(k.count), n: k.frames, c: k.channels, p: k.plane)
                let xc = toCNHW(x, n: k.frames, c: k.channels, p: k.plane)
                let earlier = rng.array(k.channels)
                var gx = [Float](repeating: .nan, count: k.count), sum = [Float](repeating: .nan, count: k.channels), accumulated = earlier
                var gg = [Float](repeating: 0, count: k.channels), gb = gg
                for (out, accumulate) in [(0, false), (1, true)] {
                    gyc.withUnsafeBufferPointer { pgy in
                        xc.withUnsafeBufferPointer { px in
                            gamma.withUnsafeBufferPointer { pg in
                                f.mean.withUnsafeBufferPointer { pm in
                                    f.invStd.withUnsafeBufferPointer { ps in
                                        beta.withUnsafeBufferPointer { pb in
                                            gx.withUnsafeMutableBufferPointer { pgx in
                                                gg.withUnsafeMutableBufferPointer { pgg in
                                                    gb.withUnsafeMutableBufferPointer { pgb in
                                                        sum.withUnsafeMutableBufferPointer { psum in
                                                            accumulated.withUnsafeMutableBufferPointer { pacc in
                                                                batchNorm2dBackward(
                                                                    gradY: pgy.baseAddress!, x: px.baseAddress!, gamma: pg.baseAddress!, mean: pm.baseAddress!,
                                                                    invStd: ps.baseAddress!, gradX: pgx.baseAddress!, gradGamma: pgg.baseAddress!,
                                                                    gradBeta: pgb.baseAddress!, gradXSum: out == 0 ? psum.baseAddress! : pacc.baseAddress!,
                                                                    beta: pb.baseAddress!, leakySlope: slope, shape: k.shape, accumulateParams: accumulate)
                                                            }
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                let columns = k.shape.columns
                let want = (0..<k.channels).map { c in gx[(c * columns)..<((c + 1) * columns)].reduce(0.0) { $0 + Double($1) } }
                assertClose(sum, want, atol: 1e-12, rtol: 1.2e-7, "BN gradXSum \(k) slope \(String(describing: slope))")
                XCTAssertEqual(accumulated, zip(earlier, sum).map { $0 + $1 }, "BN gradXSum accumulate \(k)")
                if k.shape.groupRun % 8 == 0 {
                    let separate: [Float] = .buffer(k.channels) { out in
                        gx.withUnsafeBufferPointer { sumRows($0.baseAddress!, into: out, rows: k.channels, columns: columns, accumulate: false) }
                    }
                    XCTAssertEqual(sum, separate, "BN gradXSum vs sumRows \(k)")
                }
            }
        }
    }
}
