// The six transforms of the Winograd F(2×2, 2×2) form of a 4×4, stride-2, padding-1 convolution
// (Conv2dWinograd.swift composes them with nine GEMMs). Conv view throughout: C input channels at
// 2·Ho × 2·Wo, M output channels at Ho × Wo (Ho, Wo even); a transposed conv is this conv's adjoint.
//   x:   C × (frames·2Ho·2Wo)   CNHW                     y:  M × (frames·Ho·Wo)   CNHW
//   X~:  [9][4C][T]   input tiles, transformed          Y~: [9][M][T]            output tiles, transformed
//   W~:  [9][M][4C]   weight, transformed                w:  M × (C·16) rows of `weightStride` (PyTorch)
// T = frames·(Ho/2)·(Wo/2) tiles of 2×2 outputs; t = (frame·Ho/2 + th)·Wo/2 + tw. ξ = 3ξh + ξw indexes the
// 3×3 transformed points; k = 4c + π, π = 2rh + rw the polyphase component.
//
// Why it is exact: with kernel tap kh = 2a + rh (a, rh ∈ {0, 1}), output row o reads input row
// 2(o + a) − 1 + rh, so each component (rh, rw) is a stride-1 2×2 correlation of the input's
// sub-sampled plane u[m] = x[2m − 1 + rh]. Its 2 outputs from 3 inputs take 3 products, not 4:
//   Bᵀd = (d0 − d1, d1, d2 − d1),  G g = (g0, g0 + g1, g1),  Aᵀm = (m0 + m1, m1 + m2),
// so a 2×2 output tile costs 4·9 products per (c, m) instead of 64: the GEMMs do 9/16 of the direct FLOPs.
// Every coefficient is 0 or ±1, so the transforms only add and subtract.
// A 2-output tile along one axis reads input 4t − 1 … 4t + 4 (component rh at 4t − 1 + 2i + rh, i < 3),
// so neighbouring tiles share two input rows; the adjoint of the input transform adds into both.

/// Sizes of one Winograd F(2×2, 2×2) or F(4×4, 2×2) call (`outputTile`), in the conv view (C × 2Ho × 2Wo in, M × Ho × Wo out), and the
/// transformed buffers and workspace they imply.
public struct WinogradGeometry: Sendable, Equatable {
    /// C: the conv's input channels (a transposed conv's output channels).
    public var inChannels: Int
    /// M: the conv's output channels (a transposed conv's input channels).
    public var outChannels: Int
    /// Frames, all handled by the same GEMMs (one per point).
    public var frames: Int
    /// The conv's output plane (a transposed conv's input plane); both even. The input plane is twice it.
    public var outHeight: Int
    /// The conv's output width Wo; even.
    public var outWidth: Int

    /// The output tile's side: 2, F(2×2, 2×2) with 3×3 = 9 transformed points, or 4, F(4×4, 2×2) with
    /// 5×5 = 25 points (WinogradTransformsF4x4.swift).
    public var outputTile: Int

    /// Creates a geometry; every size must be positive, the tile 2 or 4, and the output plane a whole number of
    /// tiles (preconditions).
    public init(inChannels: Int, outChannels: Int, frames: Int, outHeight: Int, outWidth: Int, outputTile: Int = 2) {
        precondition(
            inChannels > 0 && outChannels > 0 && frames > 0 && outHeight > 0 && outWidth > 0,
            "WinogradGeometry: every size must be positive")
        precondition(outputTile == 2 || outputTile == 4, "WinogradGeometry: output tile \(outputTile) is neither 2 nor 4")
        precondition(
            outHeight % outputTile == 0 && outWidth % outputTile == 0,
            "WinogradGeometry: output \(outHeight)×\(outWidth) is not a whole number of \(outputTile)×\(outputTile) tiles")
        self.inChannels = inChannels; self.outChannels = outChannels; self.frames = frames
        self.outHeight = outHeight; self.outWidth = outWidth; self.outputTile = outputTile
    }

