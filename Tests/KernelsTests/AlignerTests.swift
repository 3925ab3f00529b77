import Foundation
import XCTest
@testable import Kernels

/// The whole feature aligner of MODEL.md "Feature aligner" in Double on NCHW tensors, written from the formulas with plain
/// loops: the independent reference for the CNHW kernels.
enum NaiveAligner {
    struct Result { var q, k, v, a, z, out: [Double] }

    /// fd: frames × C × P, fe: keyFrames × C × P; wq, wk: e × C; wv: C × C; keyFrame[f] = source of frame f.
    /// Returns Q (frames×e×P), K (keyFrames×e×P), V (keyFrames×C×P), A (frames×P×P), Z (frames×C×P) and
    /// the output [F^d; F^e_{s(f)}; Z] (frames × 3C × P).
    static func run(
        fd: [Float], fe: [Float], frames: Int, keyFrames: Int, c: Int, e: Int, p: Int, keyFrame: [Int],
        wq: [Float], bq: [Float], wk: [Float], bk: [Float], wv: [Float], bv: [Float]
    ) -> Result {
        func conv(_ x: [Float], _ n: Int, _ w: [Float], _ b: [Float], _ cout: Int) -> [Double] {
            var y = [Double](repeating: 0, count: n * cout * p)
            for f in 0..<n {
                for o in 0..<cout {
                    for j in 0..<p {
                        var s = Double(b[o])
                        for i in 0..<c { s += Double(w[o * c + i]) * Double(x[(f * c + i) * p + j]) }
                        y[(f * cout + o) * p + j] = s
                    }
                }
            }
            return y
        }
        let q = conv(fd, frames, wq, bq, e), k = conv(fe, keyFrames, wk, bk, e), v = conv(fe, keyFrames, wv, bv, c)
        var a = [Double](repeating: 0, count: frames * p * p)
        var z = [Double](repeating: 0, count: frames * c * p)
        var out = [Double](repeating: 0, count: frames * 3 * c * p)
        for f in 0..<frames {
            let s = keyFrame[f]
            for i in 0..<p {
                // S[i][j] = Σ_ch Q[ch][i] K[ch][j]; softmax over j after subtracting the row maximum.
                var row = [Double](repeating: 0, count: p)
                for j in 0..<p { for ch in 0..<e { row[j] += q[(f * e + ch) * p + i] * k[(s * e + ch) * p + j] } }
                let m = row.max()!
                let ex = row.map { Foundation.exp($0 - m) }
                let total = ex.reduce(0, +)
                for j in 0..<p { a[(f * p + i) * p + j] = ex[j] / total }
            }
            // Z[ch][i] = Σ_j V[ch][j] A[i][j]
            for ch in 0..<c {
                for i in 0..<p {
                    var acc = 0.0
                    for j in 0..<p { acc += v[(s * c + ch) * p + j] * a[(f * p + i) * p + j] }
                    z[(f * c + ch) * p + i] = acc
                }
            }
            for ch in 0..<c {
                for j in 0..<p {
                    out[(f * 3 * c + ch) * p + j] = Double(fd[(f * c + ch) * p + j])
                    out[(f * 3 * c + c + ch) * p + j] = Double(fe[(s * c + ch) * p + j])
                    out[(f * 3 * c + 2 * c + ch) * p + j] = z[(f * c + ch) * p + j]
                }
            }
        }
        return Result(q: q, k: k, v: v, a: a, z: z, out: out)
    }
}

final class Conv1x1Tests: XCTestCase {
    struct Case { var n, cin, cout, h, w: Int }
    let cases: [Case] = [
        Case(n: 1, cin: 1, cout: 1, h: 3, w: 5),
        Case(n: 3, cin: 8, cout: 1, h: 3, w: 5), // an aligner's Q/K conv at C = 8 (e = 1)
        Case(n: 2, cin: 5, cout: 7, h: 4, w: 3)
    ]

    func run(_ c: Case, x: [Float], weight: [Float], bias: [Float]) -> [Float] {
        let p = c.h * c.w, xc = toCNHW(x, n: c.n, c: c.cin, p: p)
        let y: [Float] = .buffer(c.cout * c.n * p) { py in
            xc.withUnsafeBufferPointer { px in
                weight.withUnsafeBufferPointer { pw in
                    bias.withUnsafeBufferPointer { pb in
                        conv1x1Forward(
                            x: px.baseAddress!, weight: pw.baseAddress!, bias: pb.baseAddress!, y: py,
                            inChannels: c.cin, outChannels: c.cout, columns: c.n * p)
                    }
                }
            }
        }
        return toNCHW(y, n: c.n, c: c.cout, p: p)
    }

    struct Grads { var x, weight, bias: [Float] }

