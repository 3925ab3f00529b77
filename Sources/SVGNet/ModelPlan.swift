// The network's plans over one arena, built by one function for the training and the generation schedule
// (MODEL.md "Training step", "Generation"): the parameter layout, the encoder, the decoder with its skips and
// aligners, the posterior and prior Gaussian LSTMs, the frame predictor and the shared conv workspace.
// The schedules differ only in how many frames each part runs over, which `PlanShape` says, and in the
// loops they run over these plans.
import Kernels

/// How many frames each part of the network runs over in one schedule.
struct PlanShape {
    /// Frames the encoder runs over at once, and its BatchNorm groups.
    var encoderFrames, encoderGroups: Int
    /// Frames the decoder runs over at once, its BatchNorm groups, and the distinct skip-source frames.
    var decoderFrames, decoderGroups, sourceFrames: Int
    /// Steps the LSTMs are unrolled for, and rows per step.
    var lstmSteps, lstmBatch: Int
    /// Frames of a second encoder over the ground truth alone (generation's conditioning frames), or 0.
    var conditionFrames = 0
}

/// What a plan may spend on results it could recompute instead, the memory side of each memory–time trade
/// (Docs/PERFORMANCE.md, "Memory"). The defaults keep everything DCGAN-64 needs at batch 16 and bound what
/// VGG-64's large maps would take.
public struct MemoryBudget: Sendable, Equatable {
    /// Floats of encoder im2col results (or Winograd-transformed inputs) kept from forward for backward,
    /// given to layers in order while they fit; 0 recomputes them all.
    public var cachedColumns: Int
    /// The most floats of shared workspace a direct (im2col) conv's col, or an F(2×2, 3×3) conv's transformed
    /// input and output together, may take: a conv that would need more runs in chunks of as many frames as
    /// fit, and at least one. The 4×4/2 Winograd convs (either tile) are not bounded by it.
    public var columnWorkspace: Int
    /// Floats of aligner attention maps kept from forward for backward, given to levels smallest first while
    /// they fit; the other levels recompute each frame's map in the backward.
    public var cachedAttention: Int
    /// The most floats of shared workspace a transposed 4×4/2 Winograd conv's two transformed sides may take: a
    /// larger one runs in chunks of frames, and at least one. The transformed sides are 2.25 times the layer's
    /// input and output with 2×2 tiles (36C + 9M floats per tile), 1.5625 times with 4×4 (100C + 25M), and only
    /// one chunk's are ever needed at once.
    public var transposedWinogradWorkspace: Int
    /// Whether the encoder's and decoder's layer gradients take turns in two shared buffers (GradientChain.swift);
    /// false gives every layer its own, as a reference for the tests.
    public var sharesGradients: Bool

    /// 128M floats (512 MiB) of columns, a 48M-float (192 MiB) col, 1G floats (4 GiB) of attention maps and
    /// 64M floats (256 MiB) of a transposed Winograd conv's transformed sides (Docs/PERFORMANCE.md says which
    /// configurations these bound and why). A model's own defaults: `defaults(for:)`.
    public init(
        cachedColumns: Int = 128 << 20, columnWorkspace: Int = 48 << 20, cachedAttention: Int = 1 << 30,
        transposedWinogradWorkspace: Int = 64 << 20, sharesGradients: Bool = true
    ) {
        self.cachedColumns = cachedColumns
        self.columnWorkspace = columnWorkspace
        self.cachedAttention = cachedAttention
        self.transposedWinogradWorkspace = transposedWinogradWorkspace
        self.sharesGradients = sharesGradients
    }

