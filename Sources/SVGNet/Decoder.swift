// The decoder over a block of CNHW frames with its skip connections and feature aligners
// (MODEL.md "Backbones", "Feature aligner").
//   input:  gDim × frames (h_pred viewed 1×1);  output: C × (frames·64²)
// A skip stage's first layer reads [d; skip] (or [d; skip; Z] with an aligner) through a weight split
// into input-channel blocks (MODEL.md "Cost"):
//   pre = W_d·d + W_z·Z + gather(W_e·source)
// where `source` holds only the distinct skip-source frames (sourceFrames of them) and
// `sourceOf[f]` names the source of frame f. W_e·source is computed once per source frame.
// Aligner (level ℓ): Q = W_q d, K = W_k source, V = W_v source (or W_v d), Z_f = V·softmax(QᵀK)ᵀ.
import Kernels

struct AlignerPlan {
    let spec: AlignerSpec
    let valueFromDecoder: Bool
    let wq, bq, wk, bk, wv, bv: Slice
    let gwq, gbq, gwk, gbk, gwv, gbv: Slice
    let q, k, v, attention, z: Slice
    let gradQ, gradK, gradV, gradZ, scratch: Slice
}

struct SkipPlan {
    let level: Int
    let channels: Int
    let plane: Int
    let source: Slice            // channels × (sourceFrames·plane)
    let gradSource: Slice
    let shared: Slice            // outChannels × (sourceFrames·outPlane): W_e·source
    let gradShared: Slice
    let aligner: AlignerPlan?
}

struct DecoderPlan {
    struct Stage {
        var upsampled: Slice
        var upsampledGrad: Slice
        var layers: [ConvLayerPlan]
        var skip: SkipPlan?
    }
    let frames: Int
    let groups: Int
    let sourceFrames: Int
    let input: Slice             // gDim × frames
    let inputGrad: Slice
    let sourceOf: IntSlice       // frames entries
    let stages: [Stage]

    init(_ net: Network, frames: Int, groups: Int, sourceFrames: Int, layout: ParameterLayout, planner: inout ArenaPlanner, needsGrad: Bool,
         replicas: BatchNormReplicas? = nil) {
        self.frames = frames; self.groups = groups; self.sourceFrames = sourceFrames
        let c = net.config
        input = planner.floats(c.gDim * frames)
        inputGrad = needsGrad ? planner.floats(c.gDim * frames) : .empty
        sourceOf = planner.ints(frames)
        func grad(_ n: Int) -> Slice { needsGrad ? planner.floats(n) : .empty }
        var stages: [Stage] = []
        for s in net.decoder {
            let first = s.layers[0]
            let upCount = s.upsample ? first.inSize * first.inSize * frames * (s.skipLevel.map { c.skipChannels[$0] } ?? 0) : 0
            let upsampled = planner.floats(upCount)
            let upsampledGrad = grad(upCount)
            let layers = s.layers.map { ConvLayerPlan($0, frames: frames, groups: groups, layout: layout, planner: &planner, needsGrad: needsGrad,
                                                        replicas: replicas) }
            var skip: SkipPlan? = nil
            if let level = s.skipLevel {
                let ch = c.skipChannels[level], plane = first.inSize * first.inSize
                var aligner: AlignerPlan? = nil
                if let a = net.aligners.first(where: { $0.level == level }) {
                    let e = a.keyChannels, name = a.name
                    let fromDecoder = c.alignerValue == .decoder
                    let vFrames = fromDecoder ? frames : sourceFrames
                    aligner = AlignerPlan(
                        spec: a, valueFromDecoder: fromDecoder,
                        wq: layout.slice("\(name).q.weight"), bq: layout.slice("\(name).q.bias"),
                        wk: layout.slice("\(name).k.weight"), bk: layout.slice("\(name).k.bias"),
                        wv: layout.slice("\(name).v.weight"), bv: layout.slice("\(name).v.bias"),
                        gwq: layout.gradient("\(name).q.weight"), gbq: layout.gradient("\(name).q.bias"),
                        gwk: layout.gradient("\(name).k.weight"), gbk: layout.gradient("\(name).k.bias"),
                        gwv: layout.gradient("\(name).v.weight"), gbv: layout.gradient("\(name).v.bias"),
                        q: planner.floats(e * frames * plane), k: planner.floats(e * sourceFrames * plane),
                        v: planner.floats(ch * vFrames * plane), attention: planner.floats(frames * plane * plane),
                        z: planner.floats(ch * frames * plane),
                        gradQ: grad(e * frames * plane), gradK: grad(e * sourceFrames * plane),
                        gradV: grad(ch * vFrames * plane), gradZ: grad(ch * frames * plane), scratch: grad(plane * plane))
                }
                let sharedCount = first.outChannels * sourceFrames * first.outSize * first.outSize
                skip = SkipPlan(level: level, channels: ch, plane: plane,
                                source: planner.floats(ch * sourceFrames * plane), gradSource: grad(ch * sourceFrames * plane),
                                shared: planner.floats(sharedCount), gradShared: grad(sharedCount), aligner: aligner)
            }
            stages.append(Stage(upsampled: upsampled, upsampledGrad: upsampledGrad, layers: layers, skip: skip))
        }
        self.stages = stages
    }