    /// The conv's input height, 2·Ho.
    public var inHeight: Int { 2 * outHeight }
    /// The conv's input width, 2·Wo.
    public var inWidth: Int { 2 * outWidth }
    /// Rows of output tiles per frame, Ho / tile.
    public var tileRows: Int { outHeight / outputTile }
    /// Columns of output tiles per frame, Wo / tile.
    public var tileColumns: Int { outWidth / outputTile }
    /// T: output tiles of all frames, the GEMMs' N dimension.
    public var tiles: Int { frames * tileRows * tileColumns }
    /// "F(2×2, 2×2)" or "F(4×4, 2×2)".
    public var algorithmName: String { "F(\(outputTile)×\(outputTile), 2×2)" }
    /// Transformed points per tile and component: one GEMM each, 9 or 25.
    public var points: Int { (outputTile + 1) * (outputTile + 1) }
    /// Floats of X~, [points][4C][T].
    public var transformedInputCount: Int { points * 4 * inChannels * tiles }
    /// Floats of Y~, [points][M][T].
    public var transformedOutputCount: Int { points * outChannels * tiles }
    /// Floats of W~, [points][M][4C].
    public var transformedWeightCount: Int { points * 4 * outChannels * inChannels }
    /// Floats of workspace a forward or backward needs beside what it reads and writes (Conv2dWinograd.swift).
    public var scratchCount: Int { transformedOutputCount + transformedWeightCount }
    /// Floats of workspace an uncached conv's forward or backward needs: transformedInputCount + scratchCount.
    public var workspaceCount: Int { transformedInputCount + scratchCount }

    /// The same layer over `count` frames: one chunk of them.
    public func withFrames(_ count: Int) -> WinogradGeometry {
        WinogradGeometry(
            inChannels: inChannels, outChannels: outChannels, frames: count, outHeight: outHeight, outWidth: outWidth,
            outputTile: outputTile)
    }

    /// Floats of workspace a transposed conv's forward or backward needs in chunks of `chunkFrames` frames (nil:
    /// one chunk): the chunk's two transformed sides and W~, and in several chunks gW~ beside it.
    public func transposedWorkspaceCount(chunkFrames: Int? = nil) -> Int {
        let chunk = min(chunkFrames ?? frames, frames), sides = withFrames(chunk)
        return sides.transformedInputCount + sides.transformedOutputCount + (chunk < frames ? 2 : 1) * transformedWeightCount
    }

    /// The most frames whose transposed-conv chunk (both transformed sides) fits `limit` floats, and at least one.
    public func transposedChunkFrames(limit: Int) -> Int {
        let perFrame = points * (4 * inChannels + outChannels) * tileRows * tileColumns
        return max(1, min(frames, limit / perFrame))
    }
}

/// Whether a conv (or transposed conv) of this shape takes the Winograd path: a 4×4 kernel, stride 2,
/// padding 1, an even output plane (the conv's; a transposed conv's input) at most winogradMaxInputWidth / 2
/// wide, at least 16 channels on both sides, and at least winogradMinimumTiles tiles. Below 16 channels
/// (the DCGAN's first and last layers, one image channel) the GEMMs' inner dimension is too small for
/// OpenBLAS to run them well and the direct path costs next to nothing.
/// `.winogradWhereShapeAllows` drops the channel and tile thresholds (tests run the path at small widths);
/// `.direct` never takes it.
public func winogradApplies(
    kernel: Int, stride: Int, padding: Int, convOutHeight: Int, convOutWidth: Int,
    inChannels: Int, outChannels: Int, frames: Int, algorithm: ConvolutionAlgorithm = .automatic
) -> Bool {
    let shape =
        kernel == 4 && stride == 2 && padding == 1 && convOutHeight % 2 == 0 && convOutWidth % 2 == 0
        && convOutHeight > 0 && convOutWidth > 0 && 2 * convOutWidth <= winogradMaxInputWidth
    switch algorithm {
    case .direct: return false
    case .winogradWhereShapeAllows: return shape
    case .automatic:
        return shape && inChannels >= 16 && outChannels >= 16 && frames * (convOutHeight / 2) * (convOutWidth / 2) >= winogradMinimumTiles
    }
}

