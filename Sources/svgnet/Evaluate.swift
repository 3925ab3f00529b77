// svgnet evaluate: the evaluation protocol of Docs/MODEL.md ("Evaluation") for one or more models on one
// fixed seeded test set, every model drawing its samples from the same seed, beside the two trivial
// baselines (black frames; the last observed frame repeated). Several sample counts give the paper's
// Fig. 7 ablation (each count uses the first n of the samples drawn); several horizons score shorter
// futures from the same samples (the SRVP/SLAMP tables use 20 frames on Moving MNIST).
import ArgumentParser
import Foundation
import Kernels
import SVGData
import SVGNet

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "PSNR and SSIM per future step (best of N samples, 95% CI) of one or more models on one test set.")

    @Option(help: "A model.safetensors written by svgnet train; repeat to compare models on the same test set and samples.")
    var checkpoint: [String] = []
    @Option(help: "A name per --checkpoint for the tables and plot (default: the model's name).") var label: [String] = []
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var runOptions: RunOptions
    @Option(help: "Test sequences (default: the whole test set of a dataset, 100 on Moving MNIST).") var sequences: Int?
    @Option(help: "Samples per sequence; a comma-separated list evaluates each count (e.g. 5,50,100).") var samples = IntegerList([100])
    @Option(help: "Shorter horizons to score as well, from the same samples (comma-separated, each below --n-future).")
    var horizons: IntegerList?
    @Flag(inversion: .prefixedNo, help: "Score the black-frame and last-observed-frame baselines on the same test set.")
    var baselines = true
    @Option(name: .customLong("figure-sequences"), help: "Test sequences in figure.png/.gif: ground truth, then each model's best sample (0: none).")
    var figureSequences: Int = 4
    @Option(help: "Output folder for metrics.json, metrics.csv, metrics.md, metrics.png and the figure.") var out: String = "svgnet-eval"
    @Option(help: "A folder of per-model scores: a model already scored there on the same test set and samples is not generated again.")
    var cache: String?

    func validate() throws {
        if checkpoint.isEmpty { throw ValidationError("give at least one --checkpoint") }
        if !label.isEmpty && label.count != checkpoint.count {
            throw ValidationError("\(label.count) --label for \(checkpoint.count) --checkpoint: give one per checkpoint, or none")
        }
        if figureSequences < 0 { throw ValidationError("--figure-sequences must be 0 or more, got \(figureSequences)") }
        if samples.values.isEmpty || samples.values.contains(where: { $0 < 1 }) {
            throw ValidationError("--samples '\(samples)' must be positive integers separated by commas")
        }
    }

    /// What every rank reads and checks before the first sample is drawn.
    struct Plan {
        var models: [LoadedCheckpoint], names: [String], sequences: Int, counts: [Int], horizons: [Int]
        var config: ModelConfiguration, test: VideoSource
    }

    func run() throws {
        // Under mpirun each rank generates a block of the test set; rank 0 gathers the scores and writes.
        let world = MPIWorld.replicas
        let plan = try world.map { w in try w.agree(prepare) } ?? prepare()
        do { try evaluate(plan, world: world) } catch {
            if let w = world { w.abort(message: "\(error)") }
            throw error
        }
    }

    private func prepare() throws -> Plan {
        try runOptions.apply()
        if let n = sequences { try positive(n, "--sequences") }
        try positive(sampling.batch, "--batch")
        let counts = samples.values
        let models = try checkpoint.map { try LoadedCheckpoint($0) }
        // How many test sequences: the flag, else a dataset's whole test set, else 100 generated ones.
        let config = models[0].config
        let sequences =
            try self.sequences ?? VideoSource(
                dataOptions, length: (sampling.nPast ?? config.nPast) + (sampling.nFuture ?? config.nFuture),
                needTrain: false
            ).count(.test) ?? 100
        let B = min(sampling.batch, sequences)
        // Every model is read and checked (on a one-sample generator) before the first sample is drawn; each
        // model's full generator exists only while it runs.
        var shapes: [ModelConfiguration] = []
        var data: VideoSource? = nil
        for m in models {
            let (g, d) = try sampling.prepare(m, sequencesAtATime: B, samples: 1, data: dataOptions, seed: runOptions.seed)
            if let first = shapes.first, (first.nPast, first.nFuture, first.channels) != (g.config.nPast, g.config.nFuture, g.config.channels) {
                throw CLIError(
                    "\(m.path): generates \(g.config.nPast) → \(g.config.nFuture) frames of \(g.config.channels) channel(s), "
                        + "\(models[0].path) \(first.nPast) → \(first.nFuture) of \(first.channels); give --n-past and --n-future")
            }
            shapes.append(g.config); data = data ?? d
        }
        if let dir = cache { try makeDirectory(dir) }
        let c = shapes[0], test = data!
        try requireTestSequences(test, sequences: sequences, batch: B)
        return Plan(
            models: models, names: label.isEmpty ? defaultLabels(models) : label, sequences: sequences, counts: counts,
            horizons: try horizonList(horizons, nFuture: c.nFuture), config: c, test: test)
    }

    private func evaluate(_ plan: Plan, world: MPIWorld?) throws {
        let (models, names, sequences, counts, horizonList, c, test) = (
            plan.models, plan.names, plan.sequences, plan.counts, plan.horizons, plan.config, plan.test
        )
        let N = counts.max()!, B = min(sampling.batch, sequences)
        let root = (world?.rank ?? 0) == 0
        let started = Date()
        let workspace = SSIMWorkspace(height: 64, width: 64)
        let frame = c.channels * framePixels
        let K = min(figureSequences, sequences)
        var entries: [EvaluationEntry] = []
        var figureTruth: [Float] = [] // K sequences × T frames
        var figureRows: [[Float]] = [] // per model: K sequences × nFuture frames, the best sample by SSIM

        let progress = SequenceProgress(total: sequences * (models.count + (baselines ? 1 : 0)), quiet: !root, ranks: world?.count ?? 1)
        if baselines && root {
            var black = SampleScores(samples: 1, steps: c.nFuture), last = SampleScores(samples: 1, steps: c.nFuture)
            let zeros = [Float](repeating: 0, count: B * c.nFuture * frame)
            var first = 0
            while first < sequences {
                let count = min(B, sequences - first)
                let truth = try test.testBatch(first: first, count: B, seed: runOptions.seed)
                let future = futureTruth(truth, config: c, count: count)
                var repeated = [Float](repeating: 0, count: count * c.nFuture * frame)
                for b in 0..<count {
                    for t in 0..<c.nFuture {
                        let src = ((c.nPast - 1) * B + b) * frame, dst = (b * c.nFuture + t) * frame
                        repeated.replaceSubrange(dst..<(dst + frame), with: truth[src..<(src + frame)])
                    }
                }
                future.withUnsafeBufferPointer { f in
                    zeros.withUnsafeBufferPointer {
                        black.append(
                            truth: f.baseAddress!, predictions: $0.baseAddress!, sequences: count, channels: c.channels,
                            height: 64, width: 64, workspace: workspace)
                    }
                    repeated.withUnsafeBufferPointer {
                        last.append(
                            truth: f.baseAddress!, predictions: $0.baseAddress!, sequences: count, channels: c.channels,
                            height: 64, width: 64, workspace: workspace)
                    }
                }
                first += B
                progress.advance(by: count, what: "baselines", allRanks: true)
            }
            for (name, scores) in [("black frames", black), ("last frame repeated", last)] {
                entries.append(
                    EvaluationEntry(
                        label: name, kind: "baseline", checkpoint: nil, model: nil,
                        reports: horizonList.map { scores.report(sampleCount: 1, steps: $0) }))
            }
        }
        // The figure's ground truth, read in the batches the models generate from (the figure may span several).
        for first in stride(from: 0, to: K, by: B) {
            let truth = try test.testBatch(first: first, count: B, seed: runOptions.seed)
            for b in 0..<min(B, K - first) { for t in 0..<c.frameCount { figureTruth += truth[((t * B + b) * frame)..<((t * B + b + 1) * frame)] } }
        }
        let testSet =
            "\(runOptions.seed)|\(dataOptions.data)|\(dataOptions.digits)|\(dataOptions.mnist ?? "")|\(dataOptions.layout?.rawValue ?? "")|\(sampling.bn)"
        for m in models.indices {
            let key = cache.map { _ in cacheKey(models[m].path, testSet: testSet, sequences: sequences, samples: N, batch: B, figureSequences: K, config: c) }
            var scores = SampleScores(samples: N, steps: c.nFuture)
            var best: [Float] = []
            // Rank 0 alone reads the cache and tells the others whether to generate.
            let hit =
                root
                ? cache.flatMap { dir in key.flatMap { try? readCachedScores(dir, $0) } }
                    .flatMap { $0.scores.samples == N && $0.best.count == K * c.nFuture * frame ? $0 : nil } : nil
            if world.map({ !$0.any(hit != nil) }) ?? (hit == nil) {
                let (generator, _) = try sampling.prepare(models[m], sequencesAtATime: B, samples: N, data: dataOptions, seed: runOptions.seed)
                var figureBest = [Float](repeating: 0, count: K * c.nFuture * frame)
                try generateOverTestSet(generator, data: test, sequences: sequences, seed: runOptions.seed, world: world) { truth, pred, first, count in
                    let future = futureTruth(truth, config: generator.config, count: count)
                    future.withUnsafeBufferPointer {
                        scores.append(
                            truth: $0.baseAddress!, predictions: pred, sequences: count, channels: c.channels, height: 64, width: 64, workspace: workspace)
                    }
                    for b in 0..<count where first + b < K {
                        let s = scores.bestSample(of: scores.sequences - count + b)
                        let dst = (first + b) * c.nFuture * frame
                        figureBest.replaceSubrange(
                            dst..<(dst + c.nFuture * frame),
                            with: UnsafeBufferPointer(start: pred + (b * N + s) * c.nFuture * frame, count: c.nFuture * frame))
                    }
                    progress.advance(by: count, what: names[m])
                }
                if let w = world {
                    scores = gather(scores, owned: ownedSequences(sequences: sequences, batch: B, world: w), sequences: sequences, world: w)
                    figureBest.withUnsafeMutableBufferPointer { w.sum($0.baseAddress!, count: $0.count) }
                }
                best = figureBest
                if root, let dir = cache, let key { try writeCachedScores(dir, key, scores: scores, best: best) }
            } else if let hit {
                (scores, best) = hit
                progress.advance(by: sequences, what: "\(names[m]), from \(cache!)", allRanks: true)
            }
            // Rank 0 alone writes; the other ranks have done their share once the scores are gathered.
            guard root else { continue }
            figureRows.append(best)
            var reports: [EvaluationReport] = []
            for h in horizonList { for n in counts { reports.append(scores.report(sampleCount: n, steps: h)) } }
            entries.append(
                EvaluationEntry(
                    label: names[m], kind: "model", checkpoint: models[m].path, model: models[m].config.modelName,
                    reports: reports))
        }
        progress.finish()
        guard root else { return }

        let evaluation = Evaluation(
            sequences: sequences, nPast: c.nPast, nFuture: c.nFuture, seed: runOptions.seed, sampleCounts: counts,
            horizons: horizonList, entries: entries)
        try makeDirectory(out)
        do {
            try writeEvaluation(evaluation, to: out)
            if K > 0 {
                try writeComparisonFigure(
                    truth: figureTruth, rows: figureRows, sequences: K, nPast: c.nPast, nFuture: c.nFuture,
                    channels: c.channels, to: out)
            }
        } catch let e as CLIError { throw e } catch { throw CLIError("\(error)") }
        print(evaluation.markdown())
        let figure = K > 0 ? ", \(out)/figure.png, \(out)/figure.gif" : ""
        print(String(format: "%.1f s; wrote %@/metrics.json, metrics.csv, metrics.md, metrics.png%@", Date().timeIntervalSince(started), out, figure))
    }
}

