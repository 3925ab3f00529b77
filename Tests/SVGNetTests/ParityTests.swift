// Parity with PyTorch: Tests/Fixtures/make_fixtures.py builds the same models from Docs/MODEL.md and records
// one training step and one generation rollout; the engine must reproduce them number for number.
import Foundation
import XCTest
@testable import SVGNet
import Kernels

let fixtureDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

func loadFixture(_ name: String) throws -> SafetensorsFile {
    try SafetensorsFile.read(from: fixtureDirectory.appendingPathComponent("\(name).safetensors").path)
}

/// The tensors under `prefix.` with the prefix removed.
func section(_ f: SafetensorsFile, _ prefix: String) -> SafetensorsFile {
    var out = SafetensorsFile(metadata: f.metadata)
    for (k, v) in f.tensors where k.hasPrefix(prefix + ".") { out.tensors[String(k.dropFirst(prefix.count + 1))] = v }
    return out
}

/// Tensors whose exact gradient is zero: biases of convolutions followed by BatchNorm, and the
/// aligner's key bias.
func zeroGradientTensors(_ net: Network) -> Set<String> {
    var s = Set<String>()
    for l in net.encoder.flatMap(\.layers) + net.decoder.flatMap(\.layers) where l.bnName != nil { s.insert("\(l.convName).bias") }
    for a in net.aligners { s.insert("\(a.name).k.bias") }
    return s
}

func relativeNormError(_ a: [Float], _ b: [Float]) -> Double {
    var num = 0.0, den = 0.0
    for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); num += d * d; den += Double(b[i]) * Double(b[i]) }
    return den == 0 ? num.squareRoot() : (num / den).squareRoot()
}

