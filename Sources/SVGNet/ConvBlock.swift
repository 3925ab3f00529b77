// The linear part of a conv layer over one block of its input channels, wired at plan time: which kernel
// computes it, what it reads and writes, where its weights and gradients are. A plain layer has one block
// (all its input channels); a decoder skip layer has three, [d; skip; Z] (Decoder.swift).
//   x:     channelCount × (frames·inSize²)        gradX: the same (empty: no input gradient, e.g. the data)
//   y:     outChannels × (frames·outSize²)        gradY: the same
//   weight block: input channels channelOffset ..< channelOffset + channelCount of the layer's weight:
//     a column block (row stride inChannels·k²) of a Conv2d's (out, in, k, k), a contiguous row block of a
//     ConvTranspose2d's (in, out, k, k)
// Forward  y (+)= W_block · x (+ bias)           Backward gradW_block (+)= …, gradBias (+)= Σ gradY, gradX = W_blockᵀ · gradY
import Kernels

/// The kernel a block runs, chosen once when the plan is built (winogradGeometry and winograd3x3Geometry decide
/// where Winograd pays).
enum ConvKernel {
    /// im2col + GEMM (Conv2d.swift).
    case direct(ConvGeometry)
    /// GEMM + col2im (ConvTranspose2d.swift), with the geometry of the output image.
    case transposedDirect(ConvGeometry)
    /// Winograd F(2×2, 2×2) (Conv2dWinograd.swift).
    case winograd(WinogradGeometry)
    /// Winograd F(2×2, 2×2) of a transposed conv: the adjoint of the conv from its output to its input.
    case transposedWinograd(WinogradGeometry)
    /// Winograd F(2×2, 3×3), in chunks of frames (Conv2dWinograd3x3.swift).
    case winograd3x3(Winograd3x3Geometry)
}

/// What a plan lets its conv blocks keep and ask for, handed from block to block while the plan is built.
struct ColumnBudget {
    /// Floats of forward results (im2col columns, Winograd-transformed inputs) still free to keep for backward.
    var cache: Int
    /// MemoryBudget.columnWorkspace: a direct block's larger col runs in chunks of frames (at least one).
    let workspaceLimit: Int
    /// MemoryBudget.transposedWinogradWorkspace: a transposed Winograd block's larger transformed sides run in
    /// chunks of frames.
    let transposedWinogradLimit: Int
}

struct ConvBlock {
    /// Profile label: "<conv name> conv", "… skip-block" or "… Z-block".
    let label: String
    let kernel: ConvKernel
    let outChannels: Int
    let channelCount: Int
    let x, gradX: Slice
    let y, gradY: Slice
    /// y += the block's product instead of overwriting y (the Z block adds to what the [d] block wrote).
    let accumulate: Bool
    /// The layer's whole weight and its gradient; the block's part starts `weightOffset` floats in, with
    /// row stride `weightStride` (nil: contiguous).
    let weight, gradWeight: Slice
    let weightOffset: Int
    let weightStride: Int?
    let bias: Slice?
    /// The conv's own bias gradient: nil when BatchNorm follows (its backward sums it) or the block has no bias.
    let gradBias: Slice?
    /// What backward reads of x, kept from forward (convColumns(x), or Bᵀ[x] on the Winograd path); empty:
    /// backward recomputes it into the shared workspace.
    let cache: Slice
    /// Frames per chunk of a direct block's col, or of a transposed Winograd block's transformed sides: all
    /// its frames unless they would exceed the budget's limit (conv2dForwardChunked; for a direct block, then
    /// nothing is cached).
    let chunkFrames: Int
    /// Floats of shared workspace the block needs.
    let workspaceCount: Int
    /// 2·M·N·K of the direct GEMM: the useful FLOPs, also on the Winograd path (whose GEMMs do 9/16 of them, or 4/9 for a 3×3).
    let flops: Double

