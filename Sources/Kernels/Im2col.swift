// im2col / col2im over the CNHW layout, shared by Conv2d and ConvTranspose2d.
//   image: channels × frames × height × width          (CNHW)
//   col:   (channels·kernelH·kernelW) × (frames·outH·outW)
// col[(c, ki, kj)][(n, oh, ow)] = image[c][n][oh·stride − pad + ki][ow·stride − pad + kj], zero outside.
// col2im is the adjoint: it sums every col entry back onto the pixel it was read from.
// Two geometries of the DCGAN backbone have their own paths (the generic loops are kept for the rest):
//  - 4×4 kernel, stride 2, padding 1 (c2–c4, upc2–upc5): input column 2x − 1 + kj splits into the odd and
//    even columns of the input row, so one SIMD deinterleave feeds all four kj rows; col2im forms the even
//    and odd image columns from the four kj rows and interleaves them, one kernel row ki per pass;
// A kernel covering the whole unpadded image (c5's 4×4 → 1×1, upc1's adjoint) has no path here: the conv
// kernels keep its col frame-major instead (convColumns below), where filling it moves whole planes.

/// The input image and kernel of a convolution over CNHW (channels × frames × height × width), and the
/// im2col matrix shape it implies.
public struct ConvGeometry: Sendable, Equatable {
    /// Input channels C.
    public var channels: Int
    /// Frames N, all handled by one GEMM.
    public var frames: Int
    /// Input height H.
    public var height: Int
    /// Input width W.
    public var width: Int
    /// Kernel height kH.
    public var kernelH: Int
    /// Kernel width kW.
    public var kernelW: Int
    /// Stride, the same along both axes.
    public var stride: Int
    /// Zero padding on every side.
    public var padding: Int

    /// Creates a geometry; every size must be positive, the padding non-negative, and the kernel must fit the
    /// padded image (preconditions).
    public init(
        channels: Int, frames: Int, height: Int, width: Int,
        kernelH: Int, kernelW: Int, stride: Int = 1, padding: Int = 0
    ) {
        precondition(
            channels > 0 && frames > 0 && height > 0 && width > 0 && kernelH > 0 && kernelW > 0 && stride > 0 && padding >= 0,
            "ConvGeometry: every size must be positive (padding non-negative)")
        self.channels = channels; self.frames = frames; self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW; self.stride = stride; self.padding = padding
        precondition(outHeight > 0 && outWidth > 0, "ConvGeometry: kernel \(kernelH)×\(kernelW) does not fit \(height)×\(width) with padding \(padding)")
    }

    /// Output height Ho = (H + 2·padding − kH)/stride + 1.
    public var outHeight: Int { (height + 2 * padding - kernelH) / stride + 1 }
    /// Output width Wo = (W + 2·padding − kW)/stride + 1.
    public var outWidth: Int { (width + 2 * padding - kernelW) / stride + 1 }
    /// Rows of the col matrix, C·kH·kW (the GEMM's inner dimension).
    public var colRows: Int { channels * kernelH * kernelW }
    /// Columns of the col matrix, N·Ho·Wo (one per output position of every frame).
    public var colColumns: Int { frames * outHeight * outWidth }
    /// Floats of the input image, C·N·H·W.
    public var imageCount: Int { channels * frames * height * width }
    /// Floats of the col matrix, colRows · colColumns.
    public var colCount: Int { colRows * colColumns }
}

private struct Im2colArguments {
    var image: UnsafePointer<Float>, col: UnsafeMutablePointer<Float>, geometry: ConvGeometry, accumulate: Bool
    var bias: UnsafePointer<Float>? = nil
    var frames: Range<Int> // col2im's chunk (all frames elsewhere)
}

