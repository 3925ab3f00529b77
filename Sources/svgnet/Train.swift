// svgnet train: the training loop around Trainer.step — data, logging, checkpoints, samples, resume,
// Ctrl-C and NaN handling. A checkpoint is one file, checkpoints/step-NNNNNNNN.safetensors, holding the
// weights and the optimiser state together and written by one atomic rename, so a resume can only ever
// find whole checkpoints; model.safetensors beside it is the latest weights, for the other commands.
import ArgumentParser
import Foundation
import Kernels
import SVGData
import SVGNet

/// Set by the SIGINT handler; the loop checks it between steps.
nonisolated(unsafe) var interruptRequested: sig_atomic_t = 0

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model and write checkpoints, a log and sample GIFs.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var runOptions: RunOptions
    @Option(help: "Sequences per batch (default: 16; with --resume, the run's).") var batch: Int?
    @Option(help: "Training steps (batches). Default 1000 unless --epochs is given.") var steps: Int?
    @Option(help: "Epochs of --epoch-size steps each (an alternative to --steps).") var epochs: Int?
    @Option(name: .customLong("epoch-size"), help: "Steps per epoch with --epochs.") var epochSize: Int = 600
    @Option(help: "Batch order over a dataset (default: shuffled; with --resume, the run's).") var order: Order?
    @Option(help: "Output folder (created if needed).") var out: String = "svgnet-run"
    @Option(help: "Start from the weights of this safetensors file (tensor names as in Docs/MODEL.md, Checkpoints).") var `init`: String?
    @Option(help: "Continue the run in this folder exactly where its checkpoint left off, with its model, batch, seed and order (flags given must agree).")
    var resume: String?
    @Option(name: .customLong("checkpoint-every"), help: "Steps between checkpoints.") var checkpointEvery: Int = 500
    @Option(help: "Checkpoints kept in checkpoints/ (the newest ones).") var keep: Int = 2
    @Option(name: .customLong("sample-every"), help: "Steps between sample GIFs (0: never).") var sampleEvery: Int = 500
    @Option(name: .customLong("snapshot-every"), help: "Steps between kept copies of the model in snapshots/ (0: never); a multiple of --checkpoint-every.")
    var snapshotEvery: Int = 0
    @Option(
        name: .customLong("attention-cache"),
        help: ArgumentHelp(
            "MiB of aligner attention maps kept from forward for backward; levels past it recompute theirs (0: all do).",
            discussion: "Default: the model's own, \(defaultAttentionCache(.dcgan64)) on DCGAN-64 and \(defaultAttentionCache(.vgg64)) on VGG-64."))
    var attentionCache: Int?
    @Flag(help: "Print nothing but errors.") var quiet = false

    func run() throws {
        try execute()
    }

    @discardableResult
    func execute() throws -> (trainer: Trainer, outDir: String) {
        // Under mpirun every rank trains its rows of each batch (Docs/SCALING.md); rank 0 alone writes. Every
        // check that can fail before the first step runs inside `agree`, so an error all ranks hit is printed once.
        let world = MPIWorld.replicas
        let setup = try world.map { w in try w.agree { try prepare(replicas: w) } } ?? prepare(replicas: nil)
        if let w = world {
            // Ranks that loaded different states (a run folder that is not shared) would wait for each other forever.
            let same = w.sameOnEveryRank([Double(setup.trainer.stepCount), setup.trainer.parameterChecksum()])
            if !same {
                if w.rank == 0 { w.printError(CLIError("the ranks loaded different weights or steps from \(outDir): every rank must see the same run folder")) }
                w.stopTogether(status: 1)
            }
        }
        guard let (data, firstBatch) = setup.firstStep else { return (setup.trainer, outDir) }
        let trainer = setup.trainer
        do {
            let first = trainer.stepCount
            try loop(trainer: trainer, data: data, setup: setup, firstBatch: firstBatch, world: world)
            world?.reportAllreduceTimes(steps: trainer.stepCount - first)
        } catch let stop as AgreedStop {
            // Every rank stopped after the same step (an interrupt, or a loss that is not finite: the whole
            // batch's, so the same everywhere): none waits in a collective, and rank 0 says why.
            guard let w = world else { throw stop.reason }
            if w.rank == 0, !(stop.reason is ExitCode) { w.printError(stop.reason) }
            w.stopTogether(status: (stop.reason as? ExitCode)?.rawValue ?? 1)
        } catch {
            // The other ranks wait in the next allreduce: stop them all.
            if let w = world { w.abort(message: "\(error)") }
            throw error
        }
        return (trainer, outDir)
    }

    /// A stop every rank reaches after the same step; `reason` is what rank 0 reports.
    struct AgreedStop: Error { let reason: Error }

    /// What `prepare` hands the loop: nil `firstStep` when there is nothing to do. `seed` and `order` are the
    /// flags', or a resumed run's own.
    struct Setup {
        var trainer: Trainer, totalSteps: Int
        var seed: UInt64, order: Order
        var firstStep: (VideoSource, [Float])?
    }

    private var outDir: String { resume ?? out }

    /// The flags' checks, then everything before the first step, on every rank: the data, the trainer (resumed
    /// or initialised) and the first batch, read before anything is written so that bad data leaves no output
    /// folder behind.
    private func prepare(replicas: MPIWorld?) throws -> Setup {
        try runOptions.apply()
        if let b = batch { try positive(b, "--batch") }
        if let a = attentionCache, a < 0 { throw CLIError("--attention-cache must be 0 or more MiB, got \(a)") }
        try positive(checkpointEvery, "--checkpoint-every")
        try positive(keep, "--keep")
        if sampleEvery < 0 { throw CLIError("--sample-every must be 0 or more, got \(sampleEvery)") }
        if snapshotEvery < 0 { throw CLIError("--snapshot-every must be 0 or more, got \(snapshotEvery)") }
        if snapshotEvery > 0 && snapshotEvery % checkpointEvery != 0 {
            throw CLIError("--snapshot-every \(snapshotEvery) must be a multiple of --checkpoint-every \(checkpointEvery)")
        }
        if steps != nil && epochs != nil { throw CLIError("give --steps or --epochs, not both") }
        let totalSteps: Int
        if let e = epochs {
            try positive(e, "--epochs"); try positive(epochSize, "--epoch-size"); totalSteps = e * epochSize
        } else {
            totalSteps = steps ?? 1000; try positive(totalSteps, "--steps")
        }
        if resume != nil && self.`init` != nil { throw CLIError("--resume and --init exclude each other") }

        let checkpoints = CheckpointFolder(path: "\(outDir)/checkpoints")
        // A resumed run continues with its checkpoint's configuration, batch, seed and order unless flags say
        // otherwise, and flags that do must agree with it (checked below).
        var resumed: (file: SafetensorsFile, path: String, configuration: ModelConfiguration)? = nil
        if let dir = resume {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw CLIError("--resume \(dir): no such run folder")
            }
            let (file, path) = try checkpoints.newest(run: outDir)
            do { resumed = (file, path, try ModelConfiguration(metadata: file.metadata)) } catch { throw CLIError("\(path): \(error)") }
        }
        let batch = batch ?? resumed?.configuration.batch ?? 16
        let config = try model.configuration(batch: batch, base: resumed?.configuration)
        let state = resumed?.file.metadata ?? [:]
        let seed = runOptions.givenSeed ?? state["seed"].flatMap { UInt64($0) } ?? 1
        let order = order ?? state["order"].flatMap { Order(rawValue: $0) } ?? .shuffled
        let data = try VideoSource(dataOptions, length: config.frameCount)
        if data.channels != config.channels {
            throw CLIError("\(data.description) has \(data.channels) channel(s); the model has \(config.channels)")
        }
        let trainer: Trainer
        var memory = MemoryBudget.defaults(for: config)
        if let a = attentionCache { memory.cachedAttention = min(a, Int.max >> 18) << 18 } // MiB → floats
        do { trainer = try Trainer(config: config, seed: seed, memory: memory, replicas: replicas) } catch { throw CLIError("\(error)") }

        if let (file, path, _) = resumed {
            try checkSameConfiguration(file.metadata, config, path: path)
            if let s = state["seed"], s != String(seed) { throw CLIError("\(path): the run used --seed \(s), not \(seed)") }
            if let d = state["data"], d != dataOptions.data { throw CLIError("\(path): the run used --data \(d), not \(dataOptions.data)") }
            if let o = state["order"], o != order.rawValue { throw CLIError("\(path): the run used --order \(o), not \(order.rawValue)") }
            do { try trainer.loadCheckpoint(file, path: path) } catch { throw CLIError("\(error)") }
        } else if let path = self.`init` {
            do {
                let file = try SafetensorsFile.read(from: path).withoutOptimizerState
                try trainer.loadModel(file, path: path)
            } catch { throw CLIError("--init: \(error)") }
        }
        if trainer.stepCount >= totalSteps {
            if !quiet && (replicas?.rank ?? 0) == 0 { print("nothing to do: the run in \(outDir) is at step \(trainer.stepCount) of \(totalSteps)") }
            return Setup(trainer: trainer, totalSteps: totalSteps, seed: seed, order: order, firstStep: nil)
        }
        let first = try data.trainingBatch(step: trainer.stepCount, batch: config.batch, rows: trainer.ownRows, seed: seed, order: order)
        return Setup(trainer: trainer, totalSteps: totalSteps, seed: seed, order: order, firstStep: (data, first))
    }

    /// The steps on every rank; rank 0 (or the one process) also writes the run's files (RunOutput).
    private func loop(trainer: Trainer, data: VideoSource, setup: Setup, firstBatch first: [Float], world: MPIWorld?) throws {
        let totalSteps = setup.totalSteps
        let output =
            (world?.rank ?? 0) == 0
            ? try RunOutput(train: self, outDir: outDir, trainer: trainer, data: data, setup: setup, world: world) : nil
        defer { output?.close() }
        // Ctrl-C; and under mpirun, SIGUSR1, which mpirun forwards to every rank (it turns SIGINT into SIGTERM
        // and then SIGKILL, too soon for a checkpoint: Docs/SCALING.md).
        let stopSignals = [SIGINT, SIGTERM, SIGUSR1]
        for s in stopSignals { signal(s) { _ in interruptRequested = 1 } }
        defer { for s in stopSignals { signal(s, SIG_DFL) } }
        var firstBatch: [Float]? = first
        while trainer.stepCount < totalSteps {
            let x =
                try firstBatch
                ?? data.trainingBatch(
                    step: trainer.stepCount, batch: trainer.config.batch, rows: trainer.ownRows,
                    seed: setup.seed, order: setup.order)
            firstBatch = nil
            let started = DispatchTime.now().uptimeNanoseconds
            let losses = x.withUnsafeBufferPointer { trainer.step($0.baseAddress!) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            guard losses.loss.isFinite else {
                output?.progress.finish()
                throw AgreedStop(
                    reason: CLIError(
                        "step \(trainer.stepCount): the loss is \(losses.loss) (mse \(losses.mse), kld \(losses.kld)); "
                            + "stopped. The last good checkpoint is in \(outDir); try a smaller --lr"))
            }
            try output?.afterStep(losses: losses, seconds: seconds)
            if world.map({ $0.any(interruptRequested != 0) }) ?? (interruptRequested != 0) {
                try output?.interrupted()
                throw AgreedStop(reason: ExitCode(130))
            }
        }
        output?.finished()
    }
}

