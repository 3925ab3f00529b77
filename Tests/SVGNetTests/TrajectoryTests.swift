// Ten training steps against PyTorch (Tests/Fixtures/make_trajectory.py): the engine must follow the exact
// (float64) loss trajectory, and end as near the exact weights as PyTorch's own float32 run does, within a
// small factor. The fixtures hold both PyTorch runs from the same float32 initial values, so the yardstick
// is PyTorch float32's distance from the exact answer, measured on the same model, data and noise.
import Foundation
import XCTest

@testable import SVGNet
import Kernels

final class TrajectoryTests: XCTestCase {
    /// How far the engine may sit from the exact answer, as a multiple of PyTorch float32's distance from it.
    static let roundingFactor = 3.0

    /// `convolution`: as in ParityTests, the fixtures' widths are below the automatic Winograd thresholds, so
    /// each runs direct and again with Winograd wherever the shape allows.
    /// `directory`: where the trajectory file is, when not among the fixtures (the full-width runs).
    func check(_ name: String, convolution: ConvolutionAlgorithm = .automatic, directory: String? = nil) throws {
        let f =
            try directory.map { try SafetensorsFile.read(from: "\($0)/trajectory_\(name).safetensors") } ?? loadFixture("trajectory_\(name)")
        let config = try ModelConfiguration(metadata: f.metadata)
        let steps = Int(f.metadata["steps"]!)!
        let trainer = try Trainer(config: config, seed: 1, convolution: convolution)
        try trainer.loadModel(section(f, "init"), path: name)
        trainer.drawNoise = false
        let x = f.tensors["x"]!.values, eps = f.tensors["eps"]!.values
        let d = config.groupDim, rows = (config.frameCount - 1) * config.batch, perStep = config.groups * rows * d
        let exact = f.tensors["loss64"]!.values, pytorch32 = f.tensors["loss32"]!.values
        var ours: [Double] = []
        for s in 0..<steps {
            for j in 0..<config.groups {
                eps.withUnsafeBufferPointer {
                    trainer.posteriorNoise(group: j).update(from: $0.baseAddress! + s * perStep + j * rows * d, count: rows * d)
                }
            }
            ours.append(x.withUnsafeBufferPointer { trainer.step($0.baseAddress!) }.loss)
        }
        // Losses: each step's relative error against the exact trajectory, beside PyTorch float32's worst.
        let pytorchErrors = zip(pytorch32, exact).map { abs(Double($0) - Double($1)) / abs(Double($1)) }
        let pytorchWorst = pytorchErrors.max()!
        let oursErrors = zip(ours, exact).map { abs($0 - Double($1)) / abs(Double($1)) }
        print("  \(name) \(convolution) loss error per step: " + oursErrors.map { String(format: "%.1e", $0) }.joined(separator: " "))
        print("  \(name) PyTorch float32 loss error per step: " + pytorchErrors.map { String(format: "%.1e", $0) }.joined(separator: " "))
        for (s, err) in oursErrors.enumerated() {
            // Float32 storage of the fixture's losses rounds them by up to 6e-8 relative.
            XCTAssertLessThanOrEqual(
                err, Self.roundingFactor * pytorchWorst + 1e-7,
                "\(name) step \(s + 1): loss \(ours[s]) vs exact \(exact[s]) (relative \(err); PyTorch float32's worst \(pytorchWorst))")
        }
        XCTAssertLessThan(ours.last!, ours.first!, "\(name): ten steps on one batch should lower the loss")

        // Weights after the last step: distance from the exact weights, over all tensors, against PyTorch float32's.
        // Per module too (the part of the name before the first dot), so a breach says where it comes from.
        var oursNum = 0.0, pytorchNum = 0.0, den = 0.0
        var byModule: [String: (ours: Double, pytorch: Double, norm: Double)] = [:]
        for e in trainer.layout.entries where e.spec.trainable {
            let got = trainer.parameter(e.spec.name)
            let want = f.tensors["after64.\(e.spec.name)"]!.values, pt = f.tensors["after32.\(e.spec.name)"]!.values
            var o = 0.0, p = 0.0, n = 0.0
            for i in 0..<got.count {
                let w = Double(want[i])
                o += (Double(got[i]) - w) * (Double(got[i]) - w)
                p += (Double(pt[i]) - w) * (Double(pt[i]) - w)
                n += w * w
            }
            oursNum += o
            pytorchNum += p
            den += n
            let module = String(e.spec.name.prefix { $0 != "." })
            let m = byModule[module] ?? (0, 0, 0)
            byModule[module] = (m.ours + o, m.pytorch + p, m.norm + n)
        }
        for (module, m) in byModule.sorted(by: { $0.key < $1.key }) {
            let o = (m.ours / m.norm).squareRoot(), p = (m.pytorch / m.norm).squareRoot()
            print("  \(name) \(convolution) \(module): weights \(o) from exact (PyTorch float32 \(p), ratio \(o / p))")
        }
        let oursDistance = (oursNum / den).squareRoot(), pytorchDistance = (pytorchNum / den).squareRoot()
        XCTAssertLessThanOrEqual(
            oursDistance, Self.roundingFactor * pytorchDistance,
            "\(name): weights after \(steps) steps \(oursDistance) from exact (relative in norm), PyTorch float32 \(pytorchDistance)")
        print(
            "\(name) \(convolution): \(steps) steps; loss error ≤ \(oursErrors.max()!) (PyTorch float32 \(pytorchWorst)); weights \(oursDistance) from exact (PyTorch float32 \(pytorchDistance), ratio \(oursDistance / pytorchDistance))"
        )
    }

    func testSVGFollowsTenPyTorchSteps() throws { try check("svg_dcgan") }
    func testHAFSVGFollowsTenPyTorchSteps() throws { try check("hafsvg2_dcgan") }
    func testSVGFollowsTenPyTorchStepsOnTheWinogradPath() throws { try check("svg_dcgan", convolution: .winogradWhereShapeAllows) }
    func testHAFSVGFollowsTenPyTorchStepsOnTheWinogradPath() throws { try check("hafsvg2_dcgan", convolution: .winogradWhereShapeAllows) }

    /// The same bound at the paper's width (`make_trajectory.py --full-width DIR`; files too large to commit),
    /// run only when SVGNET_FULL_WIDTH_TRAJECTORY names that directory.
    func testFullWidthTrajectories() throws {
        guard let directory = ProcessInfo.processInfo.environment["SVGNET_FULL_WIDTH_TRAJECTORY"] else {
            throw XCTSkip("set SVGNET_FULL_WIDTH_TRAJECTORY to the directory make_trajectory.py --full-width wrote")
        }
        let names = ["svg_dcgan", "hafsvg2_dcgan"].filter { FileManager.default.fileExists(atPath: "\(directory)/trajectory_\($0).safetensors") }
        XCTAssertFalse(names.isEmpty, "no trajectory_*.safetensors in \(directory)")
        for name in names {
            for convolution in [ConvolutionAlgorithm.direct, .automatic] { try check(name, convolution: convolution, directory: directory) }
        }
    }
}