    /// `budget`: a trained non-transposed block keeps its forward results when they fit the cache budget, and
    /// takes them from it; an uncached direct block whose col exceeds the workspace limit runs in chunks of frames.
    init(
        _ s: ConvLayerSpec, label: String, channelOffset: Int, channelCount: Int, frames: Int, x: Slice, gradX: Slice, y: Slice, gradY: Slice,
        accumulate: Bool, weight: Slice, gradWeight: Slice, bias: Slice?, gradBias: Slice?, budget: inout ColumnBudget, planner: inout ArenaPlanner
    ) {
        let kk = s.kernel * s.kernel
        self.label = label; outChannels = s.outChannels; self.channelCount = channelCount
        self.x = x; self.gradX = gradX; self.y = y; self.gradY = gradY; self.accumulate = accumulate
        self.weight = weight; self.gradWeight = gradWeight; self.bias = bias; self.gradBias = gradBias
        weightOffset = s.transposed ? channelOffset * s.outChannels * kk : channelOffset * kk
        weightStride = s.transposed ? nil : s.inChannels * kk
        let positions = s.transposed ? s.inSize * s.inSize : s.outSize * s.outSize
        flops = 2 * Double(s.outChannels) * Double(channelCount * kk) * Double(frames * positions)

        // A trained block (gradY planned) keeps what its backward reads when that fits the cache budget (a
        // cached direct block then needs no shared workspace: its cache is its col).
        let keeps = !s.transposed && gradY.count > 0
        var chunkFrames = frames
        if let wg = winogradGeometry(s, channelBlock: channelCount, opFrames: frames) {
            if s.transposed {
                kernel = .transposedWinograd(wg)
                chunkFrames = wg.transposedChunkFrames(limit: budget.transposedWinogradLimit)
                workspaceCount = wg.transposedWorkspaceCount(chunkFrames: chunkFrames)
                cache = .empty
            } else {
                kernel = .winograd(wg)
                cache = keeps && wg.transformedInputCount <= budget.cache ? planner.floats(wg.transformedInputCount) : .empty
                // A cached block keeps Bᵀ[x] in its cache: the workspace holds only Y~ and W~ (winogradRegions).
                workspaceCount = cache.count > 0 ? wg.scratchCount : wg.workspaceCount
            }
        } else if let wg = winograd3x3Geometry(s, channelBlock: channelCount, opFrames: frames, workspaceLimit: budget.workspaceLimit) {
            // Every chunk's Bᵀ[x] is kept when it fits (4× the input, against a direct col's 9×); else each
            // chunk's is rebuilt in the backward, in the workspace beside the chunk's transformed output.
            kernel = .winograd3x3(wg)
            cache = keeps && wg.cachedInputCount <= budget.cache ? planner.floats(wg.cachedInputCount) : .empty
            workspaceCount = wg.scratchCount + (cache.count > 0 ? 0 : wg.transformedInputChunkCount)
        } else if s.transposed {
            let g = convTranspose2dOutputGeometry(
                inChannels: channelCount, outChannels: s.outChannels, frames: frames, height: s.inSize,
                width: s.inSize, kernel: s.kernel, stride: s.stride, padding: s.padding)
            kernel = .transposedDirect(g)
            workspaceCount = g.colCount
            cache = .empty
        } else {
            let g = ConvGeometry(
                channels: channelCount, frames: frames, height: s.inSize, width: s.inSize, kernelH: s.kernel, kernelW: s.kernel,
                stride: s.stride, padding: s.padding)
            kernel = .direct(g)
            if keeps && g.colCount <= budget.cache {
                cache = planner.floats(g.colCount)
                workspaceCount = 0
            } else {
                cache = .empty
                chunkFrames = conv2dChunkFrames(g, limit: budget.workspaceLimit)
                workspaceCount = g.colRows * chunkFrames * g.outHeight * g.outWidth
            }
        }
        budget.cache -= cache.count
        self.chunkFrames = chunkFrames
    }
}

