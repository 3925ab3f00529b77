// The static generation schedule (MODEL.md "Generation"): N samples of B sequences run batched as
// M = N·B frames, sample-major (frame n·B + b), so BatchNorm on batch statistics takes them per sample
// over its B sequences (the grouped BatchNorm of MODEL.md "Training step", N groups). Planned once;
// `generate` allocates nothing in the arena's steps. The encoder and decoder run once per step because
// each prediction feeds the next.
//
// Work that depends on ground truth only is done once per sequence, not once per sample
// (MODEL.md "Cost"): the conditioning frames are encoded over the B sequences by
// `conditionEncoder` (their BatchNorm statistics over the B sequences are the same for every sample), h is
// broadcast to the N samples' rows, and the skip sources hold B frames that every sample reads through
// `sourceOf[n·B + b] = b`, so the decoder's skip half and the aligner's keys and values run over B frames.
import Kernels

/// The static generation schedule (MODEL.md "Generation"): `samples` samples of `config.batch` sequences
/// run batched through one arena; `generate` predicts nFuture frames per sample from nPast given frames.
public final class Generator {
    /// The generation shape: nPast, nFuture and batch B may differ from the ones the weights were trained with.
    public let config: ModelConfiguration // nPast / nFuture / batch as generated, not as trained
    /// Samples N drawn per sequence.
    public let samples: Int
    /// The network the configuration describes.
    public let network: Network
    /// Where each tensor lives in `arena`; parameters and running statistics only (no gradients or moments).
    let layout: ParameterLayout
    /// The one allocation holding weights, activations, noise and output.
    let arena: Arena
    /// Draws ε for every step and group at the start of each `generate` call while `drawNoise` is true.
    var rng: RandomGenerator
    /// The statistics BatchNorm uses; batch statistics per sample by default, as the reference samples.
    public var batchNorm: BatchNormMode = .batchStatistics
    /// Group j of the latent fixed to zero (the paper's Fig. 8 ablation), or nil.
    public var zeroGroup: Int? = nil
    /// When false, ε is read from `noise(step:group:)` as the caller left it instead of drawn.
    public var drawNoise = true
    /// Whether every frame's attention maps are kept for `attention(level:)` (init's `keepsAttentionMaps`).
    public let keepsAttentionMaps: Bool
    /// Called after each predicted frame is decoded (with the future step, 0-based), while the decoder's
    /// activations still hold that step (every frame's attention maps too, with `keepsAttentionMaps`).
    public var afterDecoding: ((Int) -> Void)? = nil

    /// The network's plans (ModelPlan.swift): the encoder over the generated frames (M = N·B, N groups), the
    /// condition encoder over the ground-truth frames (B, one group), the decoder over M frames reading B sources.
    let plan: ModelPlan
    var encoder: EncoderPlan { plan.encoder }
    var conditionEncoder: EncoderPlan { plan.conditionEncoder! }
    var decoder: DecoderPlan { plan.decoder }
    var posterior: [LSTMPlan] { plan.posterior }
    var prior: [LSTMPlan] { plan.prior }
    var predictor: LSTMPlan { plan.predictor }
    var col: Slice { plan.col }
    let conditionRows: Slice // B × gDim
    let hRows: Slice // M × gDim: h of the current input
    let targetRows: Slice // M × gDim: h of the next ground-truth frame (conditioning steps)
    let z: Slice // M × zDim
    let eps: [[Slice]] // [step][group]: M × d
    let output: Slice // (B·N·nFuture·C·64²), (B, N, nFuture, C, 64, 64)

