// Conv2d with a 3×3 kernel, stride 1, padding 1 (every VGG-64 layer but its first and last) by Winograd
// F(2×2, 3×3): sixteen GEMMs of 16/36 the direct FLOPs between the transforms below. Conv view, CNHW,
// PyTorch weights:
//   x:   C × (frames·H·W)        y: M × (frames·H·W)        H, W even      weight: (M, C, 3, 3), rows `weightStride` apart
//   X~:  [16][C][Tc]   one chunk's input tiles, transformed     Y~: [16][M][Tc]      W~: [16][M][C]
// Frames run in chunks of `chunkFrames`; Tc = chunkFrames·(H/2)·(W/2) tiles of 2×2 outputs, t = (frame·H/2 + th)·W/2 + tw
// counted from the chunk's first frame; ξ = 4ξh + ξw indexes the 4×4 transformed points.
// Per point ξ (one GEMM each, K = C):
//   forward    Y~ = W~ · X~,  y = Aᵀ[Y~] + b                            X~ = Bᵀ[x]
//   backward   gY~ = A[gy],  gW~ = Σ_chunks gY~ · X~ᵀ,  gW (+)= Gᵀ[gW~],  gx = B[W~ᵀ · gY~]
// Along one axis a tile reads 4 inputs d (rows 2t − 1 … 2t + 2: the padding is row −1 and row H) for 2 outputs:
//   Bᵀd = (d0 − d2, d1 + d2, d2 − d1, d1 − d3),  G g = (g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2),
//   Aᵀm = (m0 + m1 + m2, m1 − m2 − m3)
// and Aᵀ[(G g) ⊙ (Bᵀ d)] = (g·d[0…2], g·d[1…3]), the correlation PyTorch computes: 16 products per (c, m) and
// tile instead of 36. The halves in G are exact in binary; the transforms add at most 9 terms (G ⊗ G) and
// 9 (Aᵀ ⊗ Aᵀ), so rounding grows by a small constant over the direct path (Docs/NUMERICS.md, Winograd).
// Chunks keep Y~ (4× a chunk's output) and an uncached X~ (4× its input) inside the workspace a plan allows;
// a cached X~ holds every chunk, one after the other, for the backward.

/// Sizes of one F(2×2, 3×3) call and the buffers they imply.
public struct Winograd3x3Geometry: Sendable, Equatable {
    /// C: input channels.
    public var inChannels: Int
    /// M: output channels.
    public var outChannels: Int
    /// Frames of x and y.
    public var frames: Int
    /// The plane, H × W, the same in and out; both even.
    public var height: Int
    /// W; even.
    public var width: Int
    /// Frames per chunk: the GEMMs' N is chunkFrames·(H/2)·(W/2).
    public var chunkFrames: Int

    /// Creates a geometry; every size must be positive, the plane a whole number of 2×2 tiles, and the chunk
    /// at most every frame (preconditions). `chunkFrames` nil: one chunk of all frames.
    public init(inChannels: Int, outChannels: Int, frames: Int, height: Int, width: Int, chunkFrames: Int? = nil) {
        precondition(
            inChannels > 0 && outChannels > 0 && frames > 0 && height > 0 && width > 0,
            "Winograd3x3Geometry: every size must be positive")
        precondition(height % 2 == 0 && width % 2 == 0, "Winograd3x3Geometry: plane \(height)×\(width) is not a whole number of 2×2 tiles")
        let chunk = chunkFrames ?? frames
        precondition(chunk > 0 && chunk <= frames, "Winograd3x3Geometry: chunks of \(chunk) frames out of \(frames)")
        self.inChannels = inChannels; self.outChannels = outChannels; self.frames = frames
        self.height = height; self.width = width; self.chunkFrames = chunk
    }

