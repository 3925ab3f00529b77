// svgnet train: the log, checkpoints, sample GIFs, exact --resume, Ctrl-C, sequential order, and every
// way a training run can be asked to do something impossible.
import Foundation
import SVGData
import SVGNet
import TestSupport
import XCTest

final class TrainTests: CLITestCase {
    func testTrainWritesLogCheckpointSamplesAndInfoReadsIt() throws {
        let r = try succeed(["train"] + tiny + ["--steps", "2", "--sample-every", "1", "--out", "run"])
        XCTAssertTrue(r.stdout.contains("HAF-SVG-2 on dcgan64"), r.stdout)
        XCTAssertTrue(r.stdout.contains("done: 2 steps"), r.stdout)
        let log = try logLines("run")
        XCTAssertEqual(log.count, 2)
        for (i, line) in log.enumerated() {
            XCTAssertEqual(Set(line.keys), ["step", "loss", "mse", "kld", "seconds"])
            XCTAssertEqual(line["step"] as? Int, i + 1)
            for k in ["loss", "mse", "kld", "seconds"] { XCTAssertNotNil(line[k] as? Double, "\(k) in \(line)") }
        }
        let model = try SafetensorsFile.read(from: path("run/model.safetensors"))
        XCTAssertEqual(model.metadata["z_dim"], "2")
        XCTAssertEqual(model.metadata["groups"], "2")
        XCTAssertEqual(model.metadata["n_past"], "2")
        let state = try SafetensorsFile.read(from: path("run/checkpoints/step-00000002.safetensors"))
        XCTAssertEqual(state.metadata["step"], "2")
        XCTAssertEqual(state.metadata["seed"], "1")
        XCTAssertEqual(state.metadata["z_dim"], "2")
        // The checkpoint's weights are model.safetensors' tensors exactly.
        for name in model.names { XCTAssertEqual(state.tensors[name]?.values, model.tensors[name]?.values, name) }
        XCTAssertTrue(exists("run/samples/step-000001.gif") && exists("run/samples/step-000002.gif"))

        let info = try succeed(["info", "run/model.safetensors"])
        for s in [
            "HAF-SVG-2 on dcgan64, 1 channel(s)", "zDim 2 in 2 group(s) of 1; gDim 8; rnn 8; nf 4", "levels 0,1,2,3",
            "trained as   2 → 1 frames, batch 2", "loads        yes"
        ] {
            XCTAssertTrue(info.stdout.contains(s), "info lacks '\(s)':\n\(info.stdout)")
        }
        var sum = 0, total = -1
        for line in info.stdout.split(separator: "\n") where line.hasSuffix(" parameters") {
            let words = line.split(separator: " ")
            let n = Int(words[words.count - 2])!
            if words[0] == "total" { total = n } else { sum += n }
        }
        XCTAssertEqual(total, sum, info.stdout)
        XCTAssertTrue(r.stdout.contains("\(total) parameters"), "train and info disagree on the parameter count")
    }

    /// A diverging run (an absurd learning rate) stops at the first non-finite loss with one line naming
    /// the step, keeps the last checkpoint written with a finite loss, and logs no non-finite step.
    func testNonFiniteLossStopsTheRunAndKeepsTheLastGoodCheckpoint() throws {
        let r = try fail(
            ["train"] + tiny + ["--lr", "1e30", "--steps", "20", "--checkpoint-every", "1", "--out", "nan"],
            ["the loss is", "last good checkpoint"])
        XCTAssertEqual(r.status, 1)
        let log = try logLines("nan")
        XCTAssertFalse(log.isEmpty, "the first step's loss is finite and must be logged")
        for line in log { XCTAssertTrue((line["loss"] as? Double)?.isFinite ?? false, "logged a non-finite loss: \(line)") }
        let newest = String(format: "nan/checkpoints/step-%08d.safetensors", log.count)
        XCTAssertEqual(try SafetensorsFile.read(from: path(newest)).metadata["step"], String(log.count), "the checkpoint is the last step with a finite loss")
        XCTAssertFalse(exists(String(format: "nan/checkpoints/step-%08d.safetensors", log.count + 1)))
    }

