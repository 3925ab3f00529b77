import XCTest
@testable import Kernels

/// Naive direct convolutions in Double, NCHW, PyTorch weight layouts: the independent reference.
enum NaiveConv {
    static func conv2d(
        _ x: [Float], n: Int, cin: Int, h: Int, w: Int, weight: [Float], bias: [Float]?,
        cout: Int, k: Int, stride: Int, pad: Int
    ) -> (y: [Double], ho: Int, wo: Int) {
        let ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1
        var y = [Double](repeating: 0, count: n * cout * ho * wo)
        for b in 0..<n {
            for o in 0..<cout {
                for i in 0..<ho {
                    for j in 0..<wo {
                        var s = bias.map { Double($0[o]) } ?? 0
                        for c in 0..<cin {
                            for ki in 0..<k {
                                for kj in 0..<k {
                                    let iy = i * stride - pad + ki, ix = j * stride - pad + kj
                                    if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                                    s += Double(x[((b * cin + c) * h + iy) * w + ix]) * Double(weight[((o * cin + c) * k + ki) * k + kj])
                                }
                            }
                        }
                        y[((b * cout + o) * ho + i) * wo + j] = s
                    }
                }
            }
        }
        return (y, ho, wo)
    }

    /// y[b, o, i·s − p + ki, j·s − p + kj] += x[b, c, i, j] · W[c, o, ki, kj]
    static func convTranspose2d(
        _ x: [Float], n: Int, cin: Int, h: Int, w: Int, weight: [Float], bias: [Float]?,
        cout: Int, k: Int, stride: Int, pad: Int
    ) -> (y: [Double], ho: Int, wo: Int) {
        let ho = (h - 1) * stride - 2 * pad + k, wo = (w - 1) * stride - 2 * pad + k
        var y = [Double](repeating: 0, count: n * cout * ho * wo)
        for b in 0..<n { for o in 0..<cout { for p in 0..<(ho * wo) { y[(b * cout + o) * ho * wo + p] = bias.map { Double($0[o]) } ?? 0 } } }
        for b in 0..<n {
            for c in 0..<cin {
                for i in 0..<h {
                    for j in 0..<w {
                        let xv = Double(x[((b * cin + c) * h + i) * w + j])
                        for o in 0..<cout {
                            for ki in 0..<k {
                                for kj in 0..<k {
                                    let oy = i * stride - pad + ki, ox = j * stride - pad + kj
                                    if oy < 0 || oy >= ho || ox < 0 || ox >= wo { continue }
                                    y[((b * cout + o) * ho + oy) * wo + ox] += xv * Double(weight[((c * cout + o) * k + ki) * k + kj])
                                }
                            }
                        }
                    }
                }
            }
        }
        return (y, ho, wo)
    }
}

func toCNHW(_ x: [Float], n: Int, c: Int, p: Int) -> [Float] {
    .buffer(x.count) { out in x.withUnsafeBufferPointer { nchwToCNHW($0.baseAddress!, out, frames: n, channels: c, plane: p) } }
}
func toNCHW(_ x: [Float], n: Int, c: Int, p: Int) -> [Float] {
    .buffer(x.count) { out in x.withUnsafeBufferPointer { cnhwToNCHW($0.baseAddress!, out, frames: n, channels: c, plane: p) } }
}

