import XCTest
@testable import Kernels

/// The Winograd F(2×2, 3×3) conv (3×3, stride 1, padding 1) against the naive direct convolutions in Double
/// (ConvTests.swift), forward and every gradient, with the direct path's tolerances: in one chunk and in
/// chunks of frames (a partial last one), with the transformed input kept for the backward or rebuilt.
final class Winograd3x3ConvTests: XCTestCase {
    /// n frames, c input and m output channels, an h × w plane, frames per chunk.
    struct Case { var n, c, m, h, w, chunk: Int }
    let cases: [Case] = [
        Case(n: 1, c: 1, m: 1, h: 2, w: 2, chunk: 1), // one tile: all four of its borders are padding
        Case(n: 2, c: 3, m: 2, h: 4, w: 6, chunk: 2), // non-square, interior tiles on one axis only
        Case(n: 3, c: 2, m: 5, h: 8, w: 8, chunk: 2), // tiles sharing rows and columns; a partial last chunk
        Case(n: 2, c: 17, m: 16, h: 4, w: 4, chunk: 1), // VGG's smallest plane, channels past a SIMD width
        Case(n: 1, c: 4, m: 3, h: 16, w: 2, chunk: 1), // a tall plane: one tile column
        Case(n: 4, c: 3, m: 4, h: 6, w: 10, chunk: 3), // odd tile counts on both axes
        Case(n: 2, c: 3, m: 2, h: 4, w: 34, chunk: 1), // two whole groups of eight tiles, then one tile
        Case(n: 1, c: 2, m: 3, h: 2, w: 64, chunk: 1) // the widest plane: four whole groups, the last at the border
    ]

    func geometry(_ c: Case) -> Winograd3x3Geometry {
        Winograd3x3Geometry(inChannels: c.c, outChannels: c.m, frames: c.n, height: c.h, width: c.w, chunkFrames: c.chunk)
    }

