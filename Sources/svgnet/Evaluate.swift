// svgnet evaluate: SPEC §8 on a fixed seeded test set. Several sample counts in one run give the
// paper's Fig. 7 ablation (each count uses the first n of the samples drawn).
import ArgumentParser
import Foundation
import Kernels
import SVGData
import SVGNet

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "PSNR and SSIM per future step (best of N samples, 95% CI) on a fixed test set.")

    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var runOptions: RunOptions
    @Option(help: "Test sequences.") var sequences: Int = 100
    @Option(help: "Samples per sequence; a comma-separated list evaluates each count (e.g. 1,10,100).") var samples: String = "100"
    @Option(help: "Output folder for metrics.json, metrics.csv and metrics.png.") var out: String = "svgnet-eval"

    func run() throws {
        try runOptions.apply()
        try positive(sequences, "--sequences"); try positive(sampling.batch, "--batch")
        let counts = try parseCounts(samples)
        let N = counts.max()!
        let (generator, data) = try sampling.prepare(sequencesAtATime: min(sampling.batch, sequences), samples: N,
                                                     data: dataOptions, seed: runOptions.seed)
        let c = generator.config
        var scores = SampleScores(samples: N, steps: c.nFuture)
        let workspace = SSIMWorkspace(height: 64, width: 64)
        let started = Date()
        try generateOverTestSet(generator, data: data, sequences: sequences, seed: runOptions.seed) { truth, pred, first, count in
            let future = futureTruth(truth, config: c, count: count)
            future.withUnsafeBufferPointer {
                scores.append(truth: $0.baseAddress!, predictions: pred, sequences: count, channels: c.channels, height: 64, width: 64, workspace: workspace)
            }
            FileHandle.standardError.write(Data("\r\(first + count)/\(sequences) sequences".utf8))
        }
        FileHandle.standardError.write(Data("\n".utf8))
        let reports = counts.map { scores.report(sampleCount: $0) }
        try makeDirectory(out)
        try writeReports(reports, config: c, to: out, title: "\(c.modelName), \(sequences) sequences, \(c.nPast) → \(c.nFuture)")
        print(summaryTable(reports, nPast: c.nPast))
        print(String(format: "%.1f s; wrote %@/metrics.json, %@/metrics.csv, %@/metrics.png", Date().timeIntervalSince(started), out, out, out))
    }
}

func parseCounts(_ s: String) throws -> [Int] {
    let counts = try s.split(separator: ",").map { (p: Substring) -> Int in
        guard let v = Int(p.trimmingCharacters(in: .whitespaces)), v >= 1 else { throw CLIError("--samples '\(s)' must be positive integers separated by commas") }
        return v
    }
    guard !counts.isEmpty else { throw CLIError("--samples is empty") }
    return counts
}

/// metrics.json (every report), metrics.csv (the largest sample count; one more file per other count),
/// and metrics.png (SSIM and PSNR curves, Fig. 6 style).
func writeReports(_ reports: [EvaluationReport], config c: ModelConfiguration?, to dir: String, title: String) throws {
    struct Output: Encodable { let model: String?; let nPast: Int?; let reports: [EvaluationReport] }
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    let json = try enc.encode(Output(model: c?.modelName, nPast: c?.nPast, reports: reports))
    do {
        try writeAtomically(json, to: "\(dir)/metrics.json")
        let largest = reports.max { $0.samples < $1.samples }!
        let first = (c?.nPast ?? 0) + 1
        try writeText(largest.csv(firstStep: first), to: "\(dir)/metrics.csv")
        for r in reports where r.samples != largest.samples { try writeText(r.csv(firstStep: first), to: "\(dir)/metrics-\(r.samples).csv") }
        try writePNG("\(dir)/metrics.png", plotReports(reports, firstStep: first, title: title))
    } catch let e as CLIError { throw e } catch { throw CLIError("\(error)") }
}

func summaryTable(_ reports: [EvaluationReport], nPast: Int) -> String {
    var lines = ["samples  step   SSIM (best by SSIM)       PSNR (best by PSNR)"]
    for r in reports {
        let steps = Array(Set([0, r.steps / 2, r.steps - 1])).sorted()
        for t in steps {
            lines.append(String(format: "%7d  %4d   %.4f [%.4f, %.4f]   %6.2f [%6.2f, %6.2f]", r.samples, nPast + t + 1,
                                r.ssimBestSSIM.mean[t], r.ssimBestSSIM.ciLow[t], r.ssimBestSSIM.ciHigh[t],
                                r.psnrBestPSNR.mean[t], r.psnrBestPSNR.ciLow[t], r.psnrBestPSNR.ciHigh[t]))
        }
        let meanSSIM = r.ssimBestSSIM.mean.reduce(0, +) / Double(r.steps), meanPSNR = r.psnrBestPSNR.mean.reduce(0, +) / Double(r.steps)
        lines.append(String(format: "%7d  mean   %.4f                    %6.2f", r.samples, meanSSIM, meanPSNR))
    }
    return lines.joined(separator: "\n")
}