    /// Tiles of one frame, (H/2)·(W/2).
    public var tilesPerFrame: Int { (height / 2) * (width / 2) }
    /// Tc of a whole chunk.
    public var chunkTiles: Int { chunkFrames * tilesPerFrame }
    /// Chunks, the last one possibly partial.
    public var chunkCount: Int { (frames + chunkFrames - 1) / chunkFrames }
    /// Floats of one chunk's X~, [16][C][Tc].
    public var transformedInputChunkCount: Int { 16 * inChannels * chunkTiles }
    /// Floats of every chunk's X~, kept from forward for the backward.
    public var cachedInputCount: Int { chunkCount * transformedInputChunkCount }
    /// Floats of W~ (and of gW~), [16][M][C].
    public var transformedWeightCount: Int { 16 * outChannels * inChannels }
    /// Floats of one chunk's Y~ (and gY~), [16][M][Tc].
    public var transformedOutputChunkCount: Int { 16 * outChannels * chunkTiles }
    /// Floats of scratch a forward or backward needs beside X~: W~, gW~ and one chunk's Y~.
    public var scratchCount: Int { 2 * transformedWeightCount + transformedOutputChunkCount }
}

/// Whether a conv of this shape takes the F(2×2, 3×3) path: a 3×3 kernel, stride 1, padding 1, an even plane
/// at most winograd3x3MaxWidth wide,
/// at least 16 channels on both sides and winogradMinimumTiles tiles (the F(2×2, 2×2) path's thresholds, for
/// the same reasons: below them the GEMMs are too thin, or the weight transform outweighs the call).
public func winograd3x3Applies(
    kernel: Int, stride: Int, padding: Int, height: Int, width: Int, inChannels: Int, outChannels: Int, frames: Int,
    algorithm: ConvolutionAlgorithm = .automatic
) -> Bool {
    let shape =
        kernel == 3 && stride == 1 && padding == 1 && height > 0 && width > 0 && height % 2 == 0 && width % 2 == 0
        && width <= winograd3x3MaxWidth
    switch algorithm {
    case .direct: return false
    case .winogradWhereShapeAllows: return shape
    case .automatic:
        return shape && inChannels >= 16 && outChannels >= 16 && frames * (height / 2) * (width / 2) >= winogradMinimumTiles
    }
}

/// Frames per chunk so that one chunk's X~ and Y~ together take at most `limit` floats (at least one frame).
public func winograd3x3ChunkFrames(inChannels: Int, outChannels: Int, frames: Int, height: Int, width: Int, limit: Int) -> Int {
    let perFrame = 16 * (inChannels + outChannels) * (height / 2) * (width / 2)
    return min(frames, max(1, limit / max(perFrame, 1)))
}

/// y (+)= conv(x) + bias. `transformedInput` holds one chunk's X~ (`keepsEveryChunk` false), or every chunk's,
/// left there for the backward (`cachedInputCount` floats); `scratch` holds `geometry.scratchCount` floats.
public func winograd3x3Conv2dForward(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
    transformedInput: UnsafeMutablePointer<Float>, keepsEveryChunk: Bool, scratch: UnsafeMutablePointer<Float>,
    geometry g: Winograd3x3Geometry, weightStride: Int? = nil, accumulate: Bool = false
) {
    let transformedWeight = scratch, product = scratch + 2 * g.transformedWeightCount
    winograd3x3WeightTransform(weight, transformedWeight, g, weightStride: weightStride)
    forEachWinogradChunk(g) { chunk, frames in
        let input = transformedInput + (keepsEveryChunk ? chunk * g.transformedInputChunkCount : 0)
        winograd3x3InputTransform(x, input, g, frames: frames)
        let tiles = frames.count * g.tilesPerFrame
        for xi in 0..<16 {
            gemm(
                transA: false, transB: false, m: g.outChannels, n: tiles, k: g.inChannels,
                a: transformedWeight + xi * g.outChannels * g.inChannels, lda: g.inChannels,
                b: input + xi * g.inChannels * tiles, ldb: tiles, beta: 0, c: product + xi * g.outChannels * tiles, ldc: tiles)
        }
        winograd3x3OutputTransform(product, y, g, frames: frames, bias: bias, accumulate: accumulate)
    }
}

