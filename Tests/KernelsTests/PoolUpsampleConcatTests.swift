import XCTest
@testable import Kernels

/// Direct NCHW references in Double.
enum NaiveResample {
    /// 2×2/2 max pooling with PyTorch's floor size; argmax is the first maximum in row-major window order.
    static func maxPool(_ x: [Float], planes: Int, h: Int, w: Int) -> (y: [Double], argmax: [Int]) {
        let oh = h / 2, ow = w / 2
        var y: [Double] = [], argmax: [Int] = []
        for p in 0..<planes {
            for i in 0..<oh {
                for j in 0..<ow {
                    var best = -Double.infinity, at = -1
                    for a in 0..<2 {
                        for b in 0..<2 {
                            let idx = (2 * i + a) * w + 2 * j + b, v = Double(x[p * h * w + idx])
                            if at < 0 || v > best { best = v; at = idx }
                        }
                    }
                    y.append(best); argmax.append(at)
                }
            }
        }
        return (y, argmax)
    }

    static func upsample(_ x: [Float], planes: Int, h: Int, w: Int) -> [Double] {
        var y: [Double] = []
        for p in 0..<planes { for i in 0..<(2 * h) { for j in 0..<(2 * w) { y.append(Double(x[(p * h + i / 2) * w + j / 2])) } } }
        return y
    }

    /// torch.cat([a, b], dim=1) on NCHW.
    static func concat(_ a: [Float], _ b: [Float], n: Int, ca: Int, cb: Int, plane: Int) -> [Double] {
        var out: [Double] = []
        for f in 0..<n {
            out += a[(f * ca * plane)..<((f + 1) * ca * plane)].map(Double.init)
            out += b[(f * cb * plane)..<((f + 1) * cb * plane)].map(Double.init)
        }
        return out
    }
}

final class PoolUpsampleConcatTests: XCTestCase {
    struct Shape { var n, c, h, w: Int; var planes: Int { n * c }; var count: Int { planes * h * w } }

    // MARK: MaxPool2d

    // Batch 1, channels 1 and 3, non-square, and odd sizes (floor: the last row / column is dropped).
    let poolShapes: [Shape] = [
        Shape(n: 1, c: 1, h: 4, w: 6), Shape(n: 2, c: 3, h: 6, w: 4), Shape(n: 1, c: 3, h: 5, w: 7),
        Shape(n: 3, c: 1, h: 2, w: 2), Shape(n: 2, c: 2, h: 8, w: 10)
    ]

    func pool(_ s: Shape, _ x: [Float]) -> (y: [Float], argmax: [Int32]) {
        // Pooling is per plane, so CNHW vs NCHW only permutes planes; convert anyway, as the engine's data is CNHW.
        let xc = toCNHW(x, n: s.n, c: s.c, p: s.h * s.w), outPlane = (s.h / 2) * (s.w / 2)
        var argmax = [Int32](repeating: -1, count: s.planes * outPlane)
        let y: [Float] = .buffer(s.planes * outPlane) { py in
            xc.withUnsafeBufferPointer { px in
                argmax.withUnsafeMutableBufferPointer { pa in
                    maxPool2dForward(x: px.baseAddress!, y: py, argmax: pa.baseAddress!, planes: s.planes, height: s.h, width: s.w)
                }
            }
        }
        // Indices below 2^24 are exact in Float, so the Float layout converter serves for them too.
        let argmaxNCHW = toNCHW(argmax.map(Float.init), n: s.n, c: s.c, p: outPlane).map { Int32($0) }
        return (toNCHW(y, n: s.n, c: s.c, p: outPlane), argmaxNCHW)
    }

    /// Each window holds four values ≥ 0.06 apart (levels 0.1 apart, jitter ±0.02, shuffled), so the
    /// maximum is unique and a probe of ±1e-2 cannot change which value wins.
    func poolInput(_ s: Shape, _ rng: inout TestRNG) -> [Float] {
        var x = rng.array(s.count)
        for p in 0..<s.planes {
            for i in 0..<(s.h / 2) {
                for j in 0..<(s.w / 2) {
                    var levels: [Float] = [0, 0.1, 0.2, 0.3]
                    for k in stride(from: 3, to: 0, by: -1) { levels.swapAt(k, Int(rng.next() % UInt64(k + 1))) }
                    let base = rng.uniform(-1, 0.7)
                    for a in 0..<2 {
                        for b in 0..<2 {
                            x[(p * s.h + 2 * i + a) * s.w + 2 * j + b] = base + levels[a * 2 + b] + rng.uniform(-0.02, 0.02)
                        }
                    }
                }
            }
        }
        return x
    }

    func testMaxPoolForwardMatchesReference() {
        var rng = TestRNG(50)
        for s in poolShapes {
            let x = poolInput(s, &rng)
            let got = pool(s, x), want = NaiveResample.maxPool(x, planes: s.planes, h: s.h, w: s.w)
            assertClose(got.y, want.y, atol: 0, rtol: 0, "maxPool forward \(s)") // a copy of an input: exact
            XCTAssertEqual(got.argmax, want.argmax.map { Int32($0) }, "maxPool argmax \(s)")
        }
    }

