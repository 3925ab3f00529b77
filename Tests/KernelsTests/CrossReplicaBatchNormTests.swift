// BatchNorm with statistics across replicas (data parallelism): each replica holds its rows of every
// time-step group, and the result must be the one-process BatchNorm of the whole batch. The one-process
// kernel is itself checked against a direct Double implementation (BatchNormTests); here the replicas are
// threads (TestSupport's ThreadReplicaHub), which sum in rank order as an allreduce would.
import XCTest
import TestSupport
@testable import Kernels

final class CrossReplicaBatchNormTests: XCTestCase {
    struct Outputs {
        var y: [Float], mean: [Float], invStd: [Float], runningMean: [Float], runningVar: [Float]
        var gradX: [Float], gradGamma: [Float], gradBeta: [Float], gradXSum: [Float]
    }

    /// Forward (with running statistics) then backward, over a CNHW map of `framesPerGroup` frames per group.
    static func run(
        x: [Float], gradY: [Float], gamma: [Float], beta: [Float], channels: Int, groups: Int, framesPerGroup: Int,
        plane: Int, slope: Float?, replicas: (any ReplicaGroup, Int)?
    ) -> Outputs {
        let shape = BatchNormShape(channels: channels, groups: groups, framesPerGroup: framesPerGroup, plane: plane)
        var o = Outputs(
            y: .init(repeating: .nan, count: x.count), mean: .init(repeating: .nan, count: groups * channels),
            invStd: .init(repeating: .nan, count: groups * channels),
            runningMean: (0..<channels).map { Float($0) * 0.1 }, runningVar: (0..<channels).map { 1 + Float($0) * 0.2 },
            gradX: .init(repeating: .nan, count: x.count), gradGamma: .init(repeating: .nan, count: channels),
            gradBeta: .init(repeating: .nan, count: channels), gradXSum: .init(repeating: .nan, count: channels))
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: 2 * groups * channels)
        defer { scratch.deallocate() }
        let cross = replicas.map { CrossReplicaStatistics(group: $0.0, framesPerGroup: $0.1, scratch: scratch) }
        batchNorm2dTrainingForward(
            x: x, y: &o.y, gamma: gamma, beta: beta, mean: &o.mean, invStd: &o.invStd,
            runningMean: &o.runningMean, runningVar: &o.runningVar, leakySlope: slope, shape: shape, replicas: cross)
        batchNorm2dBackward(
            gradY: gradY, x: x, gamma: gamma, mean: o.mean, invStd: o.invStd, gradX: &o.gradX, gradGamma: &o.gradGamma,
            gradBeta: &o.gradBeta, gradXSum: &o.gradXSum, beta: beta, leakySlope: slope, shape: shape, replicas: cross)
        return o
    }

    /// Rows `rows` of every group of a CNHW map C × (G·B·P).
    static func slice(_ map: [Float], rows: Range<Int>, channels: Int, groups: Int, framesPerGroup: Int, plane: Int) -> [Float] {
        var out: [Float] = []
        for c in 0..<channels {
            for g in 0..<groups {
                let start = ((c * groups + g) * framesPerGroup + rows.lowerBound) * plane
                out += map[start..<(start + rows.count * plane)]
            }
        }
        return out
    }

    func testStatisticsAcrossReplicasAreThoseOfTheWholeBatch() {
        var rng = TestRNG(71)
        let channels = 3, groups = 2, plane = 12
        for (framesPerGroup, count) in [(5, 2), (4, 3), (3, 3)] {
            for slope: Float? in [nil, leakyReLUSlope] {
                let n = channels * groups * framesPerGroup * plane
                let x = rng.array(n, -2, 3), gradY = rng.array(n), gamma = rng.array(channels, 0.5, 1.5), beta = rng.array(channels)
                let whole = Self.run(
                    x: x, gradY: gradY, gamma: gamma, beta: beta, channels: channels, groups: groups,
                    framesPerGroup: framesPerGroup, plane: plane, slope: slope, replicas: nil)
                let hub = ThreadReplicaHub(count: count)
                let results = Locked<[Int: Outputs]>([:])
                hub.run { replica in
                    let rows = replicaRows(batch: framesPerGroup, rank: replica.rank, count: count)
                    let part = { (m: [Float]) in Self.slice(m, rows: rows, channels: channels, groups: groups, framesPerGroup: framesPerGroup, plane: plane) }
                    let o = Self.run(
                        x: part(x), gradY: part(gradY), gamma: gamma, beta: beta, channels: channels, groups: groups,
                        framesPerGroup: rows.count, plane: plane, slope: slope, replicas: (replica, framesPerGroup))
                    results.update { $0[replica.rank] = o }
                }
                let label = "B \(framesPerGroup) over \(count) replicas, slope \(String(describing: slope))"
                var sumGamma = [Float](repeating: 0, count: channels), sumBeta = sumGamma, sumXSum = sumGamma
                for rank in 0..<count {
                    let o = results.value[rank]!
                    let rows = replicaRows(batch: framesPerGroup, rank: rank, count: count)
                    let part = { (m: [Float]) in Self.slice(m, rows: rows, channels: channels, groups: groups, framesPerGroup: framesPerGroup, plane: plane) }
                    // Only the Double sums' order differs: the Float statistics agree to an ulp or two.
                    assertClose(o.mean, whole.mean.map(Double.init), atol: 1e-7, rtol: 1e-6, "mean, rank \(rank), \(label)")
                    assertClose(o.invStd, whole.invStd.map(Double.init), atol: 0, rtol: 1e-6, "invStd, rank \(rank), \(label)")
                    assertClose(o.runningMean, whole.runningMean.map(Double.init), atol: 1e-7, rtol: 1e-6, "running mean, \(label)")
                    assertClose(o.runningVar, whole.runningVar.map(Double.init), atol: 0, rtol: 1e-6, "running var, \(label)")
                    assertClose(o.y, part(whole.y).map(Double.init), atol: 1e-6, rtol: 1e-6, "y, rank \(rank), \(label)")
                    assertClose(o.gradX, part(whole.gradX).map(Double.init), atol: 1e-6, rtol: 1e-5, "gradX, rank \(rank), \(label)")
                    for c in 0..<channels { sumGamma[c] += o.gradGamma[c]; sumBeta[c] += o.gradBeta[c]; sumXSum[c] += o.gradXSum[c] }
                }
                // The parameter gradients are each replica's share; their sum is the whole batch's, up to the
                // rounding of `count` Float partial sums of terms no larger than Σ|gy|·(1 + |x̂|) per channel.
                let bound = (0..<channels).map { c -> Double in
                    let run = c * groups * framesPerGroup * plane, len = groups * framesPerGroup * plane
                    return (run..<(run + len)).reduce(0.0) { $0 + Double(abs(gradY[$1])) * 4 }
                }
                for c in 0..<channels {
                    XCTAssertEqual(Double(sumGamma[c]), Double(whole.gradGamma[c]), accuracy: 1e-6 * bound[c], "Σ gradGamma, \(label)")
                    XCTAssertEqual(Double(sumBeta[c]), Double(whole.gradBeta[c]), accuracy: 1e-6 * bound[c], "Σ gradBeta, \(label)")
                    XCTAssertEqual(Double(sumXSum[c]), Double(whole.gradXSum[c]), accuracy: 1e-6 * bound[c], "Σ gradXSum, \(label)")
                }
            }
        }
    }

    /// With one replica the passes are the same arithmetic as the one-pass kernel: the same bits.
    func testOneReplicaGivesTheOnePassBits() {
        var rng = TestRNG(72)
        let channels = 4, groups = 3, framesPerGroup = 2, plane = 20
        for slope: Float? in [nil, leakyReLUSlope] {
            let n = channels * groups * framesPerGroup * plane
            let x = rng.array(n, -1, 2), gradY = rng.array(n), gamma = rng.array(channels, 0.5, 1.5), beta = rng.array(channels)
            let onePass = Self.run(
                x: x, gradY: gradY, gamma: gamma, beta: beta, channels: channels, groups: groups,
                framesPerGroup: framesPerGroup, plane: plane, slope: slope, replicas: nil)
            let hub = ThreadReplicaHub(count: 1)
            let result = Locked<Outputs?>(nil)
            hub.run { replica in
                let o = Self.run(
                    x: x, gradY: gradY, gamma: gamma, beta: beta, channels: channels, groups: groups,
                    framesPerGroup: framesPerGroup, plane: plane, slope: slope, replicas: (replica, framesPerGroup))
                result.update { $0 = o }
            }
            let o = result.value!
            XCTAssertEqual(o.y, onePass.y); XCTAssertEqual(o.mean, onePass.mean); XCTAssertEqual(o.invStd, onePass.invStd)
            XCTAssertEqual(o.runningMean, onePass.runningMean); XCTAssertEqual(o.runningVar, onePass.runningVar)
            XCTAssertEqual(o.gradX, onePass.gradX); XCTAssertEqual(o.gradGamma, onePass.gradGamma)
            XCTAssertEqual(o.gradBeta, onePass.gradBeta); XCTAssertEqual(o.gradXSum, onePass.gradXSum)
        }
    }
}
