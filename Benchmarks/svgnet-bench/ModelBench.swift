// Sections "train" and "sample": whole Trainer.step and Generator.generate calls at full size, with the
// arena size, the peak RSS of that run alone, and the useful FLOPs of the schedule as it is written.
import Kernels
import SVGNet

/// FLOPs of one conv / transposed-conv product over `frames` frames with `cin` input channels:
/// 2·Cin·Cout·k²·(output positions) for conv, 2·Cin·Cout·k²·(input positions) for the transposed conv.
func convProductFlops(_ l: ConvLayerSpec, cin: Int, frames: Int) -> Double {
    let positions = l.transposed ? l.inSize * l.inSize : l.outSize * l.outSize
    return 2 * Double(cin) * Double(l.outChannels) * Double(l.kernel * l.kernel) * Double(positions) * Double(frames)
}

/// What one pass of the network costs under our schedule. `training` adds the two backward products
/// (grad weight, grad input; the encoder's first layer has no grad input). The decoder's first layer of
/// a skip stage is split: decoder block over `decoderFrames`, skip block over `skipFrames` (the distinct
/// source frames), aligner-output block over `decoderFrames`.
struct ScheduleFlops {
    var conv = 0.0
    var aligner = 0.0 // attention GEMMs and the aligner's 1×1 convolutions
    var total: Double { conv + aligner }
}

func encoderFlops(_ net: Network, frames: Int, training: Bool) -> ScheduleFlops {
    var f = ScheduleFlops()
    for (si, stage) in net.encoder.enumerated() {
        for (li, l) in stage.layers.enumerated() {
            let one = convProductFlops(l, cin: l.inChannels, frames: frames)
            let isDataLayer = si == 0 && li == 0
            f.conv += training ? (isDataLayer ? 2 : 3) * one : one
        }
    }
    return f
}

func decoderFlops(_ net: Network, decoderFrames: Int, skipFrames: Int, training: Bool) -> ScheduleFlops {
    var f = ScheduleFlops()
    let products = training ? 3.0 : 1.0
    for stage in net.decoder {
        for (li, l) in stage.layers.enumerated() {
            guard li == 0, let level = stage.skipLevel else {
                f.conv += products * convProductFlops(l, cin: l.inChannels, frames: decoderFrames)
                continue
            }
            let ch = net.config.skipChannels[level]
            f.conv += products * convProductFlops(l, cin: ch, frames: decoderFrames)
            f.conv += products * convProductFlops(l, cin: ch, frames: skipFrames)
            if net.config.hasAligner(level: level) {
                f.conv += products * convProductFlops(l, cin: ch, frames: decoderFrames)
                let p = Double(l.inSize * l.inSize), e = Double(max(ch / 8, 1)), c = Double(ch)
                let qf = Double(decoderFrames), kf = Double(skipFrames)
                let vFrames = net.config.alignerValue == .decoder ? qf : kf
                // 1×1 convolutions: Q over the decoder frames, K and V over the sources.
                let oneByOne = 2 * p * c * (e * qf + e * kf + c * vFrames)
                f.aligner += products * oneByOne
                // Attention: forward 2P²(e + C) per query frame, backward 2P²(2C + 2e).
                f.aligner += qf * 2 * p * p * (e + c)
                if training { f.aligner += qf * 2 * p * p * (2 * c + 2 * e) }
            }
        }
    }
    return f
}

func trainingStepFlops(_ c: ModelConfiguration) throws -> ScheduleFlops {
    let net = try Network(c)
    let T = c.frameCount, B = c.batch
    let e = encoderFlops(net, frames: T * B, training: true)
    let d = decoderFlops(net, decoderFrames: (T - 1) * B, skipFrames: (c.nPast - 1) * B, training: true)
    return ScheduleFlops(conv: e.conv + d.conv, aligner: d.aligner)
}

