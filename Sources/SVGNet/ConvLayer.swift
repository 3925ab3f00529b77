// A planned conv layer: conv (or transposed conv) → BatchNorm (grouped, MODEL.md "Training step") →
// activation, over a fixed number of CNHW frames. Forward and backward are plain functions over the arena.
//   input:  inChannels × (frames·inSize²)          (owned by whoever produces it)
//   pre:    outChannels × (frames·outSize²)        conv output = BatchNorm input (kept for backward)
//   out:    outChannels × (frames·outSize²)        after BatchNorm and activation (kept for backward)
//   grad:   dL/d out on entry to backward, turned in place into dL/d pre
// Without BatchNorm, pre and out are the same slice and the activation runs in place.
import Kernels

/// Which statistics BatchNorm normalises with in a forward pass: each group's own batch statistics (training,
/// and sampling as the reference does), or the running averages (`--bn running`).
public enum BatchNormMode: Sendable { case batchStatistics, runningStatistics }

/// The replicas whose frames make up each BatchNorm group in data-parallel training, and how many frames per
/// group they hold together (the global batch): fixed at plan time.
struct BatchNormReplicas {
    let group: any ReplicaGroup
    let framesPerGroup: Int
}

struct ConvLayerPlan {
    let spec: ConvLayerSpec
    let frames: Int
    let groups: Int
    let weight, bias, gradWeight, gradBias: Slice
    let gamma, beta, gradGamma, gradBeta, runningMean, runningVar: Slice?
    let pre, out, grad: Slice
    let mean, invStd: Slice?
    /// Data-parallel training: statistics over every replica's frames, summed in `statisticsScratch`
    /// (2·G·C Doubles). Nil: this process's frames are the whole batch.
    let replicas: BatchNormReplicas?
    let statisticsScratch: Slice
    /// What the backward reads of the input, kept from forward (conv layers whose share fits the plan's
    /// budget): convColumns(input), or Bᵀ[input] on the Winograd path. Empty: backward recomputes it into
    /// the shared workspace.
    let cachedCol: Slice

    init(_ spec: ConvLayerSpec, frames: Int, groups: Int, layout: ParameterLayout, planner: inout ArenaPlanner, needsGrad: Bool,
         cacheColumns: Bool = false, replicas: BatchNormReplicas? = nil) {
        self.spec = spec; self.frames = frames; self.groups = groups
        self.replicas = spec.bnName == nil ? nil : replicas
        statisticsScratch = self.replicas == nil ? .empty : planner.floats(4 * groups * spec.outChannels)
        weight = layout.slice("\(spec.convName).weight"); bias = layout.slice("\(spec.convName).bias")
        gradWeight = layout.gradient("\(spec.convName).weight"); gradBias = layout.gradient("\(spec.convName).bias")
        let n = spec.outChannels * frames * spec.outSize * spec.outSize
        if let bn = spec.bnName {
            gamma = layout.slice("\(bn).weight"); beta = layout.slice("\(bn).bias")
            gradGamma = layout.gradient("\(bn).weight"); gradBeta = layout.gradient("\(bn).bias")
            runningMean = layout.slice("\(bn).running_mean"); runningVar = layout.slice("\(bn).running_var")
            pre = planner.floats(n)
            mean = planner.floats(groups * spec.outChannels); invStd = planner.floats(groups * spec.outChannels)
        } else {
            gamma = nil; beta = nil; gradGamma = nil; gradBeta = nil; runningMean = nil; runningVar = nil
            mean = nil; invStd = nil
            pre = .empty
        }
        out = planner.floats(n)
        grad = needsGrad ? planner.floats(n) : .empty
        cachedCol = cacheColumns && needsGrad && !spec.transposed
            ? planner.floats(ConvLayerPlan.cachedColCount(spec, opFrames: frames)) : .empty
    }

