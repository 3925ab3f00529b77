// svgnet generate: N samples per test sequence; GIFs (ground truth | best | random samples), a PNG grid
// and predictions.npy (sequences, samples, nFuture, C, 64, 64) float32.
import ArgumentParser
import Foundation
import Kernels
import SVGData
import SVGNet

extension BatchNormMode: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument {
        case "batch": self = .batchStatistics
        case "running": self = .runningStatistics
        default: return nil
        }
    }
    public var defaultValueDescription: String { self == .batchStatistics ? "batch" : "running" }
    public static var allValueStrings: [String] { ["batch", "running"] }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sample futures of test sequences and write GIFs, a PNG grid and predictions.npy.")

    @Option(help: "A model.safetensors written by svgnet train (or a model shipped in Models/).") var checkpoint: String
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var runOptions: RunOptions
    @Option(help: "Test sequences in all (default: the whole test set of a dataset, --batch on Moving MNIST).") var sequences: Int?
    @Option(help: "Samples per sequence.") var samples: Int = 5
    @Option(name: .customLong("zero-group"), help: "Fix latent group j (0-based) to zero (the paper's Fig. 8 ablation).") var zeroGroup: Int?
    @Flag(help: "Also report how focused each aligner level's attention is, and draw attention.png (HAF-SVG models).")
    var attention = false
    @Option(help: "Output folder.") var out: String = "svgnet-samples"

    func run() throws {
        // Under mpirun each rank generates a block of the sequences; rank 0 gathers them and writes.
        let world = MPIWorld.replicas
        let (generator, data) = try world.map { w in try w.agree(prepare) } ?? prepare()
        do { try sample(generator, data: data, world: world) } catch {
            if let w = world { w.abort(message: "\(error)") }
            throw error
        }
    }

    private func prepare() throws -> (Generator, VideoSource) {
        try runOptions.apply()
        try positive(sampling.batch, "--batch"); try positive(samples, "--samples")
        if let n = sequences { try positive(n, "--sequences") }
        let (generator, data) = try sampling.prepare(
            LoadedCheckpoint(checkpoint), sequencesAtATime: sampling.batch, samples: samples, data: dataOptions, seed: runOptions.seed,
            keepsAttentionMaps: attention)
        if let j = zeroGroup {
            let c = generator.config
            guard (0..<c.groups).contains(j) else { throw CLIError("--zero-group \(j): the model has groups 0…\(c.groups - 1)") }
            generator.zeroGroup = j
        }
        if attention && MPIWorld.replicas != nil { throw CLIError("--attention runs in one process: start it without mpirun") }
        let c = generator.config, total = sequences ?? data.count(.test) ?? sampling.batch
        if MPIWorld.replicas != nil && total * samples * c.nFuture * c.channels * framePixels > Int(Int32.max) {
            throw CLIError(
                "\(total) sequences × \(samples) samples are more predictions than mpirun can gather in one message; "
                    + "split them into several runs of fewer --sequences")
        }
        try requireTestSequences(data, sequences: sequences ?? data.count(.test) ?? sampling.batch, batch: sampling.batch)
        return (generator, data)
    }

    private func sample(_ generator: Generator, data: VideoSource, world: MPIWorld?) throws {
        let total = sequences ?? data.count(.test) ?? sampling.batch
        let c = generator.config, B = c.batch
        var attentionReport: AttentionReport? = nil
        var batches = 0
        if attention {
            let report = AttentionReport(generator)
            guard !report.levels.isEmpty else { throw CLIError("--attention: \(c.modelName) has no feature aligner") }
            generator.afterDecoding = { [unowned generator] step in report.record(generator, futureStep: step, firstBatch: batches == 0) }
            attentionReport = report
        }
        let frame = c.channels * framePixels, N = samples, perSequence = N * c.nFuture * frame
        let owned = ownedSequences(sequences: total, batch: B, world: world)
        var predictions = [Float](repeating: 0, count: owned.count * perSequence)
        let workspace = SSIMWorkspace(height: 64, width: 64)
        var scores = SampleScores(samples: N, steps: c.nFuture)
        var attentionPicture: Image? = nil
        try generateOverTestSet(generator, data: data, sequences: total, seed: runOptions.seed, world: world) { truth, pred, first, count in
            defer { batches += 1 }
            if let report = attentionReport, batches == 0 {
                truth.withUnsafeBufferPointer { x in
                    attentionPicture = report.picture(source: x.baseAddress! + (c.nPast - 2) * c.batch * frame, prediction: pred + (c.nFuture - 1) * frame)
                }
            }
            let future = futureTruth(truth, config: c, count: count)
            future.withUnsafeBufferPointer {
                scores.append(truth: $0.baseAddress!, predictions: pred, sequences: count, channels: c.channels, height: 64, width: 64, workspace: workspace)
            }
            let dst = (first - owned.lowerBound) * perSequence
            predictions.replaceSubrange(dst..<(dst + count * perSequence), with: UnsafeBufferPointer(start: pred, count: count * perSequence))
        }
        if let w = world {
            scores = gather(scores, owned: owned, sequences: total, world: w)
            predictions = w.gatherOnRoot(
                predictions,
                counts: (0..<w.count).map {
                    ownedSequences(sequences: total, batch: B, world: w, rank: $0).count * perSequence
                })
            guard w.rank == 0 else { return }
        }

        let createdOut = !FileManager.default.fileExists(atPath: out)
        try makeDirectory(out)
        // Files written so far; on failure they are removed, so a failed run leaves nothing half-written.
        var written: [String] = []
        do {
            var grid: [(truth: [Float], best: [Float])] = []
            var rng = RandomGenerator(seed: runOptions.seed &+ 99)
            for first in stride(from: 0, to: total, by: B) {
                let truth = try data.testBatch(first: first, count: B, seed: runOptions.seed)
                for b in 0..<min(B, total - first) {
                    let seq = first + b
                    // Best sample by mean SSIM over the future frames (MODEL.md "Evaluation").
                    let best = scores.bestSample(of: seq)
                    let randoms = (0..<min(3, N)).map { _ in rng.uniformInt(0...(N - 1)) }
                    let columns = [-1, best] + randoms // -1: ground truth
                    var gif: [Image] = []
                    var seqTruth: [Float] = [], seqBest: [Float] = []
                    truth.withUnsafeBufferPointer { x in
                        predictions.withUnsafeBufferPointer { p in
                            let block = p.baseAddress! + seq * perSequence
                            for t in 0..<c.frameCount {
                                var img = canvas(rows: 1, columns: columns.count, channels: c.channels)
                                let gt = x.baseAddress! + (t * c.batch + b) * frame
                                for (k, s) in columns.enumerated() {
                                    let src = (s < 0 || t < c.nPast) ? gt : block + (s * c.nFuture + t - c.nPast) * frame
                                    paste(src, channels: c.channels, into: &img, row: 0, column: k)
                                }
                                gif.append(img)
                                seqTruth.append(contentsOf: UnsafeBufferPointer(start: gt, count: frame))
                                let b0 = t < c.nPast ? gt : block + (best * c.nFuture + t - c.nPast) * frame
                                seqBest.append(contentsOf: UnsafeBufferPointer(start: b0, count: frame))
                            }
                        }
                    }
                    let gifPath = String(format: "%@/sequence-%04d.gif", out, seq)
                    do { try writeGIF(gifPath, frames: gif, delayCentiseconds: 25) } catch { throw CLIError("\(error)") }
                    written.append(gifPath)
                    if grid.count < 8 { grid.append((seqTruth, seqBest)) }
                }
            }
            // PNG grid: per sequence a row of ground truth and a row of the best sample, every time step.
            var img = canvas(rows: 2 * grid.count, columns: c.frameCount, channels: c.channels)
            for (i, g) in grid.enumerated() {
                g.truth.withUnsafeBufferPointer { tr in
                    g.best.withUnsafeBufferPointer { be in
                        for t in 0..<c.frameCount {
                            paste(tr.baseAddress! + t * frame, channels: c.channels, into: &img, row: 2 * i, column: t)
                            paste(be.baseAddress! + t * frame, channels: c.channels, into: &img, row: 2 * i + 1, column: t)
                        }
                    }
                }
            }
            do {
                try writePNG("\(out)/grid.png", img)
                written.append("\(out)/grid.png")
                if let picture = attentionPicture {
                    try writePNG("\(out)/attention.png", picture)
                    written.append("\(out)/attention.png")
                }
                try NPY.write("\(out)/predictions.npy", shape: [total, N, c.nFuture, c.channels, 64, 64], values: predictions)
            } catch { throw CLIError("\(error)") }
        } catch {
            for path in written { try? FileManager.default.removeItem(atPath: path) }
            if createdOut { try? FileManager.default.removeItem(atPath: out) }
            throw error
        }
        print(
            "\(total) sequences × \(samples) samples, \(c.nPast) → \(c.nFuture) frames: \(out)/sequence-*.gif, \(out)/grid.png, \(out)/predictions.npy"
                + (attentionReport != nil ? ", \(out)/attention.png" : ""))
        if let report = attentionReport { print(report.summary()) }
    }
}
