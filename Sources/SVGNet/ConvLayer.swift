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
    /// The linear part: input → pre over the layer's whole input, or, in a decoder skip layer, over its
    /// [d] block (the first `inputChannels` channels), whose other blocks the decoder adds.
    let conv: ConvBlock

    /// `input` (and `gradInput`, empty when no gradient is wanted) is whatever produces the layer's input:
    /// the previous layer's output, a pooled or upsampled map, the data. `grad` is the layer's link of the
    /// gradient chain (GradientChain.swift), empty when no gradient is wanted.
    init(
        _ spec: ConvLayerSpec, frames: Int, groups: Int, input: Slice, gradInput: Slice, inputChannels: Int? = nil, grad: Slice,
        layout: ParameterLayout, planner: inout ArenaPlanner, budget: inout ColumnBudget, replicas: BatchNormReplicas? = nil
    ) {
        self.spec = spec; self.frames = frames; self.groups = groups
        self.replicas = spec.bnName == nil ? nil : replicas
        statisticsScratch = self.replicas == nil ? .empty : planner.floats(4 * groups * spec.outChannels)
        weight = layout.slice("\(spec.convName).weight"); bias = layout.slice("\(spec.convName).bias")
        gradWeight = layout.gradient("\(spec.convName).weight"); gradBias = layout.gradient("\(spec.convName).bias")
        let n = spec.outputCount(frames: frames)
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
        precondition(grad.count == 0 || grad.count == n, "ConvLayerPlan: a gradient of \(grad.count) floats for an output of \(n)")
        let out = planner.floats(n)
        self.out = out; self.grad = grad
        // Without BatchNorm the conv writes `out` and the activation runs in place. With it, BatchNorm's
        // backward sums the bias gradient (Σ of dL/d pre over a channel) in the pass that writes dL/d pre.
        conv = ConvBlock(
            spec, label: "\(spec.convName) conv", channelOffset: 0, channelCount: inputChannels ?? spec.inChannels, frames: frames,
            x: input, gradX: gradInput, y: spec.bnName == nil ? out : pre, gradY: grad, accumulate: false,
            weight: weight, gradWeight: gradWeight, bias: bias, gradBias: spec.bnName == nil ? gradBias : nil,
            budget: &budget, planner: &planner)
    }

    var preSlice: Slice { spec.bnName == nil ? out : pre }
    var outPlane: Int { spec.outSize * spec.outSize }
    var outCount: Int { spec.outChannels * frames * outPlane }
    /// BatchNorm followed by LeakyReLU: the activation runs inside BatchNorm's passes, forward and backward.
    var fusedLeakySlope: Float? { spec.bnName != nil && spec.activation == .leakyReLU ? leakyReLUSlope : nil }
    var bnShape: BatchNormShape { BatchNormShape(channels: spec.outChannels, groups: groups, framesPerGroup: frames / groups, plane: outPlane) }
    /// The kernels' view of `replicas`, its workspace in `arena`.
    func crossReplicaStatistics(_ arena: Arena) -> CrossReplicaStatistics? {
        guard let r = replicas else { return nil }
        let scratch = UnsafeMutableRawPointer(arena[statisticsScratch]).bindMemory(to: Double.self, capacity: 2 * groups * spec.outChannels)
        return CrossReplicaStatistics(group: r.group, framesPerGroup: r.framesPerGroup, scratch: scratch)
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
            batchNorm2dTrainingForward(
                x: arena[l.pre], y: out, gamma: arena[l.gamma!], beta: arena[l.beta!],
                mean: arena[l.mean!], invStd: arena[l.invStd!],
                runningMean: updateRunningStatistics ? arena[l.runningMean!] : nil,
                runningVar: updateRunningStatistics ? arena[l.runningVar!] : nil, leakySlope: slope, shape: l.bnShape,
                replicas: l.crossReplicaStatistics(arena))
        case .runningStatistics:
            batchNorm2dInferenceForward(
                x: arena[l.pre], y: out, gamma: arena[l.gamma!], beta: arena[l.beta!],
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
    let slope = l.fusedLeakySlope // BatchNorm's backward applies the fused activation's gate itself
    if slope == nil {
        switch l.spec.activation {
        case .leakyReLU: leakyReLUBackward(gradY: g, y: out, gradX: g, count: n)
        case .tanh: tanhBackward(gradY: g, y: out, gradX: g, count: n)
        case .sigmoid: sigmoidBackward(gradY: g, y: out, gradX: g, count: n)
        }
    }
    if l.spec.bnName != nil {
        batchNorm2dBackward(
            gradY: g, x: arena[l.pre], gamma: arena[l.gamma!], mean: arena[l.mean!], invStd: arena[l.invStd!],
            gradX: g, gradGamma: arena[l.gradGamma!], gradBeta: arena[l.gradBeta!], gradXSum: arena[l.gradBias],
            beta: arena[l.beta!], leakySlope: slope, shape: l.bnShape, accumulateParams: true,
            replicas: l.crossReplicaStatistics(arena))
    }
}

/// A plain layer: conv, then BatchNorm and activation.
func convLayerForward(_ l: ConvLayerPlan, arena: Arena, col: Slice, mode: BatchNormMode, updateRunningStatistics: Bool) {
    convBlockForward(l.conv, arena: arena, col: col)
    normalizeAndActivate(l, arena: arena, mode: mode, updateRunningStatistics: updateRunningStatistics)
}

/// On entry `grad` holds dL/d out; leaves dL/d input in the conv's gradX.
func convLayerBackward(_ l: ConvLayerPlan, arena: Arena, col: Slice) {
    normalizeAndActivateBackward(l, arena: arena)
    convBlockBackward(l.conv, arena: arena, col: col)
}