/// The output tile a 4×4/2/1 conv that takes the Winograd path (winogradApplies) runs with, in the conv view:
/// 4, F(4×4, 2×2), where the plane is a multiple of 4 and its 4×4 tiles are at least as many as the output
/// channels, so that its transformed weight (25·M·4C, transformed on every call) is no larger than its
/// transformed input (25·4C·T); otherwise 2, F(2×2, 2×2): on the smaller planes moving W~ cost more than the
/// GEMMs saved.
public func winogradOutputTile(convOutHeight: Int, convOutWidth: Int, outChannels: Int, frames: Int) -> Int {
    let fits = convOutHeight % 4 == 0 && convOutWidth % 4 == 0
    return fits && frames * (convOutHeight / 4) * (convOutWidth / 4) >= outChannels ? 4 : 2
}

/// How the model's convolutions are computed. The default takes the Winograd path where it is faster;
/// `.direct` is im2col + GEMM everywhere (the numerics of the earlier releases, and the A/B baseline).
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// `automatic`: Winograd where winogradApplies finds it pays; `direct`: im2col + GEMM everywhere;
    /// `winogradWhereShapeAllows`: Winograd wherever the shape allows, whatever the channels and tiles.
    case automatic, direct, winogradWhereShapeAllows
}

/// Every call transforms the weight block (36·M·C floats written, 2.25× the weight; 6.25× with F(4×4, 2×2)),
/// which pays for itself only over enough tiles (counted as 2×2 tiles whichever tile the layer takes): generation's skip blocks read one source frame per sequence, 4 tiles at upc2's
/// 4×4 plane, where the transform took most of the call and the direct path was faster.
/// 256 tiles is the training step's smallest Winograd call (upc2's skip block: 64 frames × 4 tiles).
public let winogradMinimumTiles = 256

/// Polyphase component (rh, rw)'s 2×2 taps w[2a + rh][2b + rw] of one (m, c) 4×4 kernel, (a, b) = 00, 01, 10, 11.
@inline(__always)
func componentTaps(_ w: UnsafePointer<Float>, _ rh: Int, _ rw: Int) -> (Float, Float, Float, Float) {
    (w[rh * 4 + rw], w[rh * 4 + 2 + rw], w[(2 + rh) * 4 + rw], w[(2 + rh) * 4 + 2 + rw])
}

/// Writes (or adds, with `accumulate`) component (rh, rw)'s four tap gradients into one (m, c) 4×4 kernel.
@inline(__always)
func storeComponentTaps(
    _ taps: (Float, Float, Float, Float), _ gw: UnsafeMutablePointer<Float>, _ rh: Int, _ rw: Int, accumulate: Bool
) {
    let i00 = rh * 4 + rw, i01 = rh * 4 + 2 + rw, i10 = (2 + rh) * 4 + rw, i11 = (2 + rh) * 4 + 2 + rw
    if accumulate {
        gw[i00] += taps.0; gw[i01] += taps.1; gw[i10] += taps.2; gw[i11] += taps.3
    } else {
        gw[i00] = taps.0; gw[i01] = taps.1; gw[i10] = taps.2; gw[i11] = taps.3
    }
}

/// The arguments of a transform's parallel body (F(2×2, 2×2) here, F(4×4, 2×2) in WinogradTransformsF4x4.swift).
struct WinogradArguments {
    var source: UnsafePointer<Float>, target: UnsafeMutablePointer<Float>, geometry: WinogradGeometry
    var bias: UnsafePointer<Float>? = nil
    var accumulate = false
    var weightStride = 0
    /// Frames between one channel's planes and the next's on the image side: the whole tensor's frames when
    /// the transform covers a chunk of them (its first frame at `source` or `target`), else the geometry's.
    var imageFrames = 0
}

// MARK: input: x → X~ and its adjoint
//
// Both work a tile row and a component rh at a time, as two passes a compiler vectorises: Bᵀ (or B)
// along h on whole rows, into three rows R_ξh held on the stack, then along w from R (stride-4 reads,
// contiguous writes along t). R is the row shifted by one, R[q] = row[q − 1], so the left and right
// padding are R[0] and R[w + 1] and every tile reads R[4tw … 4tw + 5].