/// Writes the column matrix of `image` into `col` (colRows × colColumns), zero where the kernel reads
/// padding: col[(c, ki, kj)][(n, oh, ow)] = image[c][n][oh·stride − pad + ki][ow·stride − pad + kj].
/// `frames`: only these frames' columns, frames.count·outH·outW of them, first frame first (a chunk of a
/// conv too large to lower whole: conv2dForwardChunked); nil means all frames.
public func im2col(_ image: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry, frames: Range<Int>? = nil) {
    let frames = checkedFrames(frames, g)
    let args = Im2colArguments(image: image, col: col, geometry: g, accumulate: false, frames: frames)
    if isStride2Kernel4(g) {
        // One (channel, block of frames) per item: c1 has a single channel.
        let blocks = stride2Blocks(g, frames)
        parallelFor(g.channels * blocks, args) { raw, lo, hi in
            let a = arguments(raw, as: Im2colArguments.self)
            im2colStride2Kernel4(a.image, a.col, a.geometry, a.frames, lo..<hi)
        }
        return
    }
    // Each channel fills its own kH·kW rows: channels split cleanly over the workers.
    let columns = frames.count * g.outHeight * g.outWidth
    parallelFor(g.channels, minimumPerWorker: max(1, 32_768 / max(g.kernelH * g.kernelW * columns, 1)), args) { raw, lo, hi in
        let a = arguments(raw, as: Im2colArguments.self)
        im2colChannels(a.image, a.col, a.geometry, a.frames, lo..<hi)
    }
}

/// 4×4 kernel, stride 2, padding 1, even sizes and an output width that is a multiple of 4 (the SIMD step).
@inline(__always)
func isStride2Kernel4(_ g: ConvGeometry) -> Bool {
    g.kernelH == 4 && g.kernelW == 4 && g.stride == 2 && g.padding == 1 && g.height % 2 == 0 && g.width % 2 == 0
        && g.outWidth % 4 == 0
}

@inline(__always)
private func load<V: SIMD>(_ p: UnsafePointer<Float>, as: V.Type) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
@inline(__always)
private func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }

/// Frames per work item of the 4×4/2 paths: a block's image planes (≤ 16K floats, 64 KB) stay in L2
/// across the item's four passes, one per kernel row.
@inline(__always)
private func stride2FramesPerBlock(_ g: ConvGeometry) -> Int { max(1, 16_384 / (g.height * g.width)) }

/// Work items per channel of the 4×4/2 paths over `frames`.
@inline(__always)
private func stride2Blocks(_ g: ConvGeometry, _ frames: Range<Int>) -> Int {
    (frames.count + stride2FramesPerBlock(g) - 1) / stride2FramesPerBlock(g)
}

/// (0, v0, v1, v2) and (v1, v2, v3, 0): four columns moved by one, for the first and last four columns
/// of a row, where kernel column 0 or 3 falls outside the image.
@inline(__always)
private func shiftedRight(_ v: SIMD4<Float>) -> SIMD4<Float> { SIMD4(0, v[0], v[1], v[2]) }
@inline(__always)
private func shiftedLeft(_ v: SIMD4<Float>) -> SIMD4<Float> { SIMD4(v[1], v[2], v[3], 0) }

/// Item i is channel i / blocks, frames f₀ + [b·F, (b+1)·F) with b = i % blocks (f₀ = frames.lowerBound,
/// whose columns come first in col); one pass per kernel row ki
/// writes that row's four kernel columns front to back (four sequential streams at a time; one pass
/// writing all sixteen rows per plane missed the cache at every line). Col row (ki, kj) at (y, x) reads
/// image row iy = 2y − 1 + ki (zero outside), column 2x − 1 + kj. From eight image columns 2x₀ … 2x₀ + 7,
/// the even ones are kj 1 and the odd ones kj 2 at x₀ … x₀ + 3; kj 3 is kj 1 one column on (taking
/// column 2x₀ + 8, zero past the edge) and kj 0 is kj 2 one column back (column 2x₀ − 1, zero before it).
private func im2colStride2Kernel4(
    _ image: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry, _ frames: Range<Int>, _ items: Range<Int>
) {
    let oh = g.outHeight, ow = g.outWidth, h = g.height, w = g.width, nCols = frames.count * oh * ow, f0 = frames.lowerBound
    let framesPerBlock = stride2FramesPerBlock(g), blocks = stride2Blocks(g, frames)
    for item in items {
        let c = item / blocks, n0 = f0 + (item % blocks) * framesPerBlock, n1 = min(frames.upperBound, n0 + framesPerBlock)
        for ki in 0..<4 {
            let k0 = col + (c * 16 + ki * 4) * nCols, k1 = k0 + nCols, k2 = k1 + nCols, k3 = k2 + nCols
            for n in n0..<n1 {
                for y in 0..<oh {
                    let at = ((n - f0) * oh + y) * ow, iy = 2 * y - 1 + ki
                    if iy < 0 || iy >= h {
                        var x = 0
                        while x < ow {
                            store(SIMD4<Float>(), k0 + at + x); store(SIMD4<Float>(), k1 + at + x)
                            store(SIMD4<Float>(), k2 + at + x); store(SIMD4<Float>(), k3 + at + x)
                            x += 4
                        }
                        continue
                    }
                    let row = image + ((c * g.frames + n) * h + iy) * w
                    var x = 0
                    while x < ow {
                        let v = load(row + 2 * x, as: SIMD8<Float>.self)
                        var kj0 = shiftedRight(v.oddHalf), kj3 = shiftedLeft(v.evenHalf)
                        if x > 0 { kj0[0] = row[2 * x - 1] }
                        if x + 4 < ow { kj3[3] = row[2 * x + 8] }
                        store(kj0, k0 + at + x); store(v.evenHalf, k1 + at + x)
                        store(v.oddHalf, k2 + at + x); store(kj3, k3 + at + x)
                        x += 4
                    }
                }
            }
        }
    }
}