/// The Winograd F(4×4, 2×2) or F(2×2, 2×2) geometry of a block of `channelBlock` input channels when the layer takes that
/// path (4×4/2/1 with enough channels: winogradApplies), in the conv view: a transposed conv is the adjoint
/// of a conv from its output channels to its input channels.
func winogradGeometry(_ s: ConvLayerSpec, channelBlock: Int, opFrames: Int) -> WinogradGeometry? {
    let (convIn, convOut, plane) = s.transposed ? (s.outChannels, channelBlock, s.inSize) : (channelBlock, s.outChannels, s.outSize)
    guard
        winogradApplies(
            kernel: s.kernel, stride: s.stride, padding: s.padding, convOutHeight: plane, convOutWidth: plane,
            inChannels: convIn, outChannels: convOut, frames: opFrames, algorithm: s.algorithm)
    else { return nil }
    let tile = winogradOutputTile(convOutHeight: plane, convOutWidth: plane, outChannels: convOut, frames: opFrames)
    return WinogradGeometry(inChannels: convIn, outChannels: convOut, frames: opFrames, outHeight: plane, outWidth: plane, outputTile: tile)
}

/// The Winograd F(2×2, 3×3) geometry of a block when the layer takes that path (3×3/1/1 with enough channels:
/// winograd3x3Applies), its frames in chunks whose transformed input and output fit `workspaceLimit`.
func winograd3x3Geometry(_ s: ConvLayerSpec, channelBlock: Int, opFrames: Int, workspaceLimit: Int) -> Winograd3x3Geometry? {
    guard
        !s.transposed,
        winograd3x3Applies(
            kernel: s.kernel, stride: s.stride, padding: s.padding, height: s.inSize, width: s.inSize, inChannels: channelBlock,
            outChannels: s.outChannels, frames: opFrames, algorithm: s.algorithm)
    else { return nil }
    let chunk = winograd3x3ChunkFrames(
        inChannels: channelBlock, outChannels: s.outChannels, frames: opFrames, height: s.inSize, width: s.inSize, limit: workspaceLimit)
    return Winograd3x3Geometry(
        inChannels: channelBlock, outChannels: s.outChannels, frames: opFrames, height: s.inSize, width: s.inSize, chunkFrames: chunk)
}

/// y (+)= W_block · x (+ bias).
func convBlockForward(_ b: ConvBlock, arena: Arena, col: Slice) {
    profiled("\(b.label) fwd", flops: b.flops) {
        let x = UnsafePointer(arena[b.x]), w = UnsafePointer(arena[b.weight] + b.weightOffset), y = arena[b.y]
        let bias = b.bias.map { UnsafePointer(arena[$0]) }
        switch b.kernel {
        case .direct(let g) where b.chunkFrames < g.frames:
            conv2dForwardChunked(
                x: x, weight: w, bias: bias, y: y, col: arena[col], geometry: g, outChannels: b.outChannels,
                weightStride: b.weightStride, accumulate: b.accumulate, chunkFrames: b.chunkFrames)
        case .direct(let g):
            conv2dForward(
                x: x, weight: w, bias: bias, y: y, col: arena[b.cache.count > 0 ? b.cache : col], geometry: g,
                outChannels: b.outChannels, weightStride: b.weightStride, accumulate: b.accumulate)
        case .transposedDirect(let g):
            convTranspose2dForward(
                x: x, weight: w, bias: bias, y: y, col: arena[col], inChannels: b.channelCount, outputGeometry: g,
                accumulate: b.accumulate)
        case .winograd(let g):
            let (transformed, scratch) = winogradRegions(b, g, arena: arena, col: col)
            winogradConv2dForward(
                x: x, weight: w, bias: bias, y: y, transformedInput: transformed, scratch: scratch, geometry: g,
                weightStride: b.weightStride, accumulate: b.accumulate)
        case .transposedWinograd(let g):
            winogradConvTranspose2dForward(
                x: x, weight: w, bias: bias, y: y, workspace: arena[col], geometry: g, chunkFrames: b.chunkFrames, accumulate: b.accumulate)
        case .winograd3x3(let g):
            let (transformed, scratch) = winograd3x3Regions(b, g, arena: arena, col: col)
            winograd3x3Conv2dForward(
                x: x, weight: w, bias: bias, y: y, transformedInput: transformed, keepsEveryChunk: b.cache.count > 0, scratch: scratch,
                geometry: g, weightStride: b.weightStride, accumulate: b.accumulate)
        }
    }
}