/// Parameter gradients accumulate when `accumulateParams`; gradX (nil: not wanted) is overwritten. With
/// `keepsEveryChunk`, `transformedInput` must hold every chunk's X~ as the forward left it (overwritten when
/// gradX is wanted); without, it holds one chunk's, rebuilt from x.
public func winograd3x3Conv2dBackward(
    gradY: UnsafePointer<Float>, x: UnsafePointer<Float>, transformedInput: UnsafeMutablePointer<Float>, keepsEveryChunk: Bool,
    weight: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>,
    gradBias: UnsafeMutablePointer<Float>?, scratch: UnsafeMutablePointer<Float>, geometry g: Winograd3x3Geometry,
    weightStride: Int? = nil, accumulateParams: Bool = false
) {
    let transformedWeight = scratch, gradTransformedWeight = scratch + g.transformedWeightCount
    let gradProduct = scratch + 2 * g.transformedWeightCount
    let (m, c) = (g.outChannels, g.inChannels)
    if gradX != nil { winograd3x3WeightTransform(weight, transformedWeight, g, weightStride: weightStride) }
    if let gradBias { sumRows(gradY, into: gradBias, rows: m, columns: g.frames * g.height * g.width, accumulate: accumulateParams) }
    forEachWinogradChunk(g) { chunk, frames in
        let input = transformedInput + (keepsEveryChunk ? chunk * g.transformedInputChunkCount : 0)
        if !keepsEveryChunk { winograd3x3InputTransform(x, input, g, frames: frames) }
        winograd3x3OutputAdjoint(gradY, gradProduct, g, frames: frames)
        let tiles = frames.count * g.tilesPerFrame
        for xi in 0..<16 {
            gemm(
                transA: false, transB: true, m: m, n: c, k: tiles, a: gradProduct + xi * m * tiles, lda: tiles,
                b: input + xi * c * tiles, ldb: tiles, beta: chunk > 0 ? 1 : 0, c: gradTransformedWeight + xi * m * c, ldc: c)
        }
        guard let gradX else { return }
        // This chunk's X~ has served the weight gradient: W~ᵀ · gY~ takes its place.
        for xi in 0..<16 {
            gemm(
                transA: true, transB: false, m: c, n: tiles, k: m, a: transformedWeight + xi * m * c, lda: c,
                b: gradProduct + xi * m * tiles, ldb: tiles, beta: 0, c: input + xi * c * tiles, ldc: tiles)
        }
        winograd3x3InputAdjoint(input, gradX, g, frames: frames)
    }
    winograd3x3WeightAdjoint(gradTransformedWeight, gradWeight, g, weightStride: weightStride, accumulate: accumulateParams)
}

/// body(chunk index, its frames) over consecutive chunks of g.chunkFrames frames.
@inline(__always)
private func forEachWinogradChunk(_ g: Winograd3x3Geometry, _ body: (Int, Range<Int>) -> Void) {
    for chunk in 0..<g.chunkCount {
        let first = chunk * g.chunkFrames
        body(chunk, first..<min(g.frames, first + g.chunkFrames))
    }
}

// MARK: the transforms
//
// The four data transforms work one (channel, frame) plane per item, split over the cores, and eight tiles
// of a tile row at a time: a tile's four columns 2tw − 1 … 2tw + 2 are, over eight neighbouring tiles, the
// even and odd lanes of two sixteen-float windows of a row, so every transform is SIMD8 arithmetic with
// contiguous loads and stores along t. Rows pass through a zero-padded copy (column −1 at index 0, zeros
// past the end) held on the stack, so the borders need no branches; a tile row with fewer than eight tiles
// left loads and stores only its lanes.

/// The widest plane the transforms take (their padded rows live on the stack): VGG-64's largest.
public let winograd3x3MaxWidth = 64

/// Floats per padded row: column −1, the row, and zeros to the end of the last sixteen-float window.
private let paddedRowLength = winograd3x3MaxWidth + 32