private func im2colChannels(
    _ image: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry, _ frames: Range<Int>, _ channels: Range<Int>
) {
    let oh = g.outHeight, ow = g.outWidth, h = g.height, w = g.width, s = g.stride, p = g.padding
    let nCols = frames.count * oh * ow, f0 = frames.lowerBound
    for c in channels {
        for ki in 0..<g.kernelH {
            for kj in 0..<g.kernelW {
                let row = col + ((c * g.kernelH + ki) * g.kernelW + kj) * nCols
                // Output columns ow whose input column ow·s − p + kj lies inside [0, w).
                let owLo = max(0, (p - kj + s - 1) / s)
                let owHi = w - 1 + p - kj < 0 ? 0 : min(ow, (w - 1 + p - kj) / s + 1) // exclusive
                for n in frames {
                    let plane = image + (c * g.frames + n) * h * w
                    for y in 0..<oh {
                        let dst = row + ((n - f0) * oh + y) * ow
                        let iy = y * s - p + ki
                        if iy < 0 || iy >= h || owLo >= owHi {
                            dst.update(repeating: 0, count: ow)
                            continue
                        }
                        if owLo > 0 { dst.update(repeating: 0, count: owLo) }
                        let src = plane + iy * w - p + kj
                        if s == 1 {
                            (dst + owLo).update(from: src + owLo, count: owHi - owLo)
                        } else {
                            for x in owLo..<owHi { dst[x] = src[x * s] }
                        }
                        if owHi < ow { (dst + owHi).update(repeating: 0, count: ow - owHi) }
                    }
                }
            }
        }
    }
}

/// image = col2im(col), or image += col2im(col) when `accumulate`; with `bias`, bias[c] is added to every
/// pixel of channel c in the same pass (a transposed convolution's bias). `frames`: col holds only these
/// frames' columns, frames.count·outH·outW of them (a chunk: forEachColChunk), and only these frames of
/// the image are written; nil means all frames.
public func col2im(
    _ col: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, _ g: ConvGeometry, accumulate: Bool = false,
    bias: UnsafePointer<Float>? = nil, frames: Range<Int>? = nil
) {
    let frames = checkedFrames(frames, g)
    let args = Im2colArguments(
        image: UnsafePointer(image), col: UnsafeMutablePointer(mutating: col), geometry: g, accumulate: accumulate,
        bias: bias, frames: frames)
    if isStride2Kernel4(g) {
        // One (channel, block of frames) per item: upc5 has one (or three) output channels.
        parallelFor(g.channels * stride2Blocks(g, frames), args) { raw, lo, hi in
            let a = arguments(raw, as: Im2colArguments.self)
            col2imStride2Kernel4(a.col, UnsafeMutablePointer(mutating: a.image), a.geometry, a.accumulate, a.bias, a.frames, lo..<hi)
        }
        return
    }
    // Each channel's rows add only into that channel's planes: channels split cleanly over the workers.
    let columns = frames.count * g.outHeight * g.outWidth
    parallelFor(g.channels, minimumPerWorker: max(1, 32_768 / max(g.kernelH * g.kernelW * columns, 1)), args) { raw, lo, hi in
        let a = arguments(raw, as: Im2colArguments.self)
        col2imChannels(a.col, UnsafeMutablePointer(mutating: a.image), a.geometry, a.accumulate, a.bias, a.frames, lo..<hi)
    }
}