    /// `config` carries the generation shape: nPast, nFuture and batch (= sequences B at a time).
    /// `convolution`: how the conv layers are computed (Network.init). `keepsAttentionMaps`: keep every
    /// frame's aligner maps of the step last decoded, for `attention(level:)`; otherwise each level holds one
    /// frame's map at a time, which for HAF-SVG at 100 samples saves hundreds of MiB.
    public init(
        config: ModelConfiguration, samples: Int, seed: UInt64, convolution: ConvolutionAlgorithm = .automatic,
        keepsAttentionMaps: Bool = false
    ) throws {
        guard samples >= 1 else { throw ConfigurationError("samples must be at least 1, got \(samples)") }
        let net = try Network(config, convolution: convolution)
        self.config = config; self.samples = samples; network = net
        let B = config.batch, M = samples * B, steps = config.frameCount - 1
        var planner = ArenaPlanner()
        let shape = PlanShape(
            encoderFrames: M, encoderGroups: samples, decoderFrames: M, decoderGroups: samples, sourceFrames: B,
            lstmSteps: steps, lstmBatch: M, conditionFrames: B)
        self.keepsAttentionMaps = keepsAttentionMaps
        plan = ModelPlan(
            net, shape: shape, needsGrad: false, planner: &planner,
            memory: MemoryBudget(cachedAttention: keepsAttentionMaps ? Int.max : 0))
        layout = plan.layout
        conditionRows = planner.floats(B * config.gDim)
        hRows = planner.floats(M * config.gDim); targetRows = planner.floats(M * config.gDim)
        z = planner.floats(M * config.zDim)
        eps = (0..<steps).map { _ in (0..<config.groups).map { _ in planner.floats(M * config.groupDim) } }
        output = planner.floats(B * samples * config.nFuture * config.channels * framePixels)
        arena = Arena(planner)
        rng = RandomGenerator(seed: seed)
        let sourceOf = arena[decoder.sourceOf]
        for f in 0..<M { sourceOf[f] = Int32(f % B) }
    }

    /// Bytes of the arena.
    public var arenaBytes: Int { arena.byteCount }
    /// ε of prediction step `step` (0-based) and latent group `group`: (samples·B) × groupDim floats, row n·B + b.
    public func noise(step: Int, group: Int) -> UnsafeMutablePointer<Float> { arena[eps[step][group]] }

    /// Copies the weights and running statistics of a trainer (same network).
    public func loadParameters(from trainer: Trainer) {
        arena[layout.params].update(from: trainer.arena[trainer.layout.params], count: layout.params.count)
        arena[layout.statistics].update(from: trainer.arena[trainer.layout.statistics], count: layout.statistics.count)
    }

    /// Loads weights and running statistics from a file already read; `path` is used in error messages.
    /// Throws `CheckpointError` when its tensors are not exactly this model's.
    public func loadModel(_ file: SafetensorsFile, path: String) throws { try layout.load(file, arena: arena, path: path) }

    /// The attention maps of aligner level ℓ for the frame last decoded: samples·B blocks of P×P (frame
    /// n·B + b; row: a decoder position, column: a position of the skip-source frame), or nil when level ℓ
    /// has no aligner. Only for a generator made with `keepsAttentionMaps` (precondition).
    public func attention(level: Int) -> (plane: Int, maps: UnsafeBufferPointer<Float>)? {
        precondition(keepsAttentionMaps, "Generator.attention(level:) needs a generator made with keepsAttentionMaps")
        let skip = decoder.skip(level: level)
        guard let a = skip.aligner else { return nil }
        return (skip.plane, UnsafeBufferPointer(start: arena[a.attention], count: a.attention.count))
    }

    /// Draws the ε one `generate` call would draw and discards it: a data-parallel rank skips the batches
    /// other ranks generate and still draws the same noise for its own as one process would.
    public func skipNoise() { drawSampleNoise() }

    /// ε of every step and group for one `generate` call, while `drawNoise` is true.
    private func drawSampleNoise() {
        if drawNoise { for s in eps { for e in s { rng.fillNormal(arena[e], count: e.count) } } }
    }