    /// PyTorch semantics on ties, infinities and NaN, on windows written out by hand.
    func testMaxPoolTiesInfinityAndNaN() {
        let nan = Float.nan, inf = Float.infinity
        // One plane 2×8, four windows (columns 0–1, 2–3, 4–5, 6–7).
        let x: [Float] = [
            0.5, 0.5, 0.1, 0.9, -inf, -inf, 1, 2,
            0.5, 0.5, 0.9, 0.2, -inf, -inf, nan, 3
        ]
        var argmax = [Int32](repeating: -1, count: 4)
        let y: [Float] = .buffer(4) { py in
            x.withUnsafeBufferPointer { px in
                argmax.withUnsafeMutableBufferPointer { pa in
                    maxPool2dForward(x: px.baseAddress!, y: py, argmax: pa.baseAddress!, planes: 1, height: 2, width: 8)
                }
            }
        }
        XCTAssertEqual(Array(y[0..<3]), [0.5, 0.9, -inf])
        XCTAssertTrue(y[3].isNaN, "NaN propagates")
        // All equal → top-left; tie between (0,3) and (1,2) → the first in row-major order; all −inf → top-left;
        // NaN → its own index.
        XCTAssertEqual(argmax, [0, 3, 4, 14])
    }

    func testMaxPoolBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(51)
        for s in poolShapes {
            var x = poolInput(s, &rng)
            let (y, argmax) = pool(s, x)
            let r = rng.array(y.count) // loss = Σ r·y, so gradY = r
            let outPlane = (s.h / 2) * (s.w / 2)
            let rc = toCNHW(r, n: s.n, c: s.c, p: outPlane)
            let argmaxC = toCNHW(argmax.map(Float.init), n: s.n, c: s.c, p: outPlane).map { Int32($0) }
            let gxc: [Float] = .buffer(s.count) { pgx in
                pgx.update(repeating: .nan, count: s.count) // must be overwritten, including dropped odd rows
                rc.withUnsafeBufferPointer { pr in
                    argmaxC.withUnsafeBufferPointer { pa in
                        maxPool2dBackward(gradY: pr.baseAddress!, argmax: pa.baseAddress!, gradX: pgx, planes: s.planes, height: s.h, width: s.w)
                    }
                }
            }
            // Locally linear (the winner never changes, see input) and y is an exact copy, so the only error
            // is Double rounding of the loss, ~1e-15 / (2h).
            checkGradient(
                "maxPool x \(s)", values: &x, analytic: toNCHW(gxc, n: s.n, c: s.c, p: s.h * s.w),
                step: 1e-2, atol: 1e-9, rtol: 1e-9, maxChecks: 200
            ) {
                dot(r, self.pool(s, $0).y)
            }
        }
    }

    // MARK: Upsample ×2

    let upsampleShapes: [Shape] = [
        Shape(n: 1, c: 1, h: 3, w: 5), Shape(n: 2, c: 3, h: 4, w: 2), Shape(n: 1, c: 3, h: 1, w: 1),
        Shape(n: 3, c: 2, h: 5, w: 4)
    ]

    func upsample(_ s: Shape, _ x: [Float]) -> [Float] {
        let xc = toCNHW(x, n: s.n, c: s.c, p: s.h * s.w)
        let y: [Float] = .buffer(4 * s.count) { py in
            xc.withUnsafeBufferPointer { upsampleNearest2xForward(x: $0.baseAddress!, y: py, planes: s.planes, height: s.h, width: s.w) }
        }
        return toNCHW(y, n: s.n, c: s.c, p: 4 * s.h * s.w)
    }

    func testUpsampleForwardMatchesReference() {
        var rng = TestRNG(60)
        for s in upsampleShapes {
            let x = rng.array(s.count)
            assertClose(upsample(s, x), NaiveResample.upsample(x, planes: s.planes, h: s.h, w: s.w), atol: 0, rtol: 0, "upsample forward \(s)")
        }
    }

    func testUpsampleBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(61)
        for s in upsampleShapes {
            var x = rng.array(s.count)
            let r = rng.array(4 * s.count)
            let rc = toCNHW(r, n: s.n, c: s.c, p: 4 * s.h * s.w)
            let gxc: [Float] = .buffer(s.count) { pgx in
                pgx.update(repeating: .nan, count: s.count)
                rc.withUnsafeBufferPointer { upsampleNearest2xBackward(gradY: $0.baseAddress!, gradX: pgx, planes: s.planes, height: s.h, width: s.w) }
            }
            // Linear with exact copies: the FD is exact up to Double rounding; the analytic side is a Float sum
            // of four |r| ≤ 1, three roundings of ≤ 4 → ≤ 7e-7.
            checkGradient(
                "upsample x \(s)", values: &x, analytic: toNCHW(gxc, n: s.n, c: s.c, p: s.h * s.w),
                step: 1e-2, atol: 1e-6, rtol: 0
            ) {
                dot(r, self.upsample(s, $0))
            }
        }
    }

    // MARK: Concat

    struct Case { var n, ca, cb, h, w: Int; var plane: Int { h * w } }
    let concatCases: [Case] = [Case(n: 1, ca: 1, cb: 3, h: 3, w: 5), Case(n: 2, ca: 3, cb: 1, h: 4, w: 1), Case(n: 3, ca: 2, cb: 2, h: 1, w: 1)]

    /// NCHW in, NCHW out, CNHW in between: checks that [a; b] in CNHW is torch.cat along channels.
    func concat(_ k: Case, _ a: [Float], _ b: [Float]) -> [Float] {
        let ac = toCNHW(a, n: k.n, c: k.ca, p: k.plane), bc = toCNHW(b, n: k.n, c: k.cb, p: k.plane)
        let out: [Float] = .buffer((k.ca + k.cb) * k.n * k.plane) { po in
            ac.withUnsafeBufferPointer { pa in
                bc.withUnsafeBufferPointer { pb in
                    concatChannelsForward(a: pa.baseAddress!, aChannels: k.ca, b: pb.baseAddress!, bChannels: k.cb, out: po, columns: k.n * k.plane)
                }
            }
        }
        return toNCHW(out, n: k.n, c: k.ca + k.cb, p: k.plane)
    }

    func concatBackward(
        _ k: Case, _ r: [Float], gradA: inout [Float], gradB: inout [Float], wantA: Bool = true, wantB: Bool = true,
        accumulate: Bool = false
    ) {
        let rc = toCNHW(r, n: k.n, c: k.ca + k.cb, p: k.plane)
        var ga = toCNHW(gradA, n: k.n, c: k.ca, p: k.plane), gb = toCNHW(gradB, n: k.n, c: k.cb, p: k.plane)
        rc.withUnsafeBufferPointer { pr in
            ga.withUnsafeMutableBufferPointer { pga in
                gb.withUnsafeMutableBufferPointer { pgb in
                    concatChannelsBackward(
                        gradOut: pr.baseAddress!, gradA: wantA ? pga.baseAddress! : nil, aChannels: k.ca,
                        gradB: wantB ? pgb.baseAddress! : nil, bChannels: k.cb, columns: k.n * k.plane, accumulate: accumulate)
                }
            }
        }
        gradA = toNCHW(ga, n: k.n, c: k.ca, p: k.plane)
        gradB = toNCHW(gb, n: k.n, c: k.cb, p: k.plane)
    }

    func testConcatForwardMatchesTorchCat() {
        var rng = TestRNG(70)
        for k in concatCases {
            let a = rng.array(k.n * k.ca * k.plane), b = rng.array(k.n * k.cb * k.plane)
            assertClose(concat(k, a, b), NaiveResample.concat(a, b, n: k.n, ca: k.ca, cb: k.cb, plane: k.plane), atol: 0, rtol: 0, "concat forward \(k)")
        }
    }

    func testConcatBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(71)
        for k in concatCases {
            var a = rng.array(k.n * k.ca * k.plane), b = rng.array(k.n * k.cb * k.plane)
            let r = rng.array(a.count + b.count)
            var ga = [Float](repeating: .nan, count: a.count), gb = [Float](repeating: .nan, count: b.count)
            concatBackward(k, r, gradA: &ga, gradB: &gb)
            let (a0, b0) = (a, b)
            // Linear with exact copies on both sides: only Double rounding of the loss, ~1e-15 / (2h).
            checkGradient("concat a \(k)", values: &a, analytic: ga, step: 1e-2, atol: 1e-9, rtol: 1e-9) { dot(r, self.concat(k, $0, b0)) }
            checkGradient("concat b \(k)", values: &b, analytic: gb, step: 1e-2, atol: 1e-9, rtol: 1e-9) { dot(r, self.concat(k, a0, $0)) }
        }
    }

    func testConcatBackwardSkipsNilAndAccumulates() {
        var rng = TestRNG(72)
        let k = concatCases[0]
        let r = rng.array(k.n * (k.ca + k.cb) * k.plane)
        var ga = [Float](repeating: 0, count: k.n * k.ca * k.plane), gb = [Float](repeating: 0, count: k.n * k.cb * k.plane)
        concatBackward(k, r, gradA: &ga, gradB: &gb)

        let earlierA = rng.array(ga.count), earlierB = rng.array(gb.count)
        var accA = earlierA, untouchedB = earlierB
        concatBackward(k, r, gradA: &accA, gradB: &untouchedB, wantB: false, accumulate: true)
        XCTAssertEqual(accA, zip(earlierA, ga).map { $0 + $1 }, "gradA accumulates")
        XCTAssertEqual(untouchedB, earlierB, "nil gradB leaves b's buffer alone")

        var untouchedA = earlierA, onlyB = earlierB
        concatBackward(k, r, gradA: &untouchedA, gradB: &onlyB, wantA: false)
        XCTAssertEqual(untouchedA, earlierA, "nil gradA leaves a's buffer alone")
        XCTAssertEqual(onlyB, gb, "gradB overwritten")
    }
}