    var preSlice: Slice { spec.bnName == nil ? out : pre }
    var outPlane: Int { spec.outSize * spec.outSize }
    var inPlane: Int { spec.inSize * spec.inSize }
    var outCount: Int { spec.outChannels * frames * outPlane }
    /// The bias gradient the conv's backward computes: none when BatchNorm follows, whose backward sums it
    /// (Σ of dL/d pre over a channel) in the pass that writes dL/d pre, instead of a pass of its own.
    var convGradBias: Slice? { spec.bnName == nil ? gradBias : nil }
    /// BatchNorm followed by LeakyReLU: the activation runs inside BatchNorm's passes, forward and backward.
    var fusedLeakySlope: Float? { spec.bnName != nil && spec.activation == .leakyReLU ? leakyReLUSlope : nil }
    var bnShape: BatchNormShape { BatchNormShape(channels: spec.outChannels, groups: groups, framesPerGroup: frames / groups, plane: outPlane) }
    /// The kernels' view of `replicas`, its workspace in `arena`.
    func crossReplicaStatistics(_ arena: Arena) -> CrossReplicaStatistics? {
        guard let r = replicas else { return nil }
        let scratch = UnsafeMutableRawPointer(arena[statisticsScratch]).bindMemory(to: Double.self, capacity: 2 * groups * spec.outChannels)
        return CrossReplicaStatistics(group: r.group, framesPerGroup: r.framesPerGroup, scratch: scratch)
    }

    /// Floats of workspace the layer needs for `channelBlock` input channels over `opFrames` frames: im2col's
    /// col, or the Winograd path's transformed input and scratch.
    static func colCount(_ s: ConvLayerSpec, channelBlock: Int, opFrames: Int) -> Int {
        if let w = winogradGeometry(s, channelBlock: channelBlock, opFrames: opFrames) { return w.workspaceCount }
        return s.transposed ? s.outChannels * s.kernel * s.kernel * opFrames * s.inSize * s.inSize
                            : channelBlock * s.kernel * s.kernel * opFrames * s.outSize * s.outSize
    }

    /// Floats a conv layer keeps from forward for backward when cached: col, or Bᵀ[input] (whose scratch
    /// is the shared workspace).
    static func cachedColCount(_ s: ConvLayerSpec, opFrames: Int) -> Int {
        winogradGeometry(s, channelBlock: s.inChannels, opFrames: opFrames)?.transformedInputCount
            ?? colCount(s, channelBlock: s.inChannels, opFrames: opFrames)
    }
}

/// The Winograd F(2×2, 2×2) geometry of a block of `channelBlock` input channels when the layer takes that
/// path (4×4/2/1 with enough channels: winogradApplies), in the conv view: a transposed conv is the adjoint
/// of a conv from its output channels to its input channels.
func winogradGeometry(_ s: ConvLayerSpec, channelBlock: Int, opFrames: Int) -> WinogradGeometry? {
    let (convIn, convOut, plane) = s.transposed ? (s.outChannels, channelBlock, s.inSize) : (channelBlock, s.outChannels, s.outSize)
    guard winogradApplies(kernel: s.kernel, stride: s.stride, padding: s.padding, convOutHeight: plane, convOutWidth: plane,
                          inChannels: convIn, outChannels: convOut, frames: opFrames, algorithm: s.algorithm) else { return nil }
    return WinogradGeometry(inChannels: convIn, outChannels: convOut, frames: opFrames, outHeight: plane, outWidth: plane)
}

// MARK: the linear part over a block of input channels

/// y (+)= conv(W[:, block], x) over `opFrames` frames; x holds `channelCount` channels, which are input
/// channels `channelOffset ..< channelOffset + channelCount` of the layer's weight. `col` is the shared
/// workspace; `cache`, when not empty, the layer's own slice that keeps what backward reads of x.
func convBlockForward(_ s: ConvLayerSpec, arena: Arena, x: UnsafePointer<Float>, channelOffset: Int, channelCount: Int, opFrames: Int,
                      weight: Slice, bias: Slice?, y: UnsafeMutablePointer<Float>, accumulate: Bool, col: Slice, cache: Slice = .empty) {
    profiled("\(s.convName) \(blockName(s, channelOffset)) fwd", flops: convBlockFlops(s, channelCount, opFrames)) {
        convBlockForwardBody(s, arena: arena, x: x, channelOffset: channelOffset, channelCount: channelCount, opFrames: opFrames,
                             weight: weight, bias: bias, y: y, accumulate: accumulate, col: col, cache: cache)
    }
}

