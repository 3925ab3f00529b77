// svgnet export: rewrite a model checkpoint at another precision. float16 halves the file (the models
// shipped in Models/ are stored so); every command reads either, converting float16 to float32 on load.
import ArgumentParser
import Foundation
import SVGNet

/// `--dtype`: the names a user types, which are also the names help shows (the file format's own tags are
/// "F16" and "F32").
enum ExportDType: String, CaseIterable, ExpressibleByArgument {
    case f16, f32
    init?(argument: String) { self.init(rawValue: argument.lowercased()) }
    var dtype: SafetensorsFile.DType { self == .f16 ? .f16 : .f32 }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rewrite a model checkpoint as float16 (or float32) safetensors.")

    @Option(help: "A model written by svgnet train (model.safetensors, a snapshot, or a training checkpoint).") var checkpoint: String
    @Option(help: "Element type of the written tensors: f16 or f32.") var dtype: ExportDType = .f16
    @Option(help: "The file to write.") var out: String

    func run() throws {
        let model = try LoadedCheckpoint(checkpoint)
        // The tensors must fit the configuration before anything is written.
        _ = try model.generator(nPast: nil, nFuture: nil, batch: 2, samples: 1, seed: 1)
        let file = model.file
        do { try file.write(to: out, dtype: dtype.dtype) } catch { throw CLIError("\(error)") }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        print("wrote \(out): \(model.config.modelName), \(file.tensors.count) tensors as \(dtype.dtype.rawValue), \(bytes) bytes")
    }
}