    /// Conditioning frames (nPast, B, C, 64, 64) in [0, 1] → predictions (B, N, nFuture, C, 64, 64).
    /// The returned pointer stays valid until the next call.
    @discardableResult
    public func generate(_ frames: UnsafePointer<Float>) -> UnsafePointer<Float> {
        let c = config, B = c.batch, N = samples, M = N * B, G = c.groups, d = c.groupDim, gDim = c.gDim
        let C = c.channels, frameSize = C * framePixels, T = c.frameCount
        let a = arena
        drawSampleNoise()

        /// Ground-truth frame t of the B sequences, encoded once; h broadcast to the rows of all N samples.
        func encodeGroundTruth(_ t: Int, into rows: Slice) {
            let dst = a[conditionEncoder.input]
            for ch in 0..<C {
                for b in 0..<B {
                    (dst + (ch * B + b) * framePixels).update(from: frames + (t * B + b) * frameSize + ch * framePixels, count: framePixels)
                }
            }
            conditionEncoder.forward(arena: a, col: col, mode: batchNorm, updateRunningStatistics: false)
            transpose(a[conditionEncoder.vector], a[conditionRows], rows: gDim, columns: B)
            for n in 0..<N { (a[rows] + n * B * gDim).update(from: a[conditionRows], count: B * gDim) }
        }
        /// The previous predictions (already in the encoder's input), one per sample.
        func encodeGenerated(into rows: Slice) {
            encoder.forward(arena: a, col: col, mode: batchNorm, updateRunningStatistics: false)
            transpose(a[encoder.vector], a[rows], rows: gDim, columns: M)
        }
        /// Input rows of `step` for module m: [h; z^1 … z^{j−1}] (the predictor: all of z).
        func input(_ m: LSTMPlan, step: Int, h: Slice) {
            lstmInputForward(m, arena: a, rows: step * M..<(step + 1) * M, h: a[h], hWidth: gDim, z: a[z], zStride: c.zDim)
        }
        func sample(_ m: LSTMPlan, step: Int, group j: Int) {
            if zeroGroup == j {
                for r in 0..<M { (a[z] + r * c.zDim + j * d).update(repeating: 0, count: d) }
            } else {
                sampleLatent(m, arena: a, rows: step * M..<(step + 1) * M, eps: a[eps[step][j]], z: a[z] + j * d, zStride: c.zDim)
            }
        }

        for i in 1..<T {
            let step = i - 1
            // x_in is ground truth up to step nPast, then the previous prediction.
            if i <= c.nPast { encodeGroundTruth(i - 1, into: hRows) } else { encodeGenerated(into: hRows) }
            if i < c.nPast {
                // Skip sources: the B sequences' frame i − 1, read by every sample (before the target
                // encoding below overwrites the condition encoder's maps).
                for level in 0..<decoder.skips.count {
                    let skip = decoder.skip(level: level)
                    a[skip.source].update(from: a[conditionEncoder.skips[level].value], count: skip.source.count)
                }
                encodeGroundTruth(i, into: targetRows)
                for j in 0..<G {
                    input(posterior[j], step: step, h: targetRows)
                    posterior[j].forwardStep(step, arena: a)
                    sample(posterior[j], step: step, group: j)
                }
                for j in 0..<G {
                    input(prior[j], step: step, h: hRows)
                    prior[j].forwardStep(step, arena: a)
                }
            } else {
                for j in 0..<G {
                    input(prior[j], step: step, h: hRows)
                    prior[j].forwardStep(step, arena: a)
                    sample(prior[j], step: step, group: j)
                }
            }
            input(predictor, step: step, h: hRows)
            predictor.forwardStep(step, arena: a)
            if i >= c.nPast {
                transpose(a[predictor.output] + step * M * gDim, a[decoder.input], rows: M, columns: gDim)
                decoder.forward(arena: a, col: col, mode: batchNorm, updateRunningStatistics: false)
                let pred = a[decoder.output]
                a[encoder.input].update(from: pred, count: C * M * framePixels)
                let future = i - c.nPast
                for ch in 0..<C {
                    for n in 0..<N {
                        for b in 0..<B {
                            let dst = a[output] + (((b * N + n) * c.nFuture + future) * C + ch) * framePixels
                            dst.update(from: pred + (ch * M + n * B + b) * framePixels, count: framePixels)
                        }
                    }
                }
                afterDecoding?(future)
            }
        }
        return UnsafePointer(a[output])
    }
}