/// 2·M·N·K of the block's direct GEMM (the same for a conv and a transposed conv of these channels): the
/// useful FLOPs, also on the Winograd path, whose GEMMs do 9/16 of them.
func convBlockFlops(_ s: ConvLayerSpec, _ channelCount: Int, _ opFrames: Int) -> Double {
    let positions = s.transposed ? s.inSize * s.inSize : s.outSize * s.outSize
    return 2 * Double(s.outChannels) * Double(channelCount * s.kernel * s.kernel) * Double(opFrames * positions)
}

/// Which input-channel block of a split layer: [d; skip; Z].
func blockName(_ s: ConvLayerSpec, _ channelOffset: Int) -> String {
    channelOffset == 0 ? "conv" : (channelOffset * 3 < s.inChannels * 2 ? "skip-block" : "Z-block")
}

private func convBlockForwardBody(_ s: ConvLayerSpec, arena: Arena, x: UnsafePointer<Float>, channelOffset: Int, channelCount: Int, opFrames: Int,
                                  weight: Slice, bias: Slice?, y: UnsafeMutablePointer<Float>, accumulate: Bool, col: Slice, cache: Slice) {
    let kk = s.kernel * s.kernel
    let b: UnsafePointer<Float>? = bias.map { UnsafePointer(arena[$0]) }
    if let wg = winogradGeometry(s, channelBlock: channelCount, opFrames: opFrames) {
        if s.transposed {
            precondition(col.count >= wg.workspaceCount, "\(s.convName): workspace \(col.count) < \(wg.workspaceCount)")
            winogradConvTranspose2dForward(x: x, weight: arena[weight] + channelOffset * s.outChannels * kk, bias: b, y: y,
                                           workspace: arena[col], geometry: wg, accumulate: accumulate)
        } else {
            let (transformed, scratch) = winogradRegions(s, wg, arena: arena, col: col, cache: cache)
            winogradConv2dForward(x: x, weight: arena[weight] + channelOffset * kk, bias: b, y: y, transformedInput: transformed, scratch: scratch,
                                  geometry: wg, weightStride: s.inChannels * kk, accumulate: accumulate)
        }
        return
    }
    let direct = cache.count > 0 ? cache : col
    if s.transposed {
        let g = convTranspose2dOutputGeometry(inChannels: channelCount, outChannels: s.outChannels, frames: opFrames, height: s.inSize, width: s.inSize,
                                              kernel: s.kernel, stride: s.stride, padding: s.padding)
        convTranspose2dForward(x: x, weight: arena[weight] + channelOffset * s.outChannels * kk, bias: b, y: y, col: arena[direct],
                               inChannels: channelCount, outputGeometry: g, accumulate: accumulate)
    } else {
        let g = ConvGeometry(channels: channelCount, frames: opFrames, height: s.inSize, width: s.inSize, kernelH: s.kernel, kernelW: s.kernel,
                             stride: s.stride, padding: s.padding)
        conv2dForward(x: x, weight: arena[weight] + channelOffset * kk, bias: b, y: y, col: arena[direct], geometry: g,
                      outChannels: s.outChannels, weightStride: s.inChannels * kk, accumulate: accumulate)
    }
}

/// Where a Winograd conv keeps Bᵀ[x] and its scratch: the layer's cache and the whole shared workspace, or
/// both in the shared workspace, one after the other.
private func winogradRegions(_ s: ConvLayerSpec, _ wg: WinogradGeometry, arena: Arena, col: Slice, cache: Slice)
    -> (transformed: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
    if cache.count > 0 {
        precondition(cache.count >= wg.transformedInputCount && col.count >= wg.scratchCount,
                     "\(s.convName): cache \(cache.count) / workspace \(col.count) too small for \(wg)")
        return (arena[cache], arena[col])
    }
    precondition(col.count >= wg.workspaceCount, "\(s.convName): workspace \(col.count) < \(wg.workspaceCount)")
    return (arena[col], arena[col] + wg.transformedInputCount)
}

