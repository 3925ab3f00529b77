// The op case table for the kernels that are NOT linear maps, in the manner of ggml's test-backend-ops:
// one row per case, run by one driver test. Covered here:
//   Activations.swift     leakyReLU (default slope and 0.01), relu, tanh, sigmoid; 37 values, and
//                         2·valuesPerWorker + 37 values so the elementwise loop is split over the workers
//   BatchNorm2d.swift     the training forward and backward with per-time-step (group) statistics, over x, γ, β
//                         and a conv bias added just before it (the backward's gradXSum); plain, with the fused
//                         LeakyReLU, and through the across-replicas code path with a single replica
//   LSTMCell.swift        one cell step, over x (strided rows), hPrev, cPrev, weightIH, weightHH, biasIH, biasHH
//   AlignerAttention.swift  alignerAttentionForward/Backward over q, k, v (shared source frames; values from
//                         the query frame), and the row softmax and its backward on their own
//   Losses.swift          MSE (pred; target through −gradPred), KL of diagonal Gaussians (muQ, logvarQ, muP,
//                         logvarP), the reparameterisation (mu, logvar)
//   MaxPool2d.swift       2×2 max-pool, inputs built so the arg-max never changes under a probe
//   bias terms            the affine part of linear, conv1x1, conv2d and convTranspose2d: the gradient of the bias
// The linear maps (conv2d, convTranspose2d, conv1x1, Winograd conv and convT, im2col, linear, upsample,
// max-pool at a fixed arg-max, concat, transposes, frame gathers and copies) are in AdjointTests.swift,
// over their input and weight without bias. Not here: Adam (no backward; AdamTests), the reductions of
// Reductions.swift (no backward of their own: BatchNorm's forward and backward use them), the Winograd
// bias (WinogradTests checks it against a direct Double sum at 2e-5, tighter than a finite difference
// of the direct path can be).
// Each case gives (1) the kernel's forward at the base point against a naive Double reference written
// from the formula in the case, with the forward tolerance of the kernel's own test, and (2) for every
// differentiable input, the kernel's backward against central differences of the forward, with the step
// and tolerances of the kernel's own finite-difference test (named at each case). Probes stay on one
// smooth piece: activation inputs |x| ≥ 0.05, the fused LeakyReLU's BatchNorm outputs and the max-pool's
// windows are built away from their kinks.
import Foundation
import XCTest
@testable import Kernels

final class OpCaseTests: XCTestCase {
    /// One differentiable input of a case: its value at the base point, and the central-difference step and
    /// tolerances (atol + rtol·|numeric|) of the kernel's own finite-difference test.
    struct Input {
        let name: String
        let values: [Float]
        let step: Float
        let atol: Double, rtol: Double
        var maxChecks = 64
        /// The true gradient is zero (BatchNorm removes a per-channel shift): the driver then does not ask the
        /// probed gradient to be large enough for the tolerance to see a wrong one.
        var vanishes = false
    }

    struct Case {
        let name: String
        let inputs: [Input]
        /// The kernel's outputs at the given input values (in `inputs` order), flattened; Float outputs are
        /// widened exactly, so the loss Σ r·output is taken in Double of what the kernel wrote.
        let forward: ([[Float]]) -> [Double]
        /// The same outputs from the formula in Double, without calling the kernel.
        let reference: ([[Float]]) -> [Double]
        let forwardAtol: Double, forwardRtol: Double
        /// The kernel's backward at the given input values for output gradient r: one gradient per input.
        let backward: ([[Float]], [Float]) -> [[Float]]
        /// r, the gradient of the loss with respect to the outputs; nil: U(−1, 1), drawn by the driver.
        var outputGradient: [Float]? = nil
    }

    /// Float → Double (exact), written over raw buffers: the driver widens every output of every probe.
    static func widen(_ a: [Float]) -> [Double] {
        [Double](unsafeUninitializedCapacity: a.count) { out, initialized in
            a.withUnsafeBufferPointer { p in for i in 0..<p.count { out[i] = Double(p[i]) } }
            initialized = a.count
        }
    }

    /// Σ r·y in Double, over raw buffers (debug builds check every Array subscript).
    static func dot(_ r: [Float], _ y: [Double]) -> Double {
        r.withUnsafeBufferPointer { pr in
            y.withUnsafeBufferPointer { py in
                var s = 0.0
                for i in 0..<min(pr.count, py.count) { s += Double(pr[i]) * py[i] }
                return s
            }
        }
    }
    static func nans(_ n: Int) -> [Float] { [Float](repeating: .nan, count: n) }
    static func zeros(_ n: Int) -> [Float] { [Float](repeating: 0, count: n) }

    // MARK: Activations