final class Conv2dTests: XCTestCase {
    struct Case { var n, cin, h, w, cout, k, stride, pad: Int }
    // Odd and non-square shapes, stride 1 and 2, padding 0 and 1, batch 1, channels 1 and 3,
    // and the DCGAN 4×4/2/1 and 4×4/1/0 layers at small size.
    let cases: [Case] = [
        Case(n: 1, cin: 1, h: 5, w: 7, cout: 2, k: 3, stride: 1, pad: 1),
        Case(n: 2, cin: 3, h: 7, w: 6, cout: 4, k: 3, stride: 2, pad: 0),
        Case(n: 3, cin: 2, h: 8, w: 8, cout: 3, k: 4, stride: 2, pad: 1),
        Case(n: 2, cin: 3, h: 4, w: 4, cout: 5, k: 4, stride: 1, pad: 0),
        Case(n: 1, cin: 3, h: 9, w: 5, cout: 1, k: 3, stride: 2, pad: 1),
        Case(n: 2, cin: 2, h: 3, w: 3, cout: 2, k: 1, stride: 1, pad: 0),
        // Geometries off the two special paths take the generic loops (stride-1 run copies, strided gathers).
        Case(n: 2, cin: 2, h: 11, w: 9, cout: 3, k: 3, stride: 2, pad: 1),
        Case(n: 1, cin: 3, h: 10, w: 12, cout: 2, k: 4, stride: 2, pad: 1),
        // The 4×4/2/1 SIMD path (even sizes, output width a multiple of 4): output widths 8 and 16 (one and
        // several steps of four; width 4 is the (3, 2, 8, 8) case above); (2, 3, 4, 4) above takes the
        // frame-major col.
        Case(n: 2, cin: 2, h: 6, w: 16, cout: 3, k: 4, stride: 2, pad: 1),
        Case(n: 1, cin: 1, h: 4, w: 32, cout: 2, k: 4, stride: 2, pad: 1),
        // c1's shape, 64×64: the 4×4/2/1 path works on blocks of 4 frames there, so 6 frames end in a partial block.
        Case(n: 6, cin: 1, h: 64, w: 64, cout: 2, k: 4, stride: 2, pad: 1),
        // c5's shape (the frame-major col) over more frames than the case above, and with 10 channels: a
        // full block of 8 channels and a partial one.
        Case(n: 6, cin: 3, h: 4, w: 4, cout: 2, k: 4, stride: 1, pad: 0),
        Case(n: 3, cin: 10, h: 4, w: 4, cout: 2, k: 4, stride: 1, pad: 0),
        // A whole-image kernel on a plane other than 4×4 (the frame-major copy's generic loop).
        Case(n: 2, cin: 9, h: 3, w: 3, cout: 2, k: 3, stride: 1, pad: 0)
    ]

    func run(_ c: Case, x: [Float], weight: [Float], bias: [Float]) -> (y: [Float], col: [Float], g: ConvGeometry) {
        let g = ConvGeometry(channels: c.cin, frames: c.n, height: c.h, width: c.w, kernelH: c.k, kernelW: c.k, stride: c.stride, padding: c.pad)
        let xc = toCNHW(x, n: c.n, c: c.cin, p: c.h * c.w)
        var col = [Float](repeating: .nan, count: g.colCount)
        let y: [Float] = .buffer(c.cout * g.colColumns) { py in
            xc.withUnsafeBufferPointer { px in
                weight.withUnsafeBufferPointer { pw in
                    bias.withUnsafeBufferPointer { pb in
                        col.withUnsafeMutableBufferPointer { pc in
                            conv2dForward(
                                x: px.baseAddress!, weight: pw.baseAddress!, bias: pb.baseAddress!, y: py, col: pc.baseAddress!,
                                geometry: g, outChannels: c.cout)
                        }
                    }
                }
            }
        }
        return (toNCHW(y, n: c.n, c: c.cout, p: g.outHeight * g.outWidth), col, g)
    }