/// Rows up to this wide keep the three R rows of the input transforms under 1 KiB, which
/// withUnsafeTemporaryAllocation puts on the stack (a training step allocates nothing).
public let winogradMaxInputWidth = 64

/// X~[ξ][4c + π][t] = (Bᵀ ⊗ Bᵀ) of component π's 3×3 input tile; planes (c, frame) split over the cores.
/// `imageFrames`: the frames of the tensor x belongs to, when g covers a chunk of them starting at x.
public func winogradInputTransform(
    _ x: UnsafePointer<Float>, _ transformed: UnsafeMutablePointer<Float>, _ g: WinogradGeometry, imageFrames: Int? = nil
) {
    if g.outputTile == 4 { return f4x4InputTransform(x, transformed, g, imageFrames: imageFrames ?? g.frames) }
    precondition(g.inWidth <= winogradMaxInputWidth, "winogradInputTransform: input width \(g.inWidth) > \(winogradMaxInputWidth)")
    let planes = g.inChannels * g.frames
    parallelFor(
        planes, minimumPerWorker: 4, WinogradArguments(source: x, target: transformed, geometry: g, imageFrames: imageFrames ?? g.frames)
    ) { raw, lo, hi in
        let a = arguments(raw, as: WinogradArguments.self)
        let g = a.geometry
        let h = g.inHeight, w = g.inWidth, tr = g.tileRows, tc = g.tileColumns, tileCount = g.tiles
        let pointStride = 4 * g.inChannels * tileCount // between ξ and ξ + 1; rows k of one ξ are tileCount apart
        let rowLength = w + 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * rowLength) { buffer in
            let r = buffer.baseAddress!
            for plane in lo..<hi {
                let c = plane / g.frames, f = plane % g.frames
                let src = a.source + (c * a.imageFrames + f) * h * w
                for th in 0..<tr {
                    let t0 = (f * tr + th) * tc
                    for rh in 0..<2 {
                        // Input rows 4th − 1 + rh, 4th + 1 + rh, 4th + 3 + rh; the first is the top padding only for
                        // (th, rh) = (0, 0) and the last the bottom padding only for (tr − 1, 1): they read row 1
                        // scaled by 0 instead.
                        let i0 = 4 * th - 1 + rh, i1 = i0 + 2, i2 = i0 + 4
                        let p1 = src + i1 * w
                        let p0 = i0 >= 0 ? src + i0 * w : p1, s0: Float = i0 >= 0 ? 1 : 0
                        let p2 = i2 < h ? src + i2 * w : p1, s2: Float = i2 < h ? 1 : 0
                        let r0 = r, r1 = r + rowLength, r2 = r + 2 * rowLength
                        r0[0] = 0; r1[0] = 0; r2[0] = 0; r0[w + 1] = 0; r1[w + 1] = 0; r2[w + 1] = 0
                        for q in 0..<w {
                            let b = p1[q]
                            r0[q + 1] = s0 * p0[q] - b; r1[q + 1] = b; r2[q + 1] = s2 * p2[q] - b
                        }
                        for xh in 0..<3 {
                            let row = r + xh * rowLength
                            for rw in 0..<2 {
                                let out = a.target + (3 * xh) * pointStride + (4 * c + 2 * rh + rw) * tileCount + t0
                                let o0 = out, o1 = out + pointStride, o2 = out + 2 * pointStride
                                for tw in 0..<tc {
                                    let d0 = row[4 * tw + rw], d1 = row[4 * tw + 2 + rw], d2 = row[4 * tw + 4 + rw]
                                    o0[tw] = d0 - d1; o1[tw] = d1; o2[tw] = d2 - d1
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// x (+)= (B ⊗ B) of X~, summed where neighbouring tiles share input rows and columns, dropped where it
/// falls on the padding, + bias[c]. Without `accumulate` each plane starts as bias[c] (or 0).
/// `imageFrames`: the frames of the tensor the image side belongs to, when g covers a chunk of them starting there.
public func winogradInputAdjoint(
    _ transformed: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ g: WinogradGeometry,
    bias: UnsafePointer<Float>? = nil, accumulate: Bool = false, imageFrames: Int? = nil
) {
    if g.outputTile == 4 { return f4x4InputAdjoint(transformed, x, g, bias: bias, accumulate: accumulate, imageFrames: imageFrames ?? g.frames) }
    precondition(g.inWidth <= winogradMaxInputWidth, "winogradInputAdjoint: input width \(g.inWidth) > \(winogradMaxInputWidth)")
    let planes = g.inChannels * g.frames
    parallelFor(
        planes, minimumPerWorker: 4,
        WinogradArguments(source: transformed, target: x, geometry: g, bias: bias, accumulate: accumulate, imageFrames: imageFrames ?? g.frames)
    ) { raw, lo, hi in
        let a = arguments(raw, as: WinogradArguments.self)
        let g = a.geometry
        let h = g.inHeight, w = g.inWidth, tr = g.tileRows, tc = g.tileColumns, tileCount = g.tiles
        let pointStride = 4 * g.inChannels * tileCount
        let rowLength = w + 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * rowLength) { buffer in
            let r = buffer.baseAddress!
            for plane in lo..<hi {
                let c = plane / g.frames, f = plane % g.frames
                let dst = a.target + (c * a.imageFrames + f) * h * w
                let b = a.bias.map { $0[c] } ?? 0
                if !a.accumulate { dst.update(repeating: b, count: h * w) } else if b != 0 { for i in 0..<(h * w) { dst[i] += b } }
                for th in 0..<tr {
                    let t0 = (f * tr + th) * tc
                    for rh in 0..<2 {
                        // B along w: tile tw puts (z0, z1 − z0 − z2, z2) on R[4tw + rw], R[4tw + 2 + rw], R[4tw + 4 + rw];
                        // the last is the next tile's first, so R[4tw + rw] sums z0 of tw and z2 of tw − 1.
                        for xh in 0..<3 {
                            let row = r + xh * rowLength
                            for rw in 0..<2 {
                                let z = a.source + (3 * xh) * pointStride + (4 * c + 2 * rh + rw) * tileCount + t0
                                let z0 = z, z1 = z + pointStride, z2 = z + 2 * pointStride
                                row[rw] = z0[0]
                                row[2 + rw] = z1[0] - z0[0] - z2[0]
                                for tw in 1..<tc {
                                    row[4 * tw + rw] = z0[tw] + z2[tw - 1]
                                    row[4 * tw + 2 + rw] = z1[tw] - z0[tw] - z2[tw]
                                }
                                row[4 * tc + rw] = z2[tc - 1]
                            }
                        }
                        // B along h: input rows 4th − 1 + rh + 2i get R0, R1 − R0 − R2, R2 (i = 0, 1, 2); shifted back by one.
                        let i0 = 4 * th - 1 + rh, i1 = i0 + 2, i2 = i0 + 4
                        let r0 = r + 1, r1 = r + rowLength + 1, r2 = r + 2 * rowLength + 1
                        let d1 = dst + i1 * w
                        for q in 0..<w { d1[q] += r1[q] - r0[q] - r2[q] }
                        if i0 >= 0 { let d0 = dst + i0 * w; for q in 0..<w { d0[q] += r0[q] } }
                        if i2 < h { let d2 = dst + i2 * w; for q in 0..<w { d2[q] += r2[q] } }
                    }
                }
            }
        }
    }
}

// MARK: output: Y~ → y and its adjoint

/// y (+)= (Aᵀ ⊗ Aᵀ) of Y~ (+ bias[m]); planes (m, frame) split over the cores.
/// `imageFrames`: the frames of the tensor the image side belongs to, when g covers a chunk of them starting there.
public func winogradOutputTransform(
    _ transformed: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ g: WinogradGeometry,
    bias: UnsafePointer<Float>? = nil, accumulate: Bool = false, imageFrames: Int? = nil
) {
    if g.outputTile == 4 { return f4x4OutputTransform(transformed, y, g, bias: bias, accumulate: accumulate, imageFrames: imageFrames ?? g.frames) }
    let planes = g.outChannels * g.frames
    parallelFor(
        planes, minimumPerWorker: 4,
        WinogradArguments(source: transformed, target: y, geometry: g, bias: bias, accumulate: accumulate, imageFrames: imageFrames ?? g.frames)
    ) { raw, lo, hi in
        let a = arguments(raw, as: WinogradArguments.self)
        let g = a.geometry
        let wo = g.outWidth, tr = g.tileRows, tc = g.tileColumns, tileCount = g.tiles
        let pointStride = g.outChannels * tileCount
        for plane in lo..<hi {
            let m = plane / g.frames, f = plane % g.frames
            let b = a.bias.map { $0[m] } ?? 0
            let dst = a.target + (m * a.imageFrames + f) * g.outHeight * wo
            for th in 0..<tr {
                let first = (f * tr + th) * tc
                let src = a.source + m * tileCount + first
                let row0 = dst + (2 * th) * wo, row1 = row0 + wo
                for tw in 0..<tc {
                    let s = src + tw
                    let m00 = s[0], m01 = s[pointStride], m02 = s[2 * pointStride]
                    let m10 = s[3 * pointStride], m11 = s[4 * pointStride], m12 = s[5 * pointStride]
                    let m20 = s[6 * pointStride], m21 = s[7 * pointStride], m22 = s[8 * pointStride]
                    // Aᵀ along w, then along h.
                    let a00 = m00 + m01, a01 = m01 + m02, a10 = m10 + m11, a11 = m11 + m12, a20 = m20 + m21, a21 = m21 + m22
                    let y00 = a00 + a10 + b, y01 = a01 + a11 + b, y10 = a10 + a20 + b, y11 = a11 + a21 + b
                    if a.accumulate {
                        row0[2 * tw] += y00; row0[2 * tw + 1] += y01; row1[2 * tw] += y10; row1[2 * tw + 1] += y11
                    } else {
                        row0[2 * tw] = y00; row0[2 * tw + 1] = y01; row1[2 * tw] = y10; row1[2 * tw + 1] = y11
                    }
                }
            }
        }
    }
}

/// Y~ = (A ⊗ A) of y: the output transform's adjoint (a gradient dL/dy → dL/dY~, or a transposed conv's input).
/// `imageFrames`: the frames of the tensor the image side belongs to, when g covers a chunk of them starting there.
public func winogradOutputAdjoint(
    _ y: UnsafePointer<Float>, _ transformed: UnsafeMutablePointer<Float>, _ g: WinogradGeometry, imageFrames: Int? = nil
) {
    if g.outputTile == 4 { return f4x4OutputAdjoint(y, transformed, g, imageFrames: imageFrames ?? g.frames) }
    let planes = g.outChannels * g.frames
    parallelFor(
        planes, minimumPerWorker: 4, WinogradArguments(source: y, target: transformed, geometry: g, imageFrames: imageFrames ?? g.frames)
    ) { raw, lo, hi in
        let a = arguments(raw, as: WinogradArguments.self)
        let g = a.geometry
        let wo = g.outWidth, tr = g.tileRows, tc = g.tileColumns, tileCount = g.tiles
        let pointStride = g.outChannels * tileCount
        for plane in lo..<hi {
            let m = plane / g.frames, f = plane % g.frames
            let src = a.source + (m * a.imageFrames + f) * g.outHeight * wo
            for th in 0..<tr {
                let first = (f * tr + th) * tc
                let dst = a.target + m * tileCount + first
                let row0 = src + (2 * th) * wo, row1 = row0 + wo
                for tw in 0..<tc {
                    let y00 = row0[2 * tw], y01 = row0[2 * tw + 1], y10 = row1[2 * tw], y11 = row1[2 * tw + 1]
                    // A = Aᵀ's transpose: (y0, y0 + y1, y1) along each axis.
                    let s0 = y00 + y10, s1 = y01 + y11
                    let d = dst + tw
                    d[0] = y00; d[pointStride] = y00 + y01; d[2 * pointStride] = y01
                    d[3 * pointStride] = s0; d[4 * pointStride] = s0 + s1; d[5 * pointStride] = s1
                    d[6 * pointStride] = y10; d[7 * pointStride] = y10 + y11; d[8 * pointStride] = y11
                }
            }
        }
    }
}

// MARK: weight: w → W~ and its adjoint

/// W~[ξ][m][4c + π] = (G ⊗ G) of component π's 2×2 taps w[m][c][2a + rh][2b + rw].
public func winogradWeightTransform(
    _ weight: UnsafePointer<Float>, _ transformed: UnsafeMutablePointer<Float>, _ g: WinogradGeometry,
    weightStride: Int? = nil
) {
    if g.outputTile == 4 { return f4x4WeightTransform(weight, transformed, g, weightStride: weightStride ?? 16 * g.inChannels) }
    parallelFor(
        g.outChannels, minimumPerWorker: 16,
        WinogradArguments(source: weight, target: transformed, geometry: g, weightStride: weightStride ?? 16 * g.inChannels)
    ) { raw, lo, hi in
        let a = arguments(raw, as: WinogradArguments.self)
        let g = a.geometry
        let k4 = 4 * g.inChannels, pointStride = g.outChannels * k4
        for m in lo..<hi {
            for c in 0..<g.inChannels {
                let w = a.source + m * a.weightStride + 16 * c
                let out = a.target + m * k4 + 4 * c
                for rh in 0..<2 {
                    for rw in 0..<2 {
                        let (g00, g01, g10, g11) = componentTaps(w, rh, rw)
                        // G along w: (g0, g0 + g1, g1) per row, then along h.
                        let u0 = (g00, g00 + g01, g01), u1 = (g10, g10 + g11, g11)
                        let o = out + 2 * rh + rw
                        o[0] = u0.0; o[pointStride] = u0.1; o[2 * pointStride] = u0.2
                        o[3 * pointStride] = u0.0 + u1.0; o[4 * pointStride] = u0.1 + u1.1; o[5 * pointStride] = u0.2 + u1.2
                        o[6 * pointStride] = u1.0; o[7 * pointStride] = u1.1; o[8 * pointStride] = u1.2
                    }
                }
            }
        }
    }
}

/// gradWeight (+)= (Gᵀ ⊗ Gᵀ) of gradW~: the weight transform's adjoint.
public func winogradWeightAdjoint(
    _ transformed: UnsafePointer<Float>, _ gradWeight: UnsafeMutablePointer<Float>, _ g: WinogradGeometry,
    weightStride: Int? = nil, accumulate: Bool = false
) {
    if g.outputTile == 4 { return f4x4WeightAdjoint(transformed, gradWeight, g, weightStride: weightStride ?? 16 * g.inChannels, accumulate: accumulate) }
    parallelFor(
        g.outChannels, minimumPerWorker: 16,
        WinogradArguments(
            source: transformed, target: gradWeight, geometry: g, accumulate: accumulate,
            weightStride: weightStride ?? 16 * g.inChannels)
    ) { raw, lo, hi in
        let a = arguments(raw, as: WinogradArguments.self)
        let g = a.geometry
        let k4 = 4 * g.inChannels, pointStride = g.outChannels * k4
        for m in lo..<hi {
            for c in 0..<g.inChannels {
                let gw = a.target + m * a.weightStride + 16 * c
                let src = a.source + m * k4 + 4 * c
                for rh in 0..<2 {
                    for rw in 0..<2 {
                        let s = src + 2 * rh + rw
                        let v = (
                            s[0], s[pointStride], s[2 * pointStride], s[3 * pointStride], s[4 * pointStride],
                            s[5 * pointStride], s[6 * pointStride], s[7 * pointStride], s[8 * pointStride]
                        )
                        // Gᵀ along h: rows (u0 + u1, u1 + u2), then along w the same.
                        let r0 = (v.0 + v.3, v.1 + v.4, v.2 + v.5), r1 = (v.3 + v.6, v.4 + v.7, v.5 + v.8)
                        let g00 = r0.0 + r0.1, g01 = r0.1 + r0.2, g10 = r1.0 + r1.1, g11 = r1.1 + r1.2
                        storeComponentTaps((g00, g01, g10, g11), gw, rh, rw, accumulate: a.accumulate)
                    }
                }
            }
        }
    }
}