/// What a model's scores depend on: the checkpoint's bytes, the test set (seed, data flags, BatchNorm
/// mode) and the generation shape, hashed with FNV-1a; a changed checkpoint or protocol is a new entry.
private func cacheKey(
    _ path: String, testSet: String, sequences: Int, samples: Int, batch: Int, figureSequences: Int,
    config c: ModelConfiguration
) -> String {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 { for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 } }
    mix(FileManager.default.contents(atPath: path) ?? Data())
    mix("\(testSet)|\(sequences)|\(samples)|\(batch)|\(figureSequences)|\(c.nPast)|\(c.nFuture)|\(c.channels)".utf8)
    return String(format: "%016llx", h)
}

private func readCachedScores(_ dir: String, _ key: String) throws -> (scores: SampleScores, best: [Float]) {
    guard let json = FileManager.default.contents(atPath: "\(dir)/\(key).json") else { throw CLIError("no cache entry") }
    let scores = try JSONDecoder().decode(SampleScores.self, from: json)
    let best = FileManager.default.fileExists(atPath: "\(dir)/\(key)-best.npy") ? try NPY.read("\(dir)/\(key)-best.npy").values : []
    return (scores, best)
}

private func writeCachedScores(_ dir: String, _ key: String, scores: SampleScores, best: [Float]) throws {
    do {
        if !best.isEmpty { try NPY.write("\(dir)/\(key)-best.npy", shape: [best.count], values: best) }
        try writeAtomically(try JSONEncoder().encode(scores), to: "\(dir)/\(key).json")
    } catch { throw CLIError("--cache \(dir): \(error)") }
}