/// Backward of convBlockForward: gradWeight's block and gradBias accumulate; gradX (if any) is overwritten.
/// `cache`, when not empty, holds what the forward kept of x (a cached layer), so it is not recomputed.
func convBlockBackward(_ s: ConvLayerSpec, arena: Arena, gradY: UnsafePointer<Float>, x: UnsafePointer<Float>, channelOffset: Int, channelCount: Int,
                       opFrames: Int, weight: Slice, gradWeight: Slice, gradBias: Slice?, gradX: UnsafeMutablePointer<Float>?, col: Slice,
                       cache: Slice = .empty) {
    profiled("\(s.convName) \(blockName(s, channelOffset)) bwd", flops: convBlockFlops(s, channelCount, opFrames) * (gradX == nil ? 1 : 2)) {
        convBlockBackwardBody(s, arena: arena, gradY: gradY, x: x, channelOffset: channelOffset, channelCount: channelCount, opFrames: opFrames,
                              weight: weight, gradWeight: gradWeight, gradBias: gradBias, gradX: gradX, col: col, cache: cache)
    }
}

private func convBlockBackwardBody(_ s: ConvLayerSpec, arena: Arena, gradY: UnsafePointer<Float>, x: UnsafePointer<Float>, channelOffset: Int,
                                   channelCount: Int, opFrames: Int, weight: Slice, gradWeight: Slice, gradBias: Slice?,
                                   gradX: UnsafeMutablePointer<Float>?, col: Slice, cache: Slice) {
    let kk = s.kernel * s.kernel
    let gb: UnsafeMutablePointer<Float>? = gradBias.map { arena[$0] }
    if let wg = winogradGeometry(s, channelBlock: channelCount, opFrames: opFrames) {
        if s.transposed {
            precondition(col.count >= wg.workspaceCount, "\(s.convName): workspace \(col.count) < \(wg.workspaceCount)")
            winogradConvTranspose2dBackward(gradY: gradY, x: x, weight: arena[weight] + channelOffset * s.outChannels * kk, gradX: gradX,
                                            gradWeight: arena[gradWeight] + channelOffset * s.outChannels * kk, gradBias: gb,
                                            workspace: arena[col], geometry: wg, accumulateParams: true)
        } else {
            let (transformed, scratch) = winogradRegions(s, wg, arena: arena, col: col, cache: cache)
            if cache.count == 0 { winogradInputTransform(x, transformed, wg) }
            winogradConv2dBackward(gradY: gradY, transformedInput: transformed, weight: arena[weight] + channelOffset * kk, gradX: gradX,
                                   gradWeight: arena[gradWeight] + channelOffset * kk, gradBias: gb, scratch: scratch, geometry: wg,
                                   weightStride: s.inChannels * kk, accumulateParams: true)
        }
        return
    }
    if s.transposed {
        let g = convTranspose2dOutputGeometry(inChannels: channelCount, outChannels: s.outChannels, frames: opFrames, height: s.inSize, width: s.inSize,
                                              kernel: s.kernel, stride: s.stride, padding: s.padding)
        convTranspose2dBackward(gradY: gradY, x: x, weight: arena[weight] + channelOffset * s.outChannels * kk, gradX: gradX,
                                gradWeight: arena[gradWeight] + channelOffset * s.outChannels * kk, gradBias: gb, col: arena[col],
                                inChannels: channelCount, outputGeometry: g, accumulateParams: true)
    } else {
        let g = ConvGeometry(channels: channelCount, frames: opFrames, height: s.inSize, width: s.inSize, kernelH: s.kernel, kernelW: s.kernel,
                             stride: s.stride, padding: s.padding)
        let direct = cache.count > 0 ? cache : col
        if cache.count == 0 { convColumns(x, arena[col], g) }   // uncached layers recompute it: one pass instead of its memory
        conv2dBackward(gradY: gradY, col: arena[direct], weight: arena[weight] + channelOffset * kk, gradX: gradX,
                       gradWeight: arena[gradWeight] + channelOffset * kk, gradBias: gb, geometry: g, outChannels: s.outChannels,
                       weightStride: s.inChannels * kk, accumulateParams: true)
    }
}

// MARK: normalisation and activation

/// pre → out: BatchNorm (batch statistics per time-step group, or running statistics) then the activation.
func normalizeAndActivate(_ l: ConvLayerPlan, arena: Arena, mode: BatchNormMode, updateRunningStatistics: Bool) {
    profiled("\(l.spec.convName) bn+act fwd") { normalizeAndActivateBody(l, arena: arena, mode: mode, updateRunningStatistics: updateRunningStatistics) }
}