/// What rank 0 (or the one process) writes while training: the folders, log, checkpoints, snapshots,
/// sample GIFs and the progress line.
final class RunOutput {
    let outDir: String, modelPath: String, logPath: String
    let checkpoints: CheckpointFolder
    let trainer: Trainer
    let progress: Progress
    let log: FileHandle
    let sampler: (Generator, [Float])?
    let checkpointEvery: Int, snapshotEvery: Int, sampleEvery: Int, keep: Int, totalSteps: Int, quiet: Bool
    let extra: [String: String]

    init(train: Train, outDir: String, trainer: Trainer, data: VideoSource, setup: Train.Setup, world: MPIWorld?) throws {
        let config = trainer.config, seed = setup.seed
        self.outDir = outDir; self.trainer = trainer; totalSteps = setup.totalSteps
        modelPath = "\(outDir)/model.safetensors"; logPath = "\(outDir)/log.jsonl"
        checkpoints = CheckpointFolder(path: "\(outDir)/checkpoints")
        (checkpointEvery, snapshotEvery, sampleEvery, keep, quiet) = (train.checkpointEvery, train.snapshotEvery, train.sampleEvery, train.keep, train.quiet)
        extra = ["seed": String(seed), "data": train.dataOptions.data, "order": setup.order.rawValue, "total_steps": String(totalSteps)]
        // A sample generator shares nothing with the trainer but the weights it copies before each sample.
        if sampleEvery > 0 {
            var sc = config; sc.batch = min(config.batch, 4)
            let g = try Generator(config: sc, samples: 1, seed: seed &+ 7)
            sampler = (g, try data.testBatch(first: 0, count: sc.batch, seed: seed))
        } else {
            sampler = nil
        }
        try makeDirectory(outDir)
        try makeDirectory(checkpoints.path)
        // A fresh run in a used folder must not leave the old run's checkpoints for a later --resume to find.
        if train.resume == nil { try checkpoints.removeAll() }
        if sampler != nil { try makeDirectory("\(outDir)/samples") }
        if snapshotEvery > 0 { try makeDirectory("\(outDir)/snapshots") }

        // One line per step: a fresh run starts a new log; a resumed run drops lines written after its checkpoint.
        var kept = ""
        if train.resume != nil, let old = try? String(contentsOfFile: logPath, encoding: .utf8) {
            for line in old.split(separator: "\n") {
                guard let r = line.range(of: "\"step\":"), let step = Int(line[r.upperBound...].prefix { $0.isNumber }),
                    step <= trainer.stepCount
                else { continue }
                kept += line + "\n"
            }
        }
        try writeText(kept, to: logPath)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw CLIError("\(logPath): cannot open for writing") }
        log.seekToEndOfFile()
        self.log = log