/// Model names, made unique by the checkpoint's folder where two models share a name.
private func defaultLabels(_ models: [LoadedCheckpoint]) -> [String] {
    let names = models.map(\.config.modelName)
    return zip(names, models).map { name, m in
        names.filter { $0 == name }.count == 1 ? name : "\(name) (\(URL(fileURLWithPath: m.path).deletingLastPathComponent().lastPathComponent))"
    }
}

/// The horizons to report, the full one first.
func horizonList(_ extra: IntegerList?, nFuture: Int) throws -> [Int] {
    guard let extra else { return [nFuture] }
    guard extra.values.allSatisfy({ (1..<nFuture).contains($0) }) else {
        throw CLIError("--horizons '\(extra)' must be integers from 1 to \(nFuture - 1) (below --n-future \(nFuture)), separated by commas")
    }
    return [nFuture] + extra.values
}

/// Every rank's scores of its own sequences (`owned`) put together in sequence order, on every rank: each
/// contributes its block to zero-filled arrays that one allreduce sums (exactly: the other terms are 0).
func gather(_ local: SampleScores, owned: Range<Int>, sequences: Int, world: MPIWorld) -> SampleScores {
    let per = local.samples * local.steps
    precondition(local.sequences == owned.count)
    var ssim = [Double](repeating: 0, count: sequences * per), psnr = ssim
    ssim.replaceSubrange((owned.lowerBound * per)..<(owned.upperBound * per), with: local.ssimValues)
    psnr.replaceSubrange((owned.lowerBound * per)..<(owned.upperBound * per), with: local.psnrValues)
    ssim.withUnsafeMutableBufferPointer { world.sum($0.baseAddress!, count: $0.count) }
    psnr.withUnsafeMutableBufferPointer { world.sum($0.baseAddress!, count: $0.count) }
    return SampleScores(samples: local.samples, steps: local.steps, ssimValues: ssim, psnrValues: psnr)
}