    /// Σ_{frames, positions} gy[m][i][j] · x[c][i − 1 + kh][j − 1 + kw] in Double: the weight gradient.
    func naiveGradWeight(x: [Float], gy: [Float], _ c: Case) -> [Double] {
        var gw = [Double](repeating: 0, count: c.m * c.c * 9)
        for b in 0..<c.n {
            for o in 0..<c.m {
                for i in 0..<c.h {
                    for j in 0..<c.w {
                        let g = Double(gy[((b * c.m + o) * c.h + i) * c.w + j])
                        for ci in 0..<c.c {
                            for kh in 0..<3 {
                                for kw in 0..<3 {
                                    let iy = i - 1 + kh, ix = j - 1 + kw
                                    if iy < 0 || iy >= c.h || ix < 0 || ix >= c.w { continue }
                                    gw[((o * c.c + ci) * 3 + kh) * 3 + kw] += g * Double(x[((b * c.c + ci) * c.h + iy) * c.w + ix])
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

    /// One forward and, when `gy` is given, one backward; returns y, gradX, gradWeight and gradBias (the last
    /// two start from gw0 and gb0 and accumulate).
    func run(
        _ g: Winograd3x3Geometry, keepsEveryChunk: Bool, x: [Float], w: [Float], bias: [Float]?, y0: [Float]?, gy: [Float]?,
        gw0: [Float], gb0: [Float], weightStride: Int? = nil
    ) -> (y: [Float], gx: [Float], gw: [Float], gb: [Float]) {
        var transformed = [Float](repeating: .nan, count: keepsEveryChunk ? g.cachedInputCount : g.transformedInputChunkCount)
        var scratch = [Float](repeating: .nan, count: g.scratchCount)
        var y = y0 ?? [Float](repeating: .nan, count: g.outChannels * g.frames * g.height * g.width)
        var gx = [Float](repeating: .nan, count: x.count), gw = gw0, gb = gb0
        let gyValues = gy ?? []
        x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                (bias ?? []).withUnsafeBufferPointer { pb in
                    gyValues.withUnsafeBufferPointer { pgy in
                        transformed.withUnsafeMutableBufferPointer { pt in
                            scratch.withUnsafeMutableBufferPointer { ps in
                                y.withUnsafeMutableBufferPointer { py in
                                    gx.withUnsafeMutableBufferPointer { pgx in
                                        gw.withUnsafeMutableBufferPointer { pgw in
                                            gb.withUnsafeMutableBufferPointer { pgb in
                                                winograd3x3Conv2dForward(
                                                    x: px.baseAddress!, weight: pw.baseAddress!, bias: bias == nil ? nil : pb.baseAddress!,
                                                    y: py.baseAddress!, transformedInput: pt.baseAddress!, keepsEveryChunk: keepsEveryChunk,
                                                    scratch: ps.baseAddress!, geometry: g, weightStride: weightStride, accumulate: y0 != nil)
                                                guard gy != nil else { return }
                                                winograd3x3Conv2dBackward(
                                                    gradY: pgy.baseAddress!, x: px.baseAddress!, transformedInput: pt.baseAddress!,
                                                    keepsEveryChunk: keepsEveryChunk, weight: pw.baseAddress!, gradX: pgx.baseAddress!,
                                                    gradWeight: pgw.baseAddress!, gradBias: gb0.isEmpty ? nil : pgb.baseAddress!,
                                                    scratch: ps.baseAddress!, geometry: g, weightStride: weightStride, accumulateParams: true)
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
        return (y, gx, gw, gb)
    }

    func testForwardMatchesDirectConvolution() {
        var rng = TestRNG(50)
        for c in cases {
            let g = geometry(c), plane = c.h * c.w
            let x = rng.array(c.n * c.c * plane), w = rng.array(c.m * c.c * 9), b = rng.array(c.m), y0 = rng.array(c.n * c.m * plane)
            let want = NaiveConv.conv2d(x, n: c.n, cin: c.c, h: c.h, w: c.w, weight: w, bias: b, cout: c.m, k: 3, stride: 1, pad: 1).y
            for keeps in [false, true] {
                for accumulate in [false, true] {
                    let y = run(
                        g, keepsEveryChunk: keeps, x: toCNHW(x, n: c.n, c: c.c, p: plane), w: w, bias: b,
                        y0: accumulate ? toCNHW(y0, n: c.n, c: c.m, p: plane) : nil, gy: nil, gw0: [], gb0: []
                    ).y
                    let expected = accumulate ? zip(want, y0).map { $0 + Double($1) } : want
                    assertClose(
                        toNCHW(y, n: c.n, c: c.m, p: plane), expected, atol: 2e-5, rtol: 1e-5,
                        "winograd 3×3 forward keeps \(keeps) accumulate \(accumulate) \(c)")
                }
            }
        }
    }

    func testBackwardMatchesDirectGradients() {
        var rng = TestRNG(51)
        for c in cases {
            let g = geometry(c), plane = c.h * c.w
            let x = rng.array(c.n * c.c * plane), w = rng.array(c.m * c.c * 9), gy = rng.array(c.n * c.m * plane)
            let gw0 = rng.array(w.count), gb0 = rng.array(c.m)
            let wantGradX = NaiveConv.convTranspose2d(gy, n: c.n, cin: c.m, h: c.h, w: c.w, weight: w, bias: nil, cout: c.c, k: 3, stride: 1, pad: 1).y
            let wantGradW = zip(naiveGradWeight(x: x, gy: gy, c), gw0).map { $0 + Double($1) }
            let wantGradB = zip(channelSums(gy, n: c.n, channels: c.m, plane: plane), gb0).map { $0 + Double($1) }
            for keeps in [false, true] {
                let r = run(
                    g, keepsEveryChunk: keeps, x: toCNHW(x, n: c.n, c: c.c, p: plane), w: w, bias: nil, y0: nil,
                    gy: toCNHW(gy, n: c.n, c: c.m, p: plane), gw0: gw0, gb0: gb0)
                assertClose(toNCHW(r.gx, n: c.n, c: c.c, p: plane), wantGradX, atol: 2e-5, rtol: 1e-5, "winograd 3×3 gradX keeps \(keeps) \(c)")
                assertClose(r.gw, wantGradW, atol: 2e-5, rtol: 1e-5, "winograd 3×3 gradWeight keeps \(keeps) \(c)")
                assertClose(r.gb, wantGradB, atol: 2e-5, rtol: 1e-5, "winograd 3×3 gradBias keeps \(keeps) \(c)")
            }
        }
    }

    /// Two column blocks of one weight through its full row stride (the decoder's [d; skip] split): the
    /// forwards sum to the whole conv, and each block's backward gives its channels' gradX and its columns of
    /// gradWeight, leaving the other block's columns alone.
    func testSplitWeightBlocksThroughTheFullStride() {
        var rng = TestRNG(52)
        let (n, c1, c2, m, h, w) = (3, 3, 2, 4, 6, 4)
        let cin = c1 + c2, plane = h * w
        let x = rng.array(n * cin * plane), wt = rng.array(m * cin * 9), gy = rng.array(n * m * plane)
        let all = Case(n: n, c: cin, m: m, h: h, w: w, chunk: n)
        let want = NaiveConv.conv2d(x, n: n, cin: cin, h: h, w: w, weight: wt, bias: nil, cout: m, k: 3, stride: 1, pad: 1).y
        let wantGradX = NaiveConv.convTranspose2d(gy, n: n, cin: m, h: h, w: w, weight: wt, bias: nil, cout: cin, k: 3, stride: 1, pad: 1).y
        let wantGradW = naiveGradWeight(x: x, gy: gy, all)
        let xc = toCNHW(x, n: n, c: cin, p: plane), gyc = toCNHW(gy, n: n, c: m, p: plane)
        var y = [Float](repeating: 0, count: gy.count), gx = [Float](repeating: .nan, count: x.count), gw = [Float](repeating: 0, count: wt.count)
        for (offset, count) in [(0, c1), (c1, c2)] {
            let g = Winograd3x3Geometry(inChannels: count, outChannels: m, frames: n, height: h, width: w, chunkFrames: 2)
            // The block's input channels, and the weight from its first column on (rows cin·9 apart): what the model passes.
            let blockX = Array(xc[(offset * n * plane)..<((offset + count) * n * plane)])
            let r = run(
                g, keepsEveryChunk: offset == 0, x: blockX, w: Array(wt[(offset * 9)...]), bias: nil, y0: y, gy: gyc,
                gw0: Array(gw[(offset * 9)...]), gb0: [], weightStride: cin * 9)
            y = r.y
            for i in 0..<(count * n * plane) { gx[offset * n * plane + i] = r.gx[i] }
            for o in 0..<m {
                for k in 0..<(cin * 9 - offset * 9) where o * cin * 9 + k < r.gw.count {
                    if k < count * 9 {
                        gw[o * cin * 9 + offset * 9 + k] = r.gw[o * cin * 9 + k]
                    } else {
                        XCTAssertEqual(r.gw[o * cin * 9 + k], 0, "block at channel \(offset) wrote outside its columns")
                    }
                }
            }
        }
        assertClose(toNCHW(y, n: n, c: m, p: plane), want, atol: 2e-5, rtol: 1e-5, "split winograd 3×3 forward")
        assertClose(toNCHW(gx, n: n, c: cin, p: plane), wantGradX, atol: 2e-5, rtol: 1e-5, "split winograd 3×3 gradX")
        assertClose(gw, wantGradW, atol: 2e-5, rtol: 1e-5, "split winograd 3×3 gradWeight")
    }

    /// The layers of VGG-64 take the path KERNELS.md says: every 3×3 layer with 16 or more channels on both
    /// sides and enough tiles; not c1's first layer (one image channel), not an odd plane; never with `.direct`.
    func testTheAlgorithmChoiceFollowsTheThresholds() {
        func applies(
            _ cin: Int, _ cout: Int, _ side: Int, frames: Int, kernel: Int = 3, stride: Int = 1, _ algorithm: ConvolutionAlgorithm = .automatic
        ) -> Bool {
            winograd3x3Applies(
                kernel: kernel, stride: stride, padding: 1, height: side, width: side, inChannels: cin, outChannels: cout, frames: frames,
                algorithm: algorithm)
        }
        XCTAssertTrue(applies(64, 64, 64, frames: 16)) // c1's second layer
        XCTAssertTrue(applies(512, 512, 8, frames: 16)) // c4
        XCTAssertTrue(applies(1024, 512, 4, frames: 64)) // upc2's first layer in training
        XCTAssertFalse(applies(512, 512, 4, frames: 1)) // one frame of the 4×4 plane: 4 tiles
        XCTAssertFalse(applies(1, 64, 64, frames: 16)) // c1's first layer
        XCTAssertFalse(applies(64, 64, 64, frames: 16, kernel: 4, stride: 2))
        XCTAssertFalse(applies(64, 64, 64, frames: 16, .direct))
        XCTAssertTrue(applies(2, 3, 4, frames: 1, .winogradWhereShapeAllows))
        XCTAssertFalse(applies(2, 3, 5, frames: 1, .winogradWhereShapeAllows)) // an odd plane
        XCTAssertFalse(applies(2, 3, 66, frames: 1, .winogradWhereShapeAllows)) // past the transforms' stack rows
    }

    func testChunksStayWithinTheLimit() {
        let perFrame = 16 * (64 + 64) * 32 * 32
        XCTAssertEqual(winograd3x3ChunkFrames(inChannels: 64, outChannels: 64, frames: 300, height: 64, width: 64, limit: 10 * perFrame), 10)
        XCTAssertEqual(winograd3x3ChunkFrames(inChannels: 64, outChannels: 64, frames: 300, height: 64, width: 64, limit: 1), 1)
        XCTAssertEqual(winograd3x3ChunkFrames(inChannels: 64, outChannels: 64, frames: 3, height: 64, width: 64, limit: 10 * perFrame), 3)
    }
}
