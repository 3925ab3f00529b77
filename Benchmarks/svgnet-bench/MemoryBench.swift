// Where each training row's arena goes: the planner's floats per call site (ArenaPlanner.floatsBySite),
// largest first. A site is the `floats` request in the source (a helper's caller for the `grad` helpers);
// one site may plan a buffer of every layer, so its share is what a change at that line would move.
import Kernels
import SVGNet

/// `models` restricts the rows as it does the end-to-end ones (svglp, hafsvg4, vgg64, vgg64-hafsvg1; nil: all).
func runMemorySection(models: Set<String>?, convolution: ConvolutionAlgorithm, log: (String) -> Void) throws {
    for mc in trainingCases() where selected(mc.key, models) {
        let (key, c) = (mc.key, mc.config)
        log("memory \(key)")
        let trainer = try Trainer(config: c, seed: 1, convolution: convolution)
        let floatBytes = trainer.arenaBySite.reduce(0) { $0 + $1.bytes }, total = Double(floatBytes), shown = 12
        print(
            "## arena of \(key) (\(describe(c))): \(formatBytes(trainer.arenaBytes)); its float block (\(formatBytes(floatBytes))) "
                + "by planning site, largest first")
        print(pad("site", 26) + pad("MiB", 10, right: true) + pad("share", 8, right: true))
        for (site, bytes) in trainer.arenaBySite.prefix(shown) {
            print(pad(site, 26) + pad(fixed(Double(bytes) / 1_048_576, 1), 10, right: true) + pad(fixed(100 * Double(bytes) / total, 1) + "%", 8, right: true))
        }
        let rest = trainer.arenaBySite.dropFirst(shown).reduce(0) { $0 + $1.bytes }
        if rest > 0 {
            print(
                pad("\(trainer.arenaBySite.count - shown) more sites", 26) + pad(fixed(Double(rest) / 1_048_576, 1), 10, right: true)
                    + pad(fixed(100 * Double(rest) / total, 1) + "%", 8, right: true))
        }
        print("")
    }
}