/// `k/N sequences` on stderr: redrawn in place on a terminal, a few plain lines otherwise. Under mpirun rank
/// 0 prints, counting its own sequences as `ranks` times as many (the ranks' blocks differ by at most one
/// chunk, so the count is close).
final class SequenceProgress {
    let total: Int, tty = isatty(STDERR_FILENO) != 0, quiet: Bool, ranks: Int
    var done = 0, lastPrinted = 0
    init(total: Int, quiet: Bool = false, ranks: Int = 1) { self.total = total; self.quiet = quiet; self.ranks = ranks }
    /// `allRanks`: n counts every rank's sequences already (work rank 0 does alone, or a cache hit).
    func advance(by n: Int, what: String, allRanks: Bool = false) {
        guard !quiet else { return }
        done = min(total, done + (allRanks ? n : n * ranks))
        if tty {
            FileHandle.standardError.write(Data("\r\(done)/\(total) sequences (\(what))\u{1B}[K".utf8))
        } else if done - lastPrinted >= max(1, total / 10) || done == total {
            FileHandle.standardError.write(Data("\(done)/\(total) sequences (\(what))\n".utf8))
            lastPrinted = done
        }
    }
    func finish() { if tty && !quiet { FileHandle.standardError.write(Data("\n".utf8)) } }
}

/// One model's (or baseline's) reports: one per (horizon, sample count), horizons outer.
struct EvaluationEntry: Codable {
    let label: String
    let kind: String // "model" or "baseline"
    let checkpoint: String?
    let model: String?
    let reports: [EvaluationReport]
}

struct Evaluation: Codable {
    let sequences: Int
    let nPast: Int
    let nFuture: Int
    let seed: UInt64
    let sampleCounts: [Int]
    let horizons: [Int]
    let entries: [EvaluationEntry]

