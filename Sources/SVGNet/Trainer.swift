// The static training schedule (MODEL.md "Training step"). Planned once for a configuration: every
// parameter, gradient, Adam moment, activation and workspace is a slice of one arena; `step` runs the
// same ops every time and allocates nothing.
//
// Frames are time-major everywhere: encoder frame t·B + b (t = 0 … T−1), decoder and LSTM row
// (i−1)·B + b for prediction step i = 1 … T−1. The encoder runs once over all T·B frames and the decoder
// once over all (T−1)·B predictions, with BatchNorm statistics per time step; only the LSTMs step.
//
// Data parallelism (MODEL.md "Data-parallel training"): with `replicas`, this process holds rows
// `rows` of the global batch B = config.batch, and B above reads as its local rows b = rows.count. The
// step is the one-process step at batch B: BatchNorm takes its statistics over all replicas' frames, the
// losses are normalised by the global B, ε is drawn for all B rows and each replica keeps its own, and
// the gradients are summed over the replicas before Adam, so every replica makes the same update.
import Kernels

/// The losses of one training step (MODEL.md "Training step").
public struct StepLosses: Sendable, Equatable {
    /// The objective, mse + β·kld.
    public var loss: Double
    /// Sum over prediction steps of each step's mean squared error per pixel.
    public var mse: Double
    /// KL(q‖p) summed over steps, groups and latent dimensions, divided by the batch size.
    public var kld: Double
}

/// The static training schedule (MODEL.md "Training step"): every tensor, gradient, Adam moment, activation
/// and workspace of one configuration in one arena; `step` runs forward, backward and Adam without allocating.
public final class Trainer {
    /// The configuration trained.
    public let config: ModelConfiguration
    /// The network the configuration describes.
    public let network: Network
    /// Where each tensor, its gradient and its Adam moments live in `arena`.
    let layout: ParameterLayout
    /// The one allocation holding everything the schedule reads and writes.
    let arena: Arena
    /// Seeded generator for the initialisation and, while `drawNoise` is true, each step's ε; checkpoints save
    /// its state.
    var rng: RandomGenerator
    /// Adam steps taken so far (PyTorch's `step` counter).
    public private(set) var stepCount = 0
    /// When false, `step` leaves ε as the caller filled it (`posteriorNoise(group:)`) instead of drawing it.
    public var drawNoise = true

    /// The network's plans (ModelPlan.swift) at this schedule's shape.
    let plan: ModelPlan
    var encoder: EncoderPlan { plan.encoder }
    var decoder: DecoderPlan { plan.decoder }
    var posterior: [LSTMPlan] { plan.posterior }
    var prior: [LSTMPlan] { plan.prior }
    var predictor: LSTMPlan { plan.predictor }
    var col: Slice { plan.col }
    let hRows, gradHRows: Slice // (T·B) × gDim
    let z, gradZ: Slice // rows × zDim, rows = (T−1)·B
    let eps: [Slice] // per group: rows × d
    let globalEps: [Slice] // per group, data parallel only: (T−1) × B_global × d
    /// This process's rows of every batch: all of 0 ..< config.batch, or its share with `replicas`.
    public let ownRows: Range<Int>
    /// The other processes of a data-parallel run (nil: this one holds the whole batch).
    public let replicas: (any ReplicaGroup)?
    /// Sequences this process holds per batch: ownRows.count.
    public var localBatch: Int { ownRows.count }

