// What the results study relies on: evaluate's two baselines are exactly black frames and the last
// observed frame (checked by `score` on those frames written out independently), float16 export
// round-trips through every reader, and the models shipped in Models/ load, generate and score.
import Foundation
import SVGData
import SVGNet
import XCTest

final class ResultsTests: CLITestCase {
    func testBaselinesAreBlackAndLastObservedFrames() throws {
        // A dataset of 4 sequences of 2 + 3 frames, whose future frames and baselines the test builds itself.
        let T = 5, nPast = 2, nFuture = 3, seqs = sequences([3, 4, 5, 6], length: T)
        try writeNTHW("truth.npy", seqs, length: T)
        let flags = [
            "--nf", "4", "--g-dim", "8", "--rnn-size", "8", "--z-dim", "2", "--batch", "2", "--n-past", "\(nPast)", "--n-future", "\(nFuture)",
            "--sample-every", "0", "--threads", "1"
        ]
        try succeed(["train"] + flags + ["--data", "npy:truth.npy", "--layout", "nthw", "--steps", "1", "--out", "run"])
        try succeed([
            "evaluate", "--checkpoint", "run/model.safetensors", "--data", "npy:truth.npy", "--layout", "nthw", "--sequences", "4",
            "--batch", "2", "--samples", "1", "--out", "eval"
        ])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes("eval/metrics.json")!) as? [String: Any])
        let entries = try XCTUnwrap(json["entries"] as? [[String: Any]])

        let frame = 4096
        var future: [Float] = [], black: [Float] = [], last: [Float] = []
        for s in seqs {
            future += s[(nPast * frame)...]
            black += [Float](repeating: 0, count: nFuture * frame)
            for _ in 0..<nFuture { last += s[((nPast - 1) * frame)..<(nPast * frame)] }
        }
        try NPY.write(path("future.npy"), shape: [4, nFuture, 64, 64], values: future)
        for (name, values, label) in [("black.npy", black, "black frames"), ("last.npy", last, "last frame repeated")] {
            try NPY.write(path(name), shape: [4, nFuture, 64, 64], values: values)
            let scored = try XCTUnwrap(
                JSONSerialization.jsonObject(with: Data(try succeed(["score", "--truth", "future.npy", "--pred", name]).stdout.utf8)) as? [String: Any])
            let entry = try XCTUnwrap(entries.first { $0["label"] as? String == label })
            let report = try XCTUnwrap((entry["reports"] as? [[String: Any]])?.first)
            for key in ["ssimBestSSIM", "psnrBestPSNR"] {
                let mine = try XCTUnwrap((report[key] as? [String: Any])?["mean"] as? [Double])
                let theirs = try XCTUnwrap((scored[key] as? [String: Any])?["mean"] as? [Double])
                XCTAssertEqual(mine, theirs, "\(label) \(key)")
            }
        }
    }

    func testFloat16ExportRoundTrips() throws {
        try succeed(["train"] + tiny + ["--steps", "2", "--out", "run"])
        let r = try succeed(["export", "--checkpoint", "run/model.safetensors", "--dtype", "f16", "--out", "m16.safetensors"])
        XCTAssertTrue(r.stdout.contains("as F16"), r.stdout)
        let full = try SafetensorsFile.read(from: path("run/model.safetensors")), half = try SafetensorsFile.read(from: path("m16.safetensors"))
        XCTAssertEqual(full.names, half.names)
        XCTAssertEqual(full.metadata, half.metadata)
        for name in full.names {
            XCTAssertEqual(half.tensors[name]!.dtype, "F16")
            XCTAssertEqual(half.tensors[name]!.shape, full.tensors[name]!.shape)
            // Each value is float32's nearest float16, and float16 → float32 is exact.
            XCTAssertEqual(half.tensors[name]!.values, full.tensors[name]!.values.map { Float(Float16($0)) }, name)
        }
        XCTAssertLessThan(try XCTUnwrap(bytes("m16.safetensors")).count, try XCTUnwrap(bytes("run/model.safetensors")).count * 6 / 10)
        XCTAssertTrue(try succeed(["info", "m16.safetensors"]).stdout.contains("loads        yes"))
        try succeed(["generate", "--checkpoint", "m16.safetensors", "--batch", "2", "--samples", "2", "--out", "gen"])
        // Back to float32 gives the float16 values exactly.
        try succeed(["export", "--checkpoint", "m16.safetensors", "--dtype", "f32", "--out", "m32.safetensors"])
        let back = try SafetensorsFile.read(from: path("m32.safetensors"))
        for name in full.names { XCTAssertEqual(back.tensors[name]!.values, half.tensors[name]!.values, name) }

        // A value beyond float16's range is refused, and nothing is written.
        var big = full
        let name = full.names[0]
        big.tensors[name]!.values[0] = 1e6
        try big.write(to: path("big.safetensors"))
        try fail(["export", "--checkpoint", "big.safetensors", "--out", "b16.safetensors"], [name, "beyond float16's range"], absent: ["b16.safetensors"])
        try fail(
            ["export", "--checkpoint", "run/model.safetensors", "--dtype", "bf16", "--out", "x.safetensors"], ["bf16"], absent: ["x.safetensors"],
            oneLine: false)
        // Help names the values a user types, and the default among them.
        let help = try succeed(["export", "--help"]).stdout
        XCTAssertTrue(help.contains("values: f16, f32; default: f16)"), help)
        XCTAssertFalse(help.contains("F16"), help)
    }

    /// A training checkpoint (weights with Adam's moments) is a model to every command that reads one: export
    /// writes its weights alone, equal to the model.safetensors of the same step.
    func testTrainingCheckpointIsReadAsAModel() throws {
        try succeed(["train"] + tiny + ["--steps", "2", "--checkpoint-every", "2", "--out", "run"])
        let checkpoint = "run/checkpoints/step-00000002.safetensors"
        let raw = try SafetensorsFile.read(from: path(checkpoint))
        XCTAssertTrue(raw.names.contains { $0.hasPrefix("adam_m.") }, "the fixture should be a training checkpoint")
        try succeed(["export", "--checkpoint", checkpoint, "--dtype", "f32", "--out", "weights.safetensors"])
        let exported = try SafetensorsFile.read(from: path("weights.safetensors")), model = try SafetensorsFile.read(from: path("run/model.safetensors"))
        XCTAssertEqual(Set(exported.names), Set(model.names))
        for name in model.names { XCTAssertEqual(exported.tensors[name]!.values, model.tensors[name]!.values, name) }
        XCTAssertNotEqual(exported.metadata["format"], raw.metadata["format"], "the export is a model file, not a training checkpoint")
        try succeed(["generate", "--checkpoint", checkpoint, "--batch", "2", "--samples", "2", "--out", "gen"])
        try succeed(["train"] + tiny + ["--steps", "1", "--init", checkpoint, "--out", "fromCheckpoint"])
    }

    /// The repository's Models/ folder, found from this file's path.
    private var modelsFolder: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Models").path
    }

    func testShippedModelsMatchTheirCardsAndScoreLikeScore() throws {
        let shipped = try FileManager.default.contentsOfDirectory(atPath: modelsFolder).filter { $0.hasSuffix(".safetensors") }.sorted()
        XCTAssertFalse(shipped.isEmpty, "no models in \(modelsFolder)")
        for name in shipped {
            let model = modelsFolder + "/" + name
            XCTAssertTrue(try succeed(["info", model]).stdout.contains("loads        yes"), name)
            XCTAssertTrue(try SafetensorsFile.read(from: model).tensors.values.allSatisfy { $0.dtype == "F16" }, "\(name) is not float16")
            // The card's SHA-256 is the file's.
            let card = try String(contentsOfFile: model.replacingOccurrences(of: ".safetensors", with: ".md"), encoding: .utf8)
            let sha = Process()
            sha.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
            sha.arguments = [model]
            let pipe = Pipe()
            sha.standardOutput = pipe
            try sha.run(); sha.waitUntilExit()
            let digest = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64)
            XCTAssertTrue(card.contains("SHA-256: `\(digest)`"), "\(name): the card does not give its SHA-256 \(digest)")

            // evaluate's figures for the model equal score's on the predictions generate wrote, from the same
            // test sequences (written once as uint8, read by all three) and the same seed.
            let nPast = 5, nFuture = 5, N = 4
            try succeed(["data", "mmnist", "--sequences", "\(N)", "--length", "\(nPast + nFuture)", "--seed", "3", "--out", "truth.npy"])
            let common = [
                "--checkpoint", model, "--data", "npy:truth.npy", "--batch", "\(N)", "--n-past", "\(nPast)", "--n-future", "\(nFuture)",
                "--seed", "5", "--threads", "1"
            ]
            try succeed(["generate"] + common + ["--sequences", "\(N)", "--samples", "3", "--out", "gen"])
            try succeed(["evaluate"] + common + ["--sequences", "\(N)", "--samples", "3", "--no-baselines", "--figure-sequences", "0", "--out", "eval"])
            let truth = try NPY.read(path("truth.npy")) // (T, N, 64, 64) in [0, 1]
            var future: [Float] = []
            for n in 0..<N { for t in nPast..<(nPast + nFuture) { future += truth.values[((t * N + n) * 4096)..<((t * N + n + 1) * 4096)] } }
            try NPY.write(path("future.npy"), shape: [N, nFuture, 1, 64, 64], values: future) // (N, T, C, H, W), as predictions.npy has C
            let scored = try XCTUnwrap(
                JSONSerialization.jsonObject(with: Data(try succeed(["score", "--truth", "future.npy", "--pred", "gen/predictions.npy"]).stdout.utf8))
                    as? [String: Any])
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes("eval/metrics.json")!) as? [String: Any])
            let report = try XCTUnwrap(((json["entries"] as? [[String: Any]])?.first?["reports"] as? [[String: Any]])?.first)
            for key in ["ssimBestSSIM", "psnrBestSSIM", "ssimBestPSNR", "psnrBestPSNR"] {
                let mine = try XCTUnwrap((report[key] as? [String: Any])?["mean"] as? [Double])
                let theirs = try XCTUnwrap((scored[key] as? [String: Any])?["mean"] as? [Double])
                XCTAssertEqual(mine, theirs, "\(name) \(key)")
            }
            XCTAssertEqual(report["bestSSIMSample"] as? [Int], scored["bestSSIMSample"] as? [Int], name)
        }
    }

    /// At initialisation (weights N(0, 0.02)) the aligner's scores QᵀK are nearly 0, so every attention row is
    /// nearly uniform: entropy ≈ 1 of a uniform row's, largest weight ≈ 1/P. A model without an aligner is refused.
    func testAttentionReportOfAnUntrainedAlignerIsUniform() throws {
        try succeed(["train"] + tiny + ["--lr", "1e-12", "--steps", "1", "--out", "run"])
        let r = try succeed([
            "generate", "--checkpoint", "run/model.safetensors", "--batch", "2", "--samples", "2", "--n-future", "2",
            "--attention", "--out", "gen"
        ])
        let lines = r.stdout.split(separator: "\n").filter { $0.hasPrefix("aligner level") }
        XCTAssertEqual(lines.count, 4, r.stdout) // tiny's HAF-SVG-2 has all four levels
        for (level, line) in lines.enumerated() {
            let numbers = line.split(whereSeparator: { " ():;×".contains($0) }).compactMap { Double($0) }
            // level, side, side, entropy, largest weight, uniform weight
            XCTAssertEqual(numbers.count, 6, String(line))
            let P = Double(1 << (2 * (level + 2))) // 4×4, 8×8, 16×16, 32×32
            XCTAssertEqual(numbers[5], 1 / P, accuracy: 5e-5, String(line))
            XCTAssertGreaterThan(numbers[3], 0.99, String(line))
            XCTAssertLessThanOrEqual(numbers[3], 1.0005, String(line))
            XCTAssertLessThan(numbers[4], 2 / P, String(line))
        }
        let picture = try readPNG(path("gen/attention.png"))
        XCTAssertEqual(picture.width, 6 * 64 + 5 * 2)
        XCTAssertEqual(picture.height, 4 * 64 + 3 * 2)
        try succeed(["train"] + tiny + ["--model", "svg", "--groups", "1", "--steps", "1", "--out", "svg"])
        try fail(["generate", "--checkpoint", "svg/model.safetensors", "--batch", "2", "--attention", "--out", "g"], ["has no feature aligner"], absent: ["g"])
    }

    /// A model scored in --cache is not generated again and gives the same bytes; another checkpoint or
    /// another test set is scored afresh.
    func testEvaluateCacheGivesTheSameResultsWithoutGenerating() throws {
        try succeed(["train"] + tiny + ["--steps", "2", "--out", "a"])
        try succeed(["train"] + tiny + ["--steps", "3", "--out", "b"])
        let args = ["evaluate", "--checkpoint", "a/model.safetensors", "--sequences", "4", "--batch", "2", "--samples", "2", "--cache", "cache"]
        let first = try succeed(args + ["--out", "e1"])
        XCTAssertFalse(first.stderr.contains("from cache"), first.stderr)
        let second = try succeed(args + ["--out", "e2"])
        XCTAssertTrue(second.stderr.contains("from cache"), second.stderr)
        XCTAssertEqual(bytes("e1/metrics.json"), bytes("e2/metrics.json"))
        XCTAssertEqual(bytes("e1/figure.png"), bytes("e2/figure.png"))
        let other = try succeed(args.map { $0 == "a/model.safetensors" ? "b/model.safetensors" : $0 } + ["--out", "e3"])
        XCTAssertFalse(other.stderr.contains("from cache"), other.stderr)
        let reseeded = try succeed(args + ["--seed", "9", "--out", "e4"])
        XCTAssertFalse(reseeded.stderr.contains("from cache"), reseeded.stderr)
        XCTAssertNotEqual(bytes("e1/metrics.json"), bytes("e4/metrics.json"))
    }
}
