import XCTest
@testable import Kernels

/// Manually allocated copies of test arrays: an LSTM call takes up to twenty pointers, which nested
/// withUnsafeBufferPointer closures would bury. Everything is freed with the arena.
final class RecurrentTestArena {
    private var blocks: [UnsafeMutablePointer<Float>] = []
    func copy(_ a: [Float]) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(a.count, 1))
        a.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: a.count) }
        blocks.append(p)
        return p
    }
    func filled(_ n: Int, _ v: Float) -> UnsafeMutablePointer<Float> { copy([Float](repeating: v, count: n)) }
    func read(_ p: UnsafePointer<Float>, _ n: Int) -> [Float] { Array(UnsafeBufferPointer(start: p, count: n)) }
    deinit { for p in blocks { p.deallocate() } }

    /// Sentinel for padding the kernels must leave alone; NaN marks padding they must not read.
    static let untouched: Float = 7.25

    // Row-stride helpers live here, not at file scope, so they cannot clash with other test files' helpers.
    /// rows × cols compact → rows × ld, the extra columns set to `fill`.
    static func padRows(_ a: [Float], rows: Int, cols: Int, ld: Int, fill: Float) -> [Float] {
        var out = [Float](repeating: fill, count: rows * ld)
        for r in 0..<rows { for j in 0..<cols { out[r * ld + j] = a[r * cols + j] } }
        return out
    }
    static func unpadRows(_ a: [Float], rows: Int, cols: Int, ld: Int) -> [Float] {
        (0..<(rows * cols)).map { a[($0 / cols) * ld + $0 % cols] }
    }
    /// True when every padding column still holds `fill` (bitwise, so NaN fills compare equal).
    static func paddingIntact(_ a: [Float], rows: Int, cols: Int, ld: Int, fill: Float) -> Bool {
        for r in 0..<rows { for j in cols..<ld where a[r * ld + j].bitPattern != fill.bitPattern { return false } }
        return true
    }
}

// MARK: - Linear

/// The Linear layer. (Class names start with LinearLSTM so the `LinearLSTM` test filter selects this file.)
final class LinearLSTMTests: XCTestCase {
    struct Case { var batch, inF, outF, padX, padY: Int }
    // Batch 1 and several, one input or one output feature, row strides wider than the rows.
    let cases: [Case] = [
        Case(batch: 1, inF: 5, outF: 3, padX: 0, padY: 0),
        Case(batch: 4, inF: 7, outF: 6, padX: 3, padY: 2),
        Case(batch: 3, inF: 1, outF: 4, padX: 0, padY: 1),
        Case(batch: 6, inF: 9, outF: 2, padX: 2, padY: 0),
        Case(batch: 2, inF: 4, outF: 1, padX: 1, padY: 3)
    ]

    static func naive(_ x: [Float], _ w: [Float], _ b: [Float]?, _ c: Case) -> [Double] {
        var y = [Double](repeating: 0, count: c.batch * c.outF)
        for n in 0..<c.batch {
            for o in 0..<c.outF {
                var s = b.map { Double($0[o]) } ?? 0
                for i in 0..<c.inF { s += Double(x[n * c.inF + i]) * Double(w[o * c.inF + i]) }
                y[n * c.outF + o] = s
            }
        }
        return y
    }

    /// Compact x in, compact y out; x is laid out with NaN padding (must not be read) and y's padding
    /// must survive.
    func forward(_ c: Case, _ x: [Float], _ w: [Float], _ b: [Float]?, file: StaticString = #filePath, line: UInt = #line) -> [Float] {
        let ldx = c.inF + c.padX, ldy = c.outF + c.padY
        let arena = RecurrentTestArena()
        let px = arena.copy(RecurrentTestArena.padRows(x, rows: c.batch, cols: c.inF, ld: ldx, fill: .nan))
        let py = arena.filled(c.batch * ldy, RecurrentTestArena.untouched)
        linearForward(
            x: px, weight: arena.copy(w), bias: b.map { UnsafePointer(arena.copy($0)) }, y: py,
            batch: c.batch, inFeatures: c.inF, outFeatures: c.outF, ldx: ldx, ldy: ldy)
        let y = arena.read(py, c.batch * ldy)
        XCTAssertTrue(
            RecurrentTestArena.paddingIntact(y, rows: c.batch, cols: c.outF, ld: ldy, fill: RecurrentTestArena.untouched), "y padding written \(c)", file: file,
            line: line)
        return RecurrentTestArena.unpadRows(y, rows: c.batch, cols: c.outF, ld: ldy)
    }