    /// `memory`: what the schedule keeps from forward for backward, and its largest col (nil:
    /// `MemoryBudget.defaults(for: config)`).
    /// `convolution`: how the conv layers are computed (Network.init).
    /// `replicas`: train data-parallel as one of `replicas.count` processes, on rows
    /// `replicaRows(batch: config.batch, …)` of each batch (config.batch is the global batch).
    public init(
        config: ModelConfiguration, seed: UInt64, memory: MemoryBudget? = nil,
        convolution: ConvolutionAlgorithm = .automatic, replicas: (any ReplicaGroup)? = nil
    ) throws {
        let net = try Network(config, convolution: convolution)
        guard config.batch >= 2 else {
            // The 1×1 maps after c5 and upc1 would hold one value per channel per BatchNorm group.
            throw ConfigurationError("training needs batch ≥ 2: BatchNorm statistics over one sequence are undefined")
        }
        if let r = replicas, r.count > config.batch {
            throw ConfigurationError("--batch \(config.batch) over \(r.count) ranks: every rank needs at least one sequence of the batch")
        }
        self.config = config
        network = net
        self.replicas = replicas
        let own = replicas.map { replicaRows(batch: config.batch, rank: $0.rank, count: $0.count) } ?? 0..<config.batch
        ownRows = own
        let T = config.frameCount, B = own.count
        let steps = T - 1, rows = steps * B, sourceFrames = (config.nPast - 1) * B
        let bnReplicas = replicas.map { BatchNormReplicas(group: $0, framesPerGroup: config.batch) }
        var planner = ArenaPlanner()
        let shape = PlanShape(
            encoderFrames: T * B, encoderGroups: T, decoderFrames: rows, decoderGroups: steps, sourceFrames: sourceFrames,
            lstmSteps: steps, lstmBatch: B)
        plan = ModelPlan(
            net, shape: shape, needsGrad: true, planner: &planner, memory: memory ?? .defaults(for: config), replicas: bnReplicas)
        layout = plan.layout
        hRows = planner.floats(T * B * config.gDim); gradHRows = planner.floats(T * B * config.gDim)
        z = planner.floats(rows * config.zDim); gradZ = planner.floats(rows * config.zDim)
        eps = (0..<config.groups).map { _ in planner.floats(rows * config.groupDim) }
        globalEps = replicas == nil ? [] : (0..<config.groups).map { _ in planner.floats(steps * config.batch * config.groupDim) }
        arenaBySite = planner.floatsBySite.map { (site: $0.key, bytes: 4 * $0.value) }.sorted { ($0.bytes, $1.site) > ($1.bytes, $0.site) }
        arena = Arena(planner)
        rng = RandomGenerator(seed: seed)
        initializeParameters(layout, arena: arena, hidden: config.rnnSize, rng: &rng)
        // Skip source of prediction step i is frame min(i−1, nPast−2) (MODEL.md "Data and notation").
        let sourceOf = arena[decoder.sourceOf]
        for i in 1...steps {
            for b in 0..<B { sourceOf[(i - 1) * B + b] = Int32(min(i - 1, config.nPast - 2) * B + b) }
        }
    }

    // MARK: access for tests, checkpoints and the command-line tool

    /// Bytes of the arena.
    public var arenaBytes: Int { arena.byteCount }
    /// The arena's float block by planning call site ("File.swift:line"), largest first (ArenaPlanner.floatsBySite).
    public let arenaBySite: [(site: String, bytes: Int)]

    /// What one data-parallel step sums over the replicas: the gradient (one allreduce of Floats), per
    /// BatchNorm layer Σx and Σ(x − μ)² in forward (G·C Doubles each) and [Σgy | Σgy·x̂] in backward (2·G·C),
    /// and the two losses. Zero without replicas.
    public var allreducePerStep: (calls: Int, floats: Int, doubles: Int) {
        guard replicas != nil else { return (0, 0, 0) }
        let layers = plan.convLayers.filter { $0.replicas != nil }
        return (3 * layers.count + 2, layout.grads.count, layers.reduce(2) { $0 + 4 * $1.groups * $1.spec.outChannels })
    }
    /// ε of latent group `group` for every prediction step: ((T−1)·b) × groupDim floats, row (i−1)·b + k for
    /// this process's k-th sequence (b = localBatch).
    public func posteriorNoise(group: Int) -> UnsafeMutablePointer<Float> { arena[eps[group]] }
    /// A copy of tensor `name` (a parameter or running statistic); an unknown name traps.
    public func parameter(_ name: String) -> [Float] { arena.array(layout.slice(name)) }
    /// A copy of the gradient of trainable tensor `name` as the last backward left it.
    public func gradient(_ name: String) -> [Float] { arena.array(layout.gradient(name)) }
    /// Overwrites tensor `name` with `values`, which must have its element count.
    public func setParameter(_ name: String, _ values: [Float]) { arena.copy(from: values, to: layout.slice(name)) }
    /// The last step's predictions x̂ for steps 1 … T−1 of this process's rows, NCHW: ((T−1)·b) × C × 64 × 64.
    public func predictions() -> [Float] {
        let rows = (config.frameCount - 1) * localBatch
        var out = [Float](repeating: 0, count: rows * config.channels * framePixels)
        out.withUnsafeMutableBufferPointer { cnhwToNCHW(arena[decoder.output], $0.baseAddress!, frames: rows, channels: config.channels, plane: framePixels) }
        return out
    }
    /// Σ of every parameter and running statistic in Double: equal on replicas that hold the same weights.
    public func parameterChecksum() -> Double {
        blockedSum(arena[layout.params], count: layout.params.count) + blockedSum(arena[layout.statistics], count: layout.statistics.count)
    }

