import XCTest
@testable import Kernels

/// The Winograd F(2×2, 2×2) and F(4×4, 2×2) conv and transposed conv (4×4, stride 2, padding 1) against the
/// naive direct convolutions in Double (ConvTests.swift), forward and both gradients, with the direct path's
/// tolerances.
final class WinogradConvTests: XCTestCase {
    /// c = the conv's input channels, m = its output channels, ho × wo its output plane, tile the output tile.
    struct Case { var n, c, m, ho, wo: Int; var tile = 2 }
    let cases: [Case] = [
        Case(n: 1, c: 1, m: 1, ho: 2, wo: 2), // one tile: every input row and column of it is a border
        Case(n: 2, c: 3, m: 2, ho: 4, wo: 6), // non-square, interior tiles on one axis only
        Case(n: 3, c: 2, m: 5, ho: 8, wo: 8), // tiles sharing rows and columns on both axes
        Case(n: 2, c: 17, m: 16, ho: 4, wo: 4), // c4's plane with channel counts past a SIMD width
        Case(n: 1, c: 4, m: 3, ho: 16, wo: 2), // a tall plane: one tile column
        // F(4×4, 2×2): its transforms take eight consecutive tiles at once, across rows, planes and frames.
        Case(n: 1, c: 1, m: 1, ho: 4, wo: 4, tile: 4), // one tile, seven empty lanes
        Case(n: 2, c: 3, m: 2, ho: 8, wo: 12, tile: 4), // non-square; 12 tiles: a full group, then four across a frame
        Case(n: 3, c: 2, m: 5, ho: 16, wo: 16, tile: 4), // interior tiles sharing rows and columns on both axes
        Case(n: 9, c: 17, m: 16, ho: 4, wo: 4, tile: 4), // c4's plane: one tile per frame, the lanes across frames
        Case(n: 1, c: 4, m: 3, ho: 32, wo: 4, tile: 4) // a tall plane: one tile column
    ]

    /// The absolute tolerance for a result whose exact value is `want`. F(2×2, 2×2) keeps the direct path's
    /// 2e-5. F(4×4, 2×2)'s transforms (Aᵀ's 8, G's 1/6) amplify float32 rounding about tenfold over the direct
    /// path's (3e-6 of the output's largest magnitude, in float32 numpy against float64 at 68 and 1024 input
    /// channels), so it is held to 1e-5 of the largest magnitude where that is the larger bound. The bias
    /// gradient is a plain sum on either tile and keeps 2e-5.
    func tolerance(tile: Int, _ want: [Double]) -> Double {
        tile == 2 ? 2e-5 : max(2e-5, 1e-5 * (want.map(abs).max() ?? 0))
    }

    func geometry(_ c: Case) -> WinogradGeometry {
        WinogradGeometry(inChannels: c.c, outChannels: c.m, frames: c.n, outHeight: c.ho, outWidth: c.wo, outputTile: c.tile)
    }

    /// Σ_{frames, positions} gy[m][i][j] · x[c][2i − 1 + kh][2j − 1 + kw] in Double: the conv's weight gradient.
    func naiveGradWeight(x: [Float], gy: [Float], _ c: Case) -> [Double] {
        let h = 2 * c.ho, w = 2 * c.wo
        var gw = [Double](repeating: 0, count: c.m * c.c * 16)
        for b in 0..<c.n {
            for o in 0..<c.m {
                for i in 0..<c.ho {
                    for j in 0..<c.wo {
                        let g = Double(gy[((b * c.m + o) * c.ho + i) * c.wo + j])
                        for ci in 0..<c.c {
                            for kh in 0..<4 {
                                for kw in 0..<4 {
                                    let iy = 2 * i - 1 + kh, ix = 2 * j - 1 + kw
                                    if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                                    gw[((o * c.c + ci) * 4 + kh) * 4 + kw] += g * Double(x[((b * c.c + ci) * h + iy) * w + ix])
                                }
                            }
                        }
                    }
                }
            }
        }
        return gw
    }

    func channelSums(_ v: [Float], n: Int, channels: Int, plane: Int) -> [Double] {
        (0..<channels).map { ch in (0..<n).reduce(0.0) { s, b in s + (0..<plane).reduce(0.0) { $0 + Double(v[(b * channels + ch) * plane + $1]) } } }
    }

