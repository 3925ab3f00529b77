// Model checkpoints (MODEL.md "Checkpoints"): every parameter and running statistic under its PyTorch
// state_dict name, PyTorch layouts, configuration in __metadata__. Loading checks every name, shape and dtype.
import Foundation
import Kernels

/// A checkpoint that does not fit the model (a missing, unexpected or misshapen tensor) or is not a valid
/// training checkpoint; `description` names the file and the problem.
public struct CheckpointError: Error, CustomStringConvertible {
    /// The file and what is wrong with it.
    public let description: String
    /// Creates an error with the given message.
    public init(_ d: String) { description = d }
}

extension ParameterLayout {
    /// The tensors of this layout as a safetensors file.
    func export(arena: Arena, metadata: [String: String]) -> SafetensorsFile {
        var file = SafetensorsFile(metadata: metadata)
        for e in entries {
            file.tensors[e.spec.name] = .init(dtype: "F32", shape: e.spec.shape, values: arena.array(slice(e.spec.name)))
        }
        return file
    }

    /// Copies every tensor of `file` into the arena after checking that the names and shapes are exactly
    /// this model's. `num_batches_tracked` entries are ignored, as MODEL.md "Checkpoints" allows.
    func load(_ file: SafetensorsFile, arena: Arena, path: String) throws {
        for e in entries {
            guard let t = file.tensors[e.spec.name] else {
                throw CheckpointError("\(path): missing tensor \(e.spec.name) (shape \(e.spec.shape))")
            }
            guard t.shape == e.spec.shape else {
                throw CheckpointError("\(path): tensor \(e.spec.name) has shape \(t.shape), this model needs \(e.spec.shape)")
            }
        }
        for name in file.names where index[name] == nil && !name.hasSuffix("num_batches_tracked") {
            throw CheckpointError("\(path): unexpected tensor \(name) (not part of this model)")
        }
        for e in entries { arena.copy(from: file.tensors[e.spec.name]!.values, to: slice(e.spec.name)) }
    }
}

extension Trainer {
    /// Writes the model's weights and running statistics as F32 safetensors in table order, with the
    /// configuration as metadata, replacing `path` atomically. Throws `SafetensorsError`.
    public func saveModel(to path: String) throws {
        try layout.export(arena: arena, metadata: config.metadata).write(to: path, order: layout.entries.map(\.spec.name))
    }

    /// Loads weights and running statistics from the safetensors file at `path`. Throws `SafetensorsError` when
    /// the file cannot be read or parsed, `CheckpointError` when its tensors are not exactly this model's.
    public func loadModel(from path: String) throws {
        try layout.load(try SafetensorsFile.read(from: path), arena: arena, path: path)
    }

    /// Loads weights and running statistics from a file already read; `path` is used in error messages.
    /// Throws `CheckpointError` when its tensors are not exactly this model's.
    public func loadModel(_ file: SafetensorsFile, path: String) throws {
        try layout.load(file, arena: arena, path: path)
    }

    /// The format tag of a training checkpoint's metadata.
    public static let checkpointFormat = "svgnet-checkpoint-1"

    /// Everything `--resume` needs, in one file, so that a checkpoint is whole or absent (one atomic
    /// rename) and never a model of one step paired with the optimiser state of another: the weights under
    /// their model names, Adam's moments as `adam_m.<name>` and `adam_v.<name>`, and in the metadata the
    /// configuration, `format`, `step` (Adam's count) and `rng` (the noise generator's four state words).
    /// `extra` adds metadata (the command-line tool records the run's seed, data and order there).
    public func saveCheckpoint(to path: String, extra: [String: String] = [:]) throws {
        let state = [
            "format": Trainer.checkpointFormat, "step": String(stepCount),
            "rng": rng.stateWords.map { String($0) }.joined(separator: ",")
        ]
        var file = layout.export(arena: arena, metadata: config.metadata.merging(state) { _, b in b }.merging(extra) { a, _ in a })
        var order = layout.entries.map(\.spec.name)
        for e in layout.entries where e.spec.trainable {
            for (prefix, block) in [("adam_m", layout.adamM), ("adam_v", layout.adamV)] {
                file.tensors["\(prefix).\(e.spec.name)"] = .init(dtype: "F32", shape: e.spec.shape, values: arena.array(momentSlice(e.spec.name, block)))
                order.append("\(prefix).\(e.spec.name)")
            }
        }
        try file.write(to: path, order: order)
    }

    /// Restores weights, moments, step count and noise state from a file `saveCheckpoint` wrote.
    public func loadCheckpoint(_ file: SafetensorsFile, path: String) throws {
        guard file.metadata["format"] == Trainer.checkpointFormat else {
            throw CheckpointError("\(path): not a training checkpoint (format '\(file.metadata["format"] ?? "none")', expected \(Trainer.checkpointFormat))")
        }
        guard let stepText = file.metadata["step"], let step = Int(stepText), step >= 0, let rngText = file.metadata["rng"] else {
            throw CheckpointError("\(path): corrupt checkpoint (no step or rng in metadata)")
        }
        let words = rngText.split(separator: ",").compactMap { UInt64($0) }
        guard words.count == 4 else { throw CheckpointError("\(path): corrupt rng state '\(rngText)'") }
        try layout.load(file.withoutOptimizerState, arena: arena, path: path)
        for e in layout.entries where e.spec.trainable {
            for (prefix, block) in [("adam_m", layout.adamM), ("adam_v", layout.adamV)] {
                let name = "\(prefix).\(e.spec.name)"
                guard let t = file.tensors[name], t.shape == e.spec.shape else { throw CheckpointError("\(path): missing or misshapen \(name)") }
                arena.copy(from: t.values, to: momentSlice(e.spec.name, block))
            }
        }
        restore(stepCount: step)
        rng.stateWords = words
    }

    /// The slice of an Adam moment block that belongs to parameter `name`.
    private func momentSlice(_ name: String, _ block: Slice) -> Slice {
        let s = layout.slice(name)
        return Slice(offset: s.offset - layout.params.offset + block.offset, count: s.count)
    }
}

extension SafetensorsFile {
    /// The model part of the file: a training checkpoint without its Adam moments (`adam_m.…`, `adam_v.…`) and
    /// its noise state, marked as a model file; any other file as it is. So every command that reads a model also reads a training checkpoint.
    public var withoutOptimizerState: SafetensorsFile {
        guard metadata["format"] == Trainer.checkpointFormat else { return self }
        var model = self
        model.tensors = tensors.filter { !$0.key.hasPrefix("adam_m.") && !$0.key.hasPrefix("adam_v.") }
        // The training state goes with the moments; the step stays as a record of how long it trained.
        model.metadata["format"] = ModelConfiguration.modelFormat
        model.metadata["rng"] = nil
        return model
    }
}