        progress = Progress(total: totalSteps, start: trainer.stepCount, quiet: quiet)
        if !quiet {
            let ranks =
                world.map { w -> String in
                    let sizes = Set((0..<w.count).map { replicaRows(batch: config.batch, rank: $0, count: w.count).count }).sorted()
                    let a = trainer.allreducePerStep
                    return " over \(w.count) ranks (\(sizes.map(String.init).joined(separator: " or ")) sequences each; per step \(a.calls) allreduces of "
                        + String(format: "%.2f MiB", Double(a.floats * 4 + a.doubles * 8) / 1_048_576) + ")"
                } ?? ""
            print(
                "\(config.modelName) on \(config.backbone.rawValue), \(data.description); batch \(config.batch)\(ranks), \(config.nPast)+\(config.nFuture) frames; "
                    + "\(trainer.network.trainableCount) parameters; arena \(trainer.arenaBytes / 1_048_576) MiB; output \(outDir)")
        }
    }

    func close() { try? log.close() }

    func checkpoint() throws {
        let path = checkpoints.file(step: trainer.stepCount)
        do {
            try trainer.saveCheckpoint(to: path, extra: extra)
            try trainer.saveModel(to: modelPath)
        } catch { throw CLIError("writing a checkpoint in \(outDir): \(error); the previous checkpoint is intact") }
        try checkpoints.prune(keep: keep)
    }

    /// The log line and progress of the step just taken, and its checkpoint, snapshot and sample when due.
    func afterStep(losses: StepLosses, seconds: Double) throws {
        let step = trainer.stepCount
        log.write(Data("{\"step\":\(step),\"loss\":\(losses.loss),\"mse\":\(losses.mse),\"kld\":\(losses.kld),\"seconds\":\(seconds)}\n".utf8))
        progress.update(step: step, losses: losses, seconds: seconds)
        if step % checkpointEvery == 0 || step == totalSteps { try checkpoint() }
        if snapshotEvery > 0 && step % snapshotEvery == 0 {
            let path = String(format: "%@/snapshots/model-step-%06d.safetensors", outDir, step)
            do { try trainer.saveModel(to: path) } catch { throw CLIError("writing a snapshot in \(outDir): \(error)") }
        }
        if let (g, x) = sampler, step % sampleEvery == 0 || step == totalSteps {
            g.loadParameters(from: trainer)
            try writeSampleGIF(generator: g, frames: x, path: String(format: "%@/samples/step-%06d.gif", outDir, step))
        }
    }

    func interrupted() throws {
        try checkpoint()
        progress.finish()
        FileHandle.standardError.write(Data("interrupted at step \(trainer.stepCount); checkpoint saved in \(outDir)\n".utf8))
    }

    func finished() {
        progress.finish()
        if !quiet { print("done: \(trainer.stepCount) steps; model \(modelPath), log \(logPath)") }
    }
}