    var output: Slice { stages.last!.layers.last!.out }
    var outputGrad: Slice { stages.last!.layers.last!.grad }

    /// The skip plan of level ℓ (0 smallest … 3 largest).
    func skip(level: Int) -> SkipPlan { stages.first { $0.skip?.level == level }!.skip! }

    static func colCount(_ net: Network, frames: Int, sourceFrames: Int) -> Int {
        var m = 0
        for s in net.decoder {
            for (i, l) in s.layers.enumerated() {
                if i == 0, let level = s.skipLevel {
                    let ch = net.config.skipChannels[level]
                    m = max(m, ConvLayerPlan.colCount(l, channelBlock: ch, opFrames: max(frames, sourceFrames)))
                } else {
                    m = max(m, ConvLayerPlan.colCount(l, channelBlock: l.inChannels, opFrames: frames))
                }
            }
        }
        return m
    }

    /// The input of stage s's first layer: the previous stage's output, upsampled when the stage says so.
    private func stageInput(_ s: Int) -> (value: Slice, grad: Slice) {
        if s == 0 { return (input, inputGrad) }
        let st = stages[s]
        if st.upsampled.count > 0 { return (st.upsampled, st.upsampledGrad) }
        let prev = stages[s - 1].layers.last!
        return (prev.out, prev.grad)
    }

    func forward(arena: Arena, col: Slice, mode: BatchNormMode, updateRunningStatistics: Bool) {
        for (si, stage) in stages.enumerated() {
            if stage.upsampled.count > 0 {
                let prev = stages[si - 1].layers.last!
                upsampleNearest2xForward(x: arena[prev.out], y: arena[stage.upsampled], planes: prev.spec.outChannels * frames,
                                         height: prev.spec.outSize, width: prev.spec.outSize)
            }
            let d = UnsafePointer(arena[stageInput(si).value])
            for (li, l) in stage.layers.enumerated() {
                let input = li == 0 ? d : UnsafePointer(arena[stage.layers[li - 1].out])
                if li == 0, let skip = stage.skip {
                    skipLayerForward(l, skip: skip, d: d, arena: arena, col: col)
                    normalizeAndActivate(l, arena: arena, mode: mode, updateRunningStatistics: updateRunningStatistics)
                } else {
                    convLayerForward(l, arena: arena, input: input, col: col, mode: mode, updateRunningStatistics: updateRunningStatistics)
                }
            }
        }
    }