/// Generation of `samples` samples of `c.batch` sequences as Generator schedules it: M = samples·B frames
/// per pass for what depends on the sample (the encoder over the nFuture − 1 fed-back predictions, the
/// decoder over nFuture steps), B frames for what depends on ground truth only (MODEL.md "Cost", item 3:
/// 2·nPast − 1 encoder passes for the conditioning inputs and the posterior's targets, and the decoder's
/// skip half over the B source frames).
func generationFlops(_ c: ModelConfiguration, samples: Int) throws -> ScheduleFlops {
    let net = try Network(c)
    let B = c.batch, M = samples * B
    let generated = encoderFlops(net, frames: M, training: false)
    let groundTruth = encoderFlops(net, frames: B, training: false)
    let d = decoderFlops(net, decoderFrames: M, skipFrames: B, training: false)
    return ScheduleFlops(
        conv: Double(c.nFuture - 1) * generated.conv + Double(2 * c.nPast - 1) * groundTruth.conv + Double(c.nFuture) * d.conv,
        aligner: Double(c.nFuture) * d.aligner)
}

struct ModelCase {
    var key: String // JSON name, shared with pytorch_peer.py
    var config: ModelConfiguration
}

func svgLP() -> ModelConfiguration {
    var c = ModelConfiguration()
    c.backbone = .dcgan64; c.channels = 1; c.batch = 16; c.nPast = 5; c.nFuture = 10; c.zDim = 10
    return c
}

func hafSVG4() -> ModelConfiguration {
    var c = svgLP()
    c.zDim = 16; c.groups = 4; c.alignerLevels = [0, 1, 2, 3]
    return c
}

/// SVG-LP at `svgnet train --preset kth`'s shape (VGG-64, 10 + 10 frames, zDim 24), batch 8.
func vggSVGLP() -> ModelConfiguration {
    var c = svgLP()
    c.backbone = .vgg64; c.batch = 8; c.nPast = 10; c.nFuture = 10; c.zDim = 24; c.beta = 1e-6
    return c
}

/// HAF-SVG-1 at the kth preset: VGG-64's aligner levels 0-2, batch 8.
func vggHAFSVG1() -> ModelConfiguration {
    var c = vggSVGLP()
    c.alignerLevels = [0, 1, 2]
    return c
}

/// The end-to-end training rows, keyed as in pytorch_peer.py.
func trainingCases() -> [ModelCase] {
    [
        ModelCase(key: "train.svglp", config: svgLP()), ModelCase(key: "train.hafsvg4", config: hafSVG4()),
        ModelCase(key: "train.vgg64.svglp", config: vggSVGLP()), ModelCase(key: "train.vgg64.hafsvg1", config: vggHAFSVG1())
    ]
}

func describe(_ c: ModelConfiguration) -> String {
    "\(c.backbone.rawValue) B\(c.batch) \(c.nPast)+\(c.nFuture) z\(c.zDim) G\(c.groups)"
        + (c.alignerLevels.isEmpty ? "" : " al\(c.alignerLevels.map(String.init).joined())")
}

/// Repeats `body` up to `runs` times after one warm-up (which also faults the arena's pages in), but stops
/// after the first timed run when a run takes longer than `longRun` seconds. The peak RSS is read right
/// after the warm-up, before anything else is allocated; after every timed run the sgemm ceiling is
/// measured again, so each run's rate is divided by the ceiling of its own moment (the machine is shared
/// and its sgemm rate drifts by ±20% over minutes).
func measureLong(runs: Int, longRun: Double, flops: Double, _ body: () -> Void)
    -> (times: [Double], peakRatios: [Double], peakRSS: Int, note: String)
{
    let w0 = now(); body(); let warm = now() - w0
    let rss = peakRSSBytes()
    var times: [Double] = [], ratios: [Double] = []
    for i in 0..<runs {
        let t0 = now(); body(); let t = now() - t0
        times.append(t)
        ratios.append(flops / t / 1e9 / sgemmCeilingNow())
        if i == 0 && max(warm, times[0]) > longRun && runs > 1 {
            return (times, ratios, rss, "1 run only: a run takes > \(Int(longRun)) s (warm-up \(fixed(warm, 1)) s)")
        }
    }
    return (times.sorted(), ratios.sorted(), rss, "warm-up \(fixed(warm, 2)) s")
}

/// One sgemm 2048³ (best of 2), in GFLOP/s: the ceiling at this moment.
func sgemmCeilingNow() -> Double { gemmFlops(2048, 2048, 2048) / timeSgemm2048(reps: 2, warmup: 0)[0] / 1e9 }

