// The static generation schedule (SPEC §7): N samples of B sequences run batched as M = N·B frames,
// sample-major (frame n·B + b), so BatchNorm on batch statistics takes them per sample over its B
// sequences (the grouped BatchNorm of SPEC §6, N groups). Planned once; `generate` allocates nothing
// in the arena's steps. The encoder and decoder run once per step because each prediction feeds the next.
import Kernels

public final class Generator {
    public let config: ModelConfiguration      // nPast / nFuture / batch as generated, not as trained
    public let samples: Int
    public let network: Network
    public let layout: ParameterLayout
    public let arena: Arena
    public var rng: RandomGenerator
    public var batchNorm: BatchNormMode = .batchStatistics
    /// Group j of the latent fixed to zero (the paper's Fig. 8 ablation), or nil.
    public var zeroGroup: Int? = nil
    /// When false, ε is read from `noise(step:group:)` as the caller left it instead of drawn.
    public var drawNoise = true

    let encoder: EncoderPlan
    let decoder: DecoderPlan
    let posterior: [LSTMPlan]
    let prior: [LSTMPlan]
    let predictor: LSTMPlan
    let col: Slice
    let hRows: Slice                 // M × gDim: h of the current input
    let targetRows: Slice            // M × gDim: h of the next ground-truth frame (conditioning steps)
    let z: Slice                     // M × zDim
    let eps: [[Slice]]               // [step][group]: M × d
    let output: Slice                // (B·N·nFuture·C·64²), (B, N, nFuture, C, 64, 64)

    /// `config` carries the generation shape: nPast, nFuture and batch (= sequences B at a time).
    public init(config: ModelConfiguration, samples: Int, seed: UInt64) throws {
        guard samples >= 1 else { throw ConfigurationError("samples must be at least 1, got \(samples)") }
        let net = try Network(config)
        self.config = config; self.samples = samples; network = net
        let B = config.batch, M = samples * B, steps = config.frameCount - 1
        var planner = ArenaPlanner()
        let layout = ParameterLayout(net, planner: &planner, withOptimizer: false)
        self.layout = layout
        encoder = EncoderPlan(net, frames: M, groups: samples, layout: layout, planner: &planner, needsGrad: false)
        decoder = DecoderPlan(net, frames: M, groups: samples, sourceFrames: M, layout: layout, planner: &planner, needsGrad: false)
        posterior = net.posterior.map { LSTMPlan($0, steps: steps, batch: M, layout: layout, planner: &planner, needsGrad: false) }
        prior = net.prior.map { LSTMPlan($0, steps: steps, batch: M, layout: layout, planner: &planner, needsGrad: false) }
        predictor = LSTMPlan(net.predictor, steps: steps, batch: M, layout: layout, planner: &planner, needsGrad: false)
        col = planner.floats(max(EncoderPlan.colCount(net, frames: M), DecoderPlan.colCount(net, frames: M, sourceFrames: M)))
        hRows = planner.floats(M * config.gDim); targetRows = planner.floats(M * config.gDim)
        z = planner.floats(M * config.zDim)
        eps = (0..<steps).map { _ in (0..<config.groups).map { _ in planner.floats(M * config.groupDim) } }
        output = planner.floats(B * samples * config.nFuture * config.channels * 4096)
        arena = Arena(planner)
        rng = RandomGenerator(seed: seed)
        let sourceOf = arena[decoder.sourceOf]
        for f in 0..<M { sourceOf[f] = Int32(f) }
    }

    public var arenaBytes: Int { arena.byteCount }
    public func noise(step: Int, group: Int) -> UnsafeMutablePointer<Float> { arena[eps[step][group]] }

    /// Copies the weights and running statistics of a trainer (same network).
    public func loadParameters(from trainer: Trainer) {
        arena[layout.params].update(from: trainer.arena[trainer.layout.params], count: layout.params.count)
        arena[layout.statistics].update(from: trainer.arena[trainer.layout.statistics], count: layout.statistics.count)
    }

    public func loadModel(_ file: SafetensorsFile, path: String) throws { try layout.load(file, arena: arena, path: path) }

