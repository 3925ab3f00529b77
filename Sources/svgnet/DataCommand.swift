// svgnet data mmnist: a fixed Moving MNIST set as uint8 (T, N, 64, 64), the layout of the public
// mnist_test_seq.npy, drawn from the held-out digits.
import ArgumentParser
import Foundation
import Kernels
import SVGData

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "data", abstract: "Write datasets to files.", subcommands: [MMNIST.self])

    struct MMNIST: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "mmnist", abstract: "A fixed Moving MNIST set, uint8 (T, N, 64, 64).")
        @Option(help: "Sequences N.") var sequences: Int = 100
        @Option(help: "Frames per sequence T.") var length: Int = 20
        @Option(help: "Digits per sequence (1, 2 or 3).") var digits: Int = 2
        @Option(help: "Seed.") var seed: UInt64 = 1
        @Option(help: "A folder with MNIST IDX files instead of the built-in test digits.") var mnist: String?
        @Option(help: "Output .npy file.") var out: String

        func run() throws {
            try positive(sequences, "--sequences"); try positive(length, "--length")
            var options = try DataOptions.parse([])   // every field parsed (defaults); a bare DataOptions() traps on first use
            options.digits = digits; options.mnist = mnist
            let source = try VideoSource(options, length: length, needTrain: false)
            // (T, N, 1, 64, 64) is exactly (T, N, 64, 64).
            let frames = try source.testBatch(first: 0, count: sequences, seed: seed)
            do { try NPY.writeUInt8(out, shape: [length, sequences, 64, 64], values: frames) } catch { throw CLIError("\(error)") }
            print("wrote \(out): uint8 (\(length), \(sequences), 64, 64)")
        }
    }
}