    func testConvForwardMatchesDirectConvolution() {
        var rng = TestRNG(40)
        for c in cases {
            let g = geometry(c), inPlane = g.inHeight * g.inWidth, outPlane = c.ho * c.wo
            let x = rng.array(c.n * c.c * inPlane), w = rng.array(c.m * c.c * 16), b = rng.array(c.m), y0 = rng.array(c.n * c.m * outPlane)
            let want = NaiveConv.conv2d(x, n: c.n, cin: c.c, h: g.inHeight, w: g.inWidth, weight: w, bias: b, cout: c.m, k: 4, stride: 2, pad: 1).y
            let xc = toCNHW(x, n: c.n, c: c.c, p: inPlane)
            var transformed = [Float](repeating: .nan, count: g.transformedInputCount), scratch = [Float](repeating: .nan, count: g.scratchCount)
            for accumulate in [false, true] {
                var y = accumulate ? toCNHW(y0, n: c.n, c: c.m, p: outPlane) : [Float](repeating: .nan, count: y0.count)
                xc.withUnsafeBufferPointer { px in
                    w.withUnsafeBufferPointer { pw in
                        b.withUnsafeBufferPointer { pb in
                            transformed.withUnsafeMutableBufferPointer { pt in
                                scratch.withUnsafeMutableBufferPointer { ps in
                                    y.withUnsafeMutableBufferPointer { py in
                                        winogradConv2dForward(
                                            x: px.baseAddress!, weight: pw.baseAddress!, bias: pb.baseAddress!, y: py.baseAddress!,
                                            transformedInput: pt.baseAddress!, scratch: ps.baseAddress!, geometry: g, accumulate: accumulate)
                                    }
                                }
                            }
                        }
                    }
                }
                let expected = accumulate ? zip(want, y0).map { $0 + Double($1) } : want
                assertClose(
                    toNCHW(y, n: c.n, c: c.m, p: outPlane), expected, atol: tolerance(tile: c.tile, expected), rtol: 1e-5,
                    "winograd conv forward accumulate \(accumulate) \(c)")
            }
        }
    }