/// Four padded rows, a value on the stack (a training step allocates nothing).
private struct PaddedRows {
    var storage: (SIMD64<Float>, SIMD64<Float>, SIMD64<Float>, SIMD64<Float>, SIMD64<Float>, SIMD64<Float>) =
        (.init(), .init(), .init(), .init(), .init(), .init())
}

@inline(__always)
private func withPaddedRows(_ body: (UnsafeMutablePointer<Float>) -> Void) {
    var rows = PaddedRows()
    withUnsafeMutableBytes(of: &rows.storage) { body($0.baseAddress!.assumingMemoryBound(to: Float.self)) }
}

private struct TransformArguments {
    var source: UnsafePointer<Float>, target: UnsafeMutablePointer<Float>, geometry: Winograd3x3Geometry
    var firstFrame = 0, frameCount = 0
    var bias: UnsafePointer<Float>? = nil
    var accumulate = false
    var weightStride = 0
}

/// Four SIMD8 values: one per point ξw (or per column) of a row, over eight tiles.
private typealias Quad = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

@inline(__always) private func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }

/// The first `lanes` of p (the rest zero).
@inline(__always)
private func load8(_ p: UnsafePointer<Float>, _ lanes: Int) -> SIMD8<Float> {
    if lanes == 8 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
    var v = SIMD8<Float>()
    for k in 0..<lanes { v[k] = p[k] }
    return v
}

/// The first `lanes` of v to p.
@inline(__always)
private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
    if lanes == 8 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self); return }
    for k in 0..<lanes { p[k] = v[k] }
}

/// One point row ξh (four points `pointStride` apart) over eight tiles.
@inline(__always)
private func loadPointRow(_ p: UnsafePointer<Float>, _ pointStride: Int, _ lanes: Int) -> Quad {
    (load8(p, lanes), load8(p + pointStride, lanes), load8(p + 2 * pointStride, lanes), load8(p + 3 * pointStride, lanes))
}

@inline(__always)
private func storePointRow(_ q: Quad, _ p: UnsafeMutablePointer<Float>, _ pointStride: Int, _ lanes: Int) {
    store8(q.0, p, lanes); store8(q.1, p + pointStride, lanes); store8(q.2, p + 2 * pointStride, lanes); store8(q.3, p + 3 * pointStride, lanes)
}

@inline(__always) private func + (a: Quad, b: Quad) -> Quad { (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3) }
@inline(__always) private func - (a: Quad, b: Quad) -> Quad { (a.0 - b.0, a.1 - b.1, a.2 - b.2, a.3 - b.3) }
@inline(__always) private prefix func - (a: Quad) -> Quad { (-a.0, -a.1, -a.2, -a.3) }

/// Bᵀ along w of a padded row's eight tiles from tile tw0: the tiles' columns d0 … d3 are the even and odd
/// lanes of the windows at padded columns 2tw0 and 2tw0 + 2.
@inline(__always)
private func rowInputTransform(_ row: UnsafePointer<Float>, _ tw0: Int) -> Quad {
    let w0 = load16(row + 2 * tw0), w1 = load16(row + 2 * tw0 + 2)
    let d0 = w0.evenHalf, d1 = w0.oddHalf, d2 = w1.evenHalf, d3 = w1.oddHalf
    return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
}

/// B along w of one input row's four points over eight tiles, added into the padded row: columns
/// (u0, u1 − u2 + u3, u1 + u2 − u0, −u3) at padded 2tw + 0 … 3, neighbouring tiles overlapping by two.
@inline(__always)
private func rowInputAdjoint(_ u: Quad, _ row: UnsafeMutablePointer<Float>, _ tw0: Int) {
    var first = SIMD16<Float>(), second = SIMD16<Float>()
    first.evenHalf = u.0; first.oddHalf = u.1 - u.2 + u.3
    second.evenHalf = u.1 + u.2 - u.0; second.oddHalf = -u.3
    let p0 = UnsafeMutableRawPointer(row + 2 * tw0)
    p0.storeBytes(of: p0.loadUnaligned(as: SIMD16<Float>.self) + first, as: SIMD16<Float>.self)
    let p1 = UnsafeMutableRawPointer(row + 2 * tw0 + 2)
    p1.storeBytes(of: p1.loadUnaligned(as: SIMD16<Float>.self) + second, as: SIMD16<Float>.self)
}

