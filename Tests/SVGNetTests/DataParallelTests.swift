// Data-parallel training (MODEL.md "Data-parallel training"): replicas holding their rows of each batch
// must take the step one process takes at the whole batch. The replicas are threads here (TestSupport's
// ThreadReplicaHub); the svgnet tool's MPI ranks are checked against one process in svgnetTests.
import XCTest
import Kernels
import TestSupport
@testable import SVGNet

final class DataParallelTests: XCTestCase {
    struct Run { var losses: [StepLosses]; var tensors: [String: [Float]]; var runningMeansAfterOneStep: [String: [Float]] }

    /// Rows `rows` of a time-major batch (T, B, C, 64, 64).
    static func rows(_ x: [Float], _ c: ModelConfiguration, _ rows: Range<Int>) -> [Float] {
        let frame = c.channels * 4096
        var out: [Float] = []
        for t in 0..<c.frameCount { out += x[((t * c.batch + rows.lowerBound) * frame)..<((t * c.batch + rows.upperBound) * frame)] }
        return out
    }

    static func train(_ trainer: Trainer, steps: Int, rows: Range<Int>) -> Run {
        var losses: [StepLosses] = [], afterOne: [String: [Float]] = [:]
        for s in 0..<steps {
            let x = Self.rows(movingSquares(trainer.config, seed: 40 + UInt64(s)), trainer.config, rows)
            losses.append(x.withUnsafeBufferPointer { trainer.step($0.baseAddress!) })
            if s == 0 { for e in trainer.layout.entries where e.spec.name.hasSuffix("running_mean") { afterOne[e.spec.name] = trainer.parameter(e.spec.name) } }
        }
        var tensors: [String: [Float]] = [:]
        for e in trainer.layout.entries { tensors[e.spec.name] = trainer.parameter(e.spec.name) }
        return Run(losses: losses, tensors: tensors, runningMeansAfterOneStep: afterOne)
    }

    /// 5 steps of SVG-LP and of HAF-SVG with two groups, one process against 2 and 3 replicas, with even and
    /// uneven splits. Only the order of the sums differs (BatchNorm's Double statistics, the gradient
    /// allreduce's Float additions), so every step's losses agree to 1e-6 relative and each weight tensor to
    /// 1e-5 relative in norm. Tensors whose exact gradient is zero (conv biases before BatchNorm, the
    /// aligner's key bias: ParityTests) hold rounding noise that Adam turns into moves of about lr a step; they
    /// are held to Adam's bound on any entry's move (`adamMoveBound`) instead. A running mean averages its BatchNorm's input, which carries such a
    /// bias: it must agree to 1e-5 after the first step, before any bias has moved, and after 5 steps within
    /// what the biases' noise can add, Σ_t m(1 − m)^(S−t)·2·t·lr ≤ 2·S·lr·(1 − (1 − m)^S) (momentum m = 0.1).
    /// Every replica ends with the same bits.
    func testReplicasTakeTheOneProcessStep() throws {
        let threads = blasThreadCount()
        setBLASThreadCount(1)
        defer { setBLASThreadCount(threads) }
        let steps = 5
        let svg = { (b: Int) in smallConfig { $0.batch = b } }
        let haf = { (b: Int) in
            smallConfig {
                $0.batch = b; $0.groups = 2; $0.alignerLevels = [0, 1]
            }
        }
        for (config, count) in [(svg(4), 2), (svg(5), 2), (haf(5), 3), (haf(4), 2)] {
            let label = "\(config.modelName) batch \(config.batch) over \(count)"
            let alone = Self.train(try Trainer(config: config, seed: 3), steps: steps, rows: 0..<config.batch)
            let hub = ThreadReplicaHub(count: count)
            let runs = Locked<[Int: Run]>([:])
            hub.run { replica in
                let trainer = try! Trainer(config: config, seed: 3, replicas: replica)
                let run = Self.train(trainer, steps: steps, rows: trainer.ownRows)
                runs.update { $0[replica.rank] = run }
            }
            let zeroGradient = zeroGradientTensors(try Network(config))
            let initial = try Trainer(config: config, seed: 3)
            let moveBound = adamMoveBound(steps: steps, learningRate: Double(config.learningRate))
            for rank in 0..<count {
                let run = runs.value[rank]!
                for s in 0..<steps {
                    XCTAssertEqual(run.losses[s].mse, alone.losses[s].mse, accuracy: 1e-6 * abs(alone.losses[s].mse), "\(label): mse of step \(s + 1)")
                    XCTAssertEqual(run.losses[s].kld, alone.losses[s].kld, accuracy: 1e-6 * abs(alone.losses[s].kld), "\(label): kld of step \(s + 1)")
                }
                for (name, want) in alone.tensors {
                    let got = run.tensors[name]!
                    XCTAssertEqual(got, runs.value[0]!.tensors[name], "\(label): \(name) differs between replicas")
                    if name.hasSuffix("running_mean") {
                        let first = relativeNormError(run.runningMeansAfterOneStep[name]!, alone.runningMeansAfterOneStep[name]!)
                        XCTAssertLessThanOrEqual(first, 1e-5, "\(label): \(name) after one step, relative error \(first) in norm")
                        let bound = 2 * Double(steps) * Double(config.learningRate) * (1 - pow(0.9, Double(steps)))
                        var worst = 0.0
                        for i in 0..<got.count {
                            let excess: Double = abs(Double(got[i]) - Double(want[i])) - 1e-5 * abs(Double(want[i]))
                            worst = max(worst, excess)
                        }
                        XCTAssertLessThanOrEqual(worst, bound, "\(label): \(name) after \(steps) steps")
                        continue
                    }
                    if zeroGradient.contains(name) {
                        let moved = zip(got, initial.parameter(name)).map { abs(Double($0) - Double($1)) }.max() ?? 0
                        XCTAssertLessThanOrEqual(moved, moveBound, "\(label): \(name) moved further than Adam can in \(steps) steps")
                        continue
                    }
                    let err = relativeNormError(got, want)
                    XCTAssertLessThanOrEqual(err, 1e-5, "\(label): \(name) after \(steps) steps, relative error \(err) in norm")
                }
            }
        }
    }