    struct Grads {
        var x: [Float]?
        var w: [Float]
        var b: [Float]?
    }

    /// Backward with strided gradY/gradX. `initial` prefills the outputs (NaN for overwrite).
    func backward(
        _ c: Case, gradY: [Float], x: [Float], w: [Float], wantX: Bool, wantB: Bool,
        initial: Grads, accumulateParams: Bool, accumulateGradX: Bool
    ) -> Grads {
        let ldx = c.inF + c.padX, ldy = c.outF + c.padY
        let arena = RecurrentTestArena()
        let pgx = wantX ? arena.copy(RecurrentTestArena.padRows(initial.x!, rows: c.batch, cols: c.inF, ld: ldx, fill: RecurrentTestArena.untouched)) : nil
        let pgw = arena.copy(initial.w), pgb = wantB ? arena.copy(initial.b!) : nil
        linearBackward(
            gradY: arena.copy(RecurrentTestArena.padRows(gradY, rows: c.batch, cols: c.outF, ld: ldy, fill: .nan)),
            x: arena.copy(RecurrentTestArena.padRows(x, rows: c.batch, cols: c.inF, ld: ldx, fill: .nan)),
            weight: arena.copy(w), gradX: pgx, gradWeight: pgw, gradBias: pgb,
            batch: c.batch, inFeatures: c.inF, outFeatures: c.outF, ldx: ldx, ldy: ldy,
            accumulateParams: accumulateParams, accumulateGradX: accumulateGradX)
        var gx: [Float]? = nil
        if let pgx {
            let full = arena.read(pgx, c.batch * ldx)
            XCTAssertTrue(
                RecurrentTestArena.paddingIntact(full, rows: c.batch, cols: c.inF, ld: ldx, fill: RecurrentTestArena.untouched), "gradX padding written \(c)")
            gx = RecurrentTestArena.unpadRows(full, rows: c.batch, cols: c.inF, ld: ldx)
        }
        return Grads(x: gx, w: arena.read(pgw, w.count), b: pgb.map { arena.read($0, c.outF) })
    }

