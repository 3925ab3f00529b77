// svgnet info: what a checkpoint holds and whether it loads.
import ArgumentParser
import Foundation
import SVGNet

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a checkpoint's configuration, parameter counts per module, and whether it loads.")
    @Argument(help: "A .safetensors checkpoint.") var file: String

    func run() throws {
        let ckpt = try LoadedCheckpoint(file)
        let c = ckpt.config
        print("\(file)")
        print("  model        \(c.modelName) on \(c.backbone.rawValue), \(c.channels) channel(s)")
        print("  latent       zDim \(c.zDim) in \(c.groups) group(s) of \(c.groupDim); gDim \(c.gDim); rnn \(c.rnnSize); nf \(c.nf)")
        print(
            "  aligner      \(c.alignerLevels.isEmpty ? "none" : "levels \(c.alignerLevels.sorted().map(String.init).joined(separator: ",")), values from the \(c.alignerValue.rawValue)")"
        )
        print("  trained as   \(c.nPast) → \(c.nFuture) frames, batch \(c.batch), β \(c.beta), lr \(c.learningRate)")
        let net = try Network(c)
        var counts: [(String, Int)] = []
        for t in net.tensors where t.trainable {
            let parts = t.name.split(separator: ".")
            let module = parts[0] == "decoder" && parts[1] == "al" ? "decoder.al" : String(parts[0])
            if let i = counts.firstIndex(where: { $0.0 == module }) { counts[i].1 += t.count } else { counts.append((module, t.count)) }
        }
        func row(_ name: String, _ n: Int) { print("  " + name.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: "%10d parameters", n)) }
        for (m, n) in counts { row(m, n) }
        row("total", net.trainableCount)
        do {
            var g = c; g.batch = 2
            let generator = try Generator(config: g, samples: 1, seed: 0)
            try generator.loadModel(ckpt.file, path: file)
            print("  loads        yes")
        } catch {
            print("  loads        no: \(error)")
            throw ExitCode(1)
        }
    }
}