private func normalizeAndActivateBody(_ l: ConvLayerPlan, arena: Arena, mode: BatchNormMode, updateRunningStatistics: Bool) {
    let out = arena[l.out], n = l.outCount
    let slope = l.fusedLeakySlope
    if l.spec.bnName != nil {
        switch mode {
        case .batchStatistics:
            batchNorm2dTrainingForward(x: arena[l.pre], y: out, gamma: arena[l.gamma!], beta: arena[l.beta!],
                                       mean: arena[l.mean!], invStd: arena[l.invStd!],
                                       runningMean: updateRunningStatistics ? arena[l.runningMean!] : nil,
                                       runningVar: updateRunningStatistics ? arena[l.runningVar!] : nil, leakySlope: slope, shape: l.bnShape,
                                       replicas: l.crossReplicaStatistics(arena))
        case .runningStatistics:
            batchNorm2dInferenceForward(x: arena[l.pre], y: out, gamma: arena[l.gamma!], beta: arena[l.beta!],
                                        runningMean: arena[l.runningMean!], runningVar: arena[l.runningVar!], leakySlope: slope, shape: l.bnShape)
        }
    }
    if slope != nil { return }
    switch l.spec.activation {
    case .leakyReLU: leakyReLUForward(x: out, y: out, count: n)
    case .tanh: tanhForward(x: out, y: out, count: n)
    case .sigmoid: sigmoidForward(x: out, y: out, count: n)
    }
}

/// grad: dL/d out → dL/d pre, in place.
func normalizeAndActivateBackward(_ l: ConvLayerPlan, arena: Arena) {
    profiled("\(l.spec.convName) bn+act bwd") { normalizeAndActivateBackwardBody(l, arena: arena) }
}

private func normalizeAndActivateBackwardBody(_ l: ConvLayerPlan, arena: Arena) {
    let g = arena[l.grad], out = arena[l.out], n = l.outCount
    let slope = l.fusedLeakySlope   // BatchNorm's backward applies the fused activation's gate itself
    if slope == nil {
        switch l.spec.activation {
        case .leakyReLU: leakyReLUBackward(gradY: g, y: out, gradX: g, count: n)
        case .tanh: tanhBackward(gradY: g, y: out, gradX: g, count: n)
        case .sigmoid: sigmoidBackward(gradY: g, y: out, gradX: g, count: n)
        }
    }
    if l.spec.bnName != nil {
        batchNorm2dBackward(gradY: g, x: arena[l.pre], gamma: arena[l.gamma!], mean: arena[l.mean!], invStd: arena[l.invStd!],
                            gradX: g, gradGamma: arena[l.gradGamma!], gradBeta: arena[l.gradBeta!], gradXSum: arena[l.gradBias],
                            beta: arena[l.beta!], leakySlope: slope, shape: l.bnShape, accumulateParams: true,
                            replicas: l.crossReplicaStatistics(arena))
    }
}

/// A whole layer over one input (no channel split).
func convLayerForward(_ l: ConvLayerPlan, arena: Arena, input: UnsafePointer<Float>, col: Slice, mode: BatchNormMode, updateRunningStatistics: Bool) {
    convBlockForward(l.spec, arena: arena, x: input, channelOffset: 0, channelCount: l.spec.inChannels, opFrames: l.frames,
                     weight: l.weight, bias: l.bias, y: arena[l.preSlice], accumulate: false, col: col, cache: l.cachedCol)
    normalizeAndActivate(l, arena: arena, mode: mode, updateRunningStatistics: updateRunningStatistics)
}

func convLayerBackward(_ l: ConvLayerPlan, arena: Arena, input: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>?, col: Slice) {
    normalizeAndActivateBackward(l, arena: arena)
    convBlockBackward(l.spec, arena: arena, gradY: arena[l.grad], x: input, channelOffset: 0, channelCount: l.spec.inChannels,
                      opFrames: l.frames, weight: l.weight, gradWeight: l.gradWeight, gradBias: l.convGradBias, gradX: gradInput,
                      col: col, cache: l.cachedCol)
}