func syntheticFrames(_ count: Int, seed: UInt64) -> Buffer {
    let b = Buffer(count, seed: seed)
    b.fillUnit(seed: seed)
    return b
}

/// `models`: which of svglp, hafsvg4, vgg64, vgg64-hafsvg1 to run (nil: all).
func selected(_ key: String, _ models: Set<String>?) -> Bool {
    guard let models else { return true }
    return models.contains(modelName(key))
}

/// A row's name for `--models`: train.svglp → svglp, train.vgg64.svglp → vgg64, train.vgg64.hafsvg1 → vgg64-hafsvg1.
func modelName(_ key: String) -> String {
    let parts = key.split(separator: ".").map(String.init)
    return parts.count > 2 && parts[2] != "svglp" ? "\(parts[1])-\(parts[2])" : parts[1]
}

func runTrainSection(runs: Int, models: Set<String>?, convolution: ConvolutionAlgorithm, ceilings: Ceilings, log: (String) -> Void) throws -> [Row] {
    var rows: [Row] = []
    for mc in trainingCases() where selected(mc.key, models) {
        log(mc.key)
        let c = mc.config
        let peakReset = resetPeakRSS()
        let frames = syntheticFrames(c.frameCount * c.batch * c.channels * 4096, seed: 81)
        var arenaBytes = 0
        let flops = try trainingStepFlops(c)
        let (times, ratios, rss, note) = try {
            let trainer = try Trainer(config: c, seed: 1, convolution: convolution)
            arenaBytes = trainer.arenaBytes
            return measureLong(runs: runs, longRun: 30, flops: flops.total) { _ = trainer.step(frames.p) }
        }()
        let flopNote = flops.aligner > 0 ? "; GFLOP = conv \(fixed(flops.conv / 1e9, 1)) + aligner \(fixed(flops.aligner / 1e9, 1))" : ""
        rows.append(
            Row(
                section: "train", name: mc.key + " step", shape: describe(c), times: times, flops: flops.total,
                arenaBytes: arenaBytes, peakRSS: rss, peakRatios: ratios,
                note: note + flopNote + (peakReset ? "" : "; peak RSS is process-wide (clear_refs refused)")))
    }
    return rows
}

/// The generator the sampling rows and the sampling profile time: `c.batch` sequences (the rows use one),
/// BatchNorm on running statistics as PyTorch's eval mode in pytorch_peer.py (batch statistics over one
/// sequence are degenerate at c5, and the CLI refuses them), weights initialised by a small trainer of
/// the same network (the batch does not change the parameters).
func samplingGenerator(_ c: ModelConfiguration, samples: Int, convolution: ConvolutionAlgorithm) throws -> Generator {
    let generator = try Generator(config: c, samples: samples, seed: 2, convolution: convolution)
    generator.batchNorm = .runningStatistics
    var small = c
    small.batch = 2
    generator.loadParameters(from: try Trainer(config: small, seed: 1))
    return generator
}

func runSampleSection(runs: Int, models: Set<String>?, convolution: ConvolutionAlgorithm, ceilings: Ceilings, log: (String) -> Void) throws -> [Row] {
    var rows: [Row] = []
    let samples = 100
    let cases = [ModelCase(key: "sample.svglp", config: svgLP()), ModelCase(key: "sample.hafsvg4", config: hafSVG4())]
    for mc in cases where selected(mc.key, models) {
        log(mc.key)
        var c = mc.config
        c.batch = 1
        let peakReset = resetPeakRSS()
        let frames = syntheticFrames(c.nPast * c.batch * c.channels * 4096, seed: 82)
        var arenaBytes = 0
        let flops = try generationFlops(c, samples: samples)
        let (times, ratios, rss, note) = try {
            let generator = try samplingGenerator(c, samples: samples, convolution: convolution)
            arenaBytes = generator.arenaBytes
            return measureLong(runs: runs, longRun: 30, flops: flops.total) { generator.generate(frames.p) }
        }()
        rows.append(
            Row(
                section: "sample", name: mc.key + " generate", shape: describe(c) + " ×\(samples) samples", times: times,
                flops: flops.total, arenaBytes: arenaBytes, peakRSS: rss, peakRatios: ratios,
                note: note + (peakReset ? "" : "; peak RSS is process-wide")))
    }
    return rows
}