    func testForwardMatchesDirectProduct() {
        var rng = TestRNG(100)
        for c in cases {
            let x = rng.array(c.batch * c.inF), w = rng.array(c.outF * c.inF), b = rng.array(c.outF)
            // At most 9 products of magnitude ≤ 1 plus a bias: Float accumulation error is below ~1e-6.
            assertClose(forward(c, x, w, b), Self.naive(x, w, b, c), atol: 1e-5, rtol: 1e-5, "linear forward \(c)")
            assertClose(forward(c, x, w, nil), Self.naive(x, w, nil, c), atol: 1e-5, rtol: 1e-5, "linear forward no bias \(c)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(101)
        for c in cases {
            var x = rng.array(c.batch * c.inF), w = rng.array(c.outF * c.inF), b = rng.array(c.outF)
            let r = rng.array(c.batch * c.outF) // loss = Σ r·y, so gradY = r
            let nanInit = Grads(
                x: .init(repeating: .nan, count: x.count), w: .init(repeating: .nan, count: w.count),
                b: .init(repeating: .nan, count: b.count))
            let g = backward(
                c, gradY: r, x: x, w: w, wantX: true, wantB: true, initial: nanInit,
                accumulateParams: false, accumulateGradX: false)
            // The loss is linear in each argument, so central differences are exact but for the Float rounding
            // of the ≤ 6 outputs a probe changes (~3e-7 each) divided by 2·step = 0.02: ≲ 1e-4, bound 1e-3.
            let (xs, ws, bs) = (x, w, b)
            checkGradient("linear x \(c)", values: &x, analytic: g.x!, step: 1e-2, atol: 1e-3, rtol: 1e-3) { dot(r, self.forward(c, $0, ws, bs)) }
            checkGradient("linear weight \(c)", values: &w, analytic: g.w, step: 1e-2, atol: 1e-3, rtol: 1e-3) { dot(r, self.forward(c, xs, $0, bs)) }
            checkGradient("linear bias \(c)", values: &b, analytic: g.b!, step: 1e-2, atol: 1e-3, rtol: 1e-3) { dot(r, self.forward(c, xs, ws, $0)) }

            // Accumulating adds the same gradients to what was there: one Float addition of values ≲ 10 each.
            let prior = Grads(x: rng.array(x.count), w: rng.array(w.count), b: rng.array(b.count))
            let acc = backward(
                c, gradY: r, x: x, w: w, wantX: true, wantB: true, initial: prior,
                accumulateParams: true, accumulateGradX: true)
            func sum(_ a: [Float], _ b: [Float]) -> [Double] { zip(a, b).map { Double($0) + Double($1) } }
            assertClose(acc.x!, sum(prior.x!, g.x!), atol: 1e-6, rtol: 1e-6, "linear accumulated gradX \(c)")
            assertClose(acc.w, sum(prior.w, g.w), atol: 1e-6, rtol: 1e-6, "linear accumulated gradW \(c)")
            assertClose(acc.b!, sum(prior.b!, g.b!), atol: 1e-6, rtol: 1e-6, "linear accumulated gradB \(c)")

            // Flags are independent: parameters accumulate while gradX is overwritten, and vice versa.
            let mixed = backward(
                c, gradY: r, x: x, w: w, wantX: true, wantB: true,
                initial: Grads(x: prior.x, w: nanInit.w, b: nanInit.b), accumulateParams: false, accumulateGradX: true)
            assertClose(mixed.x!, sum(prior.x!, g.x!), atol: 1e-6, rtol: 1e-6, "linear gradX accumulate only \(c)")
            XCTAssertEqual(mixed.w, g.w, "linear gradW overwrite with accumulateGradX \(c)")
            let mixed2 = backward(
                c, gradY: r, x: x, w: w, wantX: true, wantB: true,
                initial: Grads(x: nanInit.x, w: prior.w, b: prior.b), accumulateParams: true, accumulateGradX: false)
            XCTAssertEqual(mixed2.x!, g.x!, "linear gradX overwrite with accumulateParams \(c)")

            // Skipping gradX and gradB leaves gradW identical.
            let skipped = backward(
                c, gradY: r, x: x, w: w, wantX: false, wantB: false,
                initial: Grads(x: nil, w: nanInit.w, b: nil), accumulateParams: false, accumulateGradX: false)
            XCTAssertEqual(skipped.w, g.w, "linear gradW without gradX/gradB \(c)")
        }
    }
}

// MARK: - LSTMCell

/// Naive LSTMCell in Double, written from the PyTorch documentation formulas.
enum NaiveLSTM {
    static func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }

    /// Returns activated gates [i f g o] per row, c and h.
    static func step(x: [Float], hPrev: [Float], cPrev: [Float], p: LinearLSTMCellTests.Params, n: Int, inF: Int, h H: Int)
        -> (gates: [Double], c: [Double], h: [Double])
    {
        var gates = [Double](repeating: 0, count: n * 4 * H), c = [Double](repeating: 0, count: n * H), h = c
        for b in 0..<n {
            var pre = [Double](repeating: 0, count: 4 * H)
            for r in 0..<(4 * H) {
                var s = Double(p.bih[r]) + Double(p.bhh[r])
                for i in 0..<inF { s += Double(p.wih[r * inF + i]) * Double(x[b * inF + i]) }
                for j in 0..<H { s += Double(p.whh[r * H + j]) * Double(hPrev[b * H + j]) }
                pre[r] = s
            }
            for j in 0..<H {
                let ig = sigmoid(pre[j]), fg = sigmoid(pre[H + j]), gg = tanh(pre[2 * H + j]), og = sigmoid(pre[3 * H + j])
                gates[b * 4 * H + j] = ig; gates[b * 4 * H + H + j] = fg
                gates[b * 4 * H + 2 * H + j] = gg; gates[b * 4 * H + 3 * H + j] = og
                let cv = fg * Double(cPrev[b * H + j]) + ig * gg
                c[b * H + j] = cv
                h[b * H + j] = og * tanh(cv)
            }
        }
        return (gates, c, h)
    }
}

final class LinearLSTMCellTests: XCTestCase {
    struct Case { var batch, inF, hidden, padX: Int }
    let cases: [Case] = [
        Case(batch: 1, inF: 3, hidden: 2, padX: 0),
        Case(batch: 4, inF: 5, hidden: 3, padX: 2),
        Case(batch: 3, inF: 1, hidden: 4, padX: 1)
    ]