    /// gx comes back NCHW. Pre-filled gradient buffers let the caller test both overwrite and accumulate.
    func backward(
        _ c: Case, x: [Float], weight: [Float], gradY r: [Float], into g: Grads,
        accumulateParams: Bool, accumulateGradX: Bool
    ) -> Grads {
        let p = c.h * c.w
        let xc = toCNHW(x, n: c.n, c: c.cin, p: p), rc = toCNHW(r, n: c.n, c: c.cout, p: p)
        var gx = toCNHW(g.x, n: c.n, c: c.cin, p: p), gw = g.weight, gb = g.bias
        rc.withUnsafeBufferPointer { pr in
            xc.withUnsafeBufferPointer { px in
                weight.withUnsafeBufferPointer { pw in
                    gx.withUnsafeMutableBufferPointer { pgx in
                        gw.withUnsafeMutableBufferPointer { pgw in
                            gb.withUnsafeMutableBufferPointer { pgb in
                                conv1x1Backward(
                                    gradY: pr.baseAddress!, x: px.baseAddress!, weight: pw.baseAddress!, gradX: pgx.baseAddress!,
                                    gradWeight: pgw.baseAddress!, gradBias: pgb.baseAddress!,
                                    inChannels: c.cin, outChannels: c.cout, columns: c.n * p,
                                    accumulateParams: accumulateParams, accumulateGradX: accumulateGradX)
                            }
                        }
                    }
                }
            }
        }
        return Grads(x: toNCHW(gx, n: c.n, c: c.cin, p: p), weight: gw, bias: gb)
    }

