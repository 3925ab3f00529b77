// The decoder over a block of CNHW frames with its skip connections and feature aligners
// (MODEL.md "Backbones", "Feature aligner").
//   input:  gDim × frames (h_pred viewed 1×1);  output: C × (frames·64²)
// A skip stage's first layer reads [d; skip] (or [d; skip; Z] with an aligner) through a weight split
// into input-channel blocks (MODEL.md "Cost"):
//   pre = W_d·d + W_z·Z + gather(W_e·source)
// where `source` holds only the distinct skip-source frames (sourceFrames of them) and
// `sourceOf[f]` names the source of frame f. W_e·source is computed once per source frame.
// Aligner (level ℓ): Q = W_q d, K = W_k source, V = W_v source (or W_v d), Z_f = V·softmax(QᵀK)ᵀ.
// The layers form one list, each wired to its inputs and input gradients when the plan is built: forward
// runs it in order, backward in reverse.
import Kernels

/// Nearest-neighbour ×2 upsampling of `planes` planes of height × width (VGG-64).
struct UpsamplePlan {
    let x, gradX, y, gradY: Slice
    let planes, height, width: Int
}

/// A 1×1 conv over `columns` CNHW columns (the aligner's query, key and value maps). Its backward adds to
/// gradX: d and the skip source feed other layers too.
struct Conv1x1Plan {
    let x, gradX, y, gradY: Slice
    let weight, bias, gradWeight, gradBias: Slice
    let inChannels, outChannels, columns: Int
}

struct AlignerPlan {
    let spec: AlignerSpec
    let query, key, value: Conv1x1Plan
    /// Every query frame's map (queryFrames·P²), or, when `keepsAttention` is false, one frame's: the
    /// forward's workspace and the backward's recomputed map.
    let attention: Slice
    let keepsAttention: Bool
    let z, gradZ, scratch: Slice
    let shape: AlignerShape
    /// V = W_v d (the decoder's map) instead of W_v source.
    let valueFromDecoder: Bool
}

/// A skip stage's first layer: its [d] block is `layer.conv`; the skip block runs over the source frames into
/// `shared` and is gathered into every frame that reads it; the Z block adds the aligned features.
struct SkipLayerPlan {
    let layer: ConvLayerPlan
    let channels: Int
    let plane: Int
    let source, gradSource: Slice // channels × (sourceFrames·plane)
    let shared, gradShared: Slice // outChannels × (sourceFrames·outPlane): W_e·source
    let sourceBlock: ConvBlock
    let aligner: AlignerPlan?
    let alignedBlock: ConvBlock?
}

struct DecoderPlan {
    enum Layer {
        case upsample(UpsamplePlan)
        case conv(ConvLayerPlan)
        case skipConv(SkipLayerPlan)
    }
    let frames: Int
    let groups: Int
    let sourceFrames: Int
    let input: Slice // gDim × frames
    let inputGrad: Slice
    let sourceOf: IntSlice // frames entries
    let layers: [Layer]
    /// The skip layers by level ℓ (0 smallest … 3 largest).
    let skips: [SkipLayerPlan]
    let output, outputGrad: Slice
    /// Floats of shared workspace the layers need.
    let workspaceCount: Int