    struct Params { var wih, whh, bih, bhh: [Float] }

    static func randomParams(_ c: Case, _ rng: inout TestRNG) -> Params {
        // Spread ±0.8 keeps pre-activations mostly in the sigmoid's sensitive range, so no gradient vanishes.
        Params(
            wih: rng.array(4 * c.hidden * c.inF, -0.8, 0.8), whh: rng.array(4 * c.hidden * c.hidden, -0.8, 0.8),
            bih: rng.array(4 * c.hidden, -0.5, 0.5), bhh: rng.array(4 * c.hidden, -0.5, 0.5))
    }

    struct Step { var gates, c, h: [Float] }

    /// One forward step; x compact, laid out with NaN padding at stride inF + padX.
    static func forward(_ k: Case, x: [Float], hPrev: [Float], cPrev: [Float], p: Params) -> Step {
        let a = RecurrentTestArena(), H = k.hidden, ldx = k.inF + k.padX
        let gates = a.filled(k.batch * 4 * H, .nan), c = a.filled(k.batch * H, .nan), h = a.filled(k.batch * H, .nan)
        lstmCellForward(
            x: a.copy(RecurrentTestArena.padRows(x, rows: k.batch, cols: k.inF, ld: ldx, fill: .nan)), hPrev: a.copy(hPrev), cPrev: a.copy(cPrev),
            weightIH: a.copy(p.wih), weightHH: a.copy(p.whh), biasIH: a.copy(p.bih), biasHH: a.copy(p.bhh),
            gates: gates, c: c, h: h, batch: k.batch, inFeatures: k.inF, hidden: H, ldx: ldx)
        return Step(gates: a.read(gates, k.batch * 4 * H), c: a.read(c, k.batch * H), h: a.read(h, k.batch * H))
    }

    struct Grads { var x: [Float], hPrev: [Float], cPrev: [Float], p: Params }

    /// One backward step. `initial` prefills the parameter gradients (NaN when overwriting).
    static func backward(
        _ k: Case, gradH: [Float], gradCNext: [Float], x: [Float], hPrev: [Float], cPrev: [Float],
        step s: Step, p: Params, initial: Params, accumulate: Bool
    ) -> Grads {
        let a = RecurrentTestArena(), H = k.hidden, ldx = k.inF + k.padX, n = k.batch
        let gx = a.filled(n * ldx, RecurrentTestArena.untouched), ghp = a.filled(n * H, .nan), gcp = a.filled(n * H, .nan)
        let gwih = a.copy(initial.wih), gwhh = a.copy(initial.whh), gbih = a.copy(initial.bih), gbhh = a.copy(initial.bhh)
        lstmCellBackward(
            gradH: a.copy(gradH), gradCNext: a.copy(gradCNext),
            x: a.copy(RecurrentTestArena.padRows(x, rows: n, cols: k.inF, ld: ldx, fill: .nan)), hPrev: a.copy(hPrev), cPrev: a.copy(cPrev),
            gates: a.copy(s.gates), c: a.copy(s.c), weightIH: a.copy(p.wih), weightHH: a.copy(p.whh),
            gradX: gx, gradHPrev: ghp, gradCPrev: gcp,
            gradWeightIH: gwih, gradWeightHH: gwhh, gradBiasIH: gbih, gradBiasHH: gbhh,
            gateGrad: a.filled(n * 4 * H, .nan), batch: n, inFeatures: k.inF, hidden: H, ldx: ldx,
            accumulateParams: accumulate)
        let gxFull = a.read(gx, n * ldx)
        XCTAssertTrue(
            RecurrentTestArena.paddingIntact(gxFull, rows: n, cols: k.inF, ld: ldx, fill: RecurrentTestArena.untouched), "LSTM gradX padding written \(k)")
        return Grads(
            x: RecurrentTestArena.unpadRows(gxFull, rows: n, cols: k.inF, ld: ldx), hPrev: a.read(ghp, n * H), cPrev: a.read(gcp, n * H),
            p: Params(
                wih: a.read(gwih, initial.wih.count), whh: a.read(gwhh, initial.whh.count),
                bih: a.read(gbih, 4 * H), bhh: a.read(gbhh, 4 * H)))
    }

