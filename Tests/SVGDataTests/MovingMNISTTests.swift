// Moving MNIST: the Pillow-exact digit resize, frame contents against the trajectory, motion rules,
// seeded reproducibility and the time-major batch.
import Foundation
import Kernels
import XCTest
@testable import SVGData

final class MovingMNISTTests: XCTestCase {
    static let mnist: MNIST = try! MNIST.load()

    func testResizeMatchesPillowBilinear() {
        // Fixtures from Pillow 13: Image.fromarray(uint8, 'L').resize((32, 32), Image.BILINEAR);
        // sum of bytes, Σ byte·(flat index), and one row excerpt.
        let mnist = Self.mnist
        let expected: [(Int, Int, Int, [UInt8])] = [
            (0, 24011, 13_097_888, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 38, 160, 247, 197, 60, 3]),
            (1, 37900, 20_062_403, [0, 0, 0, 105, 215, 252, 233, 138, 11, 0, 0, 0, 0, 0, 0, 0])
        ]
        for (index, sum, weighted, row16) in expected {
            let bytes = Array(mnist.pixels[index * 784..<(index + 1) * 784])
            let out = resizeBilinearPillow(bytes, height: 28, width: 28, toHeight: 32, toWidth: 32)
            XCTAssertEqual(out.map(Int.init).reduce(0, +), sum, "digit \(index)")
            XCTAssertEqual(out.enumerated().map { $0.offset * Int($0.element) }.reduce(0, +), weighted, "digit \(index)")
            XCTAssertEqual(Array(out[16 * 32 + 8..<16 * 32 + 24]), row16, "digit \(index) row 16")
        }
        let ramp = (0..<784).map { UInt8(($0 * 37) % 256) }
        let out = resizeBilinearPillow(ramp, height: 28, width: 28, toHeight: 32, toWidth: 32)
        XCTAssertEqual(out.map(Int.init).reduce(0, +), 129_826)
        XCTAssertEqual(out.enumerated().map { $0.offset * Int($0.element) }.reduce(0, +), 66_631_926)
        XCTAssertEqual(Array(out[0..<8]), [0, 30, 62, 95, 127, 160, 192, 208])
        XCTAssertEqual(Array(out[31 * 32 + 24..<1024]), [75, 107, 139, 172, 204, 157, 13, 43])
    }

    func testFramesAreTheResizedDigitAtTheTrajectory() {
        let digits = Array(Self.mnist.digits(.train).prefix(50))
        var video = MovingMNIST(digits: digits, numDigits: 1, length: 12, deterministic: false)
        var rng = RandomGenerator(seed: 11)
        var replay = rng
        let frames = video.sequence(rng: &rng)
        XCTAssertEqual(frames.count, 12 * 64 * 64)

        // Replay the draws: digit index, then the trajectory.
        let index = replay.uniformInt(0...49)
        let states = MovingMNIST.trajectory(length: 12, deterministic: false, rng: &replay)
        XCTAssertEqual(replay.stateWords, rng.stateWords, "sequence drew more or fewer numbers than the replay")
        let bytes = digits[index].pixels.map { UInt8(($0 * 255).rounded()) }
        let digit = resizeBilinearPillow(bytes, height: 28, width: 28, toHeight: 32, toWidth: 32).map { Float($0) / 255 }
        for (t, s) in states.enumerated() {
            var expected = [Float](repeating: 0, count: 4096)
            for r in 0..<32 { for c in 0..<32 { expected[(s.y + r) * 64 + s.x + c] = digit[r * 32 + c] } }
            XCTAssertEqual(Array(frames[t * 4096..<(t + 1) * 4096]), expected, "frame \(t)")
        }
    }

    func testValuesClippedAndSeededReproducibility() {
        let digits = Self.mnist.digits(.test)
        var a = MovingMNIST(digits: digits, numDigits: 3, length: 20)
        var b = MovingMNIST(digits: digits, numDigits: 3, length: 20)
        var rngA = RandomGenerator(seed: 5), rngB = RandomGenerator(seed: 5), rngC = RandomGenerator(seed: 6)
        let first = a.sequence(rng: &rngA)
        XCTAssertEqual(first, b.sequence(rng: &rngB))
        XCTAssertNotEqual(first, b.sequence(rng: &rngC))
        XCTAssertTrue(first.allSatisfy { $0 >= 0 && $0 <= 1 })
        XCTAssertEqual(first.max(), 1)
        // Three digits overlap somewhere over many sequences; the sum is clipped, never above 1.
        for _ in 0..<20 { XCTAssertTrue(a.sequence(rng: &rngA).allSatisfy { $0 >= 0 && $0 <= 1 }) }
        // Nothing is drawn in the last row/column: positions stop at 31, so the digit covers 31…62.
        var last: Float = 0
        for t in 0..<20 { for k in 0..<64 { last = max(last, first[t * 4096 + 63 * 64 + k], first[t * 4096 + k * 64 + 63]) } }
        XCTAssertEqual(last, 0)
    }

    func testStochasticMotionRules() {
        var rng = RandomGenerator(seed: 99)
        var bouncesLow = 0, bouncesHigh = 0
        for _ in 0..<300 {
            let states = MovingMNIST.trajectory(length: 30, deterministic: false, rng: &rng)
            XCTAssertTrue((0..<32).contains(states[0].x) && (0..<32).contains(states[0].y))
            for (t, s) in states.enumerated() {
                XCTAssertTrue((0...31).contains(s.x) && (0...31).contains(s.y), "t\(t) position \(s)")
                XCTAssertTrue((-4...4).contains(s.dx) && (-4...4).contains(s.dy), "t\(t) velocity \(s)")
                guard t > 0 else { continue }
                let p = states[t - 1]
                let rawX = p.x + p.dx, rawY = p.y + p.dy
                XCTAssertEqual(s.x, min(max(rawX, 0), 31))
                XCTAssertEqual(s.y, min(max(rawY, 0), 31))
                // The x edge is checked last, so its new velocity always stands; the y one stands unless x also bounced.
                if rawX < 0 { XCTAssertTrue((1...4).contains(s.dx)); bouncesLow += 1 }
                if rawX >= 32 { XCTAssertTrue((-4...(-1)).contains(s.dx)); bouncesHigh += 1 }
                let xBounced = rawX < 0 || rawX >= 32
                if rawY < 0 && !xBounced { XCTAssertTrue((1...4).contains(s.dy)) }
                if rawY >= 32 && !xBounced { XCTAssertTrue((-4...(-1)).contains(s.dy)) }
                if !xBounced && !(rawY < 0 || rawY >= 32) { XCTAssertEqual([s.dx, s.dy], [p.dx, p.dy]) }
            }
        }
        XCTAssertGreaterThan(bouncesLow, 10)
        XCTAssertGreaterThan(bouncesHigh, 10)
    }

    func testDeterministicVariantReflectsAndDrawsOnlyTheStart() {
        for seed in 0..<200 as Range<UInt64> {
            var rng = RandomGenerator(seed: seed)
            var reference = rng
            let states = MovingMNIST.trajectory(length: 40, deterministic: true, rng: &rng)
            for _ in 0..<4 { _ = reference.uniformInt(-4...4) }
            XCTAssertEqual(rng.stateWords, reference.stateWords, "deterministic motion drew extra random numbers")
            for t in 1..<states.count {
                let p = states[t - 1], s = states[t]
                let rawX = p.x + p.dx, rawY = p.y + p.dy
                XCTAssertEqual(s.dx, rawX < 0 || rawX >= 32 ? -p.dx : p.dx, "seed \(seed) t\(t)")
                XCTAssertEqual(s.dy, rawY < 0 || rawY >= 32 ? -p.dy : p.dy, "seed \(seed) t\(t)")
                XCTAssertEqual(s.x, min(max(rawX, 0), 31))
                XCTAssertEqual(s.y, min(max(rawY, 0), 31))
            }
        }
    }

    func testBatchIsTimeMajor() {
        let digits = Array(Self.mnist.digits(.train).prefix(20))
        var video = MovingMNIST(digits: digits, numDigits: 2, length: 5)
        var rng = RandomGenerator(seed: 3)
        var replay = rng
        let batch = video.batch(size: 3, rng: &rng)
        XCTAssertEqual(batch.count, 5 * 3 * 4096)
        let sequences = (0..<3).map { _ in video.sequence(rng: &replay) }
        for t in 0..<5 {
            for b in 0..<3 {
                XCTAssertEqual(Array(batch[(t * 3 + b) * 4096..<(t * 3 + b + 1) * 4096]), Array(sequences[b][t * 4096..<(t + 1) * 4096]))
            }
        }
    }
}