    /// The step itself: after one forward and backward, every gradient of 2 replicas within 1e-5 relative in
    /// norm of one process's at the same batch (only the order of the sums differs), HAF-SVG-2 with aligners
    /// at all four levels; the tensors whose exact gradient is zero hold noise, below 1e-4 of their layer
    /// weight's gradient scale on both sides (as in ParityTests).
    func testReplicasComputeTheOneProcessGradient() throws {
        let threads = blasThreadCount()
        setBLASThreadCount(1)
        defer { setBLASThreadCount(threads) }
        for batch in [4, 5] {
            let config = smallConfig {
                $0.batch = batch; $0.groups = 2; $0.gDim = 8; $0.rnnSize = 8; $0.alignerLevels = [0, 1, 2, 3]
            }
            let x = movingSquares(config, seed: 41)
            let alone = try Trainer(config: config, seed: 3)
            let losses = x.withUnsafeBufferPointer { alone.forwardAndBackward($0.baseAddress!) }
            let hub = ThreadReplicaHub(count: 2)
            let results = Locked<[Int: (StepLosses, [String: [Float]])]>([:])
            hub.run { replica in
                let t = try! Trainer(config: config, seed: 3, replicas: replica)
                let l = Self.rows(x, config, t.ownRows).withUnsafeBufferPointer { t.forwardAndBackward($0.baseAddress!) }
                var g: [String: [Float]] = [:]
                for e in t.layout.entries where e.spec.trainable { g[e.spec.name] = t.gradient(e.spec.name) }
                results.update { $0[replica.rank] = (l, g) }
            }
            let zeroGradient = zeroGradientTensors(alone.network)
            for rank in 0..<2 {
                let (l, grads) = results.value[rank]!
                XCTAssertEqual(l.loss, losses.loss, accuracy: 1e-9 * abs(losses.loss), "batch \(batch): loss on replica \(rank)")
                for e in alone.layout.entries where e.spec.trainable {
                    let want = alone.gradient(e.spec.name), got = grads[e.spec.name]!
                    if zeroGradient.contains(e.spec.name) {
                        let scale = alone.gradient(e.spec.name.replacingOccurrences(of: ".bias", with: ".weight")).map { abs(Double($0)) }.max() ?? 1
                        XCTAssertLessThanOrEqual(got.map { abs(Double($0)) }.max()!, 1e-4 * scale + 1e-12, "batch \(batch): \(e.spec.name) should be ~0")
                        continue
                    }
                    let err = relativeNormError(got, want)
                    XCTAssertLessThanOrEqual(err, 1e-5, "batch \(batch): gradient of \(e.spec.name) on replica \(rank), relative error \(err) in norm")
                }
            }
        }
    }

    func testMoreReplicasThanSequencesIsRefused() {
        let hub = ThreadReplicaHub(count: 3)
        let messages = Locked<[String]>([])
        hub.run { replica in
            do { _ = try Trainer(config: smallConfig { $0.batch = 2 }, seed: 1, replicas: replica) } catch { messages.update { $0.append("\(error)") } }
        }
        XCTAssertEqual(messages.value.count, 3)
        XCTAssertTrue(messages.value.allSatisfy { $0.contains("--batch 2 over 3 ranks") }, "\(messages.value)")
    }
}