final class ParityTests: XCTestCase {
    /// `convolution`: the fixtures' widths (nf = 4) and frame counts are below the automatic Winograd
    /// thresholds, so each fixture runs once direct (the default's choice there) and once with the Winograd
    /// path wherever the shape allows, to the same tolerances: on DCGAN-64 F(4×4, 2×2) or F(2×2, 2×2) (both
    /// occur) in c2–c4, upc2–upc4, their skip and Z blocks; on VGG-64 F(2×2, 3×3) in every 3×3 layer past the first.
    func check(_ name: String, convolution: ConvolutionAlgorithm = .automatic) throws {
        let f = try loadFixture(name)
        let config = try ModelConfiguration(metadata: f.metadata)
        let trainer = try Trainer(config: config, seed: 1, convolution: convolution)
        if convolution == .winogradWhereShapeAllows, config.backbone == .dcgan64 {
            let c2 = trainer.network.encoder[1].layers[0], upc4 = trainer.network.decoder[3].layers[0]
            XCTAssertNotNil(
                winogradGeometry(c2, channelBlock: c2.inChannels, opFrames: config.frameCount * config.batch), "\(name): c2 should take the Winograd path")
            XCTAssertNotNil(
                winogradGeometry(upc4, channelBlock: upc4.inChannels / 2, opFrames: config.batch), "\(name): upc4's skip block should take the Winograd path")
            let blocks = trainer.plan.convLayers.map(\.conv) + trainer.plan.decoder.skips.flatMap { [$0.sourceBlock] + ($0.alignedBlock.map { [$0] } ?? []) }
            let tiles = Set(
                blocks.compactMap { block -> Int? in
                    switch block.kernel {
                    case .winograd(let g), .transposedWinograd(let g): g.outputTile
                    default: nil
                    }
                })
            XCTAssertEqual(tiles, [2, 4], "\(name): the Winograd blocks should take both output tiles")
        }
        if convolution == .winogradWhereShapeAllows, config.backbone == .vgg64 {
            let c2 = trainer.network.encoder[1].layers[1], upc3 = trainer.network.decoder[2].layers[0]
            XCTAssertNotNil(
                winograd3x3Geometry(c2, channelBlock: c2.inChannels, opFrames: config.frameCount * config.batch, workspaceLimit: .max),
                "\(name): c2's second 3×3 layer should take the F(2×2, 3×3) path")
            XCTAssertNotNil(
                winograd3x3Geometry(upc3, channelBlock: upc3.inChannels / 2, opFrames: config.batch, workspaceLimit: .max),
                "\(name): upc3's skip block should take the F(2×2, 3×3) path")
        }
        try trainer.loadModel(section(f, "init"), path: name)
        trainer.drawNoise = false
        let eps = f.tensors["eps"]!.values, d = config.groupDim, rows = (config.frameCount - 1) * config.batch
        for j in 0..<config.groups {
            eps.withUnsafeBufferPointer { trainer.posteriorNoise(group: j).update(from: $0.baseAddress! + j * rows * d, count: rows * d) }
        }
        let x = f.tensors["x"]!.values
        let losses = x.withUnsafeBufferPointer { trainer.step($0.baseAddress!) }

        // Loss terms: sums over ~10⁵ Float terms accumulated in Double on both sides.
        for (label, got, want) in [
            ("loss", losses.loss, f.tensors["loss"]!.values[0]), ("mse", losses.mse, f.tensors["mse"]!.values[0]),
            ("kld", losses.kld, f.tensors["kld"]!.values[0])
        ] {
            XCTAssertLessThanOrEqual(abs(got - Double(want)) / abs(Double(want)), 1e-5, "\(name) \(label): \(got) vs PyTorch \(want)")
        }

        let zeroGradient = zeroGradientTensors(trainer.network)
        for e in trainer.layout.entries where e.spec.trainable {
            let got = trainer.gradient(e.spec.name), want = f.tensors["grad.\(e.spec.name)"]!.values
            if zeroGradient.contains(e.spec.name) {
                // A conv bias followed by BatchNorm (and the aligner's key bias, a constant shift of every
                // softmax row) has a gradient of exactly zero; both sides hold rounding noise. It must stay
                // noise: below 1e-4 of the gradient scale of the tensor's layer weight.
                let scale =
                    (f.tensors["grad.\(e.spec.name.replacingOccurrences(of: ".bias", with: ".weight"))"]?.values ?? want)
                    .map { abs(Double($0)) }.max() ?? 1
                XCTAssertLessThanOrEqual(got.map { abs(Double($0)) }.max()!, 1e-4 * scale + 1e-12, "\(name) grad \(e.spec.name) should be ~0")
                continue
            }
            let err = relativeNormError(got, want)
            XCTAssertLessThanOrEqual(err, 1e-4, "\(name) grad \(e.spec.name): relative error \(err) in norm")
        }
        // Weights after one Adam step. The first step moves each entry by lr·g/(|g| + ε), ε = 1e-8: where
        // |g| is near ε its derivative lr·ε/(|g| + ε)² reaches lr/(4ε) = 5e4, so an entry whose exact
        // gradient is ~1e-9 moves by a fraction of lr set by the last digits of g (measured: |g| = 4e-9,
        // ours off by 2e-10, i.e. 1e-4 of this tensor's gradient norm). Those entries (|g| < 1e-6, where
        // the sensitivity is still ≥ 20) are held to the bound every Adam step obeys, |Δ| ≤ lr; the rest
        // must agree to 1e-5 relative in norm.
        let lr = Double(config.learningRate)
        for e in trainer.layout.entries {
            let got = trainer.parameter(e.spec.name), want = f.tensors["after.\(e.spec.name)"]!.values
            let before = f.tensors["init.\(e.spec.name)"]!.values
            let g = f.tensors["grad.\(e.spec.name)"]?.values
            var wellConditioned: [Int] = []
            for i in 0..<got.count {
                if let g, zeroGradient.contains(e.spec.name) || abs(g[i]) < 1e-6 {
                    XCTAssertLessThanOrEqual(abs(Double(got[i]) - Double(before[i])), lr * 1.0001, "\(name) \(e.spec.name)[\(i)] moved more than lr")
                } else {
                    wellConditioned.append(i)
                }
            }
            let err = relativeNormError(wellConditioned.map { got[$0] }, wellConditioned.map { want[$0] })
            XCTAssertLessThanOrEqual(
                err, 1e-5, "\(name) after-step \(e.spec.name): relative error \(err) in norm over \(wellConditioned.count) of \(got.count) entries")
        }

        // Generation with the same noise, from the initial weights.
        let samples = Int(f.metadata["gen_samples"]!)!
        for (mode, key) in [(BatchNormMode.batchStatistics, "gen.out"), (.runningStatistics, "gen.out_running")] {
            guard let want = f.tensors[key]?.values else { continue }
            let generator = try Generator(config: config, samples: samples, seed: 1, convolution: convolution)
            try generator.loadModel(section(f, "init"), path: name)
            generator.drawNoise = false
            generator.batchNorm = mode
            let genEps = f.tensors["gen.eps"]!.values, M = samples * config.batch
            for s in 0..<(config.frameCount - 1) {
                for j in 0..<config.groups {
                    genEps.withUnsafeBufferPointer {
                        generator.noise(step: s, group: j).update(from: $0.baseAddress! + (s * config.groups + j) * M * d, count: M * d)
                    }
                }
            }
            let out = x.withUnsafeBufferPointer { generator.generate($0.baseAddress!) }
            let got = Array(UnsafeBufferPointer(start: out, count: want.count))
            var maxErr = 0.0
            for i in 0..<want.count { maxErr = max(maxErr, abs(Double(got[i]) - Double(want[i]))) }
            // Frames in [0, 1] after a sigmoid, through several encoder/decoder passes.
            XCTAssertLessThanOrEqual(maxErr, 1e-4, "\(name) \(key): max abs difference \(maxErr)")
        }
    }

    func testSVGLPOnDCGAN() throws { try check("svg_dcgan") }
    func testHAFSVG2OnDCGAN() throws { try check("hafsvg2_dcgan") }
    func testSVGLPOnDCGANThroughWinograd() throws { try check("svg_dcgan", convolution: .winogradWhereShapeAllows) }
    func testHAFSVG2OnDCGANThroughWinograd() throws { try check("hafsvg2_dcgan", convolution: .winogradWhereShapeAllows) }
    func testHAFSVGWithDecoderValuesThroughWinograd() throws { try check("hafsvg1_dcgan_decvalue", convolution: .winogradWhereShapeAllows) }
    func testHSVG2OnVGGWithThreeChannels() throws { try check("hsvg2_vgg_c3") }
    /// This fixture's encoder has BatchNorm outputs within rounding of LeakyReLU's kink (c2.1: one exactly 0,
    /// others near 1e-7), where the gradient jumps by 0.8 of its value: a conv whose rounding differs in the
    /// last bit can flip one gate and move c2.1's BatchNorm-bias gradient by ~3e-4 relative (measured with
    /// F(2×2, 3×3)'s output transform summed along h first; along w first, as shipped, and in Double: 1e-6).
    /// A failure here at that size, with the kernel tests passing, is that flip, not a wrong convolution.
    func testHSVG2OnVGGThroughWinograd() throws { try check("hsvg2_vgg_c3", convolution: .winogradWhereShapeAllows) }
    func testHAFSVGWithDecoderValues() throws { try check("hafsvg1_dcgan_decvalue") }
}
