// svgnet generate, evaluate, score and data mmnist, KTH and BAIR folders, .npy datasets, and the bad
// inputs of each: missing or unreadable paths, folders without frames, bad PNGs, bad .npy files.
import Foundation
import SVGData
import SVGNet
import XCTest

final class DataAndSamplingTests: CLITestCase {
    func testDataMMNISTWritesUInt8TNHW() throws {
        let r = try succeed(["data", "mmnist", "--sequences", "3", "--length", "4", "--digits", "1", "--out", "mm.npy"])
        XCTAssertEqual(r.stdout, "wrote mm.npy: uint8 (4, 3, 64, 64)\n")
        let a = try NPY.read(path("mm.npy"))
        XCTAssertEqual(a.dtype, .uint8)
        XCTAssertEqual(a.shape, [4, 3, 64, 64])
        XCTAssertGreaterThan(a.values.max()!, 0.5)
        // Same seed, same file; another seed, another set.
        try succeed(["data", "mmnist", "--sequences", "3", "--length", "4", "--digits", "1", "--out", "again.npy"])
        try succeed(["data", "mmnist", "--sequences", "3", "--length", "4", "--digits", "1", "--seed", "2", "--out", "other.npy"])
        XCTAssertEqual(bytes("mm.npy"), bytes("again.npy"))
        XCTAssertNotEqual(bytes("mm.npy"), bytes("other.npy"))
        // The written file trains as npy:FILE (default layout tnhw for 4-D).
        try succeed(["train"] + tiny + ["--data", "npy:mm.npy", "--steps", "1", "--out", "run"])
        try fail(["data", "mmnist", "--out", "nofolder/x.npy", "--sequences", "2", "--length", "3"], ["nofolder/x.npy", "does not exist"], absent: ["nofolder"])
        try fail(["data", "mmnist", "--out", "x.npy", "--mnist", "nomnist"], ["nomnist", "no such MNIST directory"], absent: ["x.npy"])
        try fail(["data", "mmnist", "--sequences", "2"], ["--out"], oneLine: false)
    }