    func testForwardMatchesDirectConvolution() {
        var rng = TestRNG(10)
        for c in cases {
            let x = rng.array(c.n * c.cin * c.h * c.w), w = rng.array(c.cout * c.cin * c.k * c.k), b = rng.array(c.cout)
            let got = run(c, x: x, weight: w, bias: b).y
            let want = NaiveConv.conv2d(x, n: c.n, cin: c.cin, h: c.h, w: c.w, weight: w, bias: b, cout: c.cout, k: c.k, stride: c.stride, pad: c.pad).y
            // At most 49 products of magnitude ≤ 1: Float32 accumulation error stays below ~1e-5.
            assertClose(got, want, atol: 2e-5, rtol: 1e-5, "conv2d forward \(c)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(11)
        for c in cases {
            var x = rng.array(c.n * c.cin * c.h * c.w), w = rng.array(c.cout * c.cin * c.k * c.k), b = rng.array(c.cout)
            var (y, col, g) = run(c, x: x, weight: w, bias: b)
            let r = rng.array(y.count) // loss = Σ r·y, so gradY = r
            let rc = toCNHW(r, n: c.n, c: c.cout, p: g.outHeight * g.outWidth)
            var gw = [Float](repeating: 0, count: w.count), gb = [Float](repeating: 0, count: b.count)
            var gxc = [Float](repeating: 0, count: x.count)
            rc.withUnsafeBufferPointer { pr in
                w.withUnsafeBufferPointer { pw in
                    col.withUnsafeMutableBufferPointer { pc in
                        gxc.withUnsafeMutableBufferPointer { px in
                            gw.withUnsafeMutableBufferPointer { pgw in
                                gb.withUnsafeMutableBufferPointer { pgb in
                                    conv2dBackward(
                                        gradY: pr.baseAddress!, col: pc.baseAddress!, weight: pw.baseAddress!, gradX: px.baseAddress!,
                                        gradWeight: pgw.baseAddress!, gradBias: pgb.baseAddress!, geometry: g, outChannels: c.cout)
                                }
                            }
                        }
                    }
                }
            }
            let gx = toNCHW(gxc, n: c.n, c: c.cin, p: c.h * c.w)
            _ = y
            // The loss is linear in each argument, so central differences are exact up to Float rounding
            // of the forward (~1e-6 of Σ|r·y| ≈ 1e-5) divided by 2·step: 1e-3 absolute is ample yet tight.
            let (xs, ws, bs) = (x, w, b)
            checkGradient("conv2d x \(c)", values: &x, analytic: gx, step: 1e-2, atol: 1e-3, rtol: 1e-3) { dot(r, self.run(c, x: $0, weight: ws, bias: bs).y) }
            checkGradient("conv2d weight \(c)", values: &w, analytic: gw, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
                dot(r, self.run(c, x: xs, weight: $0, bias: bs).y)
            }
            checkGradient("conv2d bias \(c)", values: &b, analytic: gb, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
                dot(r, self.run(c, x: xs, weight: ws, bias: $0).y)
            }
            y = []
        }
    }

    /// Shapes whose input gradient is formed a chunk of frames at a time (col larger than colChunkFloats,
    /// GEMM inner dimension Cout ≤ chunkedInnerLimit), each ending in a partial chunk: the 4×4/2/1 col2im
    /// and the generic one. gradX of a conv is the transposed conv of gradY with the same weight, so the
    /// naive transposed convolution is the reference.
    func testChunkedGradInputIsTheTransposedConvolutionOfGradY() {
        var rng = TestRNG(13)
        for c in [
            Case(n: 5, cin: 64, h: 32, w: 32, cout: 2, k: 4, stride: 2, pad: 1),
            Case(n: 4, cin: 128, h: 16, w: 16, cout: 2, k: 3, stride: 1, pad: 1)
        ] {
            let x = rng.array(c.n * c.cin * c.h * c.w), w = rng.array(c.cout * c.cin * c.k * c.k)
            var (_, col, g) = run(c, x: x, weight: w, bias: [Float](repeating: 0, count: c.cout))
            let frames = colChunkFrames(g, inner: c.cout)
            XCTAssertTrue(frames < c.n && c.n % frames != 0, "\(c) must span several chunks, the last one partial (chunks of \(frames))")
            let ohw = g.outHeight * g.outWidth
            let gy = rng.array(c.n * c.cout * ohw)
            let gyc = toCNHW(gy, n: c.n, c: c.cout, p: ohw)
            var gxc = [Float](repeating: .nan, count: x.count), gw = [Float](repeating: 0, count: w.count)
            gyc.withUnsafeBufferPointer { pgy in
                w.withUnsafeBufferPointer { pw in
                    col.withUnsafeMutableBufferPointer { pc in
                        gxc.withUnsafeMutableBufferPointer { pgx in
                            gw.withUnsafeMutableBufferPointer { pgw in
                                conv2dBackward(
                                    gradY: pgy.baseAddress!, col: pc.baseAddress!, weight: pw.baseAddress!, gradX: pgx.baseAddress!,
                                    gradWeight: pgw.baseAddress!, gradBias: nil, geometry: g, outChannels: c.cout)
                            }
                        }
                    }
                }
            }
            let want = NaiveConv.convTranspose2d(
                gy, n: c.n, cin: c.cout, h: g.outHeight, w: g.outWidth, weight: w, bias: nil,
                cout: c.cin, k: c.k, stride: c.stride, pad: c.pad
            ).y
            assertClose(toNCHW(gxc, n: c.n, c: c.cin, p: c.h * c.w), want, atol: 2e-5, rtol: 1e-5, "conv2d chunked gradX \(c)")
        }
    }

    /// A direct conv a chunk of frames at a time (conv2dForwardChunked, conv2dBackwardChunked: the path of
    /// layers whose whole col exceeds the plan's workspace limit) against the naive Double convolution, its
    /// transposed convolution (gradX) and Σ gradY·x (gradW), with chunks that end partial: the generic
    /// im2col at stride 1 and 2, the 4×4/2/1 SIMD path, and c1's shape, where that path works on blocks of
    /// four frames that a chunk of three cuts through.
    func testChunkedForwardAndBackwardMatchDirectConvolution() {
        var rng = TestRNG(14)
        for (c, chunk) in [
            (Case(n: 5, cin: 3, h: 7, w: 6, cout: 4, k: 3, stride: 1, pad: 1), 2),
            (Case(n: 5, cin: 2, h: 11, w: 9, cout: 3, k: 3, stride: 2, pad: 1), 3),
            (Case(n: 5, cin: 2, h: 8, w: 16, cout: 3, k: 4, stride: 2, pad: 1), 2),
            (Case(n: 7, cin: 1, h: 64, w: 64, cout: 2, k: 4, stride: 2, pad: 1), 3)
        ] {
            let g = ConvGeometry(channels: c.cin, frames: c.n, height: c.h, width: c.w, kernelH: c.k, kernelW: c.k, stride: c.stride, padding: c.pad)
            let ho = g.outHeight, wo = g.outWidth, ohw = ho * wo
            let x = rng.array(c.n * c.cin * c.h * c.w), w = rng.array(c.cout * c.cin * c.k * c.k), b = rng.array(c.cout)
            let xc = toCNHW(x, n: c.n, c: c.cin, p: c.h * c.w)
            let gy = rng.array(c.n * c.cout * ohw), gyc = toCNHW(gy, n: c.n, c: c.cout, p: ohw)
            let w0 = rng.array(w.count), b0 = rng.array(b.count) // gradW and gradB accumulate onto these
            var col = [Float](repeating: .nan, count: g.colRows * chunk * ohw)
            var y = [Float](repeating: .nan, count: c.cout * g.colColumns), gxc = [Float](repeating: .nan, count: x.count)
            var gw = w0, gb = b0
            xc.withUnsafeBufferPointer { px in
                w.withUnsafeBufferPointer { pw in
                    b.withUnsafeBufferPointer { pb in
                        gyc.withUnsafeBufferPointer { pgy in
                            col.withUnsafeMutableBufferPointer { pc in
                                y.withUnsafeMutableBufferPointer { py in
                                    gxc.withUnsafeMutableBufferPointer { pgx in
                                        gw.withUnsafeMutableBufferPointer { pgw in
                                            gb.withUnsafeMutableBufferPointer { pgb in
                                                conv2dForwardChunked(
                                                    x: px.baseAddress!, weight: pw.baseAddress!, bias: pb.baseAddress!, y: py.baseAddress!,
                                                    col: pc.baseAddress!, geometry: g, outChannels: c.cout, chunkFrames: chunk)
                                                conv2dBackwardChunked(
                                                    gradY: pgy.baseAddress!, x: px.baseAddress!, weight: pw.baseAddress!, gradX: pgx.baseAddress!,
                                                    gradWeight: pgw.baseAddress!, gradBias: pgb.baseAddress!, col: pc.baseAddress!, geometry: g,
                                                    outChannels: c.cout, accumulateParams: true, chunkFrames: chunk)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let wantY = NaiveConv.conv2d(x, n: c.n, cin: c.cin, h: c.h, w: c.w, weight: w, bias: b, cout: c.cout, k: c.k, stride: c.stride, pad: c.pad).y
            assertClose(toNCHW(y, n: c.n, c: c.cout, p: ohw), wantY, atol: 2e-5, rtol: 1e-5, "chunked conv2d forward \(c) chunks of \(chunk)")
            let wantGradX = NaiveConv.convTranspose2d(
                gy, n: c.n, cin: c.cout, h: ho, w: wo, weight: w, bias: nil, cout: c.cin, k: c.k, stride: c.stride, pad: c.pad
            ).y
            assertClose(toNCHW(gxc, n: c.n, c: c.cin, p: c.h * c.w), wantGradX, atol: 2e-5, rtol: 1e-5, "chunked conv2d gradX \(c)")
            var wantGradW = w0.map(Double.init), wantGradB = b0.map(Double.init)
            for f in 0..<c.n {
                for o in 0..<c.cout {
                    for i in 0..<ho {
                        for j in 0..<wo {
                            let gv = Double(gy[((f * c.cout + o) * ho + i) * wo + j])
                            wantGradB[o] += gv
                            for ci in 0..<c.cin {
                                for ki in 0..<c.k {
                                    for kj in 0..<c.k {
                                        let iy = i * c.stride - c.pad + ki, ix = j * c.stride - c.pad + kj
                                        if iy < 0 || iy >= c.h || ix < 0 || ix >= c.w { continue }
                                        wantGradW[((o * c.cin + ci) * c.k + ki) * c.k + kj] += gv * Double(x[((f * c.cin + ci) * c.h + iy) * c.w + ix])
                                    }
                                }
                            }
                        }
                    }
                }
            }
            // gradW and gradB sum up to n·Ho·Wo = 7·32·32 products of magnitude ≤ 1 in Float (errors near 1e-5);
            // a chunk written to the wrong columns, or a chunk's sum lost, is off by O(1).
            assertClose(gw, wantGradW, atol: 1e-4, rtol: 1e-5, "chunked conv2d gradW \(c)")
            assertClose(gb, wantGradB, atol: 1e-4, rtol: 1e-5, "chunked conv2d gradB \(c)")
            // Without accumulateParams the first chunk overwrites (NaN here) and the later ones add to it.
            var gwFresh = [Float](repeating: .nan, count: w.count), gbFresh = [Float](repeating: .nan, count: b.count)
            xc.withUnsafeBufferPointer { px in
                w.withUnsafeBufferPointer { pw in
                    gyc.withUnsafeBufferPointer { pgy in
                        col.withUnsafeMutableBufferPointer { pc in
                            gwFresh.withUnsafeMutableBufferPointer { pgw in
                                gbFresh.withUnsafeMutableBufferPointer { pgb in
                                    conv2dBackwardChunked(
                                        gradY: pgy.baseAddress!, x: px.baseAddress!, weight: pw.baseAddress!, gradX: nil,
                                        gradWeight: pgw.baseAddress!, gradBias: pgb.baseAddress!, col: pc.baseAddress!, geometry: g,
                                        outChannels: c.cout, accumulateParams: false, chunkFrames: chunk)
                                }
                            }
                        }
                    }
                }
            }
            assertClose(gwFresh, zip(wantGradW, w0).map { $0 - Double($1) }, atol: 1e-4, rtol: 1e-5, "chunked conv2d gradW overwritten \(c)")
            assertClose(gbFresh, zip(wantGradB, b0).map { $0 - Double($1) }, atol: 1e-4, rtol: 1e-5, "chunked conv2d gradB overwritten \(c)")
        }
    }

    /// Splitting the input channels into two column blocks of one weight (decoder skip sharing) gives
    /// the same output as the whole convolution, and each block's backward its share of the gradients.
    func testSplitWeightAccumulatesToWholeConvolution() {
        var rng = TestRNG(12)
        let (n, c1, c2, h, w, cout, k) = (2, 2, 3, 6, 6, 4, 4)
        let cin = c1 + c2
        let x = rng.array(n * cin * h * w), wt = rng.array(cout * cin * k * k)
        let full = NaiveConv.conv2d(x, n: n, cin: cin, h: h, w: w, weight: wt, bias: nil, cout: cout, k: k, stride: 2, pad: 1).y
        let xc = toCNHW(x, n: n, c: cin, p: h * w) // channel blocks [c1 rows; c2 rows] are contiguous
        let g1 = ConvGeometry(channels: c1, frames: n, height: h, width: w, kernelH: k, kernelW: k, stride: 2, padding: 1)
        let g2 = ConvGeometry(channels: c2, frames: n, height: h, width: w, kernelH: k, kernelW: k, stride: 2, padding: 1)
        var col = [Float](repeating: 0, count: max(g1.colCount, g2.colCount))
        let y: [Float] = .buffer(cout * g1.colColumns) { py in
            xc.withUnsafeBufferPointer { px in
                wt.withUnsafeBufferPointer { pw in
                    col.withUnsafeMutableBufferPointer { pc in
                        conv2dForward(
                            x: px.baseAddress!, weight: pw.baseAddress!, bias: nil, y: py, col: pc.baseAddress!,
                            geometry: g1, outChannels: cout, weightStride: cin * k * k)
                        conv2dForward(
                            x: px.baseAddress! + c1 * n * h * w, weight: pw.baseAddress! + c1 * k * k, bias: nil, y: py, col: pc.baseAddress!,
                            geometry: g2, outChannels: cout, weightStride: cin * k * k, accumulate: true)
                    }
                }
            }
        }
        assertClose(toNCHW(y, n: n, c: cout, p: g1.outHeight * g1.outWidth), full, atol: 2e-5, rtol: 1e-5, "split conv2d")

        // Backward of each block through the full weight's stride: its gradX is its channels of the whole
        // conv's input gradient (the naive transposed convolution of gradY), and its gradWeight fills its
        // columns of the full gradWeight, checked against Σ gradY·x in Double.
        let ho = g1.outHeight, wo = g1.outWidth
        let gy = rng.array(n * cout * ho * wo), gyc = toCNHW(gy, n: n, c: cout, p: ho * wo)
        let wantGradX = NaiveConv.convTranspose2d(gy, n: n, cin: cout, h: ho, w: wo, weight: wt, bias: nil, cout: cin, k: k, stride: 2, pad: 1).y
        var wantGradW = [Double](repeating: 0, count: wt.count)
        for b in 0..<n {
            for o in 0..<cout {
                for i in 0..<ho {
                    for j in 0..<wo {
                        let g = Double(gy[((b * cout + o) * ho + i) * wo + j])
                        for c in 0..<cin {
                            for ki in 0..<k {
                                for kj in 0..<k {
                                    let iy = i * 2 - 1 + ki, ix = j * 2 - 1 + kj
                                    if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                                    wantGradW[((o * cin + c) * k + ki) * k + kj] += g * Double(x[((b * cin + c) * h + iy) * w + ix])
                                }
                            }
                        }
                    }
                }
            }
        }
        var gxc = [Float](repeating: .nan, count: x.count), gw = [Float](repeating: .nan, count: wt.count)
        for (offset, g) in [(0, g1), (c1, g2)] {
            xc.withUnsafeBufferPointer { px in
                wt.withUnsafeBufferPointer { pw in
                    gyc.withUnsafeBufferPointer { pgy in
                        col.withUnsafeMutableBufferPointer { pc in
                            gxc.withUnsafeMutableBufferPointer { pgx in
                                gw.withUnsafeMutableBufferPointer { pgw in
                                    convColumns(px.baseAddress! + offset * n * h * w, pc.baseAddress!, g)
                                    conv2dBackward(
                                        gradY: pgy.baseAddress!, col: pc.baseAddress!, weight: pw.baseAddress! + offset * k * k,
                                        gradX: pgx.baseAddress! + offset * n * h * w, gradWeight: pgw.baseAddress! + offset * k * k,
                                        gradBias: nil, geometry: g, outChannels: cout, weightStride: cin * k * k)
                                }
                            }
                        }
                    }
                }
            }
        }
        assertClose(toNCHW(gxc, n: n, c: cin, p: h * w), wantGradX, atol: 2e-5, rtol: 1e-5, "split conv2d gradX")
        assertClose(gw, wantGradW, atol: 2e-5, rtol: 1e-5, "split conv2d gradWeight")
    }
}

final class ConvTranspose2dTests: XCTestCase {
    struct Case { var n, cin, h, w, cout, k, stride, pad: Int }
    let cases: [Case] = [
        Case(n: 1, cin: 1, h: 3, w: 5, cout: 2, k: 3, stride: 1, pad: 1),
        Case(n: 2, cin: 3, h: 4, w: 3, cout: 2, k: 4, stride: 2, pad: 1),
        Case(n: 2, cin: 4, h: 1, w: 1, cout: 3, k: 4, stride: 1, pad: 0), // DCGAN upc1 shape
        Case(n: 3, cin: 2, h: 5, w: 4, cout: 1, k: 3, stride: 2, pad: 0),
        Case(n: 1, cin: 3, h: 4, w: 4, cout: 3, k: 3, stride: 1, pad: 1), // VGG upc5's last layer
        Case(n: 2, cin: 2, h: 6, w: 5, cout: 2, k: 4, stride: 2, pad: 1), // generic col2im (odd width)
        Case(n: 2, cin: 2, h: 3, w: 8, cout: 2, k: 4, stride: 2, pad: 1), // 4×4/2/1 SIMD path, output 6×16
        Case(n: 1, cin: 3, h: 2, w: 4, cout: 2, k: 4, stride: 2, pad: 1), // 4×4/2/1 SIMD path, output 4×8
        // upc5's shape, output 64×64: col2im works on blocks of 4 frames there, so 6 frames end in a partial block.
        Case(n: 6, cin: 2, h: 32, w: 32, cout: 1, k: 4, stride: 2, pad: 1),
        // upc1's shape (the frame-major col) over more frames than the case above, and with 10 output
        // channels: a full block of 8 channels and a partial one.
        Case(n: 6, cin: 3, h: 1, w: 1, cout: 2, k: 4, stride: 1, pad: 0),
        Case(n: 3, cin: 2, h: 1, w: 1, cout: 10, k: 4, stride: 1, pad: 0),
        // A whole-image kernel onto a 3×3 plane (the frame-major adjoint's generic loop).
        Case(n: 2, cin: 2, h: 1, w: 1, cout: 3, k: 3, stride: 1, pad: 0)
    ]

    func run(_ c: Case, x: [Float], weight: [Float], bias: [Float]) -> (y: [Float], g: ConvGeometry) {
        let g = convTranspose2dOutputGeometry(
            inChannels: c.cin, outChannels: c.cout, frames: c.n, height: c.h, width: c.w,
            kernel: c.k, stride: c.stride, padding: c.pad)
        let xc = toCNHW(x, n: c.n, c: c.cin, p: c.h * c.w)
        var col = [Float](repeating: .nan, count: g.colCount)
        let y: [Float] = .buffer(c.cout * c.n * g.height * g.width) { py in
            xc.withUnsafeBufferPointer { px in
                weight.withUnsafeBufferPointer { pw in
                    bias.withUnsafeBufferPointer { pb in
                        col.withUnsafeMutableBufferPointer { pc in
                            convTranspose2dForward(
                                x: px.baseAddress!, weight: pw.baseAddress!, bias: pb.baseAddress!, y: py, col: pc.baseAddress!,
                                inChannels: c.cin, outputGeometry: g)
                        }
                    }
                }
            }
        }
        return (toNCHW(y, n: c.n, c: c.cout, p: g.height * g.width), g)
    }

    /// y0 + convT(x) + b through the kernel's accumulate (NCHW in and out).
    func runAccumulating(_ c: Case, x: [Float], weight: [Float], bias: [Float], onto y0: [Float], g: ConvGeometry) -> [Float] {
        let plane = g.height * g.width
        var y = toCNHW(y0, n: c.n, c: c.cout, p: plane)
        let xc = toCNHW(x, n: c.n, c: c.cin, p: c.h * c.w)
        var col = [Float](repeating: .nan, count: g.colCount)
        xc.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                bias.withUnsafeBufferPointer { pb in
                    col.withUnsafeMutableBufferPointer { pc in
                        y.withUnsafeMutableBufferPointer { py in
                            convTranspose2dForward(
                                x: px.baseAddress!, weight: pw.baseAddress!, bias: pb.baseAddress!, y: py.baseAddress!,
                                col: pc.baseAddress!, inChannels: c.cin, outputGeometry: g, accumulate: true)
                        }
                    }
                }
            }
        }
        return toNCHW(y, n: c.n, c: c.cout, p: plane)
    }

    func testForwardMatchesDirectTransposedConvolution() {
        var rng = TestRNG(20)
        for c in cases {
            let x = rng.array(c.n * c.cin * c.h * c.w), w = rng.array(c.cin * c.cout * c.k * c.k), b = rng.array(c.cout)
            let got = run(c, x: x, weight: w, bias: b).y
            let want = NaiveConv.convTranspose2d(x, n: c.n, cin: c.cin, h: c.h, w: c.w, weight: w, bias: b, cout: c.cout, k: c.k, stride: c.stride, pad: c.pad)
                .y
            assertClose(got, want, atol: 2e-5, rtol: 1e-5, "convTranspose2d forward \(c)")
        }
    }

    /// accumulate: y ← y₀ + convT(x) + b, the bias added inside the col2im pass on every path (generic,
    /// 4×4/2/1, whole-image), checked against y₀ + the naive reference.
    func testForwardAccumulatesWithBias() {
        var rng = TestRNG(22)
        for c in cases {
            let x = rng.array(c.n * c.cin * c.h * c.w), w = rng.array(c.cin * c.cout * c.k * c.k), b = rng.array(c.cout)
            let g = convTranspose2dOutputGeometry(
                inChannels: c.cin, outChannels: c.cout, frames: c.n, height: c.h, width: c.w,
                kernel: c.k, stride: c.stride, padding: c.pad)
            let y0 = rng.array(c.cout * c.n * g.height * g.width) // NCHW
            let y = runAccumulating(c, x: x, weight: w, bias: b, onto: y0, g: g)
            let reference = NaiveConv.convTranspose2d(
                x, n: c.n, cin: c.cin, h: c.h, w: c.w, weight: w, bias: b, cout: c.cout,
                k: c.k, stride: c.stride, pad: c.pad
            ).y
            let want = zip(y0, reference).map { Double($0) + $1 }
            assertClose(y, want, atol: 2e-5, rtol: 1e-5, "convTranspose2d accumulate \(c)")
        }
    }

    /// Shapes whose col is made a chunk of frames at a time (larger than colChunkFloats, inner dimension
    /// Cin ≤ chunkedInnerLimit), each ending in a partial chunk: the 4×4/2/1 col2im and the generic one,
    /// overwriting y and accumulating onto it, the bias added in every chunk.
    func testChunkedForwardMatchesDirectTransposedConvolution() {
        var rng = TestRNG(23)
        for c in [
            Case(n: 5, cin: 2, h: 16, w: 16, cout: 64, k: 4, stride: 2, pad: 1),
            Case(n: 4, cin: 2, h: 16, w: 16, cout: 128, k: 3, stride: 1, pad: 1)
        ] {
            let x = rng.array(c.n * c.cin * c.h * c.w), w = rng.array(c.cin * c.cout * c.k * c.k), b = rng.array(c.cout)
            let g = convTranspose2dOutputGeometry(
                inChannels: c.cin, outChannels: c.cout, frames: c.n, height: c.h, width: c.w,
                kernel: c.k, stride: c.stride, padding: c.pad)
            let frames = colChunkFrames(g, inner: c.cin)
            XCTAssertTrue(frames < c.n && c.n % frames != 0, "\(c) must span several chunks, the last one partial (chunks of \(frames))")
            let reference = NaiveConv.convTranspose2d(
                x, n: c.n, cin: c.cin, h: c.h, w: c.w, weight: w, bias: b, cout: c.cout,
                k: c.k, stride: c.stride, pad: c.pad
            ).y
            assertClose(run(c, x: x, weight: w, bias: b).y, reference, atol: 2e-5, rtol: 1e-5, "convTranspose2d chunked forward \(c)")

            let y0 = rng.array(c.cout * c.n * g.height * g.width)
            assertClose(
                runAccumulating(c, x: x, weight: w, bias: b, onto: y0, g: g), zip(y0, reference).map { Double($0) + $1 }, atol: 2e-5, rtol: 1e-5,
                "convTranspose2d chunked accumulate \(c)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(21)
        for c in cases {
            var x = rng.array(c.n * c.cin * c.h * c.w), w = rng.array(c.cin * c.cout * c.k * c.k), b = rng.array(c.cout)
            let (y, g) = run(c, x: x, weight: w, bias: b)
            let r = rng.array(y.count)
            let rc = toCNHW(r, n: c.n, c: c.cout, p: g.height * g.width)
            let xc = toCNHW(x, n: c.n, c: c.cin, p: c.h * c.w)
            var gw = [Float](repeating: 0, count: w.count), gb = [Float](repeating: 0, count: b.count)
            var gxc = [Float](repeating: 0, count: x.count)
            var col = [Float](repeating: .nan, count: g.colCount)
            rc.withUnsafeBufferPointer { pr in
                xc.withUnsafeBufferPointer { px in
                    w.withUnsafeBufferPointer { pw in
                        col.withUnsafeMutableBufferPointer { pc in
                            gxc.withUnsafeMutableBufferPointer { pgx in
                                gw.withUnsafeMutableBufferPointer { pgw in
                                    gb.withUnsafeMutableBufferPointer { pgb in
                                        convTranspose2dBackward(
                                            gradY: pr.baseAddress!, x: px.baseAddress!, weight: pw.baseAddress!, gradX: pgx.baseAddress!,
                                            gradWeight: pgw.baseAddress!, gradBias: pgb.baseAddress!, col: pc.baseAddress!,
                                            inChannels: c.cin, outputGeometry: g)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let gx = toNCHW(gxc, n: c.n, c: c.cin, p: c.h * c.w)
            // Linear in each argument: central differences are exact up to forward rounding / (2·step).
            let (xs, ws, bs) = (x, w, b)
            checkGradient("convT x \(c)", values: &x, analytic: gx, step: 1e-2, atol: 1e-3, rtol: 1e-3) { dot(r, self.run(c, x: $0, weight: ws, bias: bs).y) }
            checkGradient("convT weight \(c)", values: &w, analytic: gw, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
                dot(r, self.run(c, x: xs, weight: $0, bias: bs).y)
            }
            checkGradient("convT bias \(c)", values: &b, analytic: gb, step: 1e-2, atol: 1e-3, rtol: 1e-3) {
                dot(r, self.run(c, x: xs, weight: ws, bias: $0).y)
            }
        }
    }
}