    private func skipLayerForward(_ l: ConvLayerPlan, skip: SkipPlan, d: UnsafePointer<Float>, arena: Arena, col: Slice) {
        let ch = skip.channels, pre = arena[l.preSlice]
        let sourceOf = UnsafePointer(arena[self.sourceOf])
        // [d; …]: the decoder block, with the bias.
        convBlockForward(l.spec, arena: arena, x: d, channelOffset: 0, channelCount: ch, opFrames: frames,
                         weight: l.weight, bias: l.bias, y: pre, accumulate: false, col: col)
        // […; skip; …]: once per source frame, then added to every frame that reads it.
        convBlockForward(l.spec, arena: arena, x: arena[skip.source], channelOffset: ch, channelCount: ch, opFrames: sourceFrames,
                         weight: l.weight, bias: nil, y: arena[skip.shared], accumulate: false, col: col)
        gatherFramesAdd(shared: arena[skip.shared], perStep: pre, sourceOf: sourceOf, channels: l.spec.outChannels,
                        frames: frames, sourceFrames: sourceFrames, plane: l.outPlane)
        if let a = skip.aligner {
            let e = a.spec.keyChannels, plane = skip.plane
            conv1x1Forward(x: d, weight: arena[a.wq], bias: arena[a.bq], y: arena[a.q], inChannels: ch, outChannels: e, columns: frames * plane)
            conv1x1Forward(x: arena[skip.source], weight: arena[a.wk], bias: arena[a.bk], y: arena[a.k], inChannels: ch, outChannels: e,
                           columns: sourceFrames * plane)
            if a.valueFromDecoder {
                conv1x1Forward(x: d, weight: arena[a.wv], bias: arena[a.bv], y: arena[a.v], inChannels: ch, outChannels: ch, columns: frames * plane)
            } else {
                conv1x1Forward(x: arena[skip.source], weight: arena[a.wv], bias: arena[a.bv], y: arena[a.v], inChannels: ch, outChannels: ch,
                               columns: sourceFrames * plane)
            }
            profiled("\(a.spec.name) attention fwd", flops: 2 * Double(frames) * Double(plane * plane) * Double(e + ch)) {
                alignerAttentionForward(q: arena[a.q], k: arena[a.k], v: arena[a.v], attention: arena[a.attention], z: arena[a.z],
                                        keyFrame: sourceOf, shape: alignerShape(a, skip), valueFromQueryFrame: a.valueFromDecoder)
            }
            // […; Z]: per frame.
            convBlockForward(l.spec, arena: arena, x: arena[a.z], channelOffset: 2 * ch, channelCount: ch, opFrames: frames,
                             weight: l.weight, bias: nil, y: pre, accumulate: true, col: col)
        }
    }

    private func alignerShape(_ a: AlignerPlan, _ skip: SkipPlan) -> AlignerShape {
        AlignerShape(queryFrames: frames, keyFrames: sourceFrames, plane: skip.plane, keyChannels: a.spec.keyChannels, valueChannels: skip.channels)
    }

    /// On entry `outputGrad` holds dL/d output. Leaves dL/d input in `inputGrad` and the skip-source
    /// gradients in each skip's `gradSource`.
    func backward(arena: Arena, col: Slice) {
        for si in stride(from: stages.count - 1, through: 0, by: -1) {
            let stage = stages[si]
            let (d, dGrad) = stageInput(si)
            for li in stride(from: stage.layers.count - 1, through: 0, by: -1) {
                let l = stage.layers[li]
                if li == 0, let skip = stage.skip {
                    normalizeAndActivateBackward(l, arena: arena)
                    skipLayerBackward(l, skip: skip, d: d, dGrad: dGrad, arena: arena, col: col)
                } else {
                    let input = li == 0 ? d : stage.layers[li - 1].out
                    let gradInput = li == 0 ? dGrad : stage.layers[li - 1].grad
                    convLayerBackward(l, arena: arena, input: arena[input], gradInput: arena[gradInput], col: col)
                }
            }
            if stage.upsampled.count > 0 {
                let prev = stages[si - 1].layers.last!
                upsampleNearest2xBackward(gradY: arena[stage.upsampledGrad], gradX: arena[prev.grad], planes: prev.spec.outChannels * frames,
                                          height: prev.spec.outSize, width: prev.spec.outSize)
            }
        }
    }