/// Even lanes from `even`, odd from `odd`: an output row's sixteen values over eight tiles.
@inline(__always)
private func interleave(_ even: SIMD8<Float>, _ odd: SIMD8<Float>) -> SIMD16<Float> {
    var v = SIMD16<Float>()
    v.evenHalf = even; v.oddHalf = odd
    return v
}

/// The first 2·lanes values of an output row from p (the rest zero).
@inline(__always)
private func loadOutputRow(_ p: UnsafePointer<Float>, _ lanes: Int) -> SIMD16<Float> {
    if lanes == 8 { return load16(p) }
    var v = SIMD16<Float>()
    for k in 0..<(2 * lanes) { v[k] = p[k] }
    return v
}

@inline(__always)
private func storeOutputRow(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ lanes: Int, accumulate: Bool) {
    if lanes == 8 {
        let raw = UnsafeMutableRawPointer(p)
        raw.storeBytes(of: accumulate ? raw.loadUnaligned(as: SIMD16<Float>.self) + v : v, as: SIMD16<Float>.self)
        return
    }
    for k in 0..<(2 * lanes) { p[k] = accumulate ? p[k] + v[k] : v[k] }
}

/// X~[4ξh + ξw][c][t] = (Bᵀ ⊗ Bᵀ) of tile t's 4×4 input, for the chunk's frames.
public func winograd3x3InputTransform(
    _ x: UnsafePointer<Float>, _ transformed: UnsafeMutablePointer<Float>, _ g: Winograd3x3Geometry, frames: Range<Int>
) {
    precondition(g.width <= winograd3x3MaxWidth, "winograd3x3InputTransform: width \(g.width) > \(winograd3x3MaxWidth)")
    let args = TransformArguments(source: x, target: transformed, geometry: g, firstFrame: frames.lowerBound, frameCount: frames.count)
    parallelFor(g.inChannels * frames.count, minimumPerWorker: 4, args) { raw, lo, hi in
        let a = arguments(raw, as: TransformArguments.self)
        let g = a.geometry
        let h = g.height, w = g.width, tr = h / 2, tc = w / 2, tiles = a.frameCount * g.tilesPerFrame
        let ps = g.inChannels * tiles, rowStride = 4 * ps
        withPaddedRows { rows in
            for item in lo..<hi {
                let c = item / a.frameCount, f = item % a.frameCount
                let plane = a.source + (c * g.frames + a.firstFrame + f) * h * w
                for th in 0..<tr {
                    for i in 0..<4 {
                        let r = 2 * th - 1 + i, padded = rows + i * paddedRowLength + 1
                        if r >= 0 && r < h { padded.update(from: plane + r * w, count: w) } else { padded.update(repeating: 0, count: w) }
                    }
                    var tw0 = 0
                    while tw0 < tc {
                        let lanes = min(8, tc - tw0)
                        let d0 = rowInputTransform(rows, tw0), d1 = rowInputTransform(rows + paddedRowLength, tw0)
                        let d2 = rowInputTransform(rows + 2 * paddedRowLength, tw0), d3 = rowInputTransform(rows + 3 * paddedRowLength, tw0)
                        // Bᵀ along h.
                        let out = a.target + c * tiles + (f * tr + th) * tc + tw0
                        storePointRow(d0 - d2, out, ps, lanes)
                        storePointRow(d1 + d2, out + rowStride, ps, lanes)
                        storePointRow(d2 - d1, out + 2 * rowStride, ps, lanes)
                        storePointRow(d1 - d3, out + 3 * rowStride, ps, lanes)
                        tw0 += 8
                    }
                }
            }
        }
    }
}

