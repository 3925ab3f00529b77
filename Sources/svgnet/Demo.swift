// svgnet demo: the README's main job. Trains HAF-SVG-2 on built-in Moving MNIST for a few minutes at a
// reduced width, then generates and evaluates it beside a model shipped in Models/ (trained for the
// results study, so a new user sees what longer training gives), and says where the pictures are.
import ArgumentParser
import Foundation

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train HAF-SVG-2 on built-in Moving MNIST briefly, then sample and evaluate.")
    @Option(help: "Output folder.") var out: String = "demo-out"
    @Option(help: "Training steps.") var steps: Int = 300
    @OptionGroup var runOptions: RunOptions
    @Option(help: "A shipped model evaluated beside the demo's own (skipped when the file is absent).")
    var shipped: String = "Models/hafsvg-1.safetensors"

    func run() throws {
        try positive(steps, "--steps")
        try runOptions.apply()
        let common = ["--seed", String(runOptions.seed)] + (runOptions.threads.map { ["--threads", String($0)] } ?? [])
        print("== 1/3 train HAF-SVG-2 (reduced width) on Moving MNIST for \(steps) steps")
        let train = try Train.parse(
            [
                "--preset", "mmnist", "--model", "hafsvg", "--groups", "2", "--nf", "16", "--g-dim", "64",
                "--rnn-size", "128", "--aligner-levels", "0,1,2", "--batch", "8", "--steps", String(steps),
                "--checkpoint-every", "100", "--sample-every", "100", "--out", "\(out)/train"
            ] + common)
        try train.run()
        print("== 2/3 generate 5 samples of 4 test sequences")
        let gen = try Generate.parse(
            [
                "--checkpoint", "\(out)/train/model.safetensors", "--batch", "4", "--samples", "5",
                "--out", "\(out)/samples"
            ] + common)
        try gen.run()
        let compare = FileManager.default.fileExists(atPath: shipped)
        let shippedName = compare ? (try? LoadedCheckpoint(shipped).config.modelName) ?? "model" : ""
        print("== 3/3 evaluate 16 test sequences, best of 1 and 10 samples" + (compare ? ", beside the shipped \(shippedName) (\(shipped))" : ""))
        var evalArgs = ["--checkpoint", "\(out)/train/model.safetensors", "--label", "this demo (\(steps) steps)"]
        if compare { evalArgs += ["--checkpoint", shipped, "--label", "shipped \(shippedName)"] }
        let eval = try Evaluate.parse(evalArgs + ["--sequences", "16", "--batch", "8", "--samples", "1,10", "--out", "\(out)/eval"] + common)
        try eval.run()
        print(
            """
            demo finished:
              training log     \(out)/train/log.jsonl   (samples during training: \(out)/train/samples/)
              sample GIFs      \(out)/samples/sequence-*.gif  (ground truth | best | random samples)
              sample grid      \(out)/samples/grid.png
              side by side     \(out)/eval/figure.png, figure.gif  (ground truth, then the best sample of \(compare ? "the demo's model and the shipped one" : "the demo's model"))
              metrics          \(out)/eval/metrics.md, metrics.json, metrics.csv  (beside black frames and the last frame repeated)
              plot             \(out)/eval/metrics.png  (left SSIM, right PSNR, per future step; bands are 95% CIs)
            """)
        if !compare { print("(no shipped model at \(shipped): run the demo from the repository's top folder to see one beside it)") }
    }
}