    /// Sets Adam's step count, as when resuming from a checkpoint.
    func restore(stepCount: Int) { self.stepCount = stepCount }

    // MARK: the step

    /// One training step on `frames`: T·b·C·64·64 floats in [0, 1], time-major (T, b, C, 64, 64), this
    /// process's rows of the batch (all B of them without replicas).
    public func step(_ frames: UnsafePointer<Float>) -> StepLosses {
        let losses = forwardAndBackward(frames)
        stepCount += 1
        let hyper = AdamHyperparameters(learningRate: config.learningRate, beta1: 0.9, beta2: 0.999, eps: 1e-8)
        profiled("adam") {
            adamStep(
                params: arena[layout.params], grads: arena[layout.grads], m: arena[layout.adamM], v: arena[layout.adamV],
                count: layout.params.count, step: stepCount, hyper: hyper)
        }
        return losses
    }

    /// Forward, losses and backward, leaving the gradients in the arena (no parameter update); with replicas,
    /// the losses and gradients of the whole batch, summed over the replicas.
    public func forwardAndBackward(_ frames: UnsafePointer<Float>) -> StepLosses {
        let c = config, T = c.frameCount, B = localBatch, globalB = c.batch, G = c.groups, d = c.groupDim, gDim = c.gDim
        let steps = T - 1, rows = steps * B, S = (c.nPast - 1) * B
        let a = arena

        // Encode every frame once (MODEL.md "Training step"), BatchNorm statistics per time step.
        nchwToCNHW(frames, a[encoder.input], frames: T * B, channels: c.channels, plane: framePixels)
        encoder.forward(arena: a, col: col, mode: .batchStatistics, updateRunningStatistics: true)
        transpose(a[encoder.vector], a[hRows], rows: gDim, columns: T * B)
        // Skip sources: frames 0 … nPast−2 of every skip level.
        for level in 0..<decoder.skips.count {
            let skip = decoder.skip(level: level)
            copyFrameRange(
                src: a[encoder.skips[level].value], srcFrames: T * B, first: 0, dst: a[skip.source], frames: S,
                channels: skip.channels, plane: skip.plane)
        }

        // Posterior q(z_i | x_{≤i}), group by group: group j reads [h[i]; z^1 … z^{j−1}]
        // (MODEL.md "Hierarchical latent").
        if drawNoise { drawPosteriorNoise() }
        let hTarget = UnsafePointer(a[hRows] + B * gDim), hPrevious = UnsafePointer(a[hRows]) // h[i] and h[i − 1] for step i = 1
        for (j, m) in posterior.enumerated() {
            lstmInputForward(m, arena: a, rows: 0..<rows, h: hTarget, hWidth: gDim, z: a[z], zStride: c.zDim)
            for i in 0..<steps { m.forwardStep(i, arena: a) }
            // z^j goes into column block j of the z matrix, which the prior and the predictor read.
            sampleLatent(m, arena: a, rows: 0..<rows, eps: a[eps[j]], z: a[z] + j * d, zStride: c.zDim)
        }
        // Prior p(z_i | x_{<i}), fed the posterior's samples of the earlier groups.
        for m in prior {
            lstmInputForward(m, arena: a, rows: 0..<rows, h: hPrevious, hWidth: gDim, z: a[z], zStride: c.zDim)
            for i in 0..<steps { m.forwardStep(i, arena: a) }
        }
        // Frame predictor on [h[i−1]; z_i].
        lstmInputForward(predictor, arena: a, rows: 0..<rows, h: hPrevious, hWidth: gDim, z: a[z], zStride: c.zDim)
        for i in 0..<steps { predictor.forwardStep(i, arena: a) }

        // Decode every prediction at once.
        transpose(a[predictor.output], a[decoder.input], rows: rows, columns: gDim)
        decoder.forward(arena: a, col: col, mode: .batchStatistics, updateRunningStatistics: true)

        // Losses: Σ_i mean((x̂_i − x_i)²) and Σ_i KL / B, over the global batch.
        let divisor = Double(globalB * c.channels * framePixels)
        var mse = 0.0
        for ch in 0..<c.channels {
            let pred = a[decoder.output] + ch * rows * framePixels
            let target = a[encoder.input] + (ch * T * B + B) * framePixels
            mse += mseForward(pred: pred, target: target, count: rows * framePixels, divisor: divisor)
            mseBackward(pred: pred, target: target, gradPred: a[decoder.outputGrad] + ch * rows * framePixels, count: rows * framePixels, divisor: divisor)
        }
        var kld = 0.0
        for j in 0..<G {
            kld += klDiagonalGaussianForward(
                muQ: a[posterior[j].mu], logvarQ: a[posterior[j].logvar],
                muP: a[prior[j].mu], logvarP: a[prior[j].logvar], count: rows * d, batch: globalB)
        }

        // Backward. Parameter gradients accumulate into zeroed buffers; each layer-output gradient (a link of
        // GradientChain.swift) is overwritten by the layer after it before anything adds to it.
        a.zero(layout.grads)
        decoder.backward(arena: a, col: col)
        transpose(a[decoder.inputGrad], a[predictor.gradOutput], rows: gDim, columns: rows)
        predictor.backward(arena: a)
        a.zero(gradHRows); a.zero(gradZ)
        let gradHTarget = a[gradHRows] + B * gDim, gradHPrevious = a[gradHRows]
        lstmInputBackward(predictor, arena: a, rows: 0..<rows, gradH: gradHPrevious, hWidth: gDim, gradZ: a[gradZ], zStride: c.zDim)
        for j in 0..<G {
            klDiagonalGaussianBackward(
                muQ: a[posterior[j].mu], logvarQ: a[posterior[j].logvar],
                muP: a[prior[j].mu], logvarP: a[prior[j].logvar],
                gradMuQ: a[posterior[j].gradMu], gradLogvarQ: a[posterior[j].gradLogvar],
                gradMuP: a[prior[j].gradMu], gradLogvarP: a[prior[j].gradLogvar],
                count: rows * d, batch: globalB, scale: c.beta)
        }
        for m in prior {
            m.backward(arena: a)
            lstmInputBackward(m, arena: a, rows: 0..<rows, gradH: gradHPrevious, hWidth: gDim, gradZ: a[gradZ], zStride: c.zDim)
        }
        // The later groups' gradients reach z^j first: the posterior backward runs from the last group.
        for j in stride(from: G - 1, through: 0, by: -1) {
            let m = posterior[j]
            sampleLatentBackward(m, arena: a, rows: 0..<rows, eps: a[eps[j]], gradZ: a[gradZ] + j * d, zStride: c.zDim)
            m.backward(arena: a)
            lstmInputBackward(m, arena: a, rows: 0..<rows, gradH: gradHTarget, hWidth: gDim, gradZ: a[gradZ], zStride: c.zDim)
        }
        transpose(a[gradHRows], a[encoder.vectorGrad], rows: T * B, columns: gDim)
        encoder.backward(arena: a, col: col) { level in
            let skip = self.decoder.skip(level: level)
            addFrameRange(
                compact: a[skip.gradSource], frames: S, into: a[self.encoder.skips[level].grad], bigFrames: T * B, first: 0,
                channels: skip.channels, plane: skip.plane)
        }
        if let r = replicas {
            r.sum(a[layout.grads], count: layout.grads.count)
            var losses = SIMD2<Double>(mse, kld)
            withUnsafeMutableBytes(of: &losses) { r.sum($0.baseAddress!.assumingMemoryBound(to: Double.self), count: 2) }
            (mse, kld) = (losses[0], losses[1])
        }
        return StepLosses(loss: mse + Double(c.beta) * kld, mse: mse, kld: kld)
    }

    /// ε of every group for this process's rows. With replicas, the whole batch's ε is drawn, in the order
    /// one process draws it, and each replica keeps its rows: ε of sequence k does not depend on how many
    /// processes there are, and every replica's generator stays in step.
    private func drawPosteriorNoise() {
        let a = arena, d = config.groupDim, steps = config.frameCount - 1, b = localBatch
        guard replicas != nil else {
            for j in 0..<config.groups { rng.fillNormal(a[eps[j]], count: steps * b * d) }
            return
        }
        for j in 0..<config.groups {
            rng.fillNormal(a[globalEps[j]], count: steps * config.batch * d)
            for i in 0..<steps {
                (a[eps[j]] + i * b * d).update(from: a[globalEps[j]] + (i * config.batch + ownRows.lowerBound) * d, count: b * d)
            }
        }
    }
}