/// gx = (B ⊗ B) of X~ for the chunk's frames, summed where neighbouring tiles share rows and columns and
/// dropped on the padding; those frames' planes are overwritten.
public func winograd3x3InputAdjoint(
    _ transformed: UnsafePointer<Float>, _ gradX: UnsafeMutablePointer<Float>, _ g: Winograd3x3Geometry, frames: Range<Int>
) {
    precondition(g.width <= winograd3x3MaxWidth, "winograd3x3InputAdjoint: width \(g.width) > \(winograd3x3MaxWidth)")
    let args = TransformArguments(source: transformed, target: gradX, geometry: g, firstFrame: frames.lowerBound, frameCount: frames.count)
    parallelFor(g.inChannels * frames.count, minimumPerWorker: 4, args) { raw, lo, hi in
        let a = arguments(raw, as: TransformArguments.self)
        let g = a.geometry
        let h = g.height, w = g.width, tr = h / 2, tc = w / 2, tiles = a.frameCount * g.tilesPerFrame
        let ps = g.inChannels * tiles, rowStride = 4 * ps
        withPaddedRows { rows in
            for item in lo..<hi {
                let c = item / a.frameCount, f = item % a.frameCount
                let plane = a.target + (c * g.frames + a.firstFrame + f) * h * w
                plane.update(repeating: 0, count: h * w)
                for th in 0..<tr {
                    rows.update(repeating: 0, count: 4 * paddedRowLength)
                    var tw0 = 0
                    while tw0 < tc {
                        let lanes = min(8, tc - tw0)
                        let z = a.source + c * tiles + (f * tr + th) * tc + tw0
                        let v0 = loadPointRow(z, ps, lanes), v1 = loadPointRow(z + rowStride, ps, lanes)
                        let v2 = loadPointRow(z + 2 * rowStride, ps, lanes), v3 = loadPointRow(z + 3 * rowStride, ps, lanes)
                        // B along h gives the tile's four input rows; B along w, their columns.
                        rowInputAdjoint(v0, rows, tw0)
                        rowInputAdjoint(v1 - v2 + v3, rows + paddedRowLength, tw0)
                        rowInputAdjoint(v1 + v2 - v0, rows + 2 * paddedRowLength, tw0)
                        rowInputAdjoint(-v3, rows + 3 * paddedRowLength, tw0)
                        tw0 += 8
                    }
                    for i in 0..<4 {
                        let r = 2 * th - 1 + i
                        guard r >= 0 && r < h else { continue }
                        let dst = plane + r * w, padded = rows + i * paddedRowLength + 1
                        for q in 0..<w { dst[q] += padded[q] }
                    }
                }
            }
        }
    }
}

