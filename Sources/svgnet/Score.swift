// svgnet score: the metrics of MODEL.md "Evaluation" on any model's predictions stored as .npy.
//   truth: (N, T, H, W) or (N, T, C, H, W)
//   pred:  the same shape, or with a samples axis after N (the best sample is taken per sequence)
import ArgumentParser
import Foundation
import SVGData
import SVGNet

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "PSNR and SSIM of predictions against ground truth, both .npy; JSON to stdout or --out.")

    @Option(help: "Ground truth .npy: (N, T, H, W) or (N, T, C, H, W), uint8 or float32 in [0, 1].") var truth: String
    @Option(help: "Predictions .npy: the truth's shape, or with a samples axis after N.") var pred: String
    @Option(help: "Write the JSON here instead of stdout.") var out: String?

    func run() throws {
        let (ts, tv) = try load(truth, "--truth")
        let (ps, pv) = try load(pred, "--pred")
        guard ts.count == 4 || ts.count == 5 else { throw CLIError("\(truth): rank \(ts.count); expected (N, T, H, W) or (N, T, C, H, W)") }
        let tC = ts.count == 5 ? ts[2] : 1
        let (n, steps, h, w) = (ts[0], ts[1], ts[ts.count - 2], ts[ts.count - 1])
        let samples: Int
        if ps.count == ts.count {
            guard ps == ts else { throw CLIError("\(pred): shape \(ps) does not match the truth's \(ts)") }
            samples = 1
        } else if ps.count == ts.count + 1 {
            var without = ps; without.remove(at: 1)
            guard without == ts else { throw CLIError("\(pred): shape \(ps) is not the truth's \(ts) with a samples axis after N") }
            samples = ps[1]
        } else {
            throw CLIError("\(pred): rank \(ps.count) fits neither \(ts) nor it with a samples axis")
        }
        guard h >= 11, w >= 11 else { throw CLIError("\(truth): frames of \(h)×\(w) are smaller than SSIM's 11×11 window") }
        guard n >= 1, steps >= 1, samples >= 1 else { throw CLIError("\(truth): empty array \(ts)") }
        let report = evaluate(truth: tv, predictions: pv, sequences: n, samples: samples, steps: steps, channels: tC, height: h, width: w)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = try enc.encode(report)
        if let out {
            do { try writeAtomically(json, to: out) } catch { throw CLIError("\(error)") }
        } else {
            print(String(decoding: json, as: UTF8.self))
        }
    }

    private func load(_ path: String, _ flag: String) throws -> ([Int], [Float]) {
        do {
            let r = try NPY.read(path, validateRange: true)
            return (r.shape, r.values)
        } catch { throw CLIError("\(flag): \(error)") }
    }
}