    /// The budget a model trains with unless told otherwise: the defaults above, but VGG-64 keeps neither
    /// transformed inputs nor attention maps (cachedColumns and cachedAttention 0). Its F(2×2, 3×3) inputs are 4×
    /// the layer's input, 450 MiB of the kth preset's plan at batch 8, and its HAF-SVG maps 648 MiB more; in its
    /// long step rebuilding both costs little (Docs/PERFORMANCE.md, "col caching" and "Memory").
    public static func defaults(for config: ModelConfiguration) -> MemoryBudget {
        config.backbone == .vgg64 ? MemoryBudget(cachedColumns: 0, cachedAttention: 0) : MemoryBudget()
    }
}

struct ModelPlan {
    let layout: ParameterLayout
    let encoder: EncoderPlan
    /// Generation's encoder of the ground-truth frames, once per sequence (nil in training).
    let conditionEncoder: EncoderPlan?
    let decoder: DecoderPlan
    let posterior: [LSTMPlan]
    let prior: [LSTMPlan]
    let predictor: LSTMPlan
    /// The conv layers' shared workspace: im2col columns or Winograd transforms, one layer at a time.
    let col: Slice

    /// `needsGrad`: plan gradients and Adam moments (training). `memory`: what the plan keeps from forward
    /// for backward, and its largest col. `replicas`: BatchNorm statistics over every replica's frames.
    init(
        _ net: Network, shape: PlanShape, needsGrad: Bool, planner: inout ArenaPlanner, memory: MemoryBudget = MemoryBudget(),
        replicas: BatchNormReplicas? = nil
    ) {
        let layout = ParameterLayout(net, planner: &planner, withOptimizer: needsGrad)
        self.layout = layout
        func encoderPlan(_ planner: inout ArenaPlanner, _ gradients: inout GradientChain) -> EncoderPlan {
            EncoderPlan(
                net, frames: shape.encoderFrames, groups: shape.encoderGroups, layout: layout, planner: &planner, needsGrad: needsGrad,
                memory: memory, gradients: &gradients, replicas: replicas)
        }
        func decoderPlan(_ planner: inout ArenaPlanner, _ gradients: inout GradientChain) -> DecoderPlan {
            DecoderPlan(
                net, frames: shape.decoderFrames, groups: shape.decoderGroups, sourceFrames: shape.sourceFrames, layout: layout,
                planner: &planner, needsGrad: needsGrad, memory: memory, gradients: &gradients, replicas: replicas)
        }
        // The gradient chains' links are measured in a plan of their own, thrown away, then the two shared
        // buffers are planned before the layers that use them.
        var gradients = GradientChain.separate()
        if needsGrad && memory.sharesGradients {
            var measuringPlanner = ArenaPlanner(), measuring = GradientChain.measuring()
            _ = encoderPlan(&measuringPlanner, &measuring)
            _ = decoderPlan(&measuringPlanner, &measuring)
            gradients = .shared(measuring, planner: &planner)
        }
        encoder = encoderPlan(&planner, &gradients)
        conditionEncoder =
            shape.conditionFrames == 0
            ? nil
            : EncoderPlan(
                net, frames: shape.conditionFrames, groups: 1, layout: layout, planner: &planner, needsGrad: false, memory: memory,
                gradients: &gradients)
        decoder = decoderPlan(&planner, &gradients)
        func lstm(_ spec: LSTMModuleSpec) -> LSTMPlan {
            LSTMPlan(spec, steps: shape.lstmSteps, batch: shape.lstmBatch, layout: layout, planner: &planner, needsGrad: needsGrad)
        }
        posterior = net.posterior.map(lstm)
        prior = net.prior.map(lstm)
        predictor = lstm(net.predictor)
        col = planner.floats(max(encoder.workspaceCount, decoder.workspaceCount, conditionEncoder?.workspaceCount ?? 0))
    }

    /// The conv and BatchNorm layers of the encoder and decoder, in order.
    var convLayers: [ConvLayerPlan] {
        encoder.layers.compactMap { if case .conv(let l) = $0 { l } else { nil } }
            + decoder.layers.compactMap {
                switch $0 {
                case .conv(let l): l
                case .skipConv(let s): s.layer
                case .upsample: nil
                }
            }
    }
}