/// y (+)= (Aᵀ ⊗ Aᵀ) of Y~ (+ bias[m]) for the chunk's frames.
public func winograd3x3OutputTransform(
    _ transformed: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ g: Winograd3x3Geometry, frames: Range<Int>,
    bias: UnsafePointer<Float>? = nil, accumulate: Bool = false
) {
    let args = TransformArguments(
        source: transformed, target: y, geometry: g, firstFrame: frames.lowerBound, frameCount: frames.count, bias: bias,
        accumulate: accumulate)
    parallelFor(g.outChannels * frames.count, minimumPerWorker: 4, args) { raw, lo, hi in
        let a = arguments(raw, as: TransformArguments.self)
        let g = a.geometry
        let h = g.height, w = g.width, tr = h / 2, tc = w / 2, tiles = a.frameCount * g.tilesPerFrame
        let ps = g.outChannels * tiles, rowStride = 4 * ps
        for item in lo..<hi {
            let m = item / a.frameCount, f = item % a.frameCount
            let b = SIMD8<Float>(repeating: a.bias.map { $0[m] } ?? 0)
            let plane = a.target + (m * g.frames + a.firstFrame + f) * h * w
            for th in 0..<tr {
                let row0 = plane + 2 * th * w, row1 = row0 + w
                var tw0 = 0
                while tw0 < tc {
                    let lanes = min(8, tc - tw0)
                    let s = a.source + m * tiles + (f * tr + th) * tc + tw0
                    let m0 = loadPointRow(s, ps, lanes), m1 = loadPointRow(s + rowStride, ps, lanes)
                    let m2 = loadPointRow(s + 2 * rowStride, ps, lanes), m3 = loadPointRow(s + 3 * rowStride, ps, lanes)
                    // Aᵀ along w on each point row (its output columns' even and odd pair), then along h.
                    func pair(_ q: Quad) -> (SIMD8<Float>, SIMD8<Float>) { (q.0 + q.1 + q.2, q.1 - q.2 - q.3) }
                    let p0 = pair(m0), p1 = pair(m1), p2 = pair(m2), p3 = pair(m3)
                    let topRow = interleave(p0.0 + p1.0 + p2.0 + b, p0.1 + p1.1 + p2.1 + b)
                    let bottomRow = interleave(p1.0 - p2.0 - p3.0 + b, p1.1 - p2.1 - p3.1 + b)
                    storeOutputRow(topRow, row0 + 2 * tw0, lanes, accumulate: a.accumulate)
                    storeOutputRow(bottomRow, row1 + 2 * tw0, lanes, accumulate: a.accumulate)
                    tw0 += 8
                }
            }
        }
    }
}

/// gY~ = (A ⊗ A) of gy for the chunk's frames: the output transform's adjoint.
public func winograd3x3OutputAdjoint(
    _ gradY: UnsafePointer<Float>, _ transformed: UnsafeMutablePointer<Float>, _ g: Winograd3x3Geometry, frames: Range<Int>
) {
    let args = TransformArguments(source: gradY, target: transformed, geometry: g, firstFrame: frames.lowerBound, frameCount: frames.count)
    parallelFor(g.outChannels * frames.count, minimumPerWorker: 4, args) { raw, lo, hi in
        let a = arguments(raw, as: TransformArguments.self)
        let g = a.geometry
        let h = g.height, w = g.width, tr = h / 2, tc = w / 2, tiles = a.frameCount * g.tilesPerFrame
        let ps = g.outChannels * tiles, rowStride = 4 * ps
        for item in lo..<hi {
            let m = item / a.frameCount, f = item % a.frameCount
            let plane = a.source + (m * g.frames + a.firstFrame + f) * h * w
            for th in 0..<tr {
                let row0 = plane + 2 * th * w, row1 = row0 + w
                var tw0 = 0
                while tw0 < tc {
                    let lanes = min(8, tc - tw0)
                    let topRow = loadOutputRow(row0 + 2 * tw0, lanes), bottomRow = loadOutputRow(row1 + 2 * tw0, lanes)
                    // A = (y0, y0 + y1, y0 − y1, −y1) along w on each row, then along h.
                    func spread(_ v: SIMD16<Float>) -> Quad {
                        let y0 = v.evenHalf, y1 = v.oddHalf
                        return (y0, y0 + y1, y0 - y1, -y1)
                    }
                    let top = spread(topRow), bottom = spread(bottomRow)
                    let d = a.target + m * tiles + (f * tr + th) * tc + tw0
                    storePointRow(top, d, ps, lanes)
                    storePointRow(top + bottom, d + rowStride, ps, lanes)
                    storePointRow(top - bottom, d + 2 * rowStride, ps, lanes)
                    storePointRow(-bottom, d + 3 * rowStride, ps, lanes)
                    tw0 += 8
                }
            }
        }
    }
}

/// Four values to four points `pointStride` apart.
@inline(__always)
private func storeRow(_ v: SIMD4<Float>, _ o: UnsafeMutablePointer<Float>, _ pointStride: Int) {
    o[0] = v[0]; o[pointStride] = v[1]; o[2 * pointStride] = v[2]; o[3 * pointStride] = v[3]
}