@inline(__always)
private func checkedFrames(_ frames: Range<Int>?, _ g: ConvGeometry) -> Range<Int> {
    guard let frames else { return 0..<g.frames }
    precondition(
        frames.lowerBound >= 0 && frames.upperBound <= g.frames && !frames.isEmpty,
        "im2col/col2im: frames \(frames) outside 0..<\(g.frames)")
    return frames
}

/// Item i is channel i / blocks, frames f₀ + [b·F, (b+1)·F) with b = i % blocks (f₀ = frames.lowerBound, whose
/// columns come first in col). The block is set to the bias
/// (or keeps its contents and gains the bias, when accumulating), then takes one pass per kernel row ki,
/// each reading that row's four kernel columns front to back: four sequential streams at a time, which
/// the hardware prefetchers follow (one pass over all sixteen rows per plane missed the cache at every
/// line). Image row iy = 2y − 1 + ki, and within it column ix = 2x − 1 + kj:
///   even ix = 2u  ← kj 1 at x = u,  kj 3 at x = u − 1 (u ≥ 1)
///   odd  ix = 2u+1 ← kj 2 at x = u,  kj 0 at x = u + 1 (u + 1 < ow)
private func col2imStride2Kernel4(
    _ col: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, _ g: ConvGeometry, _ accumulate: Bool,
    _ bias: UnsafePointer<Float>?, _ frames: Range<Int>, _ items: Range<Int>
) {
    let oh = g.outHeight, ow = g.outWidth, h = g.height, w = g.width, nCols = frames.count * oh * ow, f0 = frames.lowerBound
    let framesPerBlock = stride2FramesPerBlock(g), blocks = stride2Blocks(g, frames)
    for item in items {
        let c = item / blocks, n0 = f0 + (item % blocks) * framesPerBlock, n1 = min(frames.upperBound, n0 + framesPerBlock)
        let block = image + (c * g.frames + n0) * h * w, count = (n1 - n0) * h * w // a multiple of 8 (w = 2·ow, ow % 4 == 0)
        let b = SIMD8<Float>(repeating: bias?[c] ?? 0)
        if !accumulate {
            var i = 0; while i < count { store(b, block + i); i += 8 }
        } else if bias != nil {
            var i = 0; while i < count { store(load(block + i, as: SIMD8<Float>.self) + b, block + i); i += 8 }
        }
        for ki in 0..<4 {
            let k0 = col + (c * 16 + ki * 4) * nCols, k1 = k0 + nCols, k2 = k1 + nCols, k3 = k2 + nCols
            let yLo = ki == 0 ? 1 : 0, yHi = ki == 3 ? oh - 1 : oh
            for n in n0..<n1 {
                for y in yLo..<yHi {
                    let at = ((n - f0) * oh + y) * ow
                    let row = image + ((c * g.frames + n) * h + 2 * y - 1 + ki) * w
                    var x = 0
                    while x < ow {
                        let kj3 = x == 0 ? shiftedRight(load(k3 + at, as: SIMD4<Float>.self)) : load(k3 + at + x - 1, as: SIMD4<Float>.self)
                        let kj0 = x + 4 == ow ? shiftedLeft(load(k0 + at + x, as: SIMD4<Float>.self)) : load(k0 + at + x + 1, as: SIMD4<Float>.self)
                        var v = SIMD8<Float>()
                        v.evenHalf = load(k1 + at + x, as: SIMD4<Float>.self) + kj3
                        v.oddHalf = load(k2 + at + x, as: SIMD4<Float>.self) + kj0
                        store(load(row + 2 * x, as: SIMD8<Float>.self) + v, row + 2 * x)
                        x += 4
                    }
                }
            }
        }
    }
}