    func testGenerateEvaluateAndScoreOnMovingMNIST() throws {
        try succeed(["train"] + tiny + ["--steps", "2", "--out", "run"])
        let g = try succeed([
            "generate", "--checkpoint", "run/model.safetensors", "--batch", "2", "--sequences", "4", "--samples", "3",
            "--n-future", "3", "--out", "gen"
        ])
        XCTAssertTrue(g.stdout.contains("4 sequences × 3 samples, 2 → 3 frames"), g.stdout)
        let pred = try NPY.read(path("gen/predictions.npy"))
        XCTAssertEqual(pred.shape, [4, 3, 3, 1, 64, 64])
        XCTAssertEqual(pred.dtype, .float32)
        XCTAssertTrue(pred.values.allSatisfy { $0 >= 0 && $0 <= 1 })
        for i in 0..<4 { XCTAssertTrue(exists(String(format: "gen/sequence-%04d.gif", i))) }
        let grid = try readPNG(path("gen/grid.png"))
        XCTAssertEqual(grid.width, 5 * 64 + 4 * 2) // one column per frame
        XCTAssertEqual(grid.height, 8 * 64 + 7 * 2) // truth and best rows per sequence
        try succeed([
            "generate", "--checkpoint", "run/model.safetensors", "--batch", "2", "--samples", "2", "--zero-group", "1", "--bn", "running", "--out", "zero"
        ])
        XCTAssertEqual(try NPY.read(path("zero/predictions.npy")).shape, [2, 2, 1, 1, 64, 64])
        try fail(
            ["generate", "--checkpoint", "run/model.safetensors", "--batch", "2", "--zero-group", "2", "--out", "bad"],
            ["--zero-group 2", "groups 0…1"], absent: ["bad"])
        try fail(
            ["generate", "--checkpoint", "run/model.safetensors", "--batch", "2", "--n-past", "1", "--out", "bad"], ["nPast must be at least 2"],
            absent: ["bad"])
        try fail(["generate", "--checkpoint", "run/model.safetensors", "--batch", "2", "--data", "bair:nowhere", "--out", "bad"], ["nowhere"], absent: ["bad"])

        let e = try succeed([
            "evaluate", "--checkpoint", "run/model.safetensors", "--sequences", "4", "--batch", "2", "--samples", "1,2",
            "--n-future", "3", "--horizons", "2", "--out", "eval"
        ])
        for row in ["| black frames | 1 |", "| last frame repeated | 1 |", "| HAF-SVG-2 | 1 |", "| HAF-SVG-2 | 2 |", "2 → 3 frames", "2 → 2 frames"] {
            XCTAssertTrue(e.stdout.contains(row), "\(row) in \(e.stdout)")
        }
        for f in ["metrics.json", "metrics.csv", "metrics.md", "metrics.png", "figure.png", "figure.gif"] { XCTAssertTrue(exists("eval/\(f)"), f) }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes("eval/metrics.json")!) as? [String: Any])
        let entries = try XCTUnwrap(json["entries"] as? [[String: Any]])
        XCTAssertEqual(entries.map { $0["label"] as? String }, ["black frames", "last frame repeated", "HAF-SVG-2"])
        XCTAssertEqual((entries[2]["reports"] as? [Any])?.count, 4) // 2 horizons × 2 sample counts
        XCTAssertEqual(json["nPast"] as? Int, 2)
        let csv = try String(contentsOfFile: path("eval/metrics.csv"), encoding: .utf8)
        // header; per baseline 3 + 2 steps; the model 2 sample counts × (3 + 2) steps
        XCTAssertEqual(csv.split(separator: "\n").count, 1 + 2 * 5 + 2 * 5, csv)
        // figure.png: per sequence a ground-truth row and one row per model, one column per frame.
        let figure = try readPNG(path("eval/figure.png"))
        XCTAssertEqual(figure.width, 5 * 64 + 4 * 2)
        XCTAssertEqual(figure.height, 8 * 64 + 7 * 2)
        // Two checkpoints on one test set: the same model twice draws the same samples, so both score alike.
        let two = try succeed([
            "evaluate", "--checkpoint", "run/model.safetensors", "--checkpoint", "run/model.safetensors", "--label", "a",
            "--label", "b", "--sequences", "2", "--batch", "2", "--samples", "2", "--no-baselines", "--out", "eval2"
        ])
        let lines = two.stdout.split(separator: "\n")
        let a = try XCTUnwrap(lines.first { $0.hasPrefix("| a | 2 |") }), b = try XCTUnwrap(lines.first { $0.hasPrefix("| b | 2 |") })
        XCTAssertEqual(a.dropFirst(5), b.dropFirst(5))
        // Paired over the same sequences, the same model differs from itself by exactly nothing.
        XCTAssertTrue(two.stdout.contains("| b | +0.0000 [+0.0000, +0.0000] | +0.00 [+0.00, +0.00] |"), two.stdout)
        XCTAssertFalse(two.stdout.contains("black frames"))
        try fail(
            ["evaluate", "--checkpoint", "run/model.safetensors", "--checkpoint", "run/model.safetensors", "--label", "a", "--out", "bad"],
            ["1 --label for 2 --checkpoint"], absent: ["bad"], oneLine: false)
        try fail(
            ["evaluate", "--checkpoint", "run/model.safetensors", "--batch", "2", "--sequences", "2", "--horizons", "5", "--out", "bad"],
            ["--horizons '5'"], absent: ["bad"])
        try fail(
            ["evaluate", "--checkpoint", "run/model.safetensors", "--sequences", "2", "--batch", "1", "--samples", "1", "--out", "bad"],
            ["--batch 1 with --bn batch"], absent: ["bad"])

        // score: the generated predictions against the truth they came from, via data mmnist? No — build the
        // truth from an .npy dataset so both sides are known: predictions of the same shape and with a samples axis.
        let seqs = sequences([0, 1, 2], length: 4)
        try NPY.write(path("truth.npy"), shape: [3, 4, 64, 64], values: seqs.flatMap { $0 })
        let s1 = try succeed(["score", "--truth", "truth.npy", "--pred", "truth.npy"])
        let r1 = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(s1.stdout.utf8)) as? [String: Any])
        let ssim = try XCTUnwrap((r1["ssimBestSSIM"] as? [String: Any])?["mean"] as? [Double])
        XCTAssertEqual(ssim.count, 4)
        XCTAssertEqual(ssim[0], 1, accuracy: 1e-6)
        // Two samples per sequence, the second exact: best of 2 is exact; 5-D truth with C = 1 works alike.
        let noisy = seqs.map { $0.map { $0 * 0.5 } }
        var withSamples: [Float] = []
        for i in 0..<3 { withSamples += noisy[i] + seqs[i] }
        try NPY.write(path("pred6.npy"), shape: [3, 2, 4, 1, 64, 64], values: withSamples)
        try NPY.write(path("truth5.npy"), shape: [3, 4, 1, 64, 64], values: seqs.flatMap { $0 })
        try succeed(["score", "--truth", "truth5.npy", "--pred", "pred6.npy", "--out", "score.json"])
        let r2 = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes("score.json")!) as? [String: Any])
        XCTAssertEqual(r2["bestSSIMSample"] as? [Int], [1, 1, 1])
        XCTAssertEqual(((r2["ssimBestSSIM"] as? [String: Any])?["mean"] as? [Double])?[3] ?? 0, 1, accuracy: 1e-6)
        try NPY.write(path("pred5.npy"), shape: [3, 2, 4, 64, 64], values: withSamples)
        try succeed(["score", "--truth", "truth.npy", "--pred", "pred5.npy"])
        // uint8 truth (as data mmnist writes it) against float predictions.
        try NPY.writeUInt8(path("truth8.npy"), shape: [3, 4, 64, 64], values: seqs.flatMap { $0 })
        try succeed(["score", "--truth", "truth8.npy", "--pred", "truth.npy"])

        // score's bad inputs.
        try NPY.write(path("rank3.npy"), shape: [3, 4, 4096], values: seqs.flatMap { $0 })
        try NPY.write(path("short.npy"), shape: [3, 3, 64, 64], values: seqs.flatMap { $0.prefix(3 * 4096) })
        try NPY.write(path("big.npy"), shape: [3, 4, 64, 64], values: seqs.flatMap { $0 }.map { $0 * 2 })
        try NPY.write(path("small.npy"), shape: [1, 1, 8, 8], values: [Float](repeating: 0.5, count: 64))
        var f64 = NPY.encodeHeaderForTest(shape: [3, 4, 64, 64], descr: "<f8")
        f64.append(Data(count: 3 * 4 * 4096 * 8))
        write("f64.npy", f64)
        write("notnpy.npy", Data("hello, this is not an array".utf8))
        let whole = try XCTUnwrap(bytes("truth.npy"))
        write("cut.npy", whole.prefix(whole.count - 100))
        let failures: [([String], [String])] = [
            (["--truth", "none.npy", "--pred", "truth.npy"], ["--truth", "none.npy", "no such file"]),
            (["--truth", "truth.npy", "--pred", "none.npy"], ["--pred", "none.npy", "no such file"]),
            (["--truth", ".", "--pred", "truth.npy"], ["is a directory"]),
            (["--truth", "rank3.npy", "--pred", "rank3.npy"], ["rank3.npy", "rank 3"]),
            (["--truth", "truth.npy", "--pred", "short.npy"], ["short.npy", "does not match"]),
            (["--truth", "truth.npy", "--pred", "pred6.npy"], ["pred6.npy", "rank 6"]),
            (["--truth", "truth5.npy", "--pred", "pred5.npy"], ["pred5.npy", "does not match"]),
            (["--truth", "truth.npy", "--pred", "big.npy"], ["big.npy", "outside [0, 1]"]),
            (["--truth", "small.npy", "--pred", "small.npy"], ["small.npy", "smaller than SSIM's 11×11 window"]),
            (["--truth", "truth.npy", "--pred", "f64.npy"], ["f64.npy", "unsupported .npy dtype <f8"]),
            (["--truth", "notnpy.npy", "--pred", "truth.npy"], ["notnpy.npy", "not a .npy file"]),
            (["--truth", "cut.npy", "--pred", "truth.npy"], ["cut.npy", "truncated"]),
            (["--truth", "truth.npy", "--pred", "truth.npy", "--out", "nofolder/s.json"], ["nofolder/s.json"])
        ]
        for (args, mentions) in failures { try fail(["score"] + args, mentions, absent: ["nofolder"]) }
        if getuid() != 0 {
            write("locked.npy", whole); chmod(path("locked.npy"), 0)
            try fail(["score", "--truth", "locked.npy", "--pred", "truth.npy"], ["locked.npy", "cannot read"])
        }
    }

    func testKTHTrainAndGenerate() throws {
        try makeKTH("kth")
        let kth = tiny + ["--preset", "kth", "--data", "kth:kth"]
        let r = try succeed(["train"] + kth + ["--steps", "2", "--sample-every", "2", "--out", "run"])
        XCTAssertTrue(r.stdout.contains("on vgg64, KTH at kth"), r.stdout)
        XCTAssertTrue(exists("run/samples/step-000002.gif"))
        try succeed(["generate", "--checkpoint", "run/model.safetensors", "--data", "kth:kth", "--batch", "2", "--samples", "2", "--out", "gen"])
        XCTAssertEqual(try NPY.read(path("gen/predictions.npy")).shape, [2, 2, 1, 1, 64, 64])
        try succeed([
            "evaluate", "--checkpoint", "run/model.safetensors", "--data", "kth:kth", "--sequences", "2", "--batch", "2", "--samples", "2", "--out", "eval"
        ])
        // The test person has 2 clips of 3 frames: more is refused before anything is written.
        try fail(
            ["generate", "--checkpoint", "run/model.safetensors", "--data", "kth:kth", "--batch", "2", "--sequences", "3", "--out", "more"],
            ["KTH at kth", "reads 4 test sequences, only 2 available"], absent: ["more"])
        try fail(
            ["evaluate", "--checkpoint", "run/model.safetensors", "--data", "kth:kth", "--sequences", "3", "--batch", "2", "--samples", "1", "--out", "more"],
            ["only 2 available"], absent: ["more"])

        // Bad KTH folders.
        try fail(["train"] + kth + ["--steps", "1", "--data", "kth:none", "--out", "o"], ["none", "no such KTH directory"], absent: ["o"])
        write("afile", Data("x".utf8))
        try fail(["train"] + kth + ["--steps", "1", "--data", "kth:afile", "--out", "o"], ["afile", "is a file"], absent: ["o"])
        try FileManager.default.createDirectory(atPath: path("emptykth/walking"), withIntermediateDirectories: true)
        try fail(["train"] + kth + ["--steps", "1", "--data", "kth:emptykth", "--out", "o"], ["emptykth", "no KTH videos"], absent: ["o"])
        try makeKTH("noframes")
        let video = path("noframes/boxing/person02_boxing_d1")
        for f in try FileManager.default.contentsOfDirectory(atPath: video) { try FileManager.default.removeItem(atPath: "\(video)/\(f)") }
        try fail(["train"] + kth + ["--steps", "1", "--data", "kth:noframes", "--out", "o"], ["person02_boxing_d1", "without frames"], absent: ["o"])
        try makeKTH("badname")
        try FileManager.default.createDirectory(atPath: path("badname/walking/somebody"), withIntermediateDirectories: true)
        try fail(["train"] + kth + ["--steps", "1", "--data", "kth:badname", "--out", "o"], ["badname/walking/somebody", "personNN"], absent: ["o"])
        try makeKTH("short", frames: 2)
        try fail(["train"] + kth + ["--steps", "1", "--data", "kth:short", "--out", "o"], ["has 2 frames, too short for sequences of 3"], absent: ["o"])
        // A 32×32 frame and a corrupt frame, each in both training clips of one person.
        for (name, bad) in [("smallpng", "small"), ("corruptpng", "corrupt")] {
            try makeKTH(name)
            try FileManager.default.removeItem(atPath: path("\(name)/boxing")) // one training video: clips 1–3 and 2–4
            let frame3 = "\(name)/walking/person01_walking_d1/3.png"
            if bad == "small" { try writePNG(path(frame3), frame(channels: 1, seed: 1, side: 32)) } else { write(frame3, bytes(frame3)!.prefix(60)) }
            try fail(
                ["train"] + kth + ["--steps", "1", "--data", "kth:\(name)", "--out", "o"],
                [frame3, bad == "small" ? "frame is 32×32 pixels, expected 64×64" : "PNG"], absent: ["o"])
        }
        // A 1-channel dataset under the 3-channel BAIR preset.
        try fail(["train"] + tiny + ["--preset", "bair", "--data", "kth:kth", "--steps", "1", "--out", "o"], ["KTH at kth has 1 channel(s)"], absent: ["o"])
    }

    func testBAIRTrainAndGenerate() throws {
        try makeBAIR("bair")
        let bair = tiny + ["--preset", "bair", "--data", "bair:bair"]
        let r = try succeed(["train"] + bair + ["--steps", "2", "--out", "run"])
        XCTAssertTrue(r.stdout.contains("on vgg64, BAIR at bair"), r.stdout)
        XCTAssertEqual(try SafetensorsFile.read(from: path("run/model.safetensors")).metadata["channels"], "3")
        try succeed(["generate", "--checkpoint", "run/model.safetensors", "--data", "bair:bair", "--batch", "2", "--samples", "1", "--out", "gen"])
        XCTAssertEqual(try NPY.read(path("gen/predictions.npy")).shape, [2, 1, 1, 3, 64, 64])
        XCTAssertEqual(try readPNG(path("gen/grid.png")).channels, 3)
        try fail(
            ["generate", "--checkpoint", "run/model.safetensors", "--batch", "2", "--out", "g"], ["Moving MNIST", "has 1 channel(s); the model has 3"],
            absent: ["g"])

        try fail(["train"] + bair + ["--steps", "1", "--data", "bair:none", "--out", "o"], ["none", "no such BAIR directory"], absent: ["o"])
        try FileManager.default.createDirectory(atPath: path("nosplit"), withIntermediateDirectories: true)
        try fail(["train"] + bair + ["--steps", "1", "--data", "bair:nosplit", "--out", "o"], ["nosplit/processed_data/train", "no such"], absent: ["o"])
        try makeBAIR("noframes")
        try FileManager.default.removeItem(atPath: path("noframes/processed_data/train/traj_0_to_255/1/0.png"))
        try fail(["train"] + bair + ["--steps", "1", "--data", "bair:noframes", "--out", "o"], ["traj_0_to_255/1", "without frames"], absent: ["o"])
        try makeBAIR("short", frames: 2)
        try fail(["train"] + bair + ["--steps", "1", "--data", "bair:short", "--out", "o"], ["too short for sequences of 3"], absent: ["o"])
        try makeBAIR("gray")
        try writePNG(path("gray/processed_data/train/traj_0_to_255/0/1.png"), frame(channels: 1, seed: 3))
        try writePNG(path("gray/processed_data/train/traj_0_to_255/1/1.png"), frame(channels: 1, seed: 3))
        try fail(["train"] + bair + ["--steps", "1", "--data", "bair:gray", "--out", "o"], ["1.png", "1 channel(s), expected 3"], absent: ["o"])
        try makeBAIR("one")
        try FileManager.default.removeItem(atPath: path("one/processed_data/train/traj_0_to_255/1"))
        try fail(
            ["train"] + bair + ["--steps", "1", "--data", "bair:one", "--out", "o"], ["BAIR at one: 1 training sequences, fewer than --batch 2"], absent: ["o"])
    }

    func testBadNPYDatasets() throws {
        let seqs = sequences([0, 1], length: 3)
        try NPY.write(path("ok.npy"), shape: [2, 3, 64, 64], values: seqs.flatMap { $0 })
        try NPY.write(path("rank3.npy"), shape: [6, 64, 64], values: seqs.flatMap { $0 })
        try NPY.write(path("size32.npy"), shape: [3, 2, 128, 32], values: seqs.flatMap { $0 })
        try NPY.write(path("range.npy"), shape: [2, 3, 64, 64], values: seqs.flatMap { $0 }.map { $0 - 0.5 })
        try NPY.write(path("channels.npy"), shape: [1, 3, 64, 64, 2], values: seqs.flatMap { $0 })
        try NPY.write(path("one.npy"), shape: [1, 3, 64, 64], values: seqs[0])
        try NPY.write(path("twoframes.npy"), shape: [2, 2, 64, 64], values: seqs.flatMap { $0.prefix(2 * 4096) })
        var f64 = NPY.encodeHeaderForTest(shape: [2, 3, 64, 64], descr: "<f8")
        f64.append(Data(count: 2 * 3 * 4096 * 8))
        write("f64.npy", f64)
        let whole = try XCTUnwrap(bytes("ok.npy"))
        write("cut.npy", whole.prefix(whole.count / 2))
        write("notnpy.npy", Data(count: 100))
        let cases: [(String, [String], [String])] = [
            ("ok.npy", ["--layout", "nthw"], []),
            ("none.npy", [], ["none.npy", "no such file"]),
            ("rank3.npy", [], ["rank3.npy", "rank 3", "needs rank 4"]),
            ("size32.npy", [], ["size32.npy", "frames are 128×32", "expected 64×64"]),
            ("range.npy", ["--layout", "nthw"], ["range.npy", "outside [0, 1]"]),
            ("channels.npy", [], ["channels.npy", "2 channels"]),
            ("one.npy", ["--layout", "nthw"], ["1 training sequences, fewer than --batch 2"]),
            ("twoframes.npy", ["--layout", "nthw"], ["twoframes.npy", "too short for sequences of 3"]),
            ("ok.npy", ["--layout", "ntchw"], ["ok.npy", "layout ntchw needs rank 5"]),
            ("f64.npy", [], ["f64.npy", "unsupported .npy dtype <f8"]),
            ("cut.npy", [], ["cut.npy", "truncated .npy data"]),
            ("notnpy.npy", [], ["notnpy.npy", "not a .npy file"])
        ]
        for (file, extra, mentions) in cases {
            let args = ["train"] + tiny + ["--data", "npy:\(file)", "--steps", "1", "--out", "o"] + extra
            if mentions.isEmpty { try succeed(args); try FileManager.default.removeItem(atPath: path("o")) } else { try fail(args, mentions, absent: ["o"]) }
        }
        if getuid() != 0 {
            write("locked.npy", whole); chmod(path("locked.npy"), 0)
            try fail(["train"] + tiny + ["--data", "npy:locked.npy", "--steps", "1", "--out", "o"], ["locked.npy"], absent: ["o"])
        }
    }

    /// The demo end to end, with a model of the tests' own as the shipped one it is compared with.
    func testDemoSmoke() throws {
        try succeed([
            "train", "--model", "svg", "--nf", "4", "--g-dim", "8", "--rnn-size", "8", "--batch", "2", "--steps", "1",
            "--sample-every", "0", "--threads", "1", "--out", "other"
        ])
        let r = try succeed(["demo", "--steps", "1", "--out", "demo", "--shipped", "other/model.safetensors"])
        XCTAssertTrue(r.stdout.contains("demo finished"), r.stdout)
        for f in ["train/model.safetensors", "train/log.jsonl", "samples/grid.png", "eval/metrics.json", "eval/metrics.png", "eval/figure.png"] {
            XCTAssertTrue(exists("demo/\(f)"), f)
        }
        let metrics = try XCTUnwrap(JSONSerialization.jsonObject(with: try XCTUnwrap(bytes("demo/eval/metrics.json"))) as? [String: Any])
        let labels = (metrics["entries"] as? [[String: Any]] ?? []).compactMap { $0["label"] as? String }
        XCTAssertEqual(labels.filter { $0.hasPrefix("this demo") || $0.hasPrefix("shipped SVG-LP") }.count, 2, "\(labels)")
        try fail(
            ["evaluate", "--checkpoint", "demo/train/model.safetensors", "--figure-sequences=-1", "--out", "bad"],
            ["--figure-sequences must be 0 or more"], absent: ["bad"], oneLine: false)
    }

    func testGenerateAndEvaluateDefaultToTheWholeFiniteTestSet() throws {
        try writeNTHW("six.npy", sequences([0, 1, 2, 3, 4, 5], length: 3), length: 3)
        try succeed(["train"] + tiny + ["--data", "npy:six.npy", "--layout", "nthw", "--steps", "1", "--out", "run"])
        let data = ["--checkpoint", "run/model.safetensors", "--data", "npy:six.npy", "--layout", "nthw", "--batch", "3"]
        let g = try succeed(["generate"] + data + ["--samples", "2", "--out", "gen"])
        XCTAssertTrue(g.stdout.hasPrefix("6 sequences × 2 samples"), g.stdout)
        XCTAssertEqual(try NPY.read(path("gen/predictions.npy")).shape[0], 6)
        let e = try succeed(["evaluate"] + data + ["--samples", "2", "--out", "eval"])
        XCTAssertTrue(e.stdout.contains("6 test sequences"), e.stdout)
        // Progress into a file is plain lines, never carriage returns.
        XCTAssertFalse(e.stderr.contains("\r"), e.stderr)
        XCTAssertTrue(e.stderr.contains("12/12 sequences"), e.stderr) // 6 for the baselines, 6 for the model
        let help = try succeed(["generate", "--help"]).stdout
        XCTAssertTrue(help.contains("default: batch)"), help)
    }
}

extension NPY {
    /// A .npy header with an arbitrary dtype string, for files this library must refuse.
    static func encodeHeaderForTest(shape: [Int], descr: String) -> Data {
        let dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", "))), }"
        var padded = dict
        while (10 + padded.utf8.count + 1) % 64 != 0 { padded += " " }
        padded += "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        out.append(contentsOf: [UInt8(padded.utf8.count & 0xFF), UInt8(padded.utf8.count >> 8)])
        out.append(contentsOf: Array(padded.utf8))
        return out
    }
}