/// Gᵀ along w of four points: a kernel row's three taps, written or added.
@inline(__always)
private func storeKernelRow(_ v: SIMD4<Float>, _ taps: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let t0 = v[0] + 0.5 * (v[1] + v[2]), t1 = 0.5 * (v[1] - v[2]), t2 = 0.5 * (v[1] + v[2]) + v[3]
    if accumulate {
        taps[0] += t0; taps[1] += t1; taps[2] += t2
    } else {
        taps[0] = t0; taps[1] = t1; taps[2] = t2
    }
}

/// W~[4ξh + ξw][m][c] = (G ⊗ G) of w[m][c]'s 3×3 taps.
public func winograd3x3WeightTransform(
    _ weight: UnsafePointer<Float>, _ transformed: UnsafeMutablePointer<Float>, _ g: Winograd3x3Geometry, weightStride: Int? = nil
) {
    let args = TransformArguments(source: weight, target: transformed, geometry: g, weightStride: weightStride ?? 9 * g.inChannels)
    parallelFor(g.outChannels, minimumPerWorker: 16, args) { raw, lo, hi in
        let a = arguments(raw, as: TransformArguments.self)
        let g = a.geometry
        let pointStride = g.outChannels * g.inChannels
        for m in lo..<hi {
            for c in 0..<g.inChannels {
                let k = a.source + m * a.weightStride + 9 * c
                // G along w on each kernel row (as a SIMD4 over the four points ξw), then along h.
                func gw(_ r: Int) -> SIMD4<Float> {
                    let g0 = k[3 * r], g1 = k[3 * r + 1], g2 = k[3 * r + 2]
                    return SIMD4(g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2)
                }
                let u0 = gw(0), u1 = gw(1), u2 = gw(2)
                let out = a.target + m * g.inChannels + c, rowStride = 4 * pointStride
                storeRow(u0, out, pointStride)
                storeRow(0.5 * (u0 + u1 + u2), out + rowStride, pointStride)
                storeRow(0.5 * (u0 - u1 + u2), out + 2 * rowStride, pointStride)
                storeRow(u2, out + 3 * rowStride, pointStride)
            }
        }
    }
}

/// gradWeight (+)= (Gᵀ ⊗ Gᵀ) of gW~: the weight transform's adjoint.
public func winograd3x3WeightAdjoint(
    _ transformed: UnsafePointer<Float>, _ gradWeight: UnsafeMutablePointer<Float>, _ g: Winograd3x3Geometry,
    weightStride: Int? = nil, accumulate: Bool = false
) {
    let args = TransformArguments(
        source: transformed, target: gradWeight, geometry: g, accumulate: accumulate, weightStride: weightStride ?? 9 * g.inChannels)
    parallelFor(g.outChannels, minimumPerWorker: 16, args) { raw, lo, hi in
        let a = arguments(raw, as: TransformArguments.self)
        let g = a.geometry
        let pointStride = g.outChannels * g.inChannels
        for m in lo..<hi {
            for c in 0..<g.inChannels {
                let s = a.source + m * g.inChannels + c
                // Gᵀ = rows (1, ½, ½, 0), (0, ½, −½, 0), (0, ½, ½, 1): along h on the point rows, then along w.
                func row(_ xh: Int) -> SIMD4<Float> {
                    let r = s + 4 * xh * pointStride
                    return SIMD4(r[0], r[pointStride], r[2 * pointStride], r[3 * pointStride])
                }
                let v0 = row(0), v1 = row(1), v2 = row(2), v3 = row(3)
                let gw = a.target + m * a.weightStride + 9 * c
                storeKernelRow(v0 + 0.5 * (v1 + v2), gw, accumulate: a.accumulate)
                storeKernelRow(0.5 * (v1 - v2), gw + 3, accumulate: a.accumulate)
                storeKernelRow(0.5 * (v1 + v2) + v3, gw + 6, accumulate: a.accumulate)
            }
        }
    }
}
