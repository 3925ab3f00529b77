// The encoder over a block of CNHW frames (MODEL.md "Backbones"). Training runs it once over all T·B frames with
// BatchNorm statistics per time step (T groups of B); generation runs it per step over N·B frames
// (N groups of B, one per sample).
//   input:  C × (frames·64²)
//   stage s (0…3) output = skip h_{s+1};  stage 4 output = h, gDim × frames
import Kernels

struct EncoderPlan {
    struct Stage {
        var pooled: Slice            // max-pooled input of the stage (pooling stages only)
        var pooledGrad: Slice
        var argmax: IntSlice
        var layers: [ConvLayerPlan]
    }
    let frames: Int
    let groups: Int
    let input: Slice
    let stages: [Stage]
    let channels: Int

    /// `colCacheBudget`: floats of im2col results the plan may keep from forward for backward, given to
    /// layers in order while they fit (all of DCGAN-64 at batch 16: ~116M floats; VGG's big layers do not).
    init(_ net: Network, frames: Int, groups: Int, layout: ParameterLayout, planner: inout ArenaPlanner, needsGrad: Bool,
         colCacheBudget: Int = 0, replicas: BatchNormReplicas? = nil) {
        self.frames = frames; self.groups = groups
        var budget = colCacheBudget
        channels = net.config.channels
        input = planner.floats(channels * frames * 64 * 64)
        var stages: [Stage] = []
        for s in net.encoder {
            let first = s.layers[0]
            let pooledCount = s.pool ? first.inChannels * frames * first.inSize * first.inSize : 0
            let pooled = planner.floats(pooledCount)
            let pooledGrad = needsGrad ? planner.floats(pooledCount) : .empty
            let argmax = planner.ints(pooledCount)
            let layers = s.layers.map { spec -> ConvLayerPlan in
                let size = ConvLayerPlan.cachedColCount(spec, opFrames: frames)
                let cache = needsGrad && !spec.transposed && size <= budget
                if cache { budget -= size }
                return ConvLayerPlan(spec, frames: frames, groups: groups, layout: layout, planner: &planner, needsGrad: needsGrad, cacheColumns: cache,
                                     replicas: replicas)
            }
            stages.append(Stage(pooled: pooled, pooledGrad: pooledGrad, argmax: argmax, layers: layers))
        }
        self.stages = stages
    }

    /// Output of stage s (the skip h_{s+1} for s < 4, the vector h for s = 4) and its gradient.
    func output(_ s: Int) -> Slice { stages[s].layers.last!.out }
    func outputGrad(_ s: Int) -> Slice { stages[s].layers.last!.grad }
    var vector: Slice { output(stages.count - 1) }
    var vectorGrad: Slice { outputGrad(stages.count - 1) }

    static func colCount(_ net: Network, frames: Int) -> Int {
        net.encoder.flatMap(\.layers).map { ConvLayerPlan.colCount($0, channelBlock: $0.inChannels, opFrames: frames) }.max()!
    }

    func forward(arena: Arena, col: Slice, mode: BatchNormMode, updateRunningStatistics: Bool) {
        var input = UnsafePointer(arena[self.input])
        for (si, stage) in stages.enumerated() {
            if stage.pooled.count > 0 {
                let prev = stages[si - 1].layers.last!
                maxPool2dForward(x: input, y: arena[stage.pooled], argmax: arena[stage.argmax],
                                 planes: prev.spec.outChannels * frames, height: prev.spec.outSize, width: prev.spec.outSize)
                input = UnsafePointer(arena[stage.pooled])
            }
            for l in stage.layers {
                convLayerForward(l, arena: arena, input: input, col: col, mode: mode, updateRunningStatistics: updateRunningStatistics)
                input = UnsafePointer(arena[l.out])
            }
        }
    }

    /// On entry the gradient of h (stage 4) is in place; `addSkipGradient(s)` is called once the gradient
    /// of stage s's output has been written by the stage above, so the decoder's skip gradients can be added.
    func backward(arena: Arena, col: Slice, addSkipGradient: (Int) -> Void) {
        for si in stride(from: stages.count - 1, through: 0, by: -1) {
            let stage = stages[si]
            if si < stages.count - 1 { addSkipGradient(si) }
            for li in stride(from: stage.layers.count - 1, through: 0, by: -1) {
                let l = stage.layers[li]
                let input: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>?
                if li > 0 {
                    input = UnsafePointer(arena[stage.layers[li - 1].out]); gradInput = arena[stage.layers[li - 1].grad]
                } else if stage.pooled.count > 0 {
                    input = UnsafePointer(arena[stage.pooled]); gradInput = arena[stage.pooledGrad]
                } else if si > 0 {
                    input = UnsafePointer(arena[stages[si - 1].layers.last!.out]); gradInput = arena[stages[si - 1].layers.last!.grad]
                } else {
                    input = UnsafePointer(arena[self.input]); gradInput = nil   // the data needs no gradient
                }
                convLayerBackward(l, arena: arena, input: input, gradInput: gradInput, col: col)
            }
            if stage.pooled.count > 0 {
                let prev = stages[si - 1].layers.last!
                maxPool2dBackward(gradY: arena[stage.pooledGrad], argmax: arena[stage.argmax], gradX: arena[prev.grad],
                                  planes: prev.spec.outChannels * frames, height: prev.spec.outSize, width: prev.spec.outSize)
            }
        }
    }
}
