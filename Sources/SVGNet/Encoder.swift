// The encoder over a block of CNHW frames (MODEL.md "Backbones"). Training runs it once over all T·B frames with
// BatchNorm statistics per time step (T groups of B); generation runs it per step over N·B frames
// (N groups of B, one per sample).
//   input:  C × (frames·64²)
//   stage s (0…3) output = skip level 3 − s (level 0 is the smallest map);  stage 4 output = h, gDim × frames
// The layers form one list, each wired to its input and input gradient when the plan is built: forward runs
// it in order, backward in reverse.
import Kernels

/// A 2×2 max-pool over `planes` planes of height × width (VGG-64's stages 1–4).
struct MaxPoolPlan {
    let x, gradX, y, gradY: Slice
    let argmax: IntSlice
    let planes, height, width: Int
}

struct EncoderPlan {
    enum Layer {
        case maxPool(MaxPoolPlan)
        case conv(ConvLayerPlan)
    }
    let input: Slice
    let layers: [Layer]
    /// Skip level ℓ's map (the output of stage 3 − ℓ) and its gradient, by level.
    let skips: [(value: Slice, grad: Slice)]
    /// The vector h (gDim × frames) and its gradient.
    let vector, vectorGrad: Slice
    /// For each layer, the skip level its output is, if any: backward adds the decoder's gradient of that
    /// skip to the layer's output gradient before running the layer.
    let skipLevelOfLayer: [Int?]
    /// Floats of shared workspace the layers need.
    let workspaceCount: Int

    /// `memory.cachedColumns`: floats of im2col results the plan may keep from forward for backward, given to
    /// layers in order while they fit (all of DCGAN-64 at batch 16; VGG's big layers do not).
    init(
        _ net: Network, frames: Int, groups: Int, layout: ParameterLayout, planner: inout ArenaPlanner, needsGrad: Bool,
        memory: MemoryBudget, gradients: inout GradientChain, replicas: BatchNormReplicas? = nil
    ) {
        if needsGrad { gradients.beginChain() }
        var budget = ColumnBudget(
            cache: memory.cachedColumns, workspaceLimit: memory.columnWorkspace,
            transposedWinogradLimit: memory.transposedWinogradWorkspace)
        let channels = net.config.channels
        input = planner.floats(channels * frames * framePixels)
        func link(_ n: Int, line: UInt = #line) -> Slice { needsGrad ? gradients.next(n, planner: &planner, line: line) : .empty }
        var layers: [Layer] = [], skipLevelOfLayer: [Int?] = []
        var skips = [(value: Slice, grad: Slice)](repeating: (.empty, .empty), count: net.encoder.count - 1)
        var x = input, gradX = Slice.empty, xChannels = channels, xSize = 64 // the data needs no gradient
        for (s, stage) in net.encoder.enumerated() {
            if stage.pool {
                let planes = xChannels * frames, count = planes * xSize * xSize / 4
                let y = planner.floats(count)
                let pool = MaxPoolPlan(
                    x: x, gradX: gradX, y: y, gradY: link(count), argmax: planner.ints(count), planes: planes,
                    height: xSize, width: xSize)
                layers.append(.maxPool(pool)); skipLevelOfLayer.append(nil)
                (x, gradX, xSize) = (pool.y, pool.gradY, xSize / 2)
            }
            for spec in stage.layers {
                let l = ConvLayerPlan(
                    spec, frames: frames, groups: groups, input: x, gradInput: gradX, grad: link(spec.outputCount(frames: frames)),
                    layout: layout, planner: &planner, budget: &budget, replicas: replicas)
                layers.append(.conv(l)); skipLevelOfLayer.append(nil)
                (x, gradX, xChannels, xSize) = (l.out, l.grad, spec.outChannels, spec.outSize)
            }
            if s < skips.count {
                let level = skips.count - 1 - s
                skips[level] = (x, gradX)
                skipLevelOfLayer[skipLevelOfLayer.count - 1] = level
            }
        }
        (vector, vectorGrad) = (x, gradX)
        self.layers = layers; self.skips = skips; self.skipLevelOfLayer = skipLevelOfLayer
        workspaceCount = layers.map { if case .conv(let l) = $0 { l.conv.workspaceCount } else { 0 } }.max()!
    }

    func forward(arena: Arena, col: Slice, mode: BatchNormMode, updateRunningStatistics: Bool) {
        for layer in layers {
            switch layer {
            case .maxPool(let p):
                maxPool2dForward(x: arena[p.x], y: arena[p.y], argmax: arena[p.argmax], planes: p.planes, height: p.height, width: p.width)
            case .conv(let l):
                convLayerForward(l, arena: arena, col: col, mode: mode, updateRunningStatistics: updateRunningStatistics)
            }
        }
    }

    /// On entry the gradient of h is in place; `addSkipGradient(ℓ)` is called once the gradient of skip level
    /// ℓ's map has been written by the layers above it, to add the decoder's gradient of that skip.
    func backward(arena: Arena, col: Slice, addSkipGradient: (Int) -> Void) {
        for i in layers.indices.reversed() {
            if let level = skipLevelOfLayer[i] { addSkipGradient(level) }
            switch layers[i] {
            case .maxPool(let p):
                maxPool2dBackward(
                    gradY: arena[p.gradY], argmax: arena[p.argmax], gradX: arena[p.gradX], planes: p.planes, height: p.height,
                    width: p.width)
            case .conv(let l):
                convLayerBackward(l, arena: arena, col: col)
            }
        }
    }
}