private func col2imChannels(
    _ col: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, _ g: ConvGeometry, _ accumulate: Bool,
    _ bias: UnsafePointer<Float>?, _ frames: Range<Int>, _ channels: Range<Int>
) {
    let oh = g.outHeight, ow = g.outWidth, h = g.height, w = g.width, s = g.stride, p = g.padding
    let nCols = frames.count * oh * ow, f0 = frames.lowerBound
    for c in channels {
        let planes = image + (c * g.frames + f0) * h * w, b = bias?[c] ?? 0, count = frames.count * h * w
        if !accumulate { planes.update(repeating: b, count: count) } else if b != 0 { for i in 0..<count { planes[i] += b } }
        for ki in 0..<g.kernelH {
            for kj in 0..<g.kernelW {
                let row = col + ((c * g.kernelH + ki) * g.kernelW + kj) * nCols
                let owLo = max(0, (p - kj + s - 1) / s)
                let owHi = w - 1 + p - kj < 0 ? 0 : min(ow, (w - 1 + p - kj) / s + 1)
                if owLo >= owHi { continue }
                for n in frames {
                    let plane = image + (c * g.frames + n) * h * w
                    for y in 0..<oh {
                        let iy = y * s - p + ki
                        if iy < 0 || iy >= h { continue }
                        let src = row + ((n - f0) * oh + y) * ow
                        let dst = plane + iy * w - p + kj
                        if s == 1 {
                            for x in owLo..<owHi { dst[x] += src[x] }
                        } else {
                            for x in owLo..<owHi { dst[x * s] += src[x] }
                        }
                    }
                }
            }
        }
    }
}

// MARK: the col matrix as the conv kernels keep it

/// A kernel that covers the whole unpadded image (one output position per frame: c5's 4×4 → 1×1, upc1's
/// adjoint) keeps its col frame-major, colᵀ: frames × (channels·kH·kW) with colᵀ[n][(c, t)] =
/// image[c][n][t]. A frame's row is its channel planes back to back, so filling it moves whole planes
/// (a 4×4 plane is one 64-byte line), where the (c, t) × n layout is an element-by-element transpose;
/// the GEMMs take colᵀ as a transposed operand, which OpenBLAS packs at about the same cost as the plain
/// one (the A/B is in CHANGELOG.md).
@inline(__always)
public func colIsFrameMajor(_ g: ConvGeometry) -> Bool {
    g.kernelH == g.height && g.kernelW == g.width && g.padding == 0
}

/// The col matrix as Conv2d and ConvTranspose2d keep it: im2col(image), or colᵀ when colIsFrameMajor(g).
public func convColumns(_ image: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    guard colIsFrameMajor(g) else { im2col(image, col, g); return }
    let args = Im2colArguments(image: image, col: col, geometry: g, accumulate: false, frames: 0..<g.frames)
    parallelFor(frameMajorBlocks(g), args) { raw, lo, hi in
        let a = arguments(raw, as: Im2colArguments.self)
        frameMajorPlanes(UnsafeMutablePointer(mutating: a.image), a.col, a.geometry, lo..<hi, toCol: true, accumulate: false, bias: nil)
    }
}

/// The adjoint of convColumns: col2im, or image[c][n][t] (+)= colᵀ[n][(c, t)] (+ bias[c]), each pixel
/// in exactly one col entry, so nothing is summed. `frames` as for col2im; a frame-major col is never
/// chunked (colChunkFrames), so it takes all frames only.
public func convColumnsAdjoint(
    _ col: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
    accumulate: Bool = false, bias: UnsafePointer<Float>? = nil, frames: Range<Int>? = nil
) {
    guard colIsFrameMajor(g) else { col2im(col, image, g, accumulate: accumulate, bias: bias, frames: frames); return }
    precondition(checkedFrames(frames, g) == 0..<g.frames, "convColumnsAdjoint: a frame-major col holds all \(g.frames) frames")
    let args = Im2colArguments(
        image: UnsafePointer(image), col: UnsafeMutablePointer(mutating: col), geometry: g,
        accumulate: accumulate, bias: bias, frames: 0..<g.frames)
    parallelFor(frameMajorBlocks(g), args) { raw, lo, hi in
        let a = arguments(raw, as: Im2colArguments.self)
        frameMajorPlanes(
            UnsafeMutablePointer(mutating: a.image), a.col, a.geometry, lo..<hi, toCol: false,
            accumulate: a.accumulate, bias: a.bias)
    }
}