/// gradWeight's block and gradBias accumulate; gradX (when the block has one) is overwritten.
func convBlockBackward(_ b: ConvBlock, arena: Arena, col: Slice) {
    profiled("\(b.label) bwd", flops: b.flops * (b.gradX.count > 0 ? 2 : 1)) {
        let gradY = UnsafePointer(arena[b.gradY]), x = UnsafePointer(arena[b.x]), w = UnsafePointer(arena[b.weight] + b.weightOffset)
        let gradWeight = arena[b.gradWeight] + b.weightOffset
        let gradX: UnsafeMutablePointer<Float>? = b.gradX.count > 0 ? arena[b.gradX] : nil
        let gradBias = b.gradBias.map { arena[$0] }
        switch b.kernel {
        case .direct(let g) where b.chunkFrames < g.frames:
            conv2dBackwardChunked(
                gradY: gradY, x: x, weight: w, gradX: gradX, gradWeight: gradWeight, gradBias: gradBias, col: arena[col],
                geometry: g, outChannels: b.outChannels, weightStride: b.weightStride, accumulateParams: true, chunkFrames: b.chunkFrames)
        case .direct(let g):
            // Uncached blocks recompute the columns: one pass instead of their memory.
            if b.cache.count == 0 { convColumns(x, arena[col], g) }
            conv2dBackward(
                gradY: gradY, col: arena[b.cache.count > 0 ? b.cache : col], weight: w, gradX: gradX, gradWeight: gradWeight,
                gradBias: gradBias, geometry: g, outChannels: b.outChannels, weightStride: b.weightStride, accumulateParams: true)
        case .transposedDirect(let g):
            convTranspose2dBackward(
                gradY: gradY, x: x, weight: w, gradX: gradX, gradWeight: gradWeight, gradBias: gradBias, col: arena[col],
                inChannels: b.channelCount, outputGeometry: g, accumulateParams: true)
        case .winograd(let g):
            let (transformed, scratch) = winogradRegions(b, g, arena: arena, col: col)
            if b.cache.count == 0 { winogradInputTransform(x, transformed, g) }
            winogradConv2dBackward(
                gradY: gradY, transformedInput: transformed, weight: w, gradX: gradX, gradWeight: gradWeight,
                gradBias: gradBias, scratch: scratch, geometry: g, weightStride: b.weightStride, accumulateParams: true)
        case .transposedWinograd(let g):
            winogradConvTranspose2dBackward(
                gradY: gradY, x: x, weight: w, gradX: gradX, gradWeight: gradWeight, gradBias: gradBias,
                workspace: arena[col], geometry: g, chunkFrames: b.chunkFrames, accumulateParams: true)
        case .winograd3x3(let g):
            let (transformed, scratch) = winograd3x3Regions(b, g, arena: arena, col: col)
            winograd3x3Conv2dBackward(
                gradY: gradY, x: x, transformedInput: transformed, keepsEveryChunk: b.cache.count > 0, weight: w, gradX: gradX,
                gradWeight: gradWeight, gradBias: gradBias, scratch: scratch, geometry: g, weightStride: b.weightStride,
                accumulateParams: true)
        }
    }
}

/// Where a Winograd conv keeps Bᵀ[x] and its scratch: the block's cache and the shared workspace, or both in
/// the shared workspace, one after the other.
private func winogradRegions(_ b: ConvBlock, _ g: WinogradGeometry, arena: Arena, col: Slice)
    -> (transformed: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>)
{
    b.cache.count > 0 ? (arena[b.cache], arena[col]) : (arena[col], arena[col] + g.transformedInputCount)
}

/// Where an F(2×2, 3×3) conv keeps Bᵀ[x] (every chunk's in the block's cache, or one chunk's at the start of the
/// shared workspace) and its scratch (the rest of the workspace).
private func winograd3x3Regions(_ b: ConvBlock, _ g: Winograd3x3Geometry, arena: Arena, col: Slice)
    -> (transformed: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>)
{
    b.cache.count > 0 ? (arena[b.cache], arena[col]) : (arena[col], arena[col] + g.transformedInputChunkCount)
}
