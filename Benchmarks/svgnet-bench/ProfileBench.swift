// Per-op breakdown of one training step and one 100-sample generation (issue #5): each instrumented op's wall time, share of the
// step, useful GFLOP and rate against the sgemm ceiling of the same run. "other" is the step's time
// outside the instrumented ops (copies, transposes, losses, LSTM input assembly).
import Dispatch
import Kernels
import SVGNet

/// `models` restricts the rows as it does the end-to-end ones (svglp, hafsvg4, vgg64, vgg64-hafsvg1; nil: all; VGG-64 has
/// a training row only).
func runProfileSection(models: Set<String>?, convolution: ConvolutionAlgorithm, ceilings: Ceilings, log: (String) -> Void) throws {
    for mc in trainingCases() where selected(mc.key, models) {
        let (key, c) = (mc.key, mc.config)
        log("profile \(key)")
        let frames = syntheticFrames(c.frameCount * c.batch * c.channels * 4096, seed: 81)
        let trainer = try Trainer(config: c, seed: 1, convolution: convolution)
        _ = trainer.step(frames.p) // warm-up: page faults, OpenBLAS buffers
        printProfile("\(key) step (\(describe(c)))", ceilings: ceilings) { _ = trainer.step(frames.p) }
    }
    // Sampling as the sample.* rows run it: 100 samples of one sequence, running statistics.
    for (key, base) in [("sample.svglp", svgLP()), ("sample.hafsvg4", hafSVG4())] where selected(key, models) {
        log("profile \(key)")
        var c = base
        c.batch = 1
        let frames = syntheticFrames(c.nPast * c.channels * 4096, seed: 82)
        let generator = try samplingGenerator(c, samples: 100, convolution: convolution)
        generator.generate(frames.p) // warm-up
        printProfile("\(key) generate (\(describe(c)) ×100 samples)", ceilings: ceilings) { generator.generate(frames.p) }
    }
}

/// Runs `body` once with the per-op profile active and prints every op, largest first.
private func printProfile(_ title: String, ceilings: Ceilings, _ body: () -> Void) {
    let profile = StepProfile()
    activeProfile = profile
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    let total = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    activeProfile = nil
    print("## per-op profile of one \(title): \(fixed(total, 3)) s")
    print(
        pad("op", 44) + pad("calls", 7, right: true) + pad("seconds", 10, right: true) + pad("share", 8, right: true)
            + pad("GFLOP", 9, right: true) + pad("GFLOP/s", 9, right: true) + pad("÷peak", 7, right: true))
    var accounted = 0.0
    for name in profile.order.sorted(by: { profile.entries[$0]!.seconds > profile.entries[$1]!.seconds }) {
        let e = profile.entries[name]!
        accounted += e.seconds
        let rate = e.flops > 0 ? e.flops / e.seconds / 1e9 : 0
        print(
            pad(name, 44) + pad(String(e.calls), 7, right: true) + pad(fixed(e.seconds, 4), 10, right: true)
                + pad(fixed(100 * e.seconds / total, 1) + "%", 8, right: true)
                + pad(e.flops > 0 ? fixed(e.flops / 1e9, 2) : "", 9, right: true)
                + pad(e.flops > 0 ? fixed(rate, 1) : "", 9, right: true)
                + pad(e.flops > 0 ? fixed(rate / ceilings.sgemmGflops, 2) : "", 7, right: true))
    }
    print(
        pad("other (outside instrumented ops)", 44) + pad("", 7) + pad(fixed(total - accounted, 4), 10, right: true)
            + pad(fixed(100 * (total - accounted) / total, 1) + "%", 8, right: true))
    print("")
}
