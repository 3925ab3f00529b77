// Option groups shared by the subcommands, and the one error type they throw: a one-line message that
// names the problem (and the path, when there is one); ArgumentParser prints it and exits non-zero.
import ArgumentParser
import Foundation
import Kernels
import SVGData
import SVGNet

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

enum Preset: String, ExpressibleByArgument, CaseIterable {
    case mmnist, kth, bair
}

enum ModelKind: String, ExpressibleByArgument, CaseIterable {
    case svg, hsvg, hafsvg
}

extension AlignerValueSource: ExpressibleByArgument {}
extension NPYLayout: ExpressibleByArgument, CaseIterable {
    public static var allCases: [NPYLayout] { [.tnhw, .nthw, .nthwc, .ntchw] }
}

/// A comma-separated list of integers as one argument ("5,50,100"), the form the paper's protocols are
/// written in.
struct IntegerList: ExpressibleByArgument, CustomStringConvertible {
    let values: [Int]
    init(_ values: [Int]) { self.values = values }
    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        values = parts.map { $0! }
    }
    var description: String { values.map(String.init).joined(separator: ",") }
    var defaultValueDescription: String { description }
}

struct ModelOptions: ParsableArguments {
    @Option(help: "Dataset preset (table in Docs/MODEL.md, Presets): sets backbone, channels, nPast/nFuture, zDim and β (default: mmnist).")
    var preset: Preset?
    @Option(help: "svg (SVG-LP), hsvg (H-SVG, groups ≥ 2) or hafsvg (HAF-SVG, with the feature aligner) (default: hafsvg).")
    var model: ModelKind?
    @Option(help: "Latent groups G (default 1 for svg, 2 otherwise).")
    var groups: Int?
    @Option(name: .customLong("z-dim"), help: "Total latent size (default: the preset's).")
    var zDim: Int?
    @Option(name: .customLong("g-dim"), help: "Encoder output size (default: 128).")
    var gDim: Int?
    @Option(name: .customLong("rnn-size"), help: "LSTM hidden size (default: 256).")
    var rnnSize: Int?
    @Option(name: .customLong("nf"), help: "Base backbone width (default: 64, the paper's; smaller trains faster).")
    var nf: Int?
    @Option(name: .customLong("aligner-levels"), help: "Comma-separated aligner levels 0…3 (default: all four on DCGAN, 0,1,2 on VGG).")
    var alignerLevels: IntegerList?
    @Option(name: .customLong("aligner-value"), help: "Where the aligner's values come from: encoder or decoder (default: encoder).")
    var alignerValue: AlignerValueSource?
    @Option(name: .customLong("n-past"), help: "Conditioning frames (default: the preset's).")
    var nPast: Int?
    @Option(name: .customLong("n-future"), help: "Predicted frames (default: the preset's).")
    var nFuture: Int?
    @Option(help: "KL weight β (default: the preset's).")
    var beta: Float?
    @Option(help: "Adam learning rate (default: 0.002).")
    var lr: Float?

    /// The configuration these flags describe, validated. Without `base` a flag not given takes its default;
    /// with `base` (a resumed run's configuration) it keeps the base's value, so only the flags given can
    /// differ from it. A preset or model kind given that is the base's own changes nothing; another one sets
    /// its fields (the preset's backbone, channels, frames, zDim and β; the kind's groups and aligner levels).
    func configuration(batch: Int, base: ModelConfiguration? = nil) throws -> ModelConfiguration {
        var c = base ?? ModelConfiguration()
        let presetGiven = base.map { b in preset.map { Self.backboneAndChannels($0) != (b.backbone, b.channels) } ?? false } ?? true
        if presetGiven {
            switch preset ?? .mmnist {
            case .mmnist: c.backbone = .dcgan64; c.channels = 1; c.nPast = 5; c.nFuture = 10; c.zDim = 16; c.beta = 1e-4
            case .kth: c.backbone = .vgg64; c.channels = 1; c.nPast = 10; c.nFuture = 10; c.zDim = 24; c.beta = 1e-6
            case .bair: c.backbone = .vgg64; c.channels = 3; c.nPast = 2; c.nFuture = 10; c.zDim = 64; c.beta = 1e-4
            }
        }
        let kind = model ?? base.map(Self.kind) ?? .hafsvg
        let kindGiven = base.map { b in model.map { $0 != Self.kind(b) } ?? false } ?? true
        if let g = groups {
            c.groups = g
        } else if kindGiven {
            c.groups = kind == .svg ? 1 : 2
        }
        if kind == .svg && c.groups != 1 {
            let what = model == nil ? "the run is SVG-LP, which has" : "--model svg has"
            throw CLIError("\(what) one latent group; use --model hsvg for --groups \(c.groups)")
        }
        if kind == .hafsvg {
            if let levels = alignerLevels {
                c.alignerLevels = levels.values
            } else if kindGiven || presetGiven {
                c.alignerLevels = c.backbone == .dcgan64 ? [0, 1, 2, 3] : [0, 1, 2]
            }
        } else if alignerLevels != nil {
            throw CLIError("--aligner-levels needs --model hafsvg")
        } else {
            c.alignerLevels = []
        }
        if let v = alignerValue { c.alignerValue = v } else if base == nil { c.alignerValue = .encoder }
        if let z = zDim { c.zDim = z }
        if let g = gDim { c.gDim = g } else if base == nil { c.gDim = 128 }
        if let r = rnnSize { c.rnnSize = r } else if base == nil { c.rnnSize = 256 }
        if let n = nf { c.nf = n } else if base == nil { c.nf = 64 }
        if let n = nPast { c.nPast = n }
        if let n = nFuture { c.nFuture = n }
        if let b = beta { c.beta = b }
        if let r = lr { c.learningRate = r } else if base == nil { c.learningRate = 0.002 }
        c.batch = batch
        do { try c.validate() } catch { throw CLIError("invalid model: \(error)") }
        return c
    }

