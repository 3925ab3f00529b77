// Ten training steps against PyTorch (Tests/Fixtures/make_trajectory.py): the engine must follow the exact
// (float64) loss trajectory, and end as near the exact weights as PyTorch's own float32 run does, within a
// small factor. The fixtures hold both PyTorch runs from the same float32 initial values, so the yardstick
// is PyTorch float32's distance from the exact answer, measured on the same model, data and noise.
import XCTest

@testable import SVGNet
import Kernels

final class TrajectoryTests: XCTestCase {
    /// How far the engine may sit from the exact answer, as a multiple of PyTorch float32's distance from it.
    static let roundingFactor = 3.0

    /// `convolution`: as in ParityTests, the fixtures' widths are below the automatic Winograd thresholds, so
    /// each runs direct and again with Winograd wherever the shape allows.
    func check(_ name: String, convolution: ConvolutionAlgorithm = .automatic) throws {
        let f = try loadFixture("trajectory_\(name)")
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
        let pytorchWorst = zip(pytorch32, exact).map { abs(Double($0) - Double($1)) / abs(Double($1)) }.max()!
        for s in 0..<steps {
            let err = abs(ours[s] - Double(exact[s])) / abs(Double(exact[s]))
            // Float32 storage of the fixture's losses rounds them by up to 6e-8 relative.
            XCTAssertLessThanOrEqual(
                err, Self.roundingFactor * pytorchWorst + 1e-7,
                "\(name) step \(s + 1): loss \(ours[s]) vs exact \(exact[s]) (relative \(err); PyTorch float32's worst \(pytorchWorst))")
        }
        XCTAssertLessThan(ours.last!, ours.first!, "\(name): ten steps on one batch should lower the loss")

        // Weights after the last step: distance from the exact weights, over all tensors, against PyTorch float32's.
        var oursNum = 0.0, pytorchNum = 0.0, den = 0.0
        for e in trainer.layout.entries where e.spec.trainable {
            let got = trainer.parameter(e.spec.name)
            let want = f.tensors["after64.\(e.spec.name)"]!.values, pt = f.tensors["after32.\(e.spec.name)"]!.values
            for i in 0..<got.count {
                let w = Double(want[i])
                oursNum += (Double(got[i]) - w) * (Double(got[i]) - w)
                pytorchNum += (Double(pt[i]) - w) * (Double(pt[i]) - w)
                den += w * w
            }
        }
        let oursDistance = (oursNum / den).squareRoot(), pytorchDistance = (pytorchNum / den).squareRoot()
        XCTAssertLessThanOrEqual(
            oursDistance, Self.roundingFactor * pytorchDistance,
            "\(name): weights after \(steps) steps \(oursDistance) from exact (relative in norm), PyTorch float32 \(pytorchDistance)")
        print(
            "\(name) \(convolution): \(steps) steps; loss error ≤ \(zip(ours, exact).map { abs($0 - Double($1)) / abs(Double($1)) }.max()!) (PyTorch float32 \(pytorchWorst)); weights \(oursDistance) from exact (PyTorch float32 \(pytorchDistance), ratio \(oursDistance / pytorchDistance))"
        )
    }

    func testSVGFollowsTenPyTorchSteps() throws { try check("svg_dcgan") }
    func testHAFSVGFollowsTenPyTorchSteps() throws { try check("hafsvg2_dcgan") }
    func testSVGFollowsTenPyTorchStepsOnTheWinogradPath() throws { try check("svg_dcgan", convolution: .winogradWhereShapeAllows) }
    func testHAFSVGFollowsTenPyTorchStepsOnTheWinogradPath() throws { try check("hafsvg2_dcgan", convolution: .winogradWhereShapeAllows) }
}