/// Channels per work item of the frame-major copies: the item reads (or writes) its channels' image
/// blocks as that many sequential streams and each frame's row in runs of that many planes (512 bytes for
/// 4×4 planes). Frame by frame over all channels, every plane would come from a stream of its own: 512
/// streams at c5, more than any prefetcher follows.
private let frameMajorChannelsPerBlock = 8

@inline(__always)
private func frameMajorBlocks(_ g: ConvGeometry) -> Int { (g.channels + frameMajorChannelsPerBlock - 1) / frameMajorChannelsPerBlock }

/// Channel blocks `blocks` of colᵀ ← image planes (toCol), or image planes (+)= colᵀ (+ bias).
private func frameMajorPlanes(
    _ image: UnsafeMutablePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
    _ blocks: Range<Int>, toCol: Bool, accumulate: Bool, bias: UnsafePointer<Float>?
) {
    let plane = g.height * g.width, rowLength = g.colRows
    for block in blocks {
        let c0 = block * frameMajorChannelsPerBlock, c1 = min(g.channels, c0 + frameMajorChannelsPerBlock)
        for n in 0..<g.frames {
            let row = col + n * rowLength
            for c in c0..<c1 {
                let img = image + (c * g.frames + n) * plane, cl = row + c * plane
                if toCol {
                    if plane == 16 { store(load(img, as: SIMD16<Float>.self), cl) } else { cl.update(from: img, count: plane) }
                    continue
                }
                let b = bias?[c] ?? 0
                if plane == 16 {
                    // DCGAN's 4×4 planes: one 16-lane vector each way.
                    var v = load(cl, as: SIMD16<Float>.self) + SIMD16(repeating: b)
                    if accumulate { v += load(img, as: SIMD16<Float>.self) }
                    store(v, img)
                } else if accumulate {
                    for t in 0..<plane { img[t] += cl[t] + b }
                } else {
                    for t in 0..<plane { img[t] = cl[t] + b }
                }
            }
        }
    }
}

// MARK: col2im's input in chunks of frames

/// Where a GEMM writes col and col2im reads it back (a transposed conv's forward, a conv's gradient with
/// respect to its input) and the GEMM's inner dimension is at most `chunkedInnerLimit`, the kernels make
/// col a chunk of frames at a time, each chunk at most `colChunkFloats` (4 MiB), so that col2im reads it
/// from cache. Whole, upc4's col is 235 MB, written to memory by a GEMM of inner dimension 128 and read
/// back from there. Timed call by call against the whole col at the model's shapes (CHANGELOG.md,
/// 2026-12-01), chunks paid at inner dimension 128 (upc4's forward, c2's input gradient) and lost at
/// 256–512 (upc3, upc2, c3, c4), whose narrower GEMMs lost more than the memory traffic saved, so their
/// col stays whole.
let colChunkFloats = 1 << 20
let chunkedInnerLimit = 128

/// Frames per chunk of col for a product of inner dimension `inner` (all of them when not chunked).
func colChunkFrames(_ g: ConvGeometry, inner: Int) -> Int {
    if colIsFrameMajor(g) || inner > chunkedInnerLimit { return g.frames }
    return min(g.frames, max(1, colChunkFloats / (g.colRows * g.outHeight * g.outWidth)))
}

/// body(frames, first column of the chunk in the whole col, columns) over consecutive chunks.
@inline(__always)
func forEachColChunk(_ g: ConvGeometry, inner: Int, _ body: (Range<Int>, Int, Int) -> Void) {
    forEachFrameChunk(g, framesPerChunk: colChunkFrames(g, inner: inner), body)
}

/// body(frames, first column of the chunk in the whole col, columns) over consecutive chunks of
/// `framesPerChunk` frames (the last one partial).
@inline(__always)
func forEachFrameChunk(_ g: ConvGeometry, framesPerChunk step: Int, _ body: (Range<Int>, Int, Int) -> Void) {
    let plane = g.outHeight * g.outWidth
    var f = 0
    while f < g.frames {
        let e = min(g.frames, f + step)
        body(f..<e, f * plane, (e - f) * plane)
        f = e
    }
}