    /// What a preset fixes of the network itself.
    static func backboneAndChannels(_ p: Preset) -> (Backbone, Int) {
        switch p {
        case .mmnist: (.dcgan64, 1)
        case .kth: (.vgg64, 1)
        case .bair: (.vgg64, 3)
        }
    }

    /// The kind of model a configuration is: SVG-LP (one group, no aligner), H-SVG (no aligner) or HAF-SVG.
    static func kind(_ c: ModelConfiguration) -> ModelKind {
        c.alignerLevels.isEmpty ? (c.groups == 1 ? .svg : .hsvg) : .hafsvg
    }
}

/// How built-in Moving MNIST is drawn: shared by every command that reads data and by `data mmnist`.
struct MovingMNISTOptions: ParsableArguments {
    @Option(help: "Digits per Moving MNIST sequence (1, 2 or 3).")
    var digits: Int = 2
    @Option(help: "A folder with the user's own MNIST IDX files (plain or .gz) instead of the built-in test digits.")
    var mnist: String?
}

struct DataOptions: ParsableArguments {
    @Option(help: "mmnist (built-in Moving MNIST), kth:DIR, bair:DIR or npy:FILE.")
    var data: String = "mmnist"
    @OptionGroup var movingMNIST: MovingMNISTOptions
    @Option(help: "Axis order of an .npy file (default: tnhw for 4-D, nthwc for 5-D).")
    var layout: NPYLayout?

    var digits: Int { movingMNIST.digits }
    var mnist: String? { movingMNIST.mnist }
}

struct RunOptions: ParsableArguments {
    @Option(name: .customLong("seed"), help: "Seed for weights, noise and data (default: 1; train --resume: the run's).")
    var givenSeed: UInt64?
    /// --seed, or 1.
    var seed: UInt64 { givenSeed ?? 1 }
    @Option(help: "Threads for OpenBLAS and the engine's own loops (default: all cores).")
    var threads: Int?

    /// Sets the thread counts; under mpirun, without --threads, each rank gets its share of this host's cores.
    func apply() throws {
        if let t = threads {
            guard t >= 1 else { throw CLIError("--threads must be at least 1, got \(t)") }
            setBLASThreadCount(t)
            setKernelThreadCount(t)
        } else if MPIWorld.ranksOnThisHost > 1 {
            let share = max(1, ProcessInfo.processInfo.activeProcessorCount / MPIWorld.ranksOnThisHost)
            setBLASThreadCount(share)
            setKernelThreadCount(share)
        }
    }
}

func positive(_ value: Int, _ flag: String) throws {
    if value < 1 { throw CLIError("\(flag) must be at least 1, got \(value)") }
}

/// Creates `path` as a folder (and its parents) or says why it cannot.
func makeDirectory(_ path: String) throws {
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
        if !isDir.boolValue { throw CLIError("\(path): exists and is not a folder") }
        return
    }
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
        throw CLIError("\(path): cannot create the folder (\(error.localizedDescription))")
    }
}

/// Writes text atomically (temporary file, then rename).
func writeText(_ text: String, to path: String) throws {
    try writeAtomically(Data(text.utf8), to: path)
}