    static func nanParams(like p: Params) -> Params {
        Params(
            wih: .init(repeating: .nan, count: p.wih.count), whh: .init(repeating: .nan, count: p.whh.count),
            bih: .init(repeating: .nan, count: p.bih.count), bhh: .init(repeating: .nan, count: p.bhh.count))
    }

    func testForwardMatchesNaiveCell() {
        var rng = TestRNG(200)
        for k in cases {
            let p = Self.randomParams(k, &rng)
            let x = rng.array(k.batch * k.inF), h0 = rng.array(k.batch * k.hidden), c0 = rng.array(k.batch * k.hidden, -2, 2)
            let got = Self.forward(k, x: x, hPrev: h0, cPrev: c0, p: p)
            let want = NaiveLSTM.step(x: x, hPrev: h0, cPrev: c0, p: p, n: k.batch, inF: k.inF, h: k.hidden)
            // Pre-activations sum ≤ 11 Float products (error ~1e-6); σ, tanh have slope ≤ 1 and expf/tanhf
            // are accurate to a few ulp, so every output is within a few 1e-6 of the Double reference.
            assertClose(got.gates, want.gates, atol: 1e-5, rtol: 1e-5, "LSTM gates \(k)")
            assertClose(got.c, want.c, atol: 1e-5, rtol: 1e-5, "LSTM c \(k)")
            assertClose(got.h, want.h, atol: 1e-5, rtol: 1e-5, "LSTM h \(k)")

            // In place (h == hPrev, c == cPrev), as generation without a backward may call it: bit-identical.
            let a = RecurrentTestArena(), ldx = k.inF + k.padX
            let h = a.copy(h0), c = a.copy(c0), gates = a.filled(k.batch * 4 * k.hidden, .nan)
            lstmCellForward(
                x: a.copy(RecurrentTestArena.padRows(x, rows: k.batch, cols: k.inF, ld: ldx, fill: .nan)), hPrev: h, cPrev: c,
                weightIH: a.copy(p.wih), weightHH: a.copy(p.whh), biasIH: a.copy(p.bih), biasHH: a.copy(p.bhh),
                gates: gates, c: c, h: h, batch: k.batch, inFeatures: k.inF, hidden: k.hidden, ldx: ldx)
            XCTAssertEqual(a.read(h, k.batch * k.hidden), got.h, "in-place forward h \(k)")
            XCTAssertEqual(a.read(c, k.batch * k.hidden), got.c, "in-place forward c \(k)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(201)
        for k in cases {
            var p = Self.randomParams(k, &rng)
            var x = rng.array(k.batch * k.inF), h0 = rng.array(k.batch * k.hidden), c0 = rng.array(k.batch * k.hidden, -2, 2)
            // loss = Σ r1·h + Σ r2·c: dL/dh = r1 and the direct dL/dc = r2 enters as gradCNext.
            let r1 = rng.array(k.batch * k.hidden), r2 = rng.array(k.batch * k.hidden)
            let s = Self.forward(k, x: x, hPrev: h0, cPrev: c0, p: p)
            let g = Self.backward(
                k, gradH: r1, gradCNext: r2, x: x, hPrev: h0, cPrev: c0, step: s, p: p,
                initial: Self.nanParams(like: p), accumulate: false)
            func loss(_ x: [Float], _ h0: [Float], _ c0: [Float], _ p: Params) -> Double {
                let s = Self.forward(k, x: x, hPrev: h0, cPrev: c0, p: p)
                return dot(r1, s.h) + dot(r2, s.c)
            }
            // step 1e-2: truncation error step²/6·|f'''| ≲ 2e-5 for these smooth gates; Float rounding of the ≤ 2·N·H
            // outputs a probe moves (~2e-7 each) over 2·step is ≲ 1e-4. Bound 1e-3 absolute and relative.
            let (xs, hs, cs, ps) = (x, h0, c0, p)
            checkGradient("LSTM x \(k)", values: &x, analytic: g.x, step: 1e-2, atol: 1e-3, rtol: 1e-3) { loss($0, hs, cs, ps) }
            checkGradient("LSTM hPrev \(k)", values: &h0, analytic: g.hPrev, step: 1e-2, atol: 1e-3, rtol: 1e-3) { loss(xs, $0, cs, ps) }
            checkGradient("LSTM cPrev \(k)", values: &c0, analytic: g.cPrev, step: 1e-2, atol: 1e-3, rtol: 1e-3) { loss(xs, hs, $0, ps) }
            checkGradient("LSTM weightIH \(k)", values: &p.wih, analytic: g.p.wih, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
                var q = ps; q.wih = $0; return loss(xs, hs, cs, q)
            }
            checkGradient("LSTM weightHH \(k)", values: &p.whh, analytic: g.p.whh, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
                var q = ps; q.whh = $0; return loss(xs, hs, cs, q)
            }
            checkGradient("LSTM biasIH \(k)", values: &p.bih, analytic: g.p.bih, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
                var q = ps; q.bih = $0; return loss(xs, hs, cs, q)
            }
            checkGradient("LSTM biasHH \(k)", values: &p.bhh, analytic: g.p.bhh, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
                var q = ps; q.bhh = $0; return loss(xs, hs, cs, q)
            }
        }
    }

    /// Three unrolled steps sharing one set of weights: finite differences through the whole sequence
    /// must match the backward-through-time sum of per-step gradients (accumulateParams after the first).
    /// The same backward is run a second time with gradHPrev/gradCPrev aliasing gradH/gradCNext (in
    /// place, as a time loop would) and must give bit-identical results.
    func testThreeStepSequenceBackwardThroughTime() {
        var rng = TestRNG(202)
        let k = Case(batch: 3, inF: 4, hidden: 3, padX: 2), T = 3, H = k.hidden, NH = k.batch * k.hidden
        var p = Self.randomParams(k, &rng)
        var xs = (0..<T).map { _ in rng.array(k.batch * k.inF) }
        var h0 = rng.array(NH), c0 = rng.array(NH, -1, 1)
        let r1 = (0..<T).map { _ in rng.array(NH) }, r2 = (0..<T).map { _ in rng.array(NH) }

        func run(_ xs: [[Float]], _ h0: [Float], _ c0: [Float], _ p: Params) -> [Step] {
            var steps: [Step] = [], h = h0, c = c0
            for t in 0..<T {
                let s = Self.forward(k, x: xs[t], hPrev: h, cPrev: c, p: p)
                steps.append(s); h = s.h; c = s.c
            }
            return steps
        }
        func loss(_ xs: [[Float]], _ h0: [Float], _ c0: [Float], _ p: Params) -> Double {
            let steps = run(xs, h0, c0, p)
            return (0..<T).reduce(0.0) { $0 + dot(r1[$1], steps[$1].h) + dot(r2[$1], steps[$1].c) }
        }

        let steps = run(xs, h0, c0, p)
        var dh = [Float](repeating: 0, count: NH), dc = dh
        var acc = Self.nanParams(like: p)
        var gxs = [[Float]](repeating: [], count: T)
        for t in stride(from: T - 1, through: 0, by: -1) {
            let hPrev = t == 0 ? h0 : steps[t - 1].h, cPrev = t == 0 ? c0 : steps[t - 1].c
            let gradH = zip(r1[t], dh).map { $0 + $1 }, gradC = zip(r2[t], dc).map { $0 + $1 }
            let g = Self.backward(
                k, gradH: gradH, gradCNext: gradC, x: xs[t], hPrev: hPrev, cPrev: cPrev, step: steps[t],
                p: p, initial: acc, accumulate: t != T - 1)
            acc = g.p; dh = g.hPrev; dc = g.cPrev; gxs[t] = g.x
        }

        // Same loop, in place: one gradH and one gradC buffer per sequence, both read and overwritten by each step.
        do {
            let a = RecurrentTestArena(), ldx = k.inF + k.padX
            let gH = a.filled(NH, 0), gC = a.filled(NH, 0)
            let gwih = a.filled(p.wih.count, .nan), gwhh = a.filled(p.whh.count, .nan), gbih = a.filled(4 * H, .nan), gbhh = a.filled(4 * H, .nan)
            let gx = a.filled(k.batch * ldx, RecurrentTestArena.untouched), ws = a.filled(k.batch * 4 * H, .nan)
            let wih = a.copy(p.wih), whh = a.copy(p.whh)
            for t in stride(from: T - 1, through: 0, by: -1) {
                for j in 0..<NH { gH[j] += r1[t][j]; gC[j] += r2[t][j] }
                let hPrev = t == 0 ? h0 : steps[t - 1].h, cPrev = t == 0 ? c0 : steps[t - 1].c
                lstmCellBackward(
                    gradH: gH, gradCNext: gC, x: a.copy(RecurrentTestArena.padRows(xs[t], rows: k.batch, cols: k.inF, ld: ldx, fill: .nan)),
                    hPrev: a.copy(hPrev), cPrev: a.copy(cPrev), gates: a.copy(steps[t].gates), c: a.copy(steps[t].c),
                    weightIH: wih, weightHH: whh, gradX: gx, gradHPrev: gH, gradCPrev: gC,
                    gradWeightIH: gwih, gradWeightHH: gwhh, gradBiasIH: gbih, gradBiasHH: gbhh, gateGrad: ws,
                    batch: k.batch, inFeatures: k.inF, hidden: H, ldx: ldx, accumulateParams: t != T - 1)
                XCTAssertEqual(RecurrentTestArena.unpadRows(a.read(gx, k.batch * ldx), rows: k.batch, cols: k.inF, ld: ldx), gxs[t], "in-place gradX step \(t)")
            }
            XCTAssertEqual(a.read(gH, NH), dh, "in-place gradH0")
            XCTAssertEqual(a.read(gC, NH), dc, "in-place gradC0")
            XCTAssertEqual(a.read(gwih, p.wih.count), acc.wih, "in-place gradWeightIH")
            XCTAssertEqual(a.read(gwhh, p.whh.count), acc.whh, "in-place gradWeightHH")
            XCTAssertEqual(a.read(gbih, 4 * H), acc.bih, "in-place gradBiasIH")
            XCTAssertEqual(a.read(gbhh, 4 * H), acc.bhh, "in-place gradBiasHH")
        }

        // Same step and bound as the single step: truncation is unchanged, and rounding grows at most with the
        // 3 steps' outputs a weight probe moves (≲ 3e-4 worst case, typically far less).
        let (xs0, h00, c00, ps) = (xs, h0, c0, p)
        checkGradient("BPTT weightIH", values: &p.wih, analytic: acc.wih, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
            var q = ps; q.wih = $0; return loss(xs0, h00, c00, q)
        }
        checkGradient("BPTT weightHH", values: &p.whh, analytic: acc.whh, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
            var q = ps; q.whh = $0; return loss(xs0, h00, c00, q)
        }
        checkGradient("BPTT biasIH", values: &p.bih, analytic: acc.bih, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
            var q = ps; q.bih = $0; return loss(xs0, h00, c00, q)
        }
        checkGradient("BPTT biasHH", values: &p.bhh, analytic: acc.bhh, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
            var q = ps; q.bhh = $0; return loss(xs0, h00, c00, q)
        }
        checkGradient("BPTT h0", values: &h0, analytic: dh, step: 1e-2, atol: 1e-3, rtol: 1e-3) { loss(xs0, $0, c00, ps) }
        checkGradient("BPTT c0", values: &c0, analytic: dc, step: 1e-2, atol: 1e-3, rtol: 1e-3) { loss(xs0, h00, $0, ps) }
        for t in 0..<T {
            checkGradient("BPTT x[\(t)]", values: &xs[t], analytic: gxs[t], step: 1e-2, atol: 1e-3, rtol: 1e-3) {
                var q = xs0; q[t] = $0; return loss(q, h00, c00, ps)
            }
        }
    }
}
