// Model checkpoints (MODEL.md "Checkpoints"): every parameter and running statistic under its PyTorch
// state_dict name, PyTorch layouts, configuration in __metadata__. Loading checks every name, shape and dtype.
import Foundation
import Kernels

public struct CheckpointError: Error, CustomStringConvertible {
    public let description: String
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
    public func saveModel(to path: String) throws {
        try layout.export(arena: arena, metadata: config.metadata).write(to: path, order: layout.entries.map(\.spec.name))
    }

    public func loadModel(from path: String) throws {
        try layout.load(try SafetensorsFile.read(from: path), arena: arena, path: path)
    }

    public func loadModel(_ file: SafetensorsFile, path: String) throws {
        try layout.load(file, arena: arena, path: path)
    }

    /// Adam moments, the step count and the generator state: what `--resume` needs beyond the weights.
    /// `extra` adds metadata (the command-line tool records the run's seed, data and order there).
    public func saveTrainingState(to path: String, extra: [String: String] = [:]) throws {
        var file = SafetensorsFile(metadata: [
            "format": "svgnet-train-state-1",
            "step": String(stepCount),
            "rng": rng.stateWords.map { String($0) }.joined(separator: ","),
        ].merging(extra) { a, _ in a })
        for e in layout.entries where e.spec.trainable {
            let s = layout.slice(e.spec.name)
            let m = Slice(offset: s.offset - layout.params.offset + layout.adamM.offset, count: s.count)
            let v = Slice(offset: s.offset - layout.params.offset + layout.adamV.offset, count: s.count)
            file.tensors["adam_m.\(e.spec.name)"] = .init(dtype: "F32", shape: e.spec.shape, values: arena.array(m))
            file.tensors["adam_v.\(e.spec.name)"] = .init(dtype: "F32", shape: e.spec.shape, values: arena.array(v))
        }
        try file.write(to: path)
    }

    public func loadTrainingState(from path: String) throws {
        let file = try SafetensorsFile.read(from: path)
        guard let stepText = file.metadata["step"], let step = Int(stepText), step >= 0,
              let rngText = file.metadata["rng"] else {
            throw CheckpointError("\(path): not a training state (no step or rng in metadata)")
        }
        let words = rngText.split(separator: ",").compactMap { UInt64($0) }
        guard words.count == 4 else { throw CheckpointError("\(path): corrupt rng state '\(rngText)'") }
        for e in layout.entries where e.spec.trainable {
            for (prefix, block) in [("adam_m", layout.adamM), ("adam_v", layout.adamV)] {
                let name = "\(prefix).\(e.spec.name)"
                guard let t = file.tensors[name], t.shape == e.spec.shape else {
                    throw CheckpointError("\(path): missing or misshapen \(name)")
                }
                let s = layout.slice(e.spec.name)
                arena.copy(from: t.values, to: Slice(offset: s.offset - layout.params.offset + block.offset, count: s.count))
            }
        }
        restore(stepCount: step)
        rng.stateWords = words
    }
}