    /// Tolerances of ActivationTests (its comments derive them): forward against the exact function, and
    /// step 1e-2 with the per-activation gradient bounds.
    static func activationCases(_ rng: inout TestRNG) -> [Case] {
        typealias Forward = (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
        typealias Backward = (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
        struct Activation {
            var name: String, forward: Forward, backward: Backward, reference: (Double) -> Double, kinked: Bool
            var forwardAtol: Double, forwardRtol: Double, gradAtol: Double, gradRtol: Double
        }
        let activations = [
            Activation(
                name: "leakyReLU (slope 0.2)", forward: { leakyReLUForward(x: $0, y: $1, count: $2) },
                backward: { leakyReLUBackward(gradY: $0, y: $1, gradX: $2, count: $3) }, reference: { $0 > 0 ? $0 : 0.2 * $0 }, kinked: true,
                forwardAtol: 0, forwardRtol: 1e-7, gradAtol: 5e-6, gradRtol: 1e-6),
            // ActivationTests checks slope 0.01 forward at rtol 1e-7 and its backward exactly; the gradient bound
            // is the default slope's (rounding of |y| ≤ 4·0.01 is smaller still).
            Activation(
                name: "leakyReLU (slope 0.01)", forward: { leakyReLUForward(x: $0, y: $1, count: $2, slope: 0.01) },
                backward: { leakyReLUBackward(gradY: $0, y: $1, gradX: $2, count: $3, slope: 0.01) }, reference: { $0 > 0 ? $0 : 0.01 * $0 },
                kinked: true, forwardAtol: 0, forwardRtol: 1e-7, gradAtol: 5e-6, gradRtol: 1e-6),
            Activation(
                name: "relu", forward: { reluForward(x: $0, y: $1, count: $2) }, backward: { reluBackward(gradY: $0, y: $1, gradX: $2, count: $3) },
                reference: { max($0, 0) }, kinked: true, forwardAtol: 0, forwardRtol: 0, gradAtol: 1e-9, gradRtol: 1e-9),
            Activation(
                name: "tanh", forward: { tanhForward(x: $0, y: $1, count: $2) }, backward: { tanhBackward(gradY: $0, y: $1, gradX: $2, count: $3) },
                reference: { Foundation.tanh($0) }, kinked: false, forwardAtol: 1.2e-7, forwardRtol: 1.2e-7, gradAtol: 5e-5, gradRtol: 1e-4),
            Activation(
                name: "sigmoid", forward: { sigmoidForward(x: $0, y: $1, count: $2) },
                backward: { sigmoidBackward(gradY: $0, y: $1, gradX: $2, count: $3) }, reference: { 1 / (1 + Foundation.exp(-$0)) }, kinked: false,
                forwardAtol: 1.2e-38, forwardRtol: 2e-7, gradAtol: 3e-5, gradRtol: 1e-4)
        ]
        var cases: [Case] = []
        for a in activations {
            for n in [37, 2 * valuesPerWorker + 37] {
                // U(−4, 4) reaches the saturated tails; kinked ones keep |x| ≥ 0.05 > step, so no probe straddles 0.
                let x = rng.array(n, -4, 4).map { a.kinked && abs($0) < 0.05 ? ($0 < 0 ? -0.05 : 0.05) : $0 }
                let run: ([Float]) -> [Float] = { x in
                    var y = nans(n)
                    a.forward(x, &y, n)
                    return y
                }
                cases.append(
                    Case(
                        name: "\(a.name), \(n) values\(n > valuesPerWorker ? " (split over the workers)" : "")",
                        inputs: [Input(name: "x", values: x, step: 1e-2, atol: a.gradAtol, rtol: a.gradRtol)],
                        forward: { widen(run($0[0])) }, reference: { $0[0].map { a.reference(Double($0)) } },
                        forwardAtol: a.forwardAtol, forwardRtol: a.forwardRtol,
                        backward: { inputs, r in
                            let y = run(inputs[0])
                            var gx = nans(n)
                            a.backward(r, y, &gx, n)
                            return [gx]
                        }))
            }
        }
        return cases
    }

    // MARK: BatchNorm2d

    /// A ReplicaGroup of one: the across-replicas code path (three passes, sums through the group) with
    /// nothing to sum.
    final class SingleReplica: ReplicaGroup {
        var rank: Int { 0 }
        var count: Int { 1 }
        func sum(_ values: UnsafeMutablePointer<Double>, count: Int) {}
        func sum(_ values: UnsafeMutablePointer<Float>, count: Int) {}
    }

    /// BatchNorm2d in Double on the CNHW map C × (G·B·P): statistics per (group, channel) run of B·P values,
    /// y = γ·(v − μ)/√(σ² + eps) + β with the biased σ², v = x + bias[c], then LeakyReLU(slope) if given.
    static func naiveBatchNorm(_ x: [Float], bias: [Float], gamma: [Float], beta: [Float], shape s: BatchNormShape, slope: Float?) -> [Double] {
        var y = [Double](repeating: .nan, count: s.count)
        for c in 0..<s.channels {
            for g in 0..<s.groups {
                let run = (0..<s.groupRun).map { c * s.columns + g * s.groupRun + $0 }
                let v = run.map { Double(x[$0]) + Double(bias[c]) }
                let mu = v.reduce(0, +) / Double(s.groupRun)
                let variance = v.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(s.groupRun)
                for (k, i) in run.enumerated() {
                    let z = Double(gamma[c]) * (v[k] - mu) / (variance + 1e-5).squareRoot() + Double(beta[c])
                    y[i] = slope.map { z > 0 ? z : Double($0) * z } ?? z
                }
            }
        }
        return y
    }

    /// Forward tolerance 2e-6 / 1e-6 (BatchNormTests, training y, with and without the fused LeakyReLU).
    /// Gradients (BatchNormTests.testBackwardMatchesFiniteDifferences): x at step 1e-2, atol 1.5e-3, rtol 1e-3;
    /// γ and β at step 1e-1, atol 5e-4, rtol 1e-4. The bias before the BatchNorm takes x's bounds: a probe
    /// moves the channel's values as an x probe moves one (its true gradient, Σ gradX, is zero).
    static func batchNormCases(_ rng: inout TestRNG) -> [Case] {
        let variants: [(label: String, shape: BatchNormShape, slope: Float?, acrossReplicas: Bool)] = [
            ("BatchNorm2d grouped, 2 groups, C3 B2 3×2", BatchNormShape(channels: 3, groups: 2, framesPerGroup: 2, plane: 6), nil, false),
            ("BatchNorm2d grouped, 3 groups, C2 B2 2×4", BatchNormShape(channels: 2, groups: 3, framesPerGroup: 2, plane: 8), nil, false),
            ("BatchNorm2d + fused LeakyReLU, 2 groups, C2 B3 2×2", BatchNormShape(channels: 2, groups: 2, framesPerGroup: 3, plane: 4), leakyReLUSlope, false),
            (
                "BatchNorm2d across replicas (one replica) + fused LeakyReLU, 2 groups, C2 B2 2×3",
                BatchNormShape(channels: 2, groups: 2, framesPerGroup: 2, plane: 6), leakyReLUSlope, true
            )
        ]
        var cases: [Case] = []
        for v in variants {
            let s = v.shape
            // x = per-channel offset + U(−1, 1), as BatchNormTests: the mean is away from 0, σ ≈ 0.58.
            let offsets = rng.array(s.channels, -2, 2)
            var x = (0..<s.count).map { offsets[$0 / s.columns] + rng.uniform() }
            let gamma = rng.array(s.channels, 0.5, 1.5), beta = rng.array(s.channels)
            let bias = zeros(s.channels) // at 0, x + bias is x exactly, so the reference sees the kernel's input
            if let slope = v.slope {
                // Away from the kink: |z| ≥ 0.15 + 0.1·|x̂| for z = γ·x̂ + β, so neither a β probe (±0.1), a γ probe
                // (±0.1·x̂) nor an x probe (≤ 0.03 on its own z, ≤ 0.01 on the others) changes the branch. Values
                // too close are redrawn until none is.
                var settled = false
                for _ in 0..<1000 {
                    let z = naiveBatchNorm(x, bias: bias, gamma: gamma, beta: beta, shape: s, slope: nil)
                    let close = (0..<s.count).filter { i in
                        let c = i / s.columns, xhat = (z[i] - Double(beta[c])) / Double(gamma[c])
                        return abs(z[i]) < 0.15 + 0.1 * abs(xhat)
                    }
                    if close.isEmpty { settled = true; break }
                    for i in close { x[i] = offsets[i / s.columns] + rng.uniform() }
                }
                let y = naiveBatchNorm(x, bias: bias, gamma: gamma, beta: beta, shape: s, slope: slope)
                XCTAssertTrue(settled && y.contains { $0 < 0 } && y.contains { $0 > 0 }, "\(v.label): no kink-free input with both branches")
            }
            /// `body` with the statistics of one replica (its own 2·G·C Doubles of scratch), or nil for the one-pass path.
            func withReplicas<R>(_ body: (CrossReplicaStatistics?) -> R) -> R {
                guard v.acrossReplicas else { return body(nil) }
                let scratch = UnsafeMutablePointer<Double>.allocate(capacity: 2 * s.groups * s.channels)
                defer { scratch.deallocate() }
                return body(CrossReplicaStatistics(group: SingleReplica(), framesPerGroup: s.framesPerGroup, scratch: scratch))
            }
            // Inputs: x, γ, β, bias. Returns the kernel's input x + bias, y and the saved statistics.
            let run: ([[Float]]) -> (x: [Float], y: [Float], mean: [Float], invStd: [Float]) = { inputs in
                let xb = (0..<s.count).map { inputs[0][$0] + inputs[3][$0 / s.columns] }
                var y = nans(s.count), mean = nans(s.groups * s.channels), invStd = nans(s.groups * s.channels)
                withReplicas { replicas in
                    batchNorm2dTrainingForward(
                        x: xb, y: &y, gamma: inputs[1], beta: inputs[2], mean: &mean, invStd: &invStd, runningMean: nil, runningVar: nil,
                        leakySlope: v.slope, shape: s, replicas: replicas)
                }
                return (xb, y, mean, invStd)
            }
            cases.append(
                Case(
                    name: v.label,
                    inputs: [
                        Input(name: "x", values: x, step: 1e-2, atol: 1.5e-3, rtol: 1e-3),
                        Input(name: "gamma", values: gamma, step: 1e-1, atol: 5e-4, rtol: 1e-4),
                        Input(name: "beta", values: beta, step: 1e-1, atol: 5e-4, rtol: 1e-4),
                        Input(name: "conv bias before it (gradXSum)", values: bias, step: 1e-2, atol: 1.5e-3, rtol: 1e-3, vanishes: true)
                    ],
                    forward: { widen(run($0).y) },
                    reference: { naiveBatchNorm($0[0], bias: $0[3], gamma: $0[1], beta: $0[2], shape: s, slope: v.slope) },
                    forwardAtol: 2e-6, forwardRtol: 1e-6,
                    backward: { inputs, r in
                        let f = run(inputs)
                        var gx = nans(s.count), gGamma = nans(s.channels), gBeta = nans(s.channels), gSum = nans(s.channels)
                        withReplicas { replicas in
                            if v.slope == nil {
                                batchNorm2dBackward(
                                    gradY: r, x: f.x, gamma: inputs[1], mean: f.mean, invStd: f.invStd, gradX: &gx, gradGamma: &gGamma, gradBeta: &gBeta,
                                    gradXSum: &gSum, shape: s, replicas: replicas)
                            } else {
                                batchNorm2dBackward(
                                    gradY: r, x: f.x, gamma: inputs[1], mean: f.mean, invStd: f.invStd, gradX: &gx, gradGamma: &gGamma, gradBeta: &gBeta,
                                    gradXSum: &gSum, beta: inputs[2], leakySlope: v.slope, shape: s, replicas: replicas)
                            }
                        }
                        return [gx, gGamma, gBeta, gSum]
                    }))
        }
        return cases
    }

    // MARK: LSTMCell

    /// Forward tolerance 1e-5 / 1e-5 on h and c, every gradient at step 1e-2, atol 1e-3, rtol 1e-3
    /// (LinearLSTMCellTests). The outputs are [h; c]: loss Σ r₁·h + Σ r₂·c, so gradH = r₁ and gradCNext = r₂.
    static func lstmCases(_ rng: inout TestRNG) -> [Case] {
        var cases: [Case] = []
        for (batch, inF, hidden, padX) in [(1, 3, 2, 0), (4, 5, 3, 2)] {
            let H = hidden, G = 4 * hidden, ldx = inF + padX, nh = batch * H
            let x = rng.array(batch * inF), h0 = rng.array(nh), c0 = rng.array(nh, -2, 2)
            // ±0.8 keeps the pre-activations in the gates' sensitive range, as LinearLSTMCellTests.
            let wih = rng.array(G * inF, -0.8, 0.8), whh = rng.array(G * H, -0.8, 0.8), bih = rng.array(G, -0.5, 0.5), bhh = rng.array(G, -0.5, 0.5)
            /// x compact → rows of stride ldx, the padding NaN (the kernels must not read it).
            func padded(_ x: [Float]) -> [Float] {
                var out = nans(batch * ldx)
                for n in 0..<batch { for i in 0..<inF { out[n * ldx + i] = x[n * inF + i] } }
                return out
            }
            // Inputs: x, hPrev, cPrev, weightIH, weightHH, biasIH, biasHH.
            let run: ([[Float]]) -> (gates: [Float], c: [Float], h: [Float]) = { p in
                var gates = nans(batch * G), c = nans(nh), h = nans(nh)
                lstmCellForward(
                    x: padded(p[0]), hPrev: p[1], cPrev: p[2], weightIH: p[3], weightHH: p[4], biasIH: p[5], biasHH: p[6], gates: &gates, c: &c, h: &h,
                    batch: batch, inFeatures: inF, hidden: H, ldx: ldx)
                return (gates, c, h)
            }
            let (step, atol, rtol): (Float, Double, Double) = (1e-2, 1e-3, 1e-3)
            cases.append(
                Case(
                    name: "LSTMCell step, batch \(batch), in \(inF), hidden \(H), x row stride \(ldx)",
                    inputs: [
                        Input(name: "x", values: x, step: step, atol: atol, rtol: rtol),
                        Input(name: "hPrev", values: h0, step: step, atol: atol, rtol: rtol),
                        Input(name: "cPrev", values: c0, step: step, atol: atol, rtol: rtol),
                        Input(name: "weightIH", values: wih, step: step, atol: atol, rtol: rtol),
                        Input(name: "weightHH", values: whh, step: step, atol: atol, rtol: rtol),
                        Input(name: "biasIH", values: bih, step: step, atol: atol, rtol: rtol),
                        Input(name: "biasHH", values: bhh, step: step, atol: atol, rtol: rtol)
                    ],
                    forward: { p in
                        let s = run(p); return widen(s.h + s.c)
                    },
                    reference: { p in
                        func sigmoid(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
                        var h = [Double](repeating: 0, count: nh), c = h
                        for n in 0..<batch {
                            // a = W_ih x + W_hh h_prev + b_ih + b_hh, gates i, f, g, o.
                            var a = [Double](repeating: 0, count: G)
                            for r in 0..<G {
                                a[r] = Double(p[5][r]) + Double(p[6][r])
                                for i in 0..<inF { a[r] += Double(p[3][r * inF + i]) * Double(p[0][n * inF + i]) }
                                for j in 0..<H { a[r] += Double(p[4][r * H + j]) * Double(p[1][n * H + j]) }
                            }
                            for j in 0..<H {
                                let cv = sigmoid(a[H + j]) * Double(p[2][n * H + j]) + sigmoid(a[j]) * Foundation.tanh(a[2 * H + j])
                                c[n * H + j] = cv
                                h[n * H + j] = sigmoid(a[3 * H + j]) * Foundation.tanh(cv)
                            }
                        }
                        return h + c
                    },
                    forwardAtol: 1e-5, forwardRtol: 1e-5,
                    backward: { p, r in
                        let s = run(p)
                        var gx = nans(batch * ldx), ghp = nans(nh), gcp = nans(nh)
                        var gwih = nans(G * inF), gwhh = nans(G * H), gbih = nans(G), gbhh = nans(G), gateGrad = nans(batch * G)
                        lstmCellBackward(
                            gradH: Array(r[0..<nh]), gradCNext: Array(r[nh...]), x: padded(p[0]), hPrev: p[1], cPrev: p[2], gates: s.gates, c: s.c,
                            weightIH: p[3], weightHH: p[4], gradX: &gx, gradHPrev: &ghp, gradCPrev: &gcp, gradWeightIH: &gwih, gradWeightHH: &gwhh,
                            gradBiasIH: &gbih, gradBiasHH: &gbhh, gateGrad: &gateGrad, batch: batch, inFeatures: inF, hidden: H, ldx: ldx)
                        let compactGX = (0..<(batch * inF)).map { gx[($0 / inF) * ldx + $0 % inF] }
                        return [compactGX, ghp, gcp, gwih, gwhh, gbih, gbhh]
                    }))
        }
        return cases
    }

    // MARK: Aligner attention and softmax

    /// Forward tolerance 1e-5 / 1e-5 on z (AlignerTests, aligner output and decoder-value Z); q, k, v at step
    /// 1e-2, atol 3e-4, rtol 1e-3 (AlignerTests.testAttentionBackwardMatchesFiniteDifferences).
    static func attentionCases(_ rng: inout TestRNG) -> [Case] {
        var cases: [Case] = []
        let variants: [(label: String, shape: AlignerShape, map: [Int32], valueFromQuery: Bool)] = [
            (
                "aligner attention, 4 query frames on 2 sources [0, 1, 1, 1], e 2, C 3, 2×3",
                AlignerShape(queryFrames: 4, keyFrames: 2, plane: 6, keyChannels: 2, valueChannels: 3), [0, 1, 1, 1], false
            ),
            (
                "aligner attention, values from the query frame, 3 frames on sources [1, 0, 1], e 1, C 4, 3×3",
                AlignerShape(queryFrames: 3, keyFrames: 2, plane: 9, keyChannels: 1, valueChannels: 4), [1, 0, 1], true
            )
        ]
        for v in variants {
            let sh = v.shape, p = sh.plane, e = sh.keyChannels, ch = sh.valueChannels
            let lq = sh.queryFrames * p, lk = sh.keyFrames * p, ldv = v.valueFromQuery ? lq : lk
            // q, k in ±1.5: logits up to e·2.25, a softmax far from uniform (AlignerTests).
            let q = rng.array(e * lq, -1.5, 1.5), k = rng.array(e * lk, -1.5, 1.5), vv = rng.array(ch * ldv)
            let map = v.map
            let run: ([[Float]]) -> (z: [Float], a: [Float]) = { x in
                var a = nans(sh.queryFrames * p * p), z = nans(ch * lq)
                alignerAttentionForward(q: x[0], k: x[1], v: x[2], attention: &a, z: &z, keyFrame: map, shape: sh, valueFromQueryFrame: v.valueFromQuery)
                return (z, a)
            }
            cases.append(
                Case(
                    name: v.label,
                    inputs: [
                        Input(name: "q", values: q, step: 1e-2, atol: 3e-4, rtol: 1e-3),
                        Input(name: "k", values: k, step: 1e-2, atol: 3e-4, rtol: 1e-3),
                        Input(name: "v", values: vv, step: 1e-2, atol: 3e-4, rtol: 1e-3)
                    ],
                    forward: { widen(run($0).z) },
                    reference: { x in
                        // Z_f[c][i] = Σ_j V_s[c][j] · softmax_j(Σ_e Q_f[e][i] K_s[e][j]), s = map[f] (V_f from the query frame).
                        var z = [Double](repeating: 0, count: ch * lq)
                        for f in 0..<sh.queryFrames {
                            let s = Int(map[f]), vs = v.valueFromQuery ? f : s
                            for i in 0..<p {
                                var logits = [Double](repeating: 0, count: p)
                                for j in 0..<p { for d in 0..<e { logits[j] += Double(x[0][d * lq + f * p + i]) * Double(x[1][d * lk + s * p + j]) } }
                                let m = logits.max()!, ex = logits.map { Foundation.exp($0 - m) }, total = ex.reduce(0, +)
                                for c in 0..<ch { for j in 0..<p { z[c * lq + f * p + i] += Double(x[2][c * ldv + vs * p + j]) * ex[j] / total } }
                            }
                        }
                        return z
                    },
                    forwardAtol: 1e-5, forwardRtol: 1e-5,
                    backward: { x, r in
                        var a = run(x).a
                        // gradQ is overwritten (NaN must not survive); gradK and gradV accumulate onto the zeros given.
                        var gq = nans(q.count), gk = zeros(k.count), gv = zeros(vv.count), scratch = nans(p * p)
                        alignerAttentionBackward(
                            gradZ: r, q: x[0], k: x[1], v: x[2], attention: &a, gradQ: &gq, gradK: &gk, gradV: &gv, scratch: &scratch, keyFrame: map,
                            shape: sh, valueFromQueryFrame: v.valueFromQuery)
                        return [gq, gk, gv]
                    }))
        }
        // The row softmax on its own (softmaxRows / softmaxBackwardRows, internal to AlignerAttention.swift):
        // rows of 13 (one eight-lane block and a tail) and 40 (several blocks). Forward: the aligner's bound on A,
        // atol 1e-6, rtol 1e-5. Gradient at step 1e-2: truncation step²/6·|∂³L| ≲ 2e-5 and rounding
        // Σ|r·A|·3e-7 / (2·step) ≲ 2e-5 at logits in ±3, so atol 1e-4 (the aligner's 3e-4 includes the GEMMs).
        for (rows, columns) in [(5, 13), (3, 40)] {
            let logits = rng.array(rows * columns, -3, 3)
            let run: ([Float]) -> [Float] = { s in
                var a = s
                softmaxRows(&a, rows: rows, columns: columns)
                return a
            }
            cases.append(
                Case(
                    name: "row softmax, \(rows) rows of \(columns)",
                    inputs: [Input(name: "logits", values: logits, step: 1e-2, atol: 1e-4, rtol: 1e-3)],
                    forward: { widen(run($0[0])) },
                    reference: { x in
                        (0..<rows).flatMap { i in
                            let row = (0..<columns).map { Double(x[0][i * columns + $0]) }
                            let m = row.max()!, ex = row.map { Foundation.exp($0 - m) }, total = ex.reduce(0, +)
                            return ex.map { $0 / total }
                        }
                    },
                    forwardAtol: 1e-6, forwardRtol: 1e-5,
                    backward: { x, r in
                        let a = run(x[0])
                        var g = r
                        softmaxBackwardRows(a, &g, rows: rows, columns: columns)
                        return [g]
                    }))
        }
        return cases
    }

    // MARK: Losses

    /// LossTests' bounds. MSE: forward within 1e-12 (absolute; LossTests allows 1e-12·max(1, L)), pred and
    /// target at step 1e-2, atol 1e-6, rtol 1e-5. KL: forward within 1e-12, all four inputs at step 1e-4,
    /// atol 1e-6, rtol 1e-5. Reparameterisation: forward atol 2e-6, rtol 1e-6; mu, logvar at step 1e-2,
    /// atol 1e-4, rtol 1e-4. The scalar losses' output gradient is the loss scale the backward takes.
    static func lossCases(_ rng: inout TestRNG) -> [Case] {
        var cases: [Case] = []
        for (count, divisor, scale) in [(37, 37.0, Float(1)), (60, 20.0, 0.7)] {
            let mse: ([[Float]]) -> [Double] = { x in [mseForward(pred: x[0], target: x[1], count: count, divisor: divisor)] }
            cases.append(
                Case(
                    name: "MSE, \(count) values, divisor \(divisor), scale \(scale)",
                    inputs: [
                        Input(name: "pred", values: rng.array(count), step: 1e-2, atol: 1e-6, rtol: 1e-5),
                        // The kernel gives no target gradient; by the symmetry of the square it is −gradPred.
                        Input(name: "target (as −gradPred)", values: rng.array(count), step: 1e-2, atol: 1e-6, rtol: 1e-5)
                    ],
                    forward: mse,
                    reference: { x in
                        var sum = 0.0
                        for i in 0..<count { sum += (Double(x[0][i]) - Double(x[1][i])) * (Double(x[0][i]) - Double(x[1][i])) }
                        return [sum / divisor]
                    },
                    forwardAtol: 1e-12, forwardRtol: 0,
                    backward: { x, r in
                        var g = nans(count)
                        mseBackward(pred: x[0], target: x[1], gradPred: &g, count: count, divisor: divisor, scale: r[0])
                        return [g, g.map { -$0 }]
                    },
                    outputGradient: [scale]))
        }
        for (batch, dim, scale) in [(3, 5, Float(0.3)), (4, 7, 2)] {
            let n = batch * dim
            cases.append(
                Case(
                    name: "KL(q‖p) of diagonal Gaussians, batch \(batch) × \(dim), scale \(scale)",
                    inputs: [
                        Input(name: "muQ", values: rng.array(n), step: 1e-4, atol: 1e-6, rtol: 1e-5),
                        Input(name: "logvarQ", values: rng.array(n, -2, 2), step: 1e-4, atol: 1e-6, rtol: 1e-5),
                        Input(name: "muP", values: rng.array(n), step: 1e-4, atol: 1e-6, rtol: 1e-5),
                        Input(name: "logvarP", values: rng.array(n, -1.5, 1.5), step: 1e-4, atol: 1e-6, rtol: 1e-5)
                    ],
                    forward: { x in [klDiagonalGaussianForward(muQ: x[0], logvarQ: x[1], muP: x[2], logvarP: x[3], count: n, batch: batch)] },
                    reference: { x in
                        // With σ = exp(½·logvar): Σ log(σp/σq) + (σq² + (μq − μp)²)/(2σp²) − ½, over the batch.
                        let sum = (0..<n).reduce(0.0) { s, i in
                            let sq = Foundation.exp(0.5 * Double(x[1][i])), sp = Foundation.exp(0.5 * Double(x[3][i])), dm = Double(x[0][i]) - Double(x[2][i])
                            return s + Foundation.log(sp / sq) + (sq * sq + dm * dm) / (2 * sp * sp) - 0.5
                        }
                        return [sum / Double(batch)]
                    },
                    forwardAtol: 1e-12, forwardRtol: 0,
                    backward: { x, r in
                        var gmq = nans(n), glq = nans(n), gmp = nans(n), glp = nans(n)
                        klDiagonalGaussianBackward(
                            muQ: x[0], logvarQ: x[1], muP: x[2], logvarP: x[3], gradMuQ: &gmq, gradLogvarQ: &glq, gradMuP: &gmp, gradLogvarP: &glp,
                            count: n, batch: batch, scale: r[0])
                        return [gmq, glq, gmp, glp]
                    },
                    outputGradient: [scale]))
        }
        let n = 23
        let eps = rng.array(n, -2.5, 2.5)
        let reparameterize: ([[Float]]) -> [Float] = { x in
            var z = nans(n)
            reparameterizeForward(mu: x[0], logvar: x[1], eps: eps, z: &z, count: n)
            return z
        }
        cases.append(
            Case(
                name: "reparameterisation z = μ + exp(½·logvar)·ε, \(n) values",
                inputs: [
                    Input(name: "mu", values: rng.array(n), step: 1e-2, atol: 1e-4, rtol: 1e-4),
                    Input(name: "logvar", values: rng.array(n, -3, 2), step: 1e-2, atol: 1e-4, rtol: 1e-4)
                ],
                forward: { widen(reparameterize($0)) },
                reference: { x in
                    (0..<n).map { i -> Double in
                        let sigma: Double = Foundation.exp(0.5 * Double(x[1][i]))
                        return Double(x[0][i]) + sigma * Double(eps[i])
                    }
                },
                forwardAtol: 2e-6, forwardRtol: 1e-6,
                backward: { x, r in
                    // The backward accumulates (the KL term writes these first): start from zero.
                    var gm = zeros(n), gl = zeros(n)
                    reparameterizeBackward(gradZ: r, logvar: x[1], eps: eps, gradMu: &gm, gradLogvar: &gl, count: n)
                    return [gm, gl]
                }))
        return cases
    }

    // MARK: MaxPool2d

    /// Forward exact (a copy of an input), gradient at step 1e-2, atol 1e-9, rtol 1e-9, up to 200 probes
    /// (PoolUpsampleConcatTests). Each window holds four values ≥ 0.06 apart (levels 0.1 apart, jitter ±0.02,
    /// shuffled), so its maximum is unique and a probe of ±1e-2 cannot change which value wins.
    static func maxPoolCases(_ rng: inout TestRNG) -> [Case] {
        var cases: [Case] = []
        for (planes, h, w) in [(3, 4, 6), (2, 5, 7)] {
            var x = rng.array(planes * h * w) // an odd last row or column keeps these: never read, zero gradient
            for p in 0..<planes {
                for i in 0..<(h / 2) {
                    for j in 0..<(w / 2) {
                        var levels: [Float] = [0, 0.1, 0.2, 0.3]
                        for k in stride(from: 3, to: 0, by: -1) { levels.swapAt(k, Int(rng.next() % UInt64(k + 1))) }
                        let base = rng.uniform(-1, 0.7)
                        for a in 0..<2 { for b in 0..<2 { x[(p * h + 2 * i + a) * w + 2 * j + b] = base + levels[a * 2 + b] + rng.uniform(-0.02, 0.02) } }
                    }
                }
            }
            let outCount = planes * (h / 2) * (w / 2)
            let run: ([Float]) -> (y: [Float], argmax: [Int32]) = { x in
                var y = nans(outCount), argmax = [Int32](repeating: -1, count: outCount)
                maxPool2dForward(x: x, y: &y, argmax: &argmax, planes: planes, height: h, width: w)
                return (y, argmax)
            }
            cases.append(
                Case(
                    name: "2×2 max-pool, \(planes) planes \(h)×\(w)",
                    inputs: [Input(name: "x", values: x, step: 1e-2, atol: 1e-9, rtol: 1e-9, maxChecks: 200)],
                    forward: { widen(run($0[0]).y) },
                    reference: { x in
                        var y: [Double] = []
                        for p in 0..<planes {
                            for i in 0..<(h / 2) {
                                for j in 0..<(w / 2) {
                                    y.append((0..<4).map { Double(x[0][(p * h + 2 * i + $0 / 2) * w + 2 * j + $0 % 2]) }.max()!)
                                }
                            }
                        }
                        return y
                    },
                    forwardAtol: 0, forwardRtol: 0,
                    backward: { x, r in
                        let argmax = run(x[0]).argmax
                        var gx = nans(x[0].count) // the backward zeroes it, dropped odd rows included
                        maxPool2dBackward(gradY: r, argmax: argmax, gradX: &gx, planes: planes, height: h, width: w)
                        return [gx]
                    }))
        }
        return cases
    }

    // MARK: Bias terms of the linear kernels

    /// The affine part AdjointTests leaves out (it runs without bias): y = A·x + b with x and the weight fixed,
    /// over b. Tolerances of the kernels' own tests: linear and conv1x1 forward 1e-5 / 1e-5 (LinearLSTMTests,
    /// Conv1x1Tests), conv2d and convTranspose2d forward 2e-5 / 1e-5 (ConvTests); every bias gradient at step
    /// 1e-2, atol 1e-3, rtol 1e-3. The references are direct sums over CNHW maps.
    static func biasCases(_ rng: inout TestRNG) -> [Case] {
        var cases: [Case] = []
        do {
            let (batch, inF, outF, ldx, ldy) = (3, 4, 5, 6, 7)
            let x = (0..<(batch * ldx)).map { $0 % ldx < inF ? rng.uniform() : Float.nan }, w = rng.array(outF * inF)
            cases.append(
                Case(
                    name: "linear bias, batch \(batch), \(inF) → \(outF), row strides \(ldx) and \(ldy)",
                    inputs: [Input(name: "bias", values: rng.array(outF), step: 1e-2, atol: 1e-3, rtol: 1e-3)],
                    forward: { b in
                        var y = nans(batch * ldy)
                        linearForward(x: x, weight: w, bias: b[0], y: &y, batch: batch, inFeatures: inF, outFeatures: outF, ldx: ldx, ldy: ldy)
                        return (0..<(batch * outF)).map { Double(y[($0 / outF) * ldy + $0 % outF]) }
                    },
                    reference: { b in
                        (0..<(batch * outF)).map { k in
                            let (n, o) = (k / outF, k % outF)
                            return (0..<inF).reduce(Double(b[0][o])) { $0 + Double(x[n * ldx + $1]) * Double(w[o * inF + $1]) }
                        }
                    },
                    forwardAtol: 1e-5, forwardRtol: 1e-5,
                    backward: { _, r in
                        var gy = nans(batch * ldy), gw = nans(w.count), gb = nans(outF)
                        for k in 0..<r.count { gy[(k / outF) * ldy + k % outF] = r[k] }
                        linearBackward(
                            gradY: gy, x: x, weight: w, gradX: nil, gradWeight: &gw, gradBias: &gb, batch: batch, inFeatures: inF, outFeatures: outF,
                            ldx: ldx, ldy: ldy)
                        return [gb]
                    }))
        }
        do {
            let (cin, cout, columns) = (3, 4, 10)
            let x = rng.array(cin * columns), w = rng.array(cout * cin)
            cases.append(
                Case(
                    name: "conv1x1 bias, \(cin) → \(cout), \(columns) columns",
                    inputs: [Input(name: "bias", values: rng.array(cout), step: 1e-2, atol: 1e-3, rtol: 1e-3)],
                    forward: { b in
                        var y = nans(cout * columns)
                        conv1x1Forward(x: x, weight: w, bias: b[0], y: &y, inChannels: cin, outChannels: cout, columns: columns)
                        return widen(y)
                    },
                    reference: { b in
                        (0..<(cout * columns)).map { k in
                            (0..<cin).reduce(Double(b[0][k / columns])) { $0 + Double(w[(k / columns) * cin + $1]) * Double(x[$1 * columns + k % columns]) }
                        }
                    },
                    forwardAtol: 1e-5, forwardRtol: 1e-5,
                    backward: { _, r in
                        var gw = nans(w.count), gb = nans(cout)
                        conv1x1Backward(
                            gradY: r, x: x, weight: w, gradX: nil, gradWeight: &gw, gradBias: &gb, inChannels: cin, outChannels: cout, columns: columns)
                        return [gb]
                    }))
        }
        do {
            let (cin, cout, frames, h, w, k, stride, pad) = (2, 3, 2, 5, 6, 3, 2, 1)
            let g = ConvGeometry(channels: cin, frames: frames, height: h, width: w, kernelH: k, kernelW: k, stride: stride, padding: pad)
            let (oh, ow) = (g.outHeight, g.outWidth)
            let x = rng.array(g.imageCount), weight = rng.array(cout * g.colRows)
            cases.append(
                Case(
                    name: "conv2d bias, \(cin) → \(cout), \(frames) frames \(h)×\(w), k\(k) s\(stride) p\(pad)",
                    inputs: [Input(name: "bias", values: rng.array(cout), step: 1e-2, atol: 1e-3, rtol: 1e-3)],
                    forward: { b in
                        var y = nans(cout * g.colColumns), col = nans(g.colCount)
                        conv2dForward(x: x, weight: weight, bias: b[0], y: &y, col: &col, geometry: g, outChannels: cout)
                        return widen(y)
                    },
                    reference: { b in
                        // y[o][f][i][j] = b[o] + Σ_{c, ki, kj} W[o][c][ki][kj] · x[c][f][i·s − p + ki][j·s − p + kj]
                        var y = [Double](repeating: 0, count: cout * frames * oh * ow)
                        for o in 0..<cout {
                            for f in 0..<frames {
                                for i in 0..<oh {
                                    for j in 0..<ow {
                                        var s = Double(b[0][o])
                                        for c in 0..<cin {
                                            for ki in 0..<k {
                                                for kj in 0..<k {
                                                    let iy = i * stride - pad + ki, ix = j * stride - pad + kj
                                                    guard (0..<h).contains(iy) && (0..<w).contains(ix) else { continue }
                                                    s += Double(weight[((o * cin + c) * k + ki) * k + kj]) * Double(x[((c * frames + f) * h + iy) * w + ix])
                                                }
                                            }
                                        }
                                        y[((o * frames + f) * oh + i) * ow + j] = s
                                    }
                                }
                            }
                        }
                        return y
                    },
                    forwardAtol: 2e-5, forwardRtol: 1e-5,
                    backward: { _, r in
                        var col = nans(g.colCount), gw = nans(weight.count), gb = nans(cout)
                        convColumns(x, &col, g)
                        conv2dBackward(gradY: r, col: &col, weight: weight, gradX: nil, gradWeight: &gw, gradBias: &gb, geometry: g, outChannels: cout)
                        return [gb]
                    }))
        }
        do {
            let (cin, cout, frames, h, w, k, stride, pad) = (3, 2, 2, 3, 4, 4, 2, 1)
            let g = convTranspose2dOutputGeometry(
                inChannels: cin, outChannels: cout, frames: frames, height: h, width: w, kernel: k, stride: stride, padding: pad)
            let (oh, ow) = (g.height, g.width)
            let x = rng.array(cin * frames * h * w), weight = rng.array(cin * cout * k * k)
            cases.append(
                Case(
                    name: "convTranspose2d bias, \(cin) → \(cout), \(frames) frames \(h)×\(w) → \(oh)×\(ow), k\(k) s\(stride) p\(pad)",
                    inputs: [Input(name: "bias", values: rng.array(cout), step: 1e-2, atol: 1e-3, rtol: 1e-3)],
                    forward: { b in
                        var y = nans(g.imageCount), col = nans(g.colCount)
                        convTranspose2dForward(x: x, weight: weight, bias: b[0], y: &y, col: &col, inChannels: cin, outputGeometry: g)
                        return widen(y)
                    },
                    reference: { b in
                        // y[o][f][i·s − p + ki][j·s − p + kj] += x[c][f][i][j] · W[c][o][ki][kj], onto b[o].
                        var y = (0..<(cout * frames * oh * ow)).map { Double(b[0][$0 / (frames * oh * ow)]) }
                        for c in 0..<cin {
                            for f in 0..<frames {
                                for i in 0..<h {
                                    for j in 0..<w {
                                        for o in 0..<cout {
                                            for ki in 0..<k {
                                                for kj in 0..<k {
                                                    let oy = i * stride - pad + ki, ox = j * stride - pad + kj
                                                    guard (0..<oh).contains(oy) && (0..<ow).contains(ox) else { continue }
                                                    y[((o * frames + f) * oh + oy) * ow + ox] +=
                                                        Double(x[((c * frames + f) * h + i) * w + j]) * Double(weight[((c * cout + o) * k + ki) * k + kj])
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        return y
                    },
                    forwardAtol: 2e-5, forwardRtol: 1e-5,
                    backward: { _, r in
                        var col = nans(g.colCount), gw = nans(weight.count), gb = nans(cout)
                        convTranspose2dBackward(
                            gradY: r, x: x, weight: weight, gradX: nil, gradWeight: &gw, gradBias: &gb, col: &col, inChannels: cin, outputGeometry: g)
                        return [gb]
                    }))
        }
        return cases
    }

    // MARK: Driver

    /// Fails when |got − want| > atol + rtol·|want| anywhere (as Support.swift's assertClose, on Double outputs),
    /// naming the worst entry and the values there.
    static func checkForward(_ got: [Double], _ want: [Double], atol: Double, rtol: Double, _ what: String) {
        guard got.count == want.count else { return XCTFail("\(what): \(got.count) values, the reference has \(want.count)") }
        var worst = -1, worstExcess = -Double.infinity, largest = 0, maxAbs = -1.0, bad = 0
        for i in 0..<got.count {
            let err = abs(got[i] - want[i])
            let excess = err.isFinite ? err - (atol + rtol * abs(want[i])) : .infinity
            if !maxAbs.isNaN && (!err.isFinite || err > maxAbs) { maxAbs = err.isFinite ? err : .nan; largest = i }
            if excess > 0 { bad += 1 }
            if excess > worstExcess { worstExcess = excess; worst = i }
        }
        if bad > 0 {
            XCTFail(
                "\(what): max error \(maxAbs) at index \(largest) (kernel \(got[largest]), reference \(want[largest])); \(bad) of \(got.count) values off atol \(atol) + rtol \(rtol)·|reference|, the worst at index \(worst) (kernel \(got[worst]), reference \(want[worst]))"
            )
        }
    }

    /// Central differences of `loss` over `input`, as Support.swift's checkGradient does (at most maxChecks entries,
    /// evenly spaced with the first and last; each divided by the step the Float probe actually took), against
    /// `analytic`. Failures give the worst entry's index in the input itself, not among the probes.
    static func checkBackward(_ what: String, input: Input, analytic: [Float], loss: ([Float]) -> Double) {
        let n = input.values.count
        guard analytic.count == n else { return XCTFail("\(what): the backward gave \(analytic.count) values for \(n) inputs") }
        let indices = n <= input.maxChecks ? Array(0..<n) : (0..<input.maxChecks).map { $0 * (n - 1) / (input.maxChecks - 1) }
        var values = input.values
        var worst = -1, worstExcess = -Double.infinity, largest = indices[0], maxAbs = -1.0, maxNumeric = 0.0, bad = 0
        var numerics = [Double](repeating: .nan, count: n)
        for i in indices {
            let saved = values[i]
            values[i] = saved + input.step
            let up = loss(values)
            values[i] = saved - input.step
            let down = loss(values)
            values[i] = saved
            let numeric = (up - down) / (Double(saved + input.step) - Double(saved - input.step))
            numerics[i] = numeric
            let err = abs(Double(analytic[i]) - numeric)
            let excess = err.isFinite ? err - (input.atol + input.rtol * abs(numeric)) : .infinity
            if !maxAbs.isNaN && (!err.isFinite || err > maxAbs) { maxAbs = err.isFinite ? err : .nan; largest = i }
            maxNumeric = max(maxNumeric, abs(numeric))
            if excess > 0 { bad += 1 }
            if excess > worstExcess { worstExcess = excess; worst = i }
        }
        if bad > 0 {
            XCTFail(
                "\(what): max error \(maxAbs) at index \(largest) (backward \(analytic[largest]), central difference \(numerics[largest])); \(bad) of \(indices.count) probed entries off atol \(input.atol) + rtol \(input.rtol)·|central difference|, the worst at index \(worst) (backward \(analytic[worst]), central difference \(numerics[worst])); step \(input.step)"
            )
        }
        // A probe that sees no gradient cannot tell a wrong backward from a right one.
        if !input.vanishes && maxNumeric < 10 * input.atol {
            XCTFail("\(what): the largest probed gradient is \(maxNumeric), too small for atol \(input.atol) to test the backward")
        }
    }

    static func allCases(_ rng: inout TestRNG) -> [Case] {
        activationCases(&rng) + batchNormCases(&rng) + lstmCases(&rng) + attentionCases(&rng) + lossCases(&rng) + maxPoolCases(&rng) + biasCases(&rng)
    }

    func testEveryNonlinearKernelAgainstItsReferenceAndFiniteDifferences() {
        var rng = TestRNG(92)
        let cases = Self.allCases(&rng)
        for c in cases {
            let base = c.inputs.map(\.values)
            let y = c.forward(base)
            Self.checkForward(y, c.reference(base), atol: c.forwardAtol, rtol: c.forwardRtol, "\(c.name): forward")
            let r = c.outputGradient ?? rng.array(y.count)
            guard r.count == y.count else {
                XCTFail("\(c.name): output gradient of \(r.count) values for \(y.count) outputs")
                continue
            }
            let gradients = c.backward(base, r)
            guard gradients.count == c.inputs.count else {
                XCTFail("\(c.name): the backward gave \(gradients.count) gradients for \(c.inputs.count) inputs")
                continue
            }
            for (k, input) in c.inputs.enumerated() {
                Self.checkBackward("\(c.name): gradient of \(input.name)", input: input, analytic: gradients[k]) { values in
                    var inputs = base
                    inputs[k] = values
                    return Self.dot(r, c.forward(inputs))
                }
            }
        }
        XCTAssertEqual(cases.count, 31)
    }
}