    /// Per horizon, one row per model and sample count: the mean over predicted frames of the best sample
    /// by SSIM (SSIM) and by PSNR (PSNR), with 95% intervals over sequences; then SSIM per step.
    func markdown() -> String {
        var lines: [String] = []
        for h in horizons {
            lines.append(
                "\(nPast) → \(h) frames, \(sequences) test sequences; per sequence the best of N samples by each metric, mean over the \(h) predicted frames, 95% CI over sequences:"
            )
            lines.append("")
            lines.append("| model | N | SSIM | PSNR (dB) |")
            lines.append("| --- | ---: | --- | --- |")
            for e in entries {
                for r in e.reports where r.steps == h {
                    lines.append(
                        String(
                            format: "| %@ | %d | %.4f [%.4f, %.4f] | %.2f [%.2f, %.2f] |", e.label, r.samples,
                            r.ssimOverFrames.mean, r.ssimOverFrames.ciLow, r.ssimOverFrames.ciHigh,
                            r.psnrOverFrames.mean, r.psnrOverFrames.ciLow, r.psnrOverFrames.ciHigh))
                }
            }
            lines.append("")
        }
        let h = horizons[0], n = sampleCounts.max()!
        // Paired over the same test sequences, against the first model: much tighter than comparing the
        // intervals above, since most of their width is how hard each sequence is.
        if let reference = entries.first(where: { $0.kind == "model" }), entries.count > 1 {
            for horizon in horizons {
                guard let r0 = reference.reports.first(where: { $0.steps == horizon && $0.samples == n }) else { continue }
                lines.append(
                    "Paired differences from \(reference.label) (best of \(n); baselines: their one prediction), \(nPast) → \(horizon), "
                        + "mean over the predicted frames, 95% CI over the \(sequences) sequences:")
                lines.append("")
                lines.append("| model | SSIM − \(reference.label)'s | PSNR − \(reference.label)'s (dB) |")
                lines.append("| --- | --- | --- |")
                for e in entries where e.label != reference.label {
                    guard let r = e.reports.first(where: { $0.steps == horizon && $0.samples == (e.kind == "model" ? n : 1) }) else { continue }
                    let ds = meanConfidenceInterval95(zip(r.ssimPerSequence, r0.ssimPerSequence).map { $0 - $1 })
                    let dp = meanConfidenceInterval95(zip(r.psnrPerSequence, r0.psnrPerSequence).map { $0 - $1 })
                    lines.append(
                        String(format: "| %@ | %+.4f [%+.4f, %+.4f] | %+.2f [%+.2f, %+.2f] |", e.label, ds.mean, ds.low, ds.high, dp.mean, dp.low, dp.high))
                }
                lines.append("")
            }
        }
        let shown = Array(Set([0, 4, 9, 14, 19, h - 1].filter { $0 < h })).sorted()
        lines.append("SSIM per predicted frame (frame numbers count from the first observed frame as 1), best of \(n) by SSIM, mean [95% CI]:")
        lines.append("")
        lines.append("| model | " + shown.map { "frame \(nPast + $0 + 1)" }.joined(separator: " | ") + " |")
        lines.append("| --- |" + String(repeating: " --- |", count: shown.count))
        for e in entries {
            guard let r = e.reports.first(where: { $0.steps == h && $0.samples == (e.kind == "model" ? n : 1) }) else { continue }
            lines.append(
                "| \(e.label) | "
                    + shown.map { String(format: "%.3f [%.3f, %.3f]", r.ssimBestSSIM.mean[$0], r.ssimBestSSIM.ciLow[$0], r.ssimBestSSIM.ciHigh[$0]) }
                    .joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One row per (entry, samples, horizon, step).
    func csv() -> String {
        var lines = [
            "label,kind,samples,horizon,step,ssimBestSSIM_mean,ssimBestSSIM_ciLow,ssimBestSSIM_ciHigh,psnrBestSSIM_mean,psnrBestSSIM_ciLow,psnrBestSSIM_ciHigh,"
                + "ssimBestPSNR_mean,ssimBestPSNR_ciLow,ssimBestPSNR_ciHigh,psnrBestPSNR_mean,psnrBestPSNR_ciLow,psnrBestPSNR_ciHigh"
        ]
        for e in entries {
            for r in e.reports {
                for t in 0..<r.steps {
                    var row = ["\"\(e.label)\"", e.kind, "\(r.samples)", "\(r.steps)", "\(nPast + t + 1)"]
                    for s in [r.ssimBestSSIM, r.psnrBestSSIM, r.ssimBestPSNR, r.psnrBestPSNR] { row += ["\(s.mean[t])", "\(s.ciLow[t])", "\(s.ciHigh[t])"] }
                    lines.append(row.joined(separator: ","))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

func writeEvaluation(_ e: Evaluation, to dir: String) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeAtomically(try enc.encode(e), to: "\(dir)/metrics.json")
    try writeText(e.csv(), to: "\(dir)/metrics.csv")
    try writeText(e.markdown(), to: "\(dir)/metrics.md")
    let n = e.sampleCounts.max()!
    let curves = e.entries.compactMap { entry -> PlotSeries? in
        guard let r = entry.reports.first(where: { $0.steps == e.nFuture && $0.samples == (entry.kind == "model" ? n : 1) }) else { return nil }
        return PlotSeries(label: entry.label, ssim: r.ssimBestSSIM, psnr: r.psnrBestPSNR, dashed: entry.kind == "baseline")
    }
    let title = "\(e.sequences) test sequences, \(e.nPast) to \(e.nFuture) frames, best of \(n)"
    try writePNG("\(dir)/metrics.png", plotCurves(curves, firstStep: e.nPast + 1, title: title))
}