    private func skipLayerBackward(_ l: ConvLayerPlan, skip: SkipPlan, d: Slice, dGrad: Slice, arena: Arena, col: Slice) {
        let ch = skip.channels, gradPre = UnsafePointer(arena[l.grad])
        let sourceOf = UnsafePointer(arena[self.sourceOf])
        // Source block: sum the gradients of every frame that read a source, then one backward per source.
        scatterFramesSum(perStep: gradPre, shared: arena[skip.gradShared], sourceOf: sourceOf, channels: l.spec.outChannels,
                         frames: frames, sourceFrames: sourceFrames, plane: l.outPlane)
        convBlockBackward(l.spec, arena: arena, gradY: arena[skip.gradShared], x: arena[skip.source], channelOffset: ch, channelCount: ch,
                          opFrames: sourceFrames, weight: l.weight, gradWeight: l.gradWeight, gradBias: nil, gradX: arena[skip.gradSource], col: col)
        convBlockBackward(l.spec, arena: arena, gradY: gradPre, x: arena[d], channelOffset: 0, channelCount: ch, opFrames: frames,
                          weight: l.weight, gradWeight: l.gradWeight, gradBias: l.convGradBias, gradX: arena[dGrad], col: col)
        guard let a = skip.aligner else { return }
        let e = a.spec.keyChannels, plane = skip.plane
        convBlockBackward(l.spec, arena: arena, gradY: gradPre, x: arena[a.z], channelOffset: 2 * ch, channelCount: ch, opFrames: frames,
                          weight: l.weight, gradWeight: l.gradWeight, gradBias: nil, gradX: arena[a.gradZ], col: col)
        arena.zero(a.gradK); arena.zero(a.gradV)
        profiled("\(a.spec.name) attention bwd", flops: 4 * Double(frames) * Double(plane * plane) * Double(e + ch)) {
            alignerAttentionBackward(gradZ: arena[a.gradZ], q: arena[a.q], k: arena[a.k], v: arena[a.v], attention: arena[a.attention],
                                     gradQ: arena[a.gradQ], gradK: arena[a.gradK], gradV: arena[a.gradV], scratch: arena[a.scratch],
                                     keyFrame: sourceOf, shape: alignerShape(a, skip), valueFromQueryFrame: a.valueFromDecoder)
        }
        conv1x1Backward(gradY: arena[a.gradQ], x: arena[d], weight: arena[a.wq], gradX: arena[dGrad], gradWeight: arena[a.gwq], gradBias: arena[a.gbq],
                        inChannels: ch, outChannels: e, columns: frames * plane, accumulateParams: true, accumulateGradX: true)
        conv1x1Backward(gradY: arena[a.gradK], x: arena[skip.source], weight: arena[a.wk], gradX: arena[skip.gradSource], gradWeight: arena[a.gwk],
                        gradBias: arena[a.gbk], inChannels: ch, outChannels: e, columns: sourceFrames * plane, accumulateParams: true, accumulateGradX: true)
        if a.valueFromDecoder {
            conv1x1Backward(gradY: arena[a.gradV], x: arena[d], weight: arena[a.wv], gradX: arena[dGrad], gradWeight: arena[a.gwv], gradBias: arena[a.gbv],
                            inChannels: ch, outChannels: ch, columns: frames * plane, accumulateParams: true, accumulateGradX: true)
        } else {
            conv1x1Backward(gradY: arena[a.gradV], x: arena[skip.source], weight: arena[a.wv], gradX: arena[skip.gradSource], gradWeight: arena[a.gwv],
                            gradBias: arena[a.gbv], inChannels: ch, outChannels: ch, columns: sourceFrames * plane, accumulateParams: true, accumulateGradX: true)
        }
    }
}