    func testConvBackwardMatchesDirectGradients() {
        var rng = TestRNG(41)
        for c in cases {
            let g = geometry(c), inPlane = g.inHeight * g.inWidth, outPlane = c.ho * c.wo
            let x = rng.array(c.n * c.c * inPlane), w = rng.array(c.m * c.c * 16), gy = rng.array(c.n * c.m * outPlane)
            let gw0 = rng.array(w.count), gb0 = rng.array(c.m)
            let wantGradX = NaiveConv.convTranspose2d(gy, n: c.n, cin: c.m, h: c.ho, w: c.wo, weight: w, bias: nil, cout: c.c, k: 4, stride: 2, pad: 1).y
            let wantGradW = zip(naiveGradWeight(x: x, gy: gy, c), gw0).map { $0 + Double($1) }
            let wantGradB = zip(channelSums(gy, n: c.n, channels: c.m, plane: outPlane), gb0).map { $0 + Double($1) }
            let xc = toCNHW(x, n: c.n, c: c.c, p: inPlane), gyc = toCNHW(gy, n: c.n, c: c.m, p: outPlane)
            var transformed = [Float](repeating: .nan, count: g.transformedInputCount), scratch = [Float](repeating: .nan, count: g.scratchCount)
            var gxc = [Float](repeating: .nan, count: x.count), gw = gw0, gb = gb0
            var y = [Float](repeating: 0, count: gy.count)
            xc.withUnsafeBufferPointer { px in
                w.withUnsafeBufferPointer { pw in
                    gyc.withUnsafeBufferPointer { pgy in
                        transformed.withUnsafeMutableBufferPointer { pt in
                            scratch.withUnsafeMutableBufferPointer { ps in
                                y.withUnsafeMutableBufferPointer { py in
                                    gxc.withUnsafeMutableBufferPointer { pgx in
                                        gw.withUnsafeMutableBufferPointer { pgw in
                                            gb.withUnsafeMutableBufferPointer { pgb in
                                                winogradConv2dForward(
                                                    x: px.baseAddress!, weight: pw.baseAddress!, bias: nil, y: py.baseAddress!,
                                                    transformedInput: pt.baseAddress!, scratch: ps.baseAddress!, geometry: g)
                                                winogradConv2dBackward(
                                                    gradY: pgy.baseAddress!, transformedInput: pt.baseAddress!, weight: pw.baseAddress!,
                                                    gradX: pgx.baseAddress!, gradWeight: pgw.baseAddress!, gradBias: pgb.baseAddress!,
                                                    scratch: ps.baseAddress!, geometry: g, accumulateParams: true)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            assertClose(toNCHW(gxc, n: c.n, c: c.c, p: inPlane), wantGradX, atol: tolerance(tile: c.tile, wantGradX), rtol: 1e-5, "winograd conv gradX \(c)")
            assertClose(gw, wantGradW, atol: tolerance(tile: c.tile, wantGradW), rtol: 1e-5, "winograd conv gradWeight \(c)")
            assertClose(gb, wantGradB, atol: 2e-5, rtol: 1e-5, "winograd conv gradBias \(c)")
        }
    }

    /// Two column blocks of one weight through its full row stride (the decoder's [d; skip] split): the
    /// forward sums to the whole conv, and each block's backward gives its channels' gradX and its columns
    /// of gradWeight, leaving the other block's columns alone.
    func testSplitWeightBlocksThroughTheFullStride() {
        var rng = TestRNG(42)
        for (tile, wo) in [(2, 6), (4, 8)] {
            splitWeightBlocks(tile: tile, wo: wo, rng: &rng)
        }
    }

    func splitWeightBlocks(tile: Int, wo: Int, rng: inout TestRNG) {
        let (n, c1, c2, m, ho) = (2, 3, 2, 4, 4)
        let cin = c1 + c2, h = 2 * ho, w = 2 * wo, plane = h * w
        let x = rng.array(n * cin * plane), wt = rng.array(m * cin * 16), gy = rng.array(n * m * ho * wo)
        let all = Case(n: n, c: cin, m: m, ho: ho, wo: wo)
        let want = NaiveConv.conv2d(x, n: n, cin: cin, h: h, w: w, weight: wt, bias: nil, cout: m, k: 4, stride: 2, pad: 1).y
        let wantGradX = NaiveConv.convTranspose2d(gy, n: n, cin: m, h: ho, w: wo, weight: wt, bias: nil, cout: cin, k: 4, stride: 2, pad: 1).y
        let wantGradW = naiveGradWeight(x: x, gy: gy, all)
        let xc = toCNHW(x, n: n, c: cin, p: plane), gyc = toCNHW(gy, n: n, c: m, p: ho * wo)
        var y = [Float](repeating: .nan, count: gy.count), gxc = [Float](repeating: .nan, count: x.count), gw = [Float](repeating: .nan, count: wt.count)
        for (offset, count) in [(0, c1), (c1, c2)] {
            let g = WinogradGeometry(inChannels: count, outChannels: m, frames: n, outHeight: ho, outWidth: wo, outputTile: tile)
            var transformed = [Float](repeating: .nan, count: g.transformedInputCount), scratch = [Float](repeating: .nan, count: g.scratchCount)
            xc.withUnsafeBufferPointer { px in
                wt.withUnsafeBufferPointer { pw in
                    gyc.withUnsafeBufferPointer { pgy in
                        transformed.withUnsafeMutableBufferPointer { pt in
                            scratch.withUnsafeMutableBufferPointer { ps in
                                y.withUnsafeMutableBufferPointer { py in
                                    gxc.withUnsafeMutableBufferPointer { pgx in
                                        gw.withUnsafeMutableBufferPointer { pgw in
                                            winogradConv2dForward(
                                                x: px.baseAddress! + offset * n * plane, weight: pw.baseAddress! + offset * 16, bias: nil,
                                                y: py.baseAddress!, transformedInput: pt.baseAddress!, scratch: ps.baseAddress!, geometry: g,
                                                weightStride: cin * 16, accumulate: offset > 0)
                                            winogradConv2dBackward(
                                                gradY: pgy.baseAddress!, transformedInput: pt.baseAddress!, weight: pw.baseAddress! + offset * 16,
                                                gradX: pgx.baseAddress! + offset * n * plane, gradWeight: pgw.baseAddress! + offset * 16,
                                                gradBias: nil, scratch: ps.baseAddress!, geometry: g, weightStride: cin * 16)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assertClose(toNCHW(y, n: n, c: m, p: ho * wo), want, atol: tolerance(tile: tile, want), rtol: 1e-5, "split winograd conv forward, tile \(tile)")
        assertClose(
            toNCHW(gxc, n: n, c: cin, p: plane), wantGradX, atol: tolerance(tile: tile, wantGradX), rtol: 1e-5, "split winograd conv gradX, tile \(tile)")
        assertClose(gw, wantGradW, atol: tolerance(tile: tile, wantGradW), rtol: 1e-5, "split winograd conv gradWeight, tile \(tile)")
    }

    /// Chunk sizes to run a case's transposed conv in: all frames at once, one frame at a time, and two (which
    /// leaves a shorter last chunk when the frames are odd).
    func chunkSizes(_ c: Case) -> [Int?] { [nil] + [1, 2].filter { $0 < c.n } }

    func testTransposedForwardMatchesDirectTransposedConvolution() {
        var rng = TestRNG(43)
        for c in cases {
            // The transposed conv reads the conv's output side: m channels at ho × wo, and writes c at 2ho × 2wo.
            let g = geometry(c), outPlane = g.inHeight * g.inWidth, inPlane = c.ho * c.wo
            let x = rng.array(c.n * c.m * inPlane), w = rng.array(c.m * c.c * 16), b = rng.array(c.c), y0 = rng.array(c.n * c.c * outPlane)
            let want = NaiveConv.convTranspose2d(x, n: c.n, cin: c.m, h: c.ho, w: c.wo, weight: w, bias: b, cout: c.c, k: 4, stride: 2, pad: 1).y
            let xc = toCNHW(x, n: c.n, c: c.m, p: inPlane)
            for chunk in chunkSizes(c) {
                var workspace = [Float](repeating: .nan, count: g.transposedWorkspaceCount(chunkFrames: chunk))
                for accumulate in [false, true] {
                    var y = accumulate ? toCNHW(y0, n: c.n, c: c.c, p: outPlane) : [Float](repeating: .nan, count: y0.count)
                    xc.withUnsafeBufferPointer { px in
                        w.withUnsafeBufferPointer { pw in
                            b.withUnsafeBufferPointer { pb in
                                workspace.withUnsafeMutableBufferPointer { pws in
                                    y.withUnsafeMutableBufferPointer { py in
                                        winogradConvTranspose2dForward(
                                            x: px.baseAddress!, weight: pw.baseAddress!, bias: pb.baseAddress!, y: py.baseAddress!,
                                            workspace: pws.baseAddress!, geometry: g, chunkFrames: chunk, accumulate: accumulate)
                                    }
                                }
                            }
                        }
                    }
                    let expected = accumulate ? zip(want, y0).map { $0 + Double($1) } : want
                    assertClose(
                        toNCHW(y, n: c.n, c: c.c, p: outPlane), expected, atol: tolerance(tile: c.tile, expected), rtol: 1e-5,
                        "winograd convT forward accumulate \(accumulate) chunk \(chunk.map(String.init) ?? "all") \(c)")
                }
            }
        }
    }

    func testTransposedBackwardMatchesDirectGradients() {
        var rng = TestRNG(44)
        for c in cases {
            let g = geometry(c), outPlane = g.inHeight * g.inWidth, inPlane = c.ho * c.wo
            let x = rng.array(c.n * c.m * inPlane), w = rng.array(c.m * c.c * 16), gy = rng.array(c.n * c.c * outPlane)
            let gw0 = rng.array(w.count), gb0 = rng.array(c.c)
            // A transposed conv's input gradient is the conv of gy with the same weight; its weight gradient
            // is the conv's, with gy as the conv's input and x as the conv's output gradient.
            let wantGradX = NaiveConv.conv2d(gy, n: c.n, cin: c.c, h: g.inHeight, w: g.inWidth, weight: w, bias: nil, cout: c.m, k: 4, stride: 2, pad: 1).y
            let wantGradW = zip(naiveGradWeight(x: gy, gy: x, c), gw0).map { $0 + Double($1) }
            let wantGradB = zip(channelSums(gy, n: c.n, channels: c.c, plane: outPlane), gb0).map { $0 + Double($1) }
            let xc = toCNHW(x, n: c.n, c: c.m, p: inPlane), gyc = toCNHW(gy, n: c.n, c: c.c, p: outPlane)
            for chunk in chunkSizes(c) {
                // Each chunk's weight gradient adds to the last: without gradX too (the weight-only path).
                for wantsGradX in [true, false] {
                    var workspace = [Float](repeating: .nan, count: g.transposedWorkspaceCount(chunkFrames: chunk))
                    var gxc = [Float](repeating: .nan, count: x.count), gw = gw0, gb = gb0
                    xc.withUnsafeBufferPointer { px in
                        w.withUnsafeBufferPointer { pw in
                            gyc.withUnsafeBufferPointer { pgy in
                                workspace.withUnsafeMutableBufferPointer { pws in
                                    gxc.withUnsafeMutableBufferPointer { pgx in
                                        gw.withUnsafeMutableBufferPointer { pgw in
                                            gb.withUnsafeMutableBufferPointer { pgb in
                                                winogradConvTranspose2dBackward(
                                                    gradY: pgy.baseAddress!, x: px.baseAddress!, weight: pw.baseAddress!,
                                                    gradX: wantsGradX ? pgx.baseAddress! : nil, gradWeight: pgw.baseAddress!,
                                                    gradBias: pgb.baseAddress!, workspace: pws.baseAddress!, geometry: g, chunkFrames: chunk,
                                                    accumulateParams: true)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    let label = "chunk \(chunk.map(String.init) ?? "all") gradX \(wantsGradX) \(c)"
                    if wantsGradX {
                        assertClose(
                            toNCHW(gxc, n: c.n, c: c.m, p: inPlane), wantGradX, atol: tolerance(tile: c.tile, wantGradX), rtol: 1e-5,
                            "winograd convT gradX \(label)")
                    }
                    assertClose(gw, wantGradW, atol: tolerance(tile: c.tile, wantGradW), rtol: 1e-5, "winograd convT gradWeight \(label)")
                    assertClose(gb, wantGradB, atol: 2e-5, rtol: 1e-5, "winograd convT gradBias \(label)")
                }
            }
        }
    }

    /// The model's layers take the path KERNELS.md says: c2–c4 and upc2–upc4 in training (the skip block's
    /// 64 source frames included), not c1 (one channel), c5 (4×4 kernel over the whole plane) or a one-frame
    /// skip block in generation; `.direct` never, `.winogradWhereShapeAllows` at any width.
    func testTheAlgorithmChoiceFollowsTheThresholds() {
        func applies(
            _ cin: Int, _ cout: Int, _ convOut: Int, frames: Int, kernel: Int = 4, stride: Int = 2, padding: Int = 1,
            _ algorithm: ConvolutionAlgorithm = .automatic
        ) -> Bool {
            winogradApplies(
                kernel: kernel, stride: stride, padding: padding, convOutHeight: convOut, convOutWidth: convOut,
                inChannels: cin, outChannels: cout, frames: frames, algorithm: algorithm)
        }
        XCTAssertTrue(applies(64, 128, 16, frames: 240)) // c2
        XCTAssertTrue(applies(256, 512, 4, frames: 240)) // c4
        XCTAssertTrue(applies(256, 512, 4, frames: 64)) // upc2's skip block in training (conv view)
        XCTAssertFalse(applies(256, 512, 4, frames: 1)) // ... and in generation of one sequence
        XCTAssertFalse(applies(1, 64, 32, frames: 240)) // c1
        XCTAssertFalse(applies(512, 128, 1, frames: 240, kernel: 4, stride: 1, padding: 0)) // c5
        XCTAssertFalse(applies(64, 128, 16, frames: 240, .direct))
        XCTAssertTrue(applies(4, 8, 16, frames: 15, .winogradWhereShapeAllows))
        XCTAssertFalse(applies(4, 8, 15, frames: 15, .winogradWhereShapeAllows)) // an odd plane is no whole number of tiles
        XCTAssertFalse(applies(4, 8, 64, frames: 15, .winogradWhereShapeAllows)) // input 128 wide: past the stack rows
        // The output tile: 4×4 where its tiles are at least as many as the output channels (T ≥ M).
        func tile(_ cout: Int, _ convOut: Int, frames: Int) -> Int {
            winogradOutputTile(convOutHeight: convOut, convOutWidth: convOut, outChannels: cout, frames: frames)
        }
        XCTAssertEqual(tile(128, 16, frames: 240), 4) // c2: 3840 tiles
        XCTAssertEqual(tile(256, 8, frames: 240), 4) // c3: 960 tiles
        XCTAssertEqual(tile(512, 4, frames: 240), 2) // c4 at batch 16: 240 tiles against 512 channels
        XCTAssertEqual(tile(512, 4, frames: 511), 2)
        XCTAssertEqual(tile(512, 4, frames: 512), 4) // ... from T = M on (batch 35 and more)
        XCTAssertEqual(tile(4, 6, frames: 15), 2) // a plane that is no whole number of 4×4 tiles
    }
}