    init(
        _ net: Network, frames: Int, groups: Int, sourceFrames: Int, layout: ParameterLayout, planner: inout ArenaPlanner, needsGrad: Bool,
        memory: MemoryBudget, gradients: inout GradientChain, replicas: BatchNormReplicas? = nil
    ) {
        if needsGrad { gradients.beginChain() }
        self.frames = frames; self.groups = groups; self.sourceFrames = sourceFrames
        let c = net.config
        input = planner.floats(c.gDim * frames)
        inputGrad = needsGrad ? planner.floats(c.gDim * frames) : .empty
        let sourceOf = planner.ints(frames)
        self.sourceOf = sourceOf
        func link(_ n: Int, line: UInt = #line) -> Slice { needsGrad ? gradients.next(n, planner: &planner, line: line) : .empty }
        // The decoder's blocks recompute what their backward reads; only the col limit applies.
        var budget = ColumnBudget(
            cache: 0, workspaceLimit: memory.columnWorkspace, transposedWinogradLimit: memory.transposedWinogradWorkspace)
        var attentionBudget = memory.cachedAttention
        var layers: [Layer] = [], skips: [Int: SkipLayerPlan] = [:], blocks: [ConvBlock] = []
        var d = input, gradD = inputGrad, dChannels = c.gDim, dSize = 1
        for stage in net.decoder {
            if stage.upsample {
                let planes = dChannels * frames, count = planes * 4 * dSize * dSize
                let y = planner.floats(count)
                let up = UpsamplePlan(x: d, gradX: gradD, y: y, gradY: link(count), planes: planes, height: dSize, width: dSize)
                layers.append(.upsample(up))
                (d, gradD, dSize) = (up.y, up.gradY, 2 * dSize)
            }
            for (li, spec) in stage.layers.enumerated() {
                if li == 0, let level = stage.skipLevel {
                    let skip = SkipLayerPlan(
                        net, spec, level: level, frames: frames, groups: groups, sourceFrames: sourceFrames, d: d, gradD: gradD,
                        grad: link(spec.outputCount(frames: frames)), sourceOf: sourceOf, layout: layout, planner: &planner,
                        needsGrad: needsGrad, budget: &budget,
                        attentionBudget: &attentionBudget, replicas: replicas)
                    layers.append(.skipConv(skip)); skips[level] = skip
                    blocks += [skip.layer.conv, skip.sourceBlock] + (skip.alignedBlock.map { [$0] } ?? [])
                    (d, gradD) = (skip.layer.out, skip.layer.grad)
                } else {
                    let l = ConvLayerPlan(
                        spec, frames: frames, groups: groups, input: d, gradInput: gradD, grad: link(spec.outputCount(frames: frames)),
                        layout: layout, planner: &planner, budget: &budget, replicas: replicas)
                    layers.append(.conv(l)); blocks.append(l.conv)
                    (d, gradD) = (l.out, l.grad)
                }
                (dChannels, dSize) = (spec.outChannels, spec.outSize)
            }
        }
        (output, outputGrad) = (d, gradD)
        self.layers = layers
        self.skips = (0..<skips.count).map { skips[$0]! }
        workspaceCount = blocks.map(\.workspaceCount).max()!
    }

    /// The skip layer of level ℓ (0 smallest … 3 largest).
    func skip(level: Int) -> SkipLayerPlan { skips[level] }

    func forward(arena: Arena, col: Slice, mode: BatchNormMode, updateRunningStatistics: Bool) {
        for layer in layers {
            switch layer {
            case .upsample(let u):
                upsampleNearest2xForward(x: arena[u.x], y: arena[u.y], planes: u.planes, height: u.height, width: u.width)
            case .conv(let l):
                convLayerForward(l, arena: arena, col: col, mode: mode, updateRunningStatistics: updateRunningStatistics)
            case .skipConv(let s):
                skipLayerForward(s, arena: arena, col: col)
                normalizeAndActivate(s.layer, arena: arena, mode: mode, updateRunningStatistics: updateRunningStatistics)
            }
        }
    }

    /// On entry `outputGrad` holds dL/d output. Leaves dL/d input in `inputGrad` and the skip-source
    /// gradients in each skip's `gradSource`.
    func backward(arena: Arena, col: Slice) {
        for layer in layers.reversed() {
            switch layer {
            case .upsample(let u):
                upsampleNearest2xBackward(gradY: arena[u.gradY], gradX: arena[u.gradX], planes: u.planes, height: u.height, width: u.width)
            case .conv(let l):
                convLayerBackward(l, arena: arena, col: col)
            case .skipConv(let s):
                normalizeAndActivateBackward(s.layer, arena: arena)
                skipLayerBackward(s, arena: arena, col: col)
            }
        }
    }

    private func skipLayerForward(_ s: SkipLayerPlan, arena: Arena, col: Slice) {
        let l = s.layer, sourceOf = UnsafePointer(arena[self.sourceOf])
        // [d; …]: the decoder block, with the bias.
        convBlockForward(l.conv, arena: arena, col: col)
        // […; skip; …]: once per source frame, then added to every frame that reads it.
        convBlockForward(s.sourceBlock, arena: arena, col: col)
        gatherFramesAdd(
            shared: arena[s.shared], perStep: arena[l.preSlice], sourceOf: sourceOf, channels: l.spec.outChannels,
            frames: frames, sourceFrames: sourceFrames, plane: l.outPlane)
        guard let a = s.aligner, let alignedBlock = s.alignedBlock else { return }
        conv1x1LayerForward(a.query, arena: arena)
        conv1x1LayerForward(a.key, arena: arena)
        conv1x1LayerForward(a.value, arena: arena)
        let shape = a.shape
        profiled(
            "\(a.spec.name) attention fwd", flops: 2 * Double(frames) * Double(shape.plane * shape.plane) * Double(shape.keyChannels + shape.valueChannels)
        ) {
            alignerAttentionForward(
                q: arena[a.query.y], k: arena[a.key.y], v: arena[a.value.y], attention: arena[a.attention], z: arena[a.z],
                keyFrame: sourceOf, shape: shape, valueFromQueryFrame: a.valueFromDecoder, keepsAttention: a.keepsAttention)
        }
        // […; Z]: per frame.
        convBlockForward(alignedBlock, arena: arena, col: col)
    }

    private func skipLayerBackward(_ s: SkipLayerPlan, arena: Arena, col: Slice) {
        let l = s.layer, sourceOf = UnsafePointer(arena[self.sourceOf])
        // Source block: sum the gradients of every frame that read a source, then one backward per source.
        scatterFramesSum(
            perStep: arena[l.grad], shared: arena[s.gradShared], sourceOf: sourceOf, channels: l.spec.outChannels,
            frames: frames, sourceFrames: sourceFrames, plane: l.outPlane)
        convBlockBackward(s.sourceBlock, arena: arena, col: col)
        convBlockBackward(l.conv, arena: arena, col: col)
        guard let a = s.aligner, let alignedBlock = s.alignedBlock else { return }
        convBlockBackward(alignedBlock, arena: arena, col: col)
        arena.zero(a.key.gradY); arena.zero(a.value.gradY)
        let shape = a.shape
        profiled(
            "\(a.spec.name) attention bwd", flops: 4 * Double(frames) * Double(shape.plane * shape.plane) * Double(shape.keyChannels + shape.valueChannels)
        ) {
            alignerAttentionBackward(
                gradZ: arena[a.gradZ], q: arena[a.query.y], k: arena[a.key.y], v: arena[a.value.y], attention: arena[a.attention],
                gradQ: arena[a.query.gradY], gradK: arena[a.key.gradY], gradV: arena[a.value.gradY], scratch: arena[a.scratch],
                keyFrame: sourceOf, shape: shape, valueFromQueryFrame: a.valueFromDecoder, keptAttention: a.keepsAttention)
        }
        conv1x1LayerBackward(a.query, arena: arena)
        conv1x1LayerBackward(a.key, arena: arena)
        conv1x1LayerBackward(a.value, arena: arena)
    }
}

extension SkipLayerPlan {
    /// Plans the layer reading [d; skip] (and Z when level ℓ has an aligner) from `d`, the decoder's map.
    init(
        _ net: Network, _ spec: ConvLayerSpec, level: Int, frames: Int, groups: Int, sourceFrames: Int, d: Slice, gradD: Slice, grad link: Slice,
        sourceOf: IntSlice, layout: ParameterLayout, planner: inout ArenaPlanner, needsGrad: Bool, budget: inout ColumnBudget,
        attentionBudget: inout Int, replicas: BatchNormReplicas?
    ) {
        let c = net.config, ch = c.skipChannels[level], plane = spec.inSize * spec.inSize
        func grad(_ n: Int, line: UInt = #line) -> Slice { needsGrad ? planner.floats(n, line: line) : .empty }
        let layer = ConvLayerPlan(
            spec, frames: frames, groups: groups, input: d, gradInput: gradD, inputChannels: ch, grad: link, layout: layout,
            planner: &planner, budget: &budget, replicas: replicas)
        let sharedCount = spec.outChannels * sourceFrames * layer.outPlane
        let source = planner.floats(ch * sourceFrames * plane)
        let gradSource = grad(ch * sourceFrames * plane)
        let shared = planner.floats(sharedCount)
        let gradShared = grad(sharedCount)
        self.layer = layer; channels = ch; self.plane = plane
        self.source = source; self.gradSource = gradSource; self.shared = shared; self.gradShared = gradShared
        sourceBlock = ConvBlock(
            spec, label: "\(spec.convName) skip-block", channelOffset: ch, channelCount: ch, frames: sourceFrames,
            x: source, gradX: gradSource, y: shared, gradY: gradShared, accumulate: false,
            weight: layer.weight, gradWeight: layer.gradWeight, bias: nil, gradBias: nil, budget: &budget, planner: &planner)
        guard let a = net.aligners.first(where: { $0.level == level }) else {
            aligner = nil; alignedBlock = nil
            return
        }
        let e = a.keyChannels, name = a.name, fromDecoder = c.alignerValue == .decoder
        func conv1x1(_ part: String, x: Slice, gradX: Slice, outChannels: Int, frames: Int) -> Conv1x1Plan {
            let n = outChannels * frames * plane
            return Conv1x1Plan(
                x: x, gradX: gradX, y: planner.floats(n), gradY: grad(n),
                weight: layout.slice("\(name).\(part).weight"), bias: layout.slice("\(name).\(part).bias"),
                gradWeight: layout.gradient("\(name).\(part).weight"), gradBias: layout.gradient("\(name).\(part).bias"),
                inChannels: ch, outChannels: outChannels, columns: frames * plane)
        }
        let query = conv1x1("q", x: d, gradX: gradD, outChannels: e, frames: frames)
        let key = conv1x1("k", x: source, gradX: gradSource, outChannels: e, frames: sourceFrames)
        let value =
            fromDecoder
            ? conv1x1("v", x: d, gradX: gradD, outChannels: ch, frames: frames)
            : conv1x1("v", x: source, gradX: gradSource, outChannels: ch, frames: sourceFrames)
        let z = planner.floats(ch * frames * plane), gradZ = grad(ch * frames * plane)
        // Every frame's maps are kept while they fit the attention budget: for the backward in training, for
        // `generate --attention` in generation. Otherwise only one frame's map at a time exists (the
        // training backward recomputes each frame's).
        let mapsCount = frames * plane * plane
        let keepsAttention = mapsCount <= attentionBudget
        if keepsAttention { attentionBudget -= mapsCount }
        aligner = AlignerPlan(
            spec: a, query: query, key: key, value: value, attention: planner.floats(keepsAttention ? mapsCount : plane * plane),
            keepsAttention: keepsAttention, z: z, gradZ: gradZ, scratch: grad(plane * plane),
            shape: AlignerShape(queryFrames: frames, keyFrames: sourceFrames, plane: plane, keyChannels: e, valueChannels: ch),
            valueFromDecoder: fromDecoder)
        alignedBlock = ConvBlock(
            spec, label: "\(spec.convName) Z-block", channelOffset: 2 * ch, channelCount: ch, frames: frames,
            x: z, gradX: gradZ, y: layer.preSlice, gradY: layer.grad, accumulate: true,
            weight: layer.weight, gradWeight: layer.gradWeight, bias: nil, gradBias: nil, budget: &budget, planner: &planner)
    }
}

func conv1x1LayerForward(_ p: Conv1x1Plan, arena: Arena) {
    conv1x1Forward(
        x: arena[p.x], weight: arena[p.weight], bias: arena[p.bias], y: arena[p.y], inChannels: p.inChannels, outChannels: p.outChannels,
        columns: p.columns)
}

/// Parameter gradients and gradX accumulate.
func conv1x1LayerBackward(_ p: Conv1x1Plan, arena: Arena) {
    conv1x1Backward(
        gradY: arena[p.gradY], x: arena[p.x], weight: arena[p.weight], gradX: arena[p.gradX], gradWeight: arena[p.gradWeight],
        gradBias: arena[p.gradBias], inChannels: p.inChannels, outChannels: p.outChannels, columns: p.columns,
        accumulateParams: true, accumulateGradX: true)
}