/// The checkpoints of a run: `step-NNNNNNNN.safetensors` files, each whole (written to a temporary name
/// and renamed), the newest the one `--resume` continues from.
struct CheckpointFolder {
    let path: String

    func file(step: Int) -> String { String(format: "%@/step-%08d.safetensors", path, step) }

    /// (step, file) of every checkpoint, oldest first; temporary files of an interrupted write (and
    /// anything that is not a file) are not checkpoints.
    func list() -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.compactMap { name -> (Int, String)? in
            var isDir: ObjCBool = false
            guard name.hasPrefix("step-"), name.hasSuffix(".safetensors"), let step = Int(name.dropFirst(5).dropLast(12)),
                FileManager.default.fileExists(atPath: "\(path)/\(name)", isDirectory: &isDir), !isDir.boolValue
            else { return nil }
            return (step, "\(path)/\(name)")
        }.sorted { $0.0 < $1.0 }
    }

    /// The newest checkpoint, read and checked; a damaged one is refused with what to do about it.
    func newest(run: String) throws -> (SafetensorsFile, String) {
        let all = list()
        guard let last = all.last else {
            if FileManager.default.fileExists(atPath: "\(run)/train-state.safetensors") {
                throw CLIError(
                    "--resume \(run): its checkpoint (model.safetensors + train-state.safetensors) was written by an earlier svgnet, "
                        + "whose two files could pair different steps; start a new run, or keep the weights with --init \(run)/model.safetensors")
            }
            throw CLIError("--resume \(run): no checkpoint in \(path)")
        }
        let advice =
            all.count > 1
            ? "delete it to resume from \(all[all.count - 2].path) (step \(all[all.count - 2].step))"
            : "it is the only one: start a new run"
        let file: SafetensorsFile
        do { file = try SafetensorsFile.read(from: last.path) } catch { throw CLIError("\(error); the newest checkpoint is damaged: \(advice)") }
        guard file.metadata["format"] == Trainer.checkpointFormat, file.metadata["step"] == String(last.step) else {
            throw CLIError(
                "\(last.path): not a checkpoint of step \(last.step) (format \(file.metadata["format"] ?? "none"), "
                    + "step \(file.metadata["step"] ?? "none")): \(advice)")
        }
        return (file, last.path)
    }

    /// Removes all but the newest `keep` checkpoints, and leftovers of interrupted writes.
    func prune(keep: Int) throws {
        for c in list().dropLast(keep) { try remove(c.path) }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where name.contains(".tmp-") { try remove("\(path)/\(name)") }
    }

    func removeAll() throws {
        for c in list() { try remove(c.path) }
    }

    private func remove(_ file: String) throws {
        do { try FileManager.default.removeItem(atPath: file) } catch { throw CLIError("\(file): cannot remove (\(error.localizedDescription))") }
    }
}

