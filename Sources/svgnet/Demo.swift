// svgnet demo: the README's main job. Trains HAF-SVG-2 on built-in Moving MNIST for a few minutes at a
// reduced width, then generates and evaluates, and says where the GIFs, the plot and the metrics are.
import ArgumentParser
import Foundation

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train HAF-SVG-2 on built-in Moving MNIST briefly, then sample and evaluate.")
    @Option(help: "Output folder.") var out: String = "demo-out"
    @Option(help: "Training steps.") var steps: Int = 300
    @Option(help: "Seed.") var seed: UInt64 = 1

    func run() throws {
        try positive(steps, "--steps")
        let common = ["--seed", String(seed)]
        print("== 1/3 train HAF-SVG-2 (reduced width) on Moving MNIST for \(steps) steps")
        let train = try Train.parse(["--preset", "mmnist", "--model", "hafsvg", "--groups", "2", "--nf", "16", "--g-dim", "64",
                                     "--rnn-size", "128", "--aligner-levels", "0,1,2", "--batch", "8", "--steps", String(steps),
                                     "--checkpoint-every", "100", "--sample-every", "100", "--out", "\(out)/train"] + common)
        try train.run()
        print("== 2/3 generate 5 samples of 4 test sequences")
        let gen = try Generate.parse(["--checkpoint", "\(out)/train/model.safetensors", "--batch", "4", "--samples", "5",
                                      "--out", "\(out)/samples"] + common)
        try gen.run()
        print("== 3/3 evaluate 16 test sequences, best of 1 and 10 samples")
        let eval = try Evaluate.parse(["--checkpoint", "\(out)/train/model.safetensors", "--sequences", "16", "--batch", "8",
                                       "--samples", "1,10", "--out", "\(out)/eval"] + common)
        try eval.run()
        print("""
        demo finished:
          training log     \(out)/train/log.jsonl   (samples during training: \(out)/train/samples/)
          sample GIFs      \(out)/samples/sequence-*.gif  (ground truth | best | random samples)
          sample grid      \(out)/samples/grid.png
          metrics          \(out)/eval/metrics.json, \(out)/eval/metrics.csv
          plot             \(out)/eval/metrics.png  (left SSIM, right PSNR, per future step; bands are 95% CIs)
        """)
    }
}