    func testForwardMatchesDirectConvolution() {
        var rng = TestRNG(30)
        for c in cases {
            let x = rng.array(c.n * c.cin * c.h * c.w), w = rng.array(c.cout * c.cin), b = rng.array(c.cout)
            let want = NaiveConv.conv2d(x, n: c.n, cin: c.cin, h: c.h, w: c.w, weight: w, bias: b, cout: c.cout, k: 1, stride: 1, pad: 0).y
            // At most 8 products of magnitude ≤ 1 plus a bias: Float32 error stays below ~1e-6.
            assertClose(run(c, x: x, weight: w, bias: b), want, atol: 1e-5, rtol: 1e-5, "conv1x1 forward \(c)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(31)
        for c in cases {
            var x = rng.array(c.n * c.cin * c.h * c.w), w = rng.array(c.cout * c.cin), b = rng.array(c.cout)
            let r = rng.array(c.n * c.cout * c.h * c.w)
            let nan = Grads(
                x: .init(repeating: .nan, count: x.count), weight: .init(repeating: .nan, count: w.count),
                bias: .init(repeating: .nan, count: b.count))
            // NaN-filled buffers: overwrite mode must not read them.
            let g = backward(c, x: x, weight: w, gradY: r, into: nan, accumulateParams: false, accumulateGradX: false)
            // The loss is linear in each argument, so central differences are exact up to the forward's Float
            // rounding (~1e-6 of Σ|r·y|) divided by 2·step = 2e-2: 1e-3 absolute is ample yet tight.
            let (xs, ws, bs) = (x, w, b)
            checkGradient("conv1x1 x \(c)", values: &x, analytic: g.x, step: 1e-2, atol: 1e-3, rtol: 1e-3) { dot(r, self.run(c, x: $0, weight: ws, bias: bs)) }
            checkGradient("conv1x1 weight \(c)", values: &w, analytic: g.weight, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
                dot(r, self.run(c, x: xs, weight: $0, bias: bs))
            }
            checkGradient("conv1x1 bias \(c)", values: &b, analytic: g.bias, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
                dot(r, self.run(c, x: xs, weight: ws, bias: $0))
            }

            // Accumulate mode adds the same gradients onto what is there.
            let base = Grads(x: rng.array(x.count), weight: rng.array(w.count), bias: rng.array(b.count))
            let acc = backward(c, x: x, weight: w, gradY: r, into: base, accumulateParams: true, accumulateGradX: true)
            // One extra Float addition of O(1) values: a few ulps.
            assertClose(acc.x, zip(base.x, g.x).map { Double($0) + Double($1) }, atol: 1e-5, rtol: 1e-5, "conv1x1 gradX += \(c)")
            assertClose(acc.weight, zip(base.weight, g.weight).map { Double($0) + Double($1) }, atol: 1e-5, rtol: 1e-5, "conv1x1 gradW += \(c)")
            assertClose(acc.bias, zip(base.bias, g.bias).map { Double($0) + Double($1) }, atol: 1e-5, rtol: 1e-5, "conv1x1 gradB += \(c)")
            // The two flags are independent.
            let mixed = backward(
                c, x: x, weight: w, gradY: r, into: Grads(x: nan.x, weight: base.weight, bias: base.bias),
                accumulateParams: true, accumulateGradX: false)
            assertClose(mixed.x, g.x, atol: 0, rtol: 0, "conv1x1 gradX overwrite with accumulated params \(c)")
            assertClose(mixed.weight, acc.weight, atol: 0, rtol: 0, "conv1x1 gradW += with overwritten gradX \(c)")
        }
    }

    /// gradX nil and gradBias nil skip those outputs and leave the rest unchanged.
    func testOptionalGradientsAreSkipped() {
        var rng = TestRNG(32)
        let c = cases[2], cols = c.n * c.h * c.w
        let x = rng.array(c.cin * cols), w = rng.array(c.cout * c.cin), r = rng.array(c.cout * cols)
        var full = [Float](repeating: 0, count: w.count), only = [Float](repeating: 0, count: w.count)
        var gx = [Float](repeating: 0, count: x.count), gb = [Float](repeating: 0, count: c.cout)
        r.withUnsafeBufferPointer { pr in
            x.withUnsafeBufferPointer { px in
                w.withUnsafeBufferPointer { pw in
                    full.withUnsafeMutableBufferPointer { pf in
                        only.withUnsafeMutableBufferPointer { po in
                            gx.withUnsafeMutableBufferPointer { pgx in
                                gb.withUnsafeMutableBufferPointer { pgb in
                                    conv1x1Backward(
                                        gradY: pr.baseAddress!, x: px.baseAddress!, weight: pw.baseAddress!, gradX: pgx.baseAddress!,
                                        gradWeight: pf.baseAddress!, gradBias: pgb.baseAddress!, inChannels: c.cin, outChannels: c.cout, columns: cols)
                                    conv1x1Backward(
                                        gradY: pr.baseAddress!, x: px.baseAddress!, weight: pw.baseAddress!, gradX: nil,
                                        gradWeight: po.baseAddress!, gradBias: nil, inChannels: c.cin, outChannels: c.cout, columns: cols)
                                }
                            }
                        }
                    }
                }
            }
        }
        assertClose(only, full, atol: 0, rtol: 0, "conv1x1 gradW without gradX/gradBias")
    }
}

final class AlignerTests: XCTestCase {
    struct Case: CustomStringConvertible {
        var frames, keyFrames, c, h, w: Int
        var keyFrame: [Int]? // nil: identity
        var e: Int { max(c / 8, 1) }
        var p: Int { h * w }
        var sources: [Int] { keyFrame ?? Array(0..<frames) }
        var shape: AlignerShape { AlignerShape(queryFrames: frames, keyFrames: keyFrames, plane: p, keyChannels: e, valueChannels: c) }
        var description: String { "frames \(frames) keyFrames \(keyFrames) C \(c) e \(e) \(h)×\(w) map \(keyFrame.map { "\($0)" } ?? "identity")" }
    }

    static let cases: [Case] = [
        Case(frames: 3, keyFrames: 3, c: 1, h: 3, w: 5, keyFrame: nil),
        Case(frames: 4, keyFrames: 2, c: 8, h: 3, w: 5, keyFrame: [0, 1, 1, 1]),
        Case(frames: 2, keyFrames: 2, c: 16, h: 5, w: 3, keyFrame: nil),
        Case(frames: 4, keyFrames: 3, c: 16, h: 2, w: 3, keyFrame: [2, 0, 2, 2])
    ]

    /// Inputs and 1×1 conv parameters, NCHW / PyTorch layouts.
    struct Params {
        var fd, fe, wq, bq, wk, bk, wv, bv: [Float]
        init(_ c: Case, _ rng: inout TestRNG, inputScale: Float = 1) {
            fd = rng.array(c.frames * c.c * c.p, -inputScale, inputScale)
            fe = rng.array(c.keyFrames * c.c * c.p, -inputScale, inputScale)
            wq = rng.array(c.e * c.c); bq = rng.array(c.e)
            wk = rng.array(c.e * c.c); bk = rng.array(c.e)
            wv = rng.array(c.c * c.c); bv = rng.array(c.c)
        }
    }

    func naive(_ c: Case, _ x: Params) -> NaiveAligner.Result {
        NaiveAligner.run(
            fd: x.fd, fe: x.fe, frames: c.frames, keyFrames: c.keyFrames, c: c.c, e: c.e, p: c.p, keyFrame: c.sources,
            wq: x.wq, bq: x.bq, wk: x.wk, bk: x.bk, wv: x.wv, bv: x.bv)
    }

    func withKeyFrame<R>(_ c: Case, _ body: (UnsafePointer<Int32>?) -> R) -> R {
        guard let map = c.keyFrame else { return body(nil) }
        return map.map(Int32.init).withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// The attention core alone on CNHW q, k, v: returns z (C × frames·P) and the kept A (or, with `kept`
    /// false, the one-frame workspace the forward used, which the backward does not read).
    func attention(_ c: Case, q: [Float], k: [Float], v: [Float], kept: Bool = true) -> (z: [Float], a: [Float]) {
        var a = [Float](repeating: .nan, count: (kept ? c.frames : 1) * c.p * c.p)
        let z: [Float] = .buffer(c.c * c.frames * c.p) { pz in
            q.withUnsafeBufferPointer { pq in
                k.withUnsafeBufferPointer { pk in
                    v.withUnsafeBufferPointer { pv in
                        a.withUnsafeMutableBufferPointer { pa in
                            withKeyFrame(c) { map in
                                alignerAttentionForward(
                                    q: pq.baseAddress!, k: pk.baseAddress!, v: pv.baseAddress!, attention: pa.baseAddress!,
                                    z: pz, keyFrame: map, shape: c.shape, keepsAttention: kept)
                            }
                        }
                    }
                }
            }
        }
        return (z, a)
    }

    struct Composed { var out: [Float]; var q, k, v, a: [Float]; var fdC, feC: [Float] }

    /// conv1x1 ×3 + attention, with Z written straight into the CNHW concatenation [F^d; F^e_s; Z];
    /// `out` comes back NCHW (frames × 3C × P), the other maps CNHW.
    func compose(_ c: Case, _ x: Params) -> Composed {
        let lq = c.frames * c.p, lk = c.keyFrames * c.p
        let fdC = toCNHW(x.fd, n: c.frames, c: c.c, p: c.p), feC = toCNHW(x.fe, n: c.keyFrames, c: c.c, p: c.p)
        func conv(_ input: [Float], _ w: [Float], _ b: [Float], _ cout: Int, _ cols: Int) -> [Float] {
            .buffer(cout * cols) { py in
                input.withUnsafeBufferPointer { px in
                    w.withUnsafeBufferPointer { pw in
                        b.withUnsafeBufferPointer { pb in
                            conv1x1Forward(
                                x: px.baseAddress!, weight: pw.baseAddress!, bias: pb.baseAddress!, y: py, inChannels: c.c, outChannels: cout, columns: cols)
                        }
                    }
                }
            }
        }
        let q = conv(fdC, x.wq, x.bq, c.e, lq), k = conv(feC, x.wk, x.bk, c.e, lk), v = conv(feC, x.wv, x.bv, c.c, lk)
        var out = [Float](repeating: .nan, count: 3 * c.c * lq)
        var a = [Float](repeating: .nan, count: c.frames * c.p * c.p)
        for ch in 0..<c.c {
            for j in 0..<lq { out[ch * lq + j] = fdC[ch * lq + j] }
            for (f, s) in c.sources.enumerated() { for j in 0..<c.p { out[(c.c + ch) * lq + f * c.p + j] = feC[ch * lk + s * c.p + j] } }
        }
        q.withUnsafeBufferPointer { pq in
            k.withUnsafeBufferPointer { pk in
                v.withUnsafeBufferPointer { pv in
                    a.withUnsafeMutableBufferPointer { pa in
                        out.withUnsafeMutableBufferPointer { po in
                            withKeyFrame(c) { map in
                                alignerAttentionForward(
                                    q: pq.baseAddress!, k: pk.baseAddress!, v: pv.baseAddress!, attention: pa.baseAddress!,
                                    z: po.baseAddress! + 2 * c.c * lq, keyFrame: map, shape: c.shape)
                            }
                        }
                    }
                }
            }
        }
        return Composed(out: toNCHW(out, n: c.frames, c: 3 * c.c, p: c.p), q: q, k: k, v: v, a: a, fdC: fdC, feC: feC)
    }

    func testForwardMatchesNaiveAligner() {
        var rng = TestRNG(40)
        for c in Self.cases {
            let x = Params(c, &rng)
            let got = compose(c, x), want = naive(c, x)
            // Logits reach |S| ≈ 10 here; each Float op adds ≤ 6e-8 relative, so S is off by ~1e-6 absolute,
            // A by ~1e-6 relative, and Z = Σ_j V A (|V| ≲ 5) by a few 1e-6: 1e-5 leaves margin, while a wrong
            // index, transpose or source frame is off by O(0.1–1).
            assertClose(got.a, want.a, atol: 1e-6, rtol: 1e-5, "aligner A \(c)")
            assertClose(got.out, want.out, atol: 1e-5, rtol: 1e-5, "aligner output [F^d; F^e; Z] \(c)")
            for f in 0..<c.frames {
                for i in 0..<c.p {
                    let row = got.a[(f * c.p + i) * c.p..<(f * c.p + i + 1) * c.p]
                    XCTAssertEqual(row.reduce(0.0) { $0 + Double($1) }, 1, accuracy: 1e-5, "softmax row \(f),\(i) sums to 1 \(c)")
                }
            }
        }
    }

    /// Rows as long as the DCGAN 32×32 level (1024 key positions): the softmax's row reductions must stay
    /// accurate, and logits far beyond expf's range (|S| ~ 10³) must not overflow.
    func testLongRowsAndLargeLogits() {
        var rng = TestRNG(41)
        let long = Case(frames: 2, keyFrames: 1, c: 8, h: 32, w: 32, keyFrame: [0, 0])
        let x = Params(long, &rng)
        let got = compose(long, x), want = naive(long, x)
        // A ~ 1e-3 per entry; its relative error is S's absolute error (~1e-6) plus the row sum's (~ε with
        // compensation). Random rows do not stress the sum itself: testRowReductionsAreCompensated does.
        assertClose(got.a, want.a, atol: 1e-8, rtol: 1e-5, "aligner A, 1024-long rows")
        assertClose(got.out, want.out, atol: 1e-5, rtol: 1e-5, "aligner output, 1024-long rows")

        let hot = Case(frames: 2, keyFrames: 2, c: 8, h: 3, w: 5, keyFrame: [1, 0])
        let y = Params(hot, &rng, inputScale: 20)
        let gotHot = compose(hot, y), wantHot = naive(hot, y)
        // Logits of ~10³ (far past expf's overflow at 88): S's absolute error is ~10³·ε·few ≈ 2e-4, so A
        // moves by ≤ A(1−A)·2e-4 ≈ 5e-5 and Z = Σ V A (|V| up to ~60) by ≲ 3e-3. Without the max
        // subtraction the rows would be inf/inf = NaN and fail outright.
        assertClose(gotHot.a, wantHot.a, atol: 2e-4, rtol: 0, "aligner A, large logits")
        assertClose(gotHot.out, wantHot.out, atol: 5e-3, rtol: 1e-4, "aligner output, large logits")
    }

    /// A peaked softmax row: the maximum contributes exp(0) = 1 and thousands of terms each below half an
    /// ulp of 1. A plain Float running sum never moves off 1 in the lane holding it (losing ~1.5e-5
    /// relative over 4096 terms); the compensated sums must stay within a few ε of the Double sum.
    func testRowReductionsAreCompensated() {
        var rng = TestRNG(44)
        for n in [4096, 1031, 7] {
            var x = (0..<n).map { _ in rng.uniform(1e-8, 5e-8) }
            x[0] = 1
            let w = rng.array(n, 0.5, 1)
            let sumWant = x.reduce(0.0) { $0 + Double($1) }
            let dotWant = zip(x, w).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let sum = x.withUnsafeBufferPointer { compensatedSum($0.baseAddress!, count: n) }
            let dotGot = x.withUnsafeBufferPointer { px in w.withUnsafeBufferPointer { compensatedDot(px.baseAddress!, $0.baseAddress!, count: n) } }
            // The result itself is a Float (½ ulp ≈ 6e-8 relative); each product of the dot adds ½ ulp of a
            // term ≤ 1, i.e. at most n·3e-15 of a total ≥ 0.5: 2.5e-7 relative is a few ε.
            assertClose([sum], [sumWant], atol: 0, rtol: 2.5e-7, "compensated sum n = \(n)")
            assertClose([dotGot], [dotWant], atol: 0, rtol: 2.5e-7, "compensated dot n = \(n)")
        }
    }

    /// Runs the attention backward; gradQ starts NaN (it must be overwritten), gradK/gradV start at `k0`/`v0`.
    /// `a`: the kept maps, or nil: the backward recomputes them in a one-frame workspace that starts NaN.
    func attentionBackward(
        _ c: Case, gz: [Float], q: [Float], k: [Float], v: [Float], a: [Float]?,
        k0: [Float]? = nil, v0: [Float]? = nil
    ) -> (q: [Float], k: [Float], v: [Float]) {
        var gq = [Float](repeating: .nan, count: q.count)
        var gk = k0 ?? [Float](repeating: 0, count: k.count), gv = v0 ?? [Float](repeating: 0, count: v.count)
        var maps = a ?? [Float](repeating: .nan, count: c.p * c.p), scratch = [Float](repeating: .nan, count: c.p * c.p)
        gz.withUnsafeBufferPointer { pz in
            q.withUnsafeBufferPointer { pq in
                k.withUnsafeBufferPointer { pk in
                    v.withUnsafeBufferPointer { pv in
                        maps.withUnsafeMutableBufferPointer { pa in
                            scratch.withUnsafeMutableBufferPointer { ps in
                                gq.withUnsafeMutableBufferPointer { pgq in
                                    gk.withUnsafeMutableBufferPointer { pgk in
                                        gv.withUnsafeMutableBufferPointer { pgv in
                                            withKeyFrame(c) { map in
                                                alignerAttentionBackward(
                                                    gradZ: pz.baseAddress!, q: pq.baseAddress!, k: pk.baseAddress!, v: pv.baseAddress!,
                                                    attention: pa.baseAddress!, gradQ: pgq.baseAddress!, gradK: pgk.baseAddress!,
                                                    gradV: pgv.baseAddress!, scratch: ps.baseAddress!, keyFrame: map, shape: c.shape,
                                                    keptAttention: a != nil)
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
        return (gq, gk, gv)
    }

    /// Both ways of giving the backward its maps: kept from the forward, and recomputed frame by frame in a
    /// one-frame workspace (the forward then runs frame by frame too, with no kept maps).
    func testAttentionBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(42)
        for c in Self.cases {
            for kept in [true, false] {
                let lq = c.frames * c.p, lk = c.keyFrames * c.p
                // q, k in ±1.5 give logits up to e·2.25 (≈ 4.5 at e = 2): a softmax far from uniform.
                var q = rng.array(c.e * lq, -1.5, 1.5), k = rng.array(c.e * lk, -1.5, 1.5), v = rng.array(c.c * lk)
                let (z, a) = attention(c, q: q, k: k, v: v, kept: kept)
                let r = rng.array(z.count) // loss = Σ r·z, so gradZ = r
                let g = attentionBackward(c, gz: r, q: q, k: k, v: v, a: kept ? a : nil)
                let label = "\(c) \(kept ? "kept" : "recomputed")"
                if !kept {
                    // The forward without kept maps runs frame by frame: the same Z up to the grouping of its sgemms.
                    assertClose(z, attention(c, q: q, k: k, v: v).z.map(Double.init), atol: 1e-6, rtol: 1e-6, "attention z \(label)")
                }
                // Softmax is smooth, so central differences are exact to step²·f'''/6 ≈ 2e-5·|f'''| (|f'''| of a few
                // at these logits); forward rounding adds ~√n·ε·|r·z| / (2·step) ≈ 20·6e-8/2e-2 ≈ 6e-5.
                // atol 3e-4 bounds both; a dropped softmax term or a wrong source frame is O(0.1–1) off.
                let (qs, ks, vs) = (q, k, v)
                checkGradient("attention q \(label)", values: &q, analytic: g.q, step: 1e-2, atol: 3e-4, rtol: 1e-3) {
                    dot(r, self.attention(c, q: $0, k: ks, v: vs).z)
                }
                checkGradient("attention k \(label)", values: &k, analytic: g.k, step: 1e-2, atol: 3e-4, rtol: 1e-3) {
                    dot(r, self.attention(c, q: qs, k: $0, v: vs).z)
                }
                // z is linear in v: only the forward's rounding / (2·step) remains.
                checkGradient("attention v \(label)", values: &v, analytic: g.v, step: 1e-2, atol: 3e-4, rtol: 1e-3) {
                    dot(r, self.attention(c, q: qs, k: ks, v: $0).z)
                }

                // gradK and gradV accumulate onto what the caller left; gradQ is overwritten (it started NaN).
                let k0 = rng.array(k.count), v0 = rng.array(v.count)
                let acc = attentionBackward(c, gz: r, q: q, k: k, v: v, a: kept ? a : nil, k0: k0, v0: v0)
                // sgemm with beta = 1 adds one rounding of O(1) values.
                assertClose(acc.q, g.q, atol: 0, rtol: 0, "attention gradQ overwritten \(label)")
                assertClose(acc.k, zip(k0, g.k).map { Double($0) + Double($1) }, atol: 1e-5, rtol: 1e-5, "attention gradK += \(label)")
                assertClose(acc.v, zip(v0, g.v).map { Double($0) + Double($1) }, atol: 1e-5, rtol: 1e-5, "attention gradV += \(label)")
            }
        }
    }

    /// Through the 1×1 convs to every parameter and both input maps, with loss = Σ r·[F^d; F^e_s; Z].
    func testEndToEndGradientsMatchFiniteDifferences() {
        var rng = TestRNG(43)
        for c in [Self.cases[0], Self.cases[1], Self.cases[3]] {
            var x = Params(c, &rng)
            let lq = c.frames * c.p, lk = c.keyFrames * c.p
            let fwd = compose(c, x)
            let r = rng.array(fwd.out.count)
            let rc = toCNHW(r, n: c.frames, c: 3 * c.c, p: c.p) // rows: [gF^d direct; gF^e_s direct; gZ]
            let gz = Array(rc[(2 * c.c * lq)...])
            let g = attentionBackward(c, gz: gz, q: fwd.q, k: fwd.k, v: fwd.v, a: fwd.a)

            // F^d: its direct copy in the output plus the path through Q.
            var gFd = Array(rc[0..<(c.c * lq)])
            // F^e: its copies (one per query frame reading it) plus the paths through K and V.
            var gFe = [Float](repeating: 0, count: c.c * lk)
            for ch in 0..<c.c {
                for (f, s) in c.sources.enumerated() {
                    for j in 0..<c.p {
                        gFe[ch * lk + s * c.p + j] += rc[(c.c + ch) * lq + f * c.p + j]
                    }
                }
            }
            var gwq = [Float](repeating: .nan, count: x.wq.count), gbq = [Float](repeating: .nan, count: x.bq.count)
            var gwk = [Float](repeating: .nan, count: x.wk.count), gbk = [Float](repeating: .nan, count: x.bk.count)
            var gwv = [Float](repeating: .nan, count: x.wv.count), gbv = [Float](repeating: .nan, count: x.bv.count)
            func convBack(
                _ gy: [Float], _ input: [Float], _ w: [Float], _ gx: inout [Float], _ gw: inout [Float], _ gb: inout [Float], _ cout: Int, _ cols: Int
            ) {
                gy.withUnsafeBufferPointer { py in
                    input.withUnsafeBufferPointer { px in
                        w.withUnsafeBufferPointer { pw in
                            gx.withUnsafeMutableBufferPointer { pgx in
                                gw.withUnsafeMutableBufferPointer { pgw in
                                    gb.withUnsafeMutableBufferPointer { pgb in
                                        conv1x1Backward(
                                            gradY: py.baseAddress!, x: px.baseAddress!, weight: pw.baseAddress!, gradX: pgx.baseAddress!,
                                            gradWeight: pgw.baseAddress!, gradBias: pgb.baseAddress!, inChannels: c.c, outChannels: cout,
                                            columns: cols, accumulateGradX: true)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            convBack(g.q, fwd.fdC, x.wq, &gFd, &gwq, &gbq, c.e, lq)
            convBack(g.k, fwd.feC, x.wk, &gFe, &gwk, &gbk, c.e, lk)
            convBack(g.v, fwd.feC, x.wv, &gFe, &gwv, &gbv, c.c, lk)
            let gFdN = toNCHW(gFd, n: c.frames, c: c.c, p: c.p), gFeN = toNCHW(gFe, n: c.keyFrames, c: c.c, p: c.p)

            // Logits come from products of two 1×1 convs (|S| up to ~10 at C = 16), so the loss's third
            // derivative is larger than in the attention-only test; step 5e-3 keeps step²·f'''/6 ≈ 4e-6·|f'''|
            // small, and forward rounding / (2·step) is ≈ √1152·ε·|r·out| (≲ 5) / 1e-2 ≈ 1e-3: atol 3e-3.
            let (step, atol, rtol): (Float, Double, Double) = (5e-3, 3e-3, 1e-3)
            let base = x
            func loss(_ edit: (inout Params) -> Void) -> Double { var y = base; edit(&y); return dot(r, self.compose(c, y).out) }
            checkGradient("e2e F^d \(c)", values: &x.fd, analytic: gFdN, step: step, atol: atol, rtol: rtol) { v in loss { $0.fd = v } }
            checkGradient("e2e F^e \(c)", values: &x.fe, analytic: gFeN, step: step, atol: atol, rtol: rtol) { v in loss { $0.fe = v } }
            checkGradient("e2e W_q \(c)", values: &x.wq, analytic: gwq, step: step, atol: atol, rtol: rtol) { v in loss { $0.wq = v } }
            checkGradient("e2e b_q \(c)", values: &x.bq, analytic: gbq, step: step, atol: atol, rtol: rtol) { v in loss { $0.bq = v } }
            checkGradient("e2e W_k \(c)", values: &x.wk, analytic: gwk, step: step, atol: atol, rtol: rtol) { v in loss { $0.wk = v } }
            checkGradient("e2e b_k \(c)", values: &x.bk, analytic: gbk, step: step, atol: atol, rtol: rtol) { v in loss { $0.bk = v } }
            // b_k shifts every logit of a row by the same Σ_ch Q[ch][i]·b_k[ch], which softmax ignores: its
            // true gradient is 0, so the analytic one must be rounding only (rowsum(gS) ≈ ε·Σ|A·gA| per row,
            // times Σ|Q| over ≤ 24 rows ≈ 1e-5). Missing the rowsum term of the softmax backward breaks this.
            assertClose(gbk, [Double](repeating: 0, count: gbk.count), atol: 1e-4, rtol: 0, "e2e b_k is shift-invariant \(c)")
            checkGradient("e2e W_v \(c)", values: &x.wv, analytic: gwv, step: step, atol: atol, rtol: rtol) { v in loss { $0.wv = v } }
            checkGradient("e2e b_v \(c)", values: &x.bv, analytic: gbv, step: step, atol: atol, rtol: rtol) { v in loss { $0.bv = v } }
        }
    }
}

/// V taken from the decoder map (the paper's literal text, MODEL.md "Feature aligner"): frame f reads V_f, not V_{s(f)}.
final class AlignerDecoderValueTests: XCTestCase {
    let (frames, keyFrames, c, e, p) = (3, 2, 4, 1, 6)
    let map: [Int32] = [1, 0, 1]

    func run(q: [Float], k: [Float], v: [Float]) -> (z: [Float], a: [Float]) {
        var a = [Float](repeating: .nan, count: frames * p * p)
        let shape = AlignerShape(queryFrames: frames, keyFrames: keyFrames, plane: p, keyChannels: e, valueChannels: c)
        let z: [Float] = .buffer(c * frames * p) { pz in
            q.withUnsafeBufferPointer { pq in
                k.withUnsafeBufferPointer { pk in
                    v.withUnsafeBufferPointer { pv in
                        a.withUnsafeMutableBufferPointer { pa in
                            map.withUnsafeBufferPointer { pm in
                                alignerAttentionForward(
                                    q: pq.baseAddress!, k: pk.baseAddress!, v: pv.baseAddress!, attention: pa.baseAddress!, z: pz,
                                    keyFrame: pm.baseAddress!, shape: shape, valueFromQueryFrame: true)
                            }
                        }
                    }
                }
            }
        }
        return (z, a)
    }

    func testForwardAndBackward() {
        var rng = TestRNG(45)
        let lq = frames * p, lk = keyFrames * p
        var q = rng.array(e * lq), k = rng.array(e * lk), v = rng.array(c * lq)
        // Naive Double reference over CNHW maps: Z_f[ch][i] = Σ_j V_f[ch][j] · softmax_j(Σ_e Q_f[e][i] K_s[e][j]).
        var want = [Double](repeating: 0, count: c * lq)
        for f in 0..<frames {
            let s = Int(map[f])
            for i in 0..<p {
                var logits = (0..<p).map { j in (0..<e).reduce(0.0) { $0 + Double(q[$1 * lq + f * p + i]) * Double(k[$1 * lk + s * p + j]) } }
                let m = logits.max()!
                logits = logits.map { Foundation.exp($0 - m) }
                let sum = logits.reduce(0, +)
                for ch in 0..<c {
                    want[ch * lq + f * p + i] = (0..<p).reduce(0.0) { $0 + Double(v[ch * lq + f * p + $1]) * logits[$1] / sum }
                }
            }
        }
        let (z, a) = run(q: q, k: k, v: v)
        // Sums of 6 products of O(1) values: Float rounding ~1e-6.
        assertClose(z, want, atol: 1e-5, rtol: 1e-5, "aligner Z with decoder values")

        let r = rng.array(z.count)
        var gq = [Float](repeating: .nan, count: q.count), gk = [Float](repeating: 0, count: k.count), gv = [Float](repeating: 0, count: v.count)
        var aa = a, scratch = [Float](repeating: 0, count: p * p)
        let shape = AlignerShape(queryFrames: frames, keyFrames: keyFrames, plane: p, keyChannels: e, valueChannels: c)
        r.withUnsafeBufferPointer { pr in
            q.withUnsafeBufferPointer { pq in
                k.withUnsafeBufferPointer { pk in
                    v.withUnsafeBufferPointer { pv in
                        aa.withUnsafeMutableBufferPointer { pa in
                            scratch.withUnsafeMutableBufferPointer { ps in
                                map.withUnsafeBufferPointer { pm in
                                    gq.withUnsafeMutableBufferPointer { pgq in
                                        gk.withUnsafeMutableBufferPointer { pgk in
                                            gv.withUnsafeMutableBufferPointer { pgv in
                                                alignerAttentionBackward(
                                                    gradZ: pr.baseAddress!, q: pq.baseAddress!, k: pk.baseAddress!, v: pv.baseAddress!,
                                                    attention: pa.baseAddress!,
                                                    gradQ: pgq.baseAddress!, gradK: pgk.baseAddress!, gradV: pgv.baseAddress!, scratch: ps.baseAddress!,
                                                    keyFrame: pm.baseAddress!, shape: shape, valueFromQueryFrame: true)
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
        // Smooth in q, k (truncation ~step²·|f'''|/6 ≈ 2e-5) and linear in v; rounding/(2·step) ≈ 1e-5.
        let (qs, ks, vs) = (q, k, v)
        checkGradient("decoder-value q", values: &q, analytic: gq, step: 1e-2, atol: 3e-4, rtol: 1e-3) { dot(r, self.run(q: $0, k: ks, v: vs).z) }
        checkGradient("decoder-value k", values: &k, analytic: gk, step: 1e-2, atol: 3e-4, rtol: 1e-3) { dot(r, self.run(q: qs, k: $0, v: vs).z) }
        checkGradient("decoder-value v", values: &v, analytic: gv, step: 1e-2, atol: 3e-4, rtol: 1e-3) { dot(r, self.run(q: qs, k: ks, v: $0).z) }
    }
}

/// The eight-lane exp used by the softmax against Double exp over its whole domain (x ≤ 0).
final class ExpLanesTests: XCTestCase {
    func testMatchesDoubleExp() {
        var worst = 0.0
        var x: Float = -87
        while x <= 0 {
            let lanes = SIMD8<Float>((0..<8).map { x - Float($0) * 1e-3 })
            let got = expLanes(lanes)
            for l in 0..<8 where lanes[l] >= -87 {
                let want = Foundation.exp(Double(lanes[l]))
                worst = max(worst, abs(Double(got[l]) - want) / want)
            }
            x += 0.0137
        }
        // Cephes' polynomial is good to ~1 ulp; 2e-7 relative is 1.7 ulp of Float.
        XCTAssertLessThanOrEqual(worst, 2e-7, "expLanes relative error \(worst)")
        XCTAssertEqual(Double(expLanes(SIMD8<Float>(repeating: -200))[0]), Foundation.exp(-87.0), accuracy: 1e-40, "clamped at −87")
    }
}