/// Every configuration field the flags set must agree with the checkpoint's.
func checkSameConfiguration(_ metadata: [String: String], _ config: ModelConfiguration, path: String) throws {
    let saved: ModelConfiguration
    do { saved = try ModelConfiguration(metadata: metadata) } catch { throw CLIError("\(path): \(error)") }
    let mine = config.metadata, theirs = saved.metadata
    for key in mine.keys.sorted() where mine[key] != theirs[key] {
        throw CLIError(
            "\(path): the checkpoint has \(key) = \(theirs[key] ?? "nothing"), the flags say \(mine[key]!) "
                + "(leave the flag out to continue with the checkpoint's)")
    }
}

/// One line per step on a terminal (redrawn in place), plain lines otherwise: every 2% of the run and at
/// least once a minute, so a log of a slow run still shows it moving.
final class Progress {
    let total: Int, quiet: Bool, tty: Bool
    var lastPrinted = 0, emaRate = 0.0, done: Int, secondsSincePrint = 0.0
    init(total: Int, start: Int, quiet: Bool) {
        self.total = total; self.quiet = quiet; tty = isatty(STDOUT_FILENO) != 0; done = start
    }
    func update(step: Int, losses: StepLosses, seconds: Double) {
        done = step
        guard !quiet else { return }
        let rate = 1 / max(seconds, 1e-9)
        emaRate = emaRate == 0 ? rate : 0.9 * emaRate + 0.1 * rate
        let eta = Double(total - step) / emaRate
        let text = String(
            format: "step %d/%d  loss %.5f  mse %.5f  kl %.4f  %.2f it/s  ETA %@", step, total, losses.loss, losses.mse, losses.kld,
            emaRate, formatDuration(eta))
        if tty {
            let width = 30, filled = width * step / total
            print("\r[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] " + text, terminator: "")
            fflush(nil)
        } else {
            secondsSincePrint += seconds
            if step - lastPrinted >= max(1, total / 50) || secondsSincePrint >= 60 || step == total || step <= 3 {
                print(text); fflush(nil); lastPrinted = step; secondsSincePrint = 0
            }
        }
    }
    func finish() { if tty && !quiet { print("") } }
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) : String(format: "%dm%02ds", t / 60, t % 60)
}

/// MiB of attention maps a backbone's default budget keeps (MemoryBudget.defaults(for:)), for --help.
private func defaultAttentionCache(_ backbone: Backbone) -> Int {
    var config = ModelConfiguration()
    config.backbone = backbone
    return MemoryBudget.defaults(for: config).cachedAttention >> 18 // floats → MiB
}