    /// Conditioning frames (nPast, B, C, 64, 64) in [0, 1] → predictions (B, N, nFuture, C, 64, 64).
    /// The returned pointer stays valid until the next call.
    @discardableResult
    public func generate(_ frames: UnsafePointer<Float>) -> UnsafePointer<Float> {
        let c = config, B = c.batch, N = samples, M = N * B, G = c.groups, d = c.groupDim, gDim = c.gDim
        let C = c.channels, frameSize = C * 4096, T = c.frameCount
        let a = arena
        if drawNoise { for s in eps { for e in s { rng.fillNormal(a[e], count: e.count) } } }

        /// Ground-truth frame t, broadcast to every sample, into `dst` (CNHW, M frames).
        func loadGroundTruth(_ t: Int, into dst: UnsafeMutablePointer<Float>) {
            for ch in 0..<C { for n in 0..<N { for b in 0..<B {
                (dst + (ch * M + n * B + b) * 4096).update(from: frames + (t * B + b) * frameSize + ch * 4096, count: 4096)
            } } }
        }
        func encode(into rows: Slice) {
            encoder.forward(arena: a, col: col, mode: batchNorm, updateRunningStatistics: false)
            transpose(a[encoder.vector], a[rows], rows: gDim, columns: M)
        }
        func gaussianInput(_ m: LSTMPlan, step: Int, h: Slice, groupsBefore j: Int) {
            for r in 0..<M {
                let dst = a[m.input] + (step * M + r) * m.spec.inFeatures
                dst.update(from: a[h] + r * gDim, count: gDim)
                if j > 0 { (dst + gDim).update(from: a[z] + r * c.zDim, count: j * d) }
            }
        }
        func sample(_ m: LSTMPlan, step: Int, group j: Int) {
            for r in 0..<M {
                let row = step * M + r
                let zr = a[z] + r * c.zDim + j * d
                if zeroGroup == j { zr.update(repeating: 0, count: d); continue }
                reparameterizeForward(mu: a[m.heads[0]] + row * d, logvar: a[m.heads[1]] + row * d, eps: a[eps[step][j]] + r * d, z: zr, count: d)
            }
        }

        loadGroundTruth(0, into: a[encoder.input])
        for i in 1..<T {
            let step = i - 1
            encode(into: hRows)
            if i < c.nPast {
                for level in 0..<4 {
                    let skip = decoder.skip(level: level)
                    a[skip.source].update(from: a[encoder.output(3 - level)], count: skip.source.count)
                }
                loadGroundTruth(i, into: a[encoder.input])
                encode(into: targetRows)
                for j in 0..<G {
                    gaussianInput(posterior[j], step: step, h: targetRows, groupsBefore: j)
                    posterior[j].forwardStep(step, arena: a)
                    sample(posterior[j], step: step, group: j)
                }
                for j in 0..<G {
                    gaussianInput(prior[j], step: step, h: hRows, groupsBefore: j)
                    prior[j].forwardStep(step, arena: a)
                }
            } else {
                for j in 0..<G {
                    gaussianInput(prior[j], step: step, h: hRows, groupsBefore: j)
                    prior[j].forwardStep(step, arena: a)
                    sample(prior[j], step: step, group: j)
                }
            }
            for r in 0..<M {
                let dst = a[predictor.input] + (step * M + r) * (gDim + c.zDim)
                dst.update(from: a[hRows] + r * gDim, count: gDim)
                (dst + gDim).update(from: a[z] + r * c.zDim, count: c.zDim)
            }
            predictor.forwardStep(step, arena: a)
            if i >= c.nPast {
                transpose(a[predictor.heads[0]] + step * M * gDim, a[decoder.input], rows: M, columns: gDim)
                decoder.forward(arena: a, col: col, mode: batchNorm, updateRunningStatistics: false)
                let pred = a[decoder.output]
                a[encoder.input].update(from: pred, count: C * M * 4096)
                let future = i - c.nPast
                for ch in 0..<C { for n in 0..<N { for b in 0..<B {
                    let dst = a[output] + (((b * N + n) * c.nFuture + future) * C + ch) * 4096
                    dst.update(from: pred + (ch * M + n * B + b) * 4096, count: 4096)
                } } }
            }
        }
        return UnsafePointer(a[output])
    }
}