    func testResumeContinuesExactly() throws {
        try succeed(["train"] + tiny + ["--steps", "4", "--out", "whole"])
        try succeed(["train"] + tiny + ["--steps", "2", "--out", "split"])
        // A log line written after the last checkpoint (as after a crash) is dropped on resume.
        let extra = #"{"step":3,"loss":9,"mse":9,"kld":0,"seconds":0}"# + "\n"
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path("split/log.jsonl")))
        handle.seekToEndOfFile(); handle.write(Data(extra.utf8)); try handle.close()
        let r = try succeed(["train"] + tiny + ["--steps", "4", "--resume", "split"])
        XCTAssertTrue(r.stdout.contains("step 3/4"), r.stdout)
        XCTAssertEqual(bytes("whole/model.safetensors"), bytes("split/model.safetensors"), "2+2 steps differ from 4 steps")
        XCTAssertEqual(bytes("whole/checkpoints/step-00000004.safetensors"), bytes("split/checkpoints/step-00000004.safetensors"))
        // --keep 2 (the default) leaves the two newest: the end of the first part, the end of the second.
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: path("split/checkpoints")).sorted(),
            ["step-00000002.safetensors", "step-00000004.safetensors"])
        try succeed(["train"] + tiny + ["--steps", "3", "--checkpoint-every", "1", "--keep", "1", "--out", "keep1"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("keep1/checkpoints")), ["step-00000003.safetensors"])
        XCTAssertEqual(try logLines("split").map { $0["step"] as? Int }, [1, 2, 3, 4])
        XCTAssertEqual(try logLines("split").map { $0["loss"] as? Double }, try logLines("whole").map { $0["loss"] as? Double })
        // At the end already: nothing to do, nothing changes.
        let again = try succeed(["train"] + tiny + ["--steps", "4", "--resume", "split"])
        XCTAssertTrue(again.stdout.contains("nothing to do"), again.stdout)
        XCTAssertEqual(bytes("whole/model.safetensors"), bytes("split/model.safetensors"))
        // A fresh run in a used folder starts a new log.
        try succeed(["train"] + tiny + ["--steps", "1", "--out", "split"])
        XCTAssertEqual(try logLines("split").count, 1)
    }

    /// `--resume DIR` alone continues with the run's own model, batch, seed and order: the same bytes as
    /// the run given all its flags again; a contradicting model flag names the way out.
    func testResumeTakesTheRunsConfiguration() throws {
        let own = tiny + ["--model", "svg", "--seed", "3", "--order", "sequential"]
        try succeed(["train"] + own + ["--steps", "3", "--out", "whole"])
        try succeed(["train"] + own + ["--steps", "1", "--out", "split"])
        let r = try succeed(["train", "--steps", "3", "--sample-every", "0", "--threads", "1", "--resume", "split"])
        XCTAssertTrue(r.stdout.contains("SVG-LP") && r.stdout.contains("batch 2"), r.stdout)
        XCTAssertEqual(bytes("whole/model.safetensors"), bytes("split/model.safetensors"), "a resume without flags trained differently")
        XCTAssertEqual(try logLines("split").map { $0["loss"] as? Double }, try logLines("whole").map { $0["loss"] as? Double })
        try fail(
            ["train", "--steps", "4", "--nf", "8", "--resume", "split"],
            ["split/checkpoints/step-00000003.safetensors", "nf = 4", "the flags say 8", "leave the flag out"])
        try fail(["train", "--steps", "4", "--groups", "2", "--resume", "split"], ["the run is SVG-LP, which has one latent group"])
        // The run's own preset and model kind, given again, keep its non-default groups and aligner levels.
        try succeed(["train"] + tiny + ["--aligner-levels", "1", "--steps", "1", "--out", "levels"])
        try succeed(["train", "--preset", "mmnist", "--model", "hafsvg", "--steps", "2", "--sample-every", "0", "--threads", "1", "--resume", "levels"])
    }

    /// --attention-cache 0 recomputes every aligner level's maps in the backward: a smaller arena, the same
    /// losses (the recomputed maps are the forward's own products).
    func testAttentionCacheZeroRecomputesTheSameSteps() throws {
        let kept = try succeed(["train"] + tiny + ["--steps", "2", "--out", "kept"])
        let recomputed = try succeed(["train"] + tiny + ["--steps", "2", "--attention-cache", "0", "--out", "recomputed"])
        func arena(_ s: String) -> Int? { s.range(of: #"arena (\d+) MiB"#, options: .regularExpression).flatMap { Int(s[$0].split(separator: " ")[1]) } }
        XCTAssertLessThan(try XCTUnwrap(arena(recomputed.stdout)), try XCTUnwrap(arena(kept.stdout)), recomputed.stdout)
        XCTAssertEqual(try logLines("recomputed").map { $0["loss"] as? Double }, try logLines("kept").map { $0["loss"] as? Double })
        try fail(["train"] + tiny + ["--steps", "1", "--attention-cache=-1"], ["--attention-cache must be 0 or more MiB, got -1"])
    }

    func testResumeRefusesContradictingFlags() throws {
        try succeed(["train"] + tiny + ["--steps", "1", "--out", "run"])
        let model = bytes("run/model.safetensors"), log = bytes("run/log.jsonl")
        func flags(_ name: String, _ value: String) -> [String] {
            var t = tiny
            if let i = t.firstIndex(of: name) { t[i + 1] = value } else { t += [name, value] }
            return ["train"] + t + ["--steps", "3", "--resume", "run"]
        }
        let checkpoint = "run/checkpoints/step-00000001.safetensors"
        try fail(flags("--z-dim", "4"), [checkpoint, "z_dim = 2", "the flags say 4"])
        try fail(flags("--nf", "8"), [checkpoint, "nf = 4", "the flags say 8"])
        try fail(flags("--model", "svg") + ["--groups", "1"], [checkpoint, "aligner_levels = 0,1,2,3"])
        try fail(flags("--batch", "3"), [checkpoint, "batch = 2"])
        try fail(flags("--seed", "2"), [checkpoint, "--seed 1, not 2"])
        try fail(flags("--order", "sequential"), [checkpoint, "--order shuffled, not sequential"])
        try fail(flags("--digits", "1") + ["--data", "npy:x.npy"], ["x.npy", "no such file"])
        try fail(flags("--init", "run/model.safetensors"), ["--resume and --init exclude each other"])
        try fail(["train"] + tiny + ["--steps", "3", "--resume", "nowhere"], ["--resume nowhere", "no such run folder"], absent: ["nowhere"])
        try FileManager.default.createDirectory(atPath: path("empty"), withIntermediateDirectories: true)
        try fail(["train"] + tiny + ["--steps", "3", "--resume", "empty"], ["--resume empty", "no checkpoint"], absent: ["empty/log.jsonl"])
        // No checkpoints left.
        try FileManager.default.copyItem(atPath: path("run"), toPath: path("nostate"))
        try FileManager.default.removeItem(atPath: path("nostate/checkpoints"))
        try fail(["train"] + tiny + ["--steps", "3", "--resume", "nostate"], ["--resume nostate", "no checkpoint"])
        // The two-file layout of earlier versions, which could pair a model and a training state of different steps.
        write("nostate/train-state.safetensors", Data(count: 16))
        try fail(["train"] + tiny + ["--steps", "3", "--resume", "nostate"], ["earlier svgnet", "--init nostate/model.safetensors"])
        XCTAssertEqual(bytes("run/model.safetensors"), model, "a refused resume changed the checkpoint")
        XCTAssertEqual(bytes("run/log.jsonl"), log, "a refused resume changed the log")
    }

    func testCorruptCheckpoints() throws {
        try succeed(["train"] + tiny + ["--steps", "1", "--out", "run"])
        let good = try XCTUnwrap(bytes("run/model.safetensors"))
        write("cut.safetensors", good.prefix(good.count / 2))
        write("tiny.safetensors", Data([1, 2, 3]))
        write("garbage.safetensors", Data([16, 0, 0, 0, 0, 0, 0, 0]) + Data("not json at all!".utf8) + Data(count: 64))
        write("huge.safetensors", Data([255, 255, 255, 255, 0, 0, 0, 0]) + Data(count: 64))
        var bare = try SafetensorsFile.read(from: path("run/model.safetensors")); bare.metadata = [:]
        try bare.write(to: path("bare.safetensors"))
        var missing = try SafetensorsFile.read(from: path("run/model.safetensors"))
        missing.tensors.removeValue(forKey: missing.names[0])
        try missing.write(to: path("missing.safetensors"))
        let cases: [(String, [String])] = [
            ("cut.safetensors", ["cut.safetensors", "truncated"]),
            ("tiny.safetensors", ["tiny.safetensors", "truncated"]),
            ("garbage.safetensors", ["garbage.safetensors", "corrupt"]),
            ("huge.safetensors", ["huge.safetensors", "header length"]),
            ("bare.safetensors", ["bare.safetensors", "no model configuration"]),
            ("nothing.safetensors", ["nothing.safetensors", "no such file"])
        ]
        for (file, mentions) in cases {
            try fail(["info", file], mentions)
            try fail(["generate", "--checkpoint", file, "--batch", "2", "--samples", "1", "--out", "g"], mentions, absent: ["g"])
            try fail(["evaluate", "--checkpoint", file, "--sequences", "2", "--batch", "2", "--samples", "1", "--out", "e"], mentions, absent: ["e"])
            if file != "bare.safetensors" {
                try fail(["train"] + tiny + ["--steps", "1", "--init", file, "--out", "i"], ["--init"] + mentions, absent: ["i"])
            }
            // The same bytes as the run's only checkpoint: refused, naming it and what to do.
            try? FileManager.default.removeItem(atPath: path("resume"))
            try FileManager.default.copyItem(atPath: path("run"), toPath: path("resume"))
            let only = "resume/checkpoints/step-00000001.safetensors"
            try FileManager.default.removeItem(atPath: path(only))
            if exists(file) { try FileManager.default.copyItem(atPath: path(file), toPath: path(only)) }
            let log = bytes("resume/log.jsonl")
            try fail(["train"] + tiny + ["--steps", "3", "--resume", "resume"], exists(file) ? [only, "start a new run"] : ["no checkpoint"])
            XCTAssertEqual(bytes("resume/log.jsonl"), log)
        }
        // A damaged newest checkpoint with an older one beside it: the message names the older one.
        try succeed(["train"] + tiny + ["--steps", "2", "--checkpoint-every", "1", "--out", "two"])
        write("two/checkpoints/step-00000002.safetensors", good.prefix(good.count / 2))
        try fail(
            ["train"] + tiny + ["--steps", "3", "--resume", "two"],
            [
                "two/checkpoints/step-00000002.safetensors", "truncated",
                "delete it to resume from two/checkpoints/step-00000001.safetensors"
            ])
        // Right configuration, wrong tensors: info says it does not load; generate and --init refuse.
        let info = try run(["info", "missing.safetensors"])
        XCTAssertEqual(info.status, 1)
        XCTAssertTrue(info.stdout.contains("loads        no: missing.safetensors: missing tensor"), info.stdout)
        try fail(
            ["generate", "--checkpoint", "missing.safetensors", "--batch", "2", "--samples", "1", "--out", "g"], ["missing.safetensors", "missing tensor"],
            absent: ["g"])
        try fail(["train"] + tiny + ["--steps", "1", "--init", "missing.safetensors", "--out", "i"], ["missing.safetensors", "missing tensor"], absent: ["i"])
        // A checkpoint of another shape as --init.
        try fail(
            ["train"] + tiny.map { $0 == "8" ? "16" : $0 } + ["--steps", "1", "--init", "run/model.safetensors", "--out", "i"],
            ["run/model.safetensors", "has shape"], absent: ["i"])
    }

    func testNonsenseValues() throws {
        func with(_ changes: [String: String]) -> [String] {
            var t = tiny + ["--steps", "1", "--out", "o"]
            for (k, v) in changes {
                // A negative number must be glued to its flag (--batch=-2); ArgumentParser reads "-2" as a flag.
                if let i = t.firstIndex(of: k) { t.removeSubrange(i...(i + 1)) }
                t += v.hasPrefix("-") ? ["\(k)=\(v)"] : [k, v]
            }
            return ["train"] + t
        }
        let cases: [([String: String], [String])] = [
            (["--steps": "0"], ["--steps must be at least 1, got 0"]),
            (["--batch": "0"], ["--batch must be at least 1, got 0"]),
            (["--batch": "-2"], ["--batch must be at least 1, got -2"]),
            (["--n-past": "1"], ["nPast must be at least 2"]),
            (["--n-future": "0"], ["nFuture must be at least 1"]),
            (["--groups": "3"], ["groups G = 3 does not divide zDim = 2"]),
            (["--z-dim": "0"], ["zDim must be at least 1"]),
            (["--nf": "0"], ["nf must be at least 1"]),
            (["--g-dim": "0"], ["gDim must be at least 1"]),
            (["--rnn-size": "0"], ["rnn size must be at least 1"]),
            (["--lr": "0"], ["learning rate must be positive"]),
            (["--beta": "nan"], ["beta must be a finite non-negative number"]),
            (["--threads": "0"], ["--threads must be at least 1, got 0"]),
            (["--checkpoint-every": "0"], ["--checkpoint-every must be at least 1"]),
            (["--sample-every": "-1"], ["--sample-every must be 0 or more"]),
            (["--digits": "4"], ["--digits must be 1, 2 or 3, got 4"]),
            (["--data": "foo"], ["--data 'foo' is not one of"]),
            (["--data": "tar:x"], ["unknown source 'tar'"]),
            (["--data": "npy:"], ["needs a path after the colon"]),
            (["--aligner-levels": "0,7"], ["aligner level 7 does not exist"]),
            (["--model": "svg", "--groups": "2"], ["--model svg has one latent group"]),
            (["--model": "hsvg", "--aligner-levels": "0"], ["--aligner-levels needs --model hafsvg"]),
            (["--epochs": "0"], ["--epochs must be at least 1"]),
            (["--epochs": "1", "--steps": "2"], ["give --steps or --epochs, not both"]),
            (["--mnist": "nomnist"], ["nomnist"]),
            (["--preset": "bair"], ["1 channel(s)", "has 3"])
        ]
        for (changes, mentions) in cases {
            var args = with(changes)
            if changes["--epochs"] != nil && changes["--steps"] == nil, let i = args.firstIndex(of: "--steps") { args.removeSubrange(i...(i + 1)) }
            try fail(args, mentions, absent: ["o"])
        }
        // ArgumentParser's own checks: an unknown preset or model, a malformed number. The first line names
        // the problem; usage help follows.
        try fail(with(["--preset": "foo"]), ["'foo' is invalid for '--preset"], absent: ["o"], oneLine: false)
        try fail(with(["--model": "svg9"]), ["'svg9' is invalid for '--model"], absent: ["o"], oneLine: false)
        try fail(with(["--batch": "two"]), ["'two' is invalid for '--batch"], absent: ["o"], oneLine: false)
        try fail(with(["--order": "random"]), ["'random' is invalid for '--order", "'shuffled' and 'sequential'"], absent: ["o"], oneLine: false)
        try fail(
            with(["--layout": "xyz", "--data": "npy:a.npy"]), ["'xyz' is invalid for '--layout", "'tnhw', 'nthw', 'nthwc' or 'ntchw'"],
            absent: ["o"], oneLine: false)
        try fail(with(["--aligner-levels": "0,x"]), ["'0,x' is invalid for '--aligner-levels"], absent: ["o"], oneLine: false)
        try fail(["train", "--steps", "-1", "--out", "o"], ["--steps"], absent: ["o"], oneLine: false)
        try fail(["train", "--bogus"], ["--bogus"], oneLine: false)
        // An output path that is a file.
        write("afile", Data("x".utf8))
        try fail(["train"] + tiny + ["--steps", "1", "--out", "afile"], ["afile", "not a folder"])
        for args in [
            ["generate", "--checkpoint", "x", "--batch", "0"], ["generate", "--checkpoint", "x", "--samples", "0"],
            ["generate", "--checkpoint", "x", "--sequences", "0"], ["evaluate", "--checkpoint", "x", "--sequences", "0"],
            ["evaluate", "--checkpoint", "x", "--batch", "0"], ["data", "mmnist", "--out", "d.npy", "--sequences", "0"],
            ["data", "mmnist", "--out", "d.npy", "--length", "0"], ["data", "mmnist", "--out", "d.npy", "--digits", "0"],
            ["demo", "--out", "demo", "--steps", "0"]
        ] {
            try fail(args, [args[args.count - 2]], absent: ["d.npy", "demo", "svgnet-samples", "svgnet-eval"])
        }
        // Checked by the argument parser (a malformed list) or by validate(): the first line names it, usage follows.
        try fail(["evaluate", "--checkpoint", "x", "--samples", "1,x"], ["'1,x' is invalid for '--samples"], absent: ["svgnet-eval"], oneLine: false)
        try fail(["evaluate", "--checkpoint", "x", "--samples", "0"], ["--samples '0' must be positive"], absent: ["svgnet-eval"], oneLine: false)
    }

    func testSIGINTSavesACheckpointAndExits130() throws {
        let (p, out, err) = try start(["train"] + tiny + ["--steps", "100000", "--checkpoint-every", "100000", "--out", "run"])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, p.isRunning {
            if let log = try? String(contentsOfFile: path("run/log.jsonl"), encoding: .utf8), log.contains("\n") { break }
            usleep(20_000)
        }
        XCTAssertTrue(p.isRunning, "the run ended before it could be interrupted")
        p.interrupt() // SIGINT
        let r = finish(p, out, err)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertEqual(p.terminationReason, .exit)
        XCTAssertTrue(r.stderr.contains("interrupted at step"), r.stderr)
        let steps = try logLines("run").count
        let state = try SafetensorsFile.read(from: path(String(format: "run/checkpoints/step-%08d.safetensors", steps)))
        XCTAssertGreaterThanOrEqual(steps, 1)
        XCTAssertEqual(state.metadata["step"], String(steps), "the checkpoint and the log disagree")
        XCTAssertNoThrow(try SafetensorsFile.read(from: path("run/model.safetensors")))
        // And it resumes from there.
        try succeed(["train"] + tiny + ["--steps", String(steps + 1), "--checkpoint-every", "100000", "--resume", "run"])
        XCTAssertEqual(try logLines("run").map { $0["step"] as? Int }, Array(1...(steps + 1)))
    }

    /// --snapshot-every keeps the model of every Nth step: step 2's equals a separate 2-step run's, the
    /// last one equals model.safetensors; a period that is not a multiple of --checkpoint-every is refused.
    func testSnapshotsAreTheModelsOfTheirSteps() throws {
        try succeed(["train"] + tiny + ["--steps", "4", "--checkpoint-every", "2", "--snapshot-every", "2", "--out", "run"])
        try succeed(["train"] + tiny + ["--steps", "2", "--out", "two"])
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: path("run/snapshots")).sorted(),
            ["model-step-000002.safetensors", "model-step-000004.safetensors"])
        XCTAssertEqual(bytes("run/snapshots/model-step-000002.safetensors"), bytes("two/model.safetensors"))
        XCTAssertEqual(bytes("run/snapshots/model-step-000004.safetensors"), bytes("run/model.safetensors"))
        try fail(
            ["train"] + tiny + ["--steps", "4", "--checkpoint-every", "2", "--snapshot-every", "3", "--out", "bad"],
            ["--snapshot-every 3 must be a multiple of --checkpoint-every 2"], absent: ["bad"])
    }

    /// A checkpoint that cannot be written (here: its name is taken by a folder, as a full or read-only disk
    /// would also make the write fail) stops the run with one line, and the previous checkpoint is intact.
    func testAFailedCheckpointWriteLeavesThePreviousOne() throws {
        try succeed(["train"] + tiny + ["--steps", "1", "--checkpoint-every", "1", "--out", "run"])
        let first = try XCTUnwrap(bytes("run/checkpoints/step-00000001.safetensors"))
        try FileManager.default.createDirectory(atPath: path("run/checkpoints/step-00000002.safetensors/x"), withIntermediateDirectories: true)
        try fail(
            ["train"] + tiny + ["--steps", "2", "--checkpoint-every", "1", "--resume", "run"],
            ["writing a checkpoint in run", "the previous checkpoint is intact"])
        XCTAssertEqual(bytes("run/checkpoints/step-00000001.safetensors"), first)
        XCTAssertFalse(
            try FileManager.default.contentsOfDirectory(atPath: path("run/checkpoints")).contains { $0.contains(".tmp-") },
            "a temporary file was left behind")
    }

    /// SIGKILL at 20 moments drawn by a seeded generator (after the k-th progress line, then a random
    /// delay of up to 40 ms, so some land inside a checkpoint's write): every --resume either ends with
    /// exactly the bytes of an uninterrupted run or refuses with a message; it never silently differs.
    func testKilledAnywhereResumesExactlyOrRefuses() throws {
        // A small .npy dataset keeps each run's start-up short (no MNIST digits to load and resize).
        try writeNTHW("seqs.npy", sequences(Array(0..<8), length: 3), length: 3)
        let steps = 6, args = tiny + ["--data", "npy:seqs.npy", "--layout", "nthw", "--checkpoint-every", "1", "--steps", "\(steps)"]
        try succeed(["train"] + args + ["--out", "ref"])
        let reference = try XCTUnwrap(bytes("ref/model.safetensors"))
        let referenceCheckpoint = try XCTUnwrap(bytes(String(format: "ref/checkpoints/step-%08d.safetensors", steps)))
        var rng = TestRNG(2026)
        var exact = 0, refused = 0, killedAfter: [Int] = []
        for trial in 0..<20 {
            let dir = "k\(trial)", line = Int(rng.next() % UInt64(steps - 2)) + 2, delay = useconds_t(rng.next() % 40_000)
            let (p, out, err) = try start(["train"] + args + ["--out", dir])
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, p.isRunning {
                if let text = try? String(contentsOfFile: out, encoding: .utf8), text.contains("step \(line)/\(steps) ") { break }
                usleep(500)
            }
            usleep(delay)
            kill(p.processIdentifier, SIGKILL)
            _ = finish(p, out, err)
            killedAfter.append(try logLines(dir).count)
            let r = try run(["train"] + args + ["--resume", dir])
            if r.status == 0 {
                XCTAssertEqual(
                    bytes("\(dir)/model.safetensors"), reference, "trial \(trial) (killed after line \(line) + \(delay) µs) resumed to other weights")
                XCTAssertEqual(bytes(String(format: "%@/checkpoints/step-%08d.safetensors", dir, steps)), referenceCheckpoint, "trial \(trial)")
                XCTAssertEqual(try logLines(dir).map { $0["step"] as? Int }, Array(1...steps), "trial \(trial)")
                exact += 1
            } else {
                XCTAssertEqual(r.errorLines.count, 1, "trial \(trial): \(r.stderr)")
                XCTAssertTrue(r.stderr.hasPrefix("Error: "), "trial \(trial): \(r.stderr)")
                refused += 1
            }
        }
        XCTAssertEqual(exact + refused, 20)
        // The kills must have landed mid-run, not all after the end.
        XCTAssertTrue(killedAfter.contains { $0 < steps }, "every kill came after the run ended: \(killedAfter)")
        print("kill test: \(exact) exact, \(refused) refused; steps logged at the kill: \(killedAfter)")
    }

    /// Batch k of --order sequential is sequences kB … kB+B−1: replacing any other sequence leaves the
    /// weights after k+1 steps unchanged, replacing one of those changes them.
    func testSequentialOrderOverNPY() throws {
        let L = 3
        let s = sequences(Array(0..<8), length: L)
        try writeNTHW("all.npy", Array(s[0..<6]), length: L) // S0 … S5
        try writeNTHW("tail.npy", Array(s[0..<4]) + [s[6], s[7]], length: L) // S0 … S3, X, Y
        try writeNTHW("middle.npy", [s[0], s[1], s[6], s[7], s[4], s[5]], length: L) // S0, S1, X, Y, S4, S5
        func train(_ file: String, steps: Int) throws -> Data? {
            let out = "\(file)-\(steps)"
            try succeed(["train"] + tiny + ["--data", "npy:\(file)", "--layout", "nthw", "--order", "sequential", "--steps", String(steps), "--out", out])
            return bytes("\(out)/model.safetensors")
        }
        XCTAssertEqual(try train("all.npy", steps: 2), try train("tail.npy", steps: 2))
        XCTAssertNotEqual(try train("all.npy", steps: 3), try train("tail.npy", steps: 3))
        XCTAssertEqual(try train("all.npy", steps: 1), try train("middle.npy", steps: 1))
        XCTAssertNotEqual(try train("all.npy", steps: 2), try train("middle.npy", steps: 2))
        // Epochs wrap: step 4 of 6 sequences in batches of 2 is batch 0 again, so S0, S1 matter…
        try writeNTHW("wrap.npy", [s[0], s[7]] + Array(s[2..<6]), length: L)
        XCTAssertNotEqual(try train("all.npy", steps: 4), try train("wrap.npy", steps: 4))
        // … and shuffled order reads other sequences than sequential on the same file.
        try succeed(["train"] + tiny + ["--data", "npy:all.npy", "--layout", "nthw", "--steps", "1", "--out", "shuffled"])
        XCTAssertNotEqual(bytes("shuffled/model.safetensors"), try train("all.npy", steps: 1))
    }
}
