import XCTest
@testable import Kernels

final class RandomTests: XCTestCase {
    /// Published reference outputs, not values this code produced.
    func testPublishedVectors() {
        // xoshiro256** from state (1, 2, 3, 4): the reference implementation's first outputs (as in rand_xoshiro's test).
        var g = RandomGenerator(seed: 0)
        g.stateWords = [1, 2, 3, 4]
        XCTAssertEqual(
            (0..<6).map { _ in g.nextUInt64() },
            [11520, 0, 1509978240, 1215971899390074240, 1216172134540287360, 607988272756665600])
        // splitmix64's first four outputs from 0 are the seeded state.
        XCTAssertEqual(
            RandomGenerator(seed: 0).stateWords,
            [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F, 0xF88B_B8A8_724C_81EC])
        // For other seeds, against the tests' own splitmix64 (TestRNG).
        for seed: UInt64 in [1, 42, 0xDEAD_BEEF, .max] {
            var t = TestRNG(seed)
            XCTAssertEqual(RandomGenerator(seed: seed).stateWords, (0..<4).map { _ in t.next() }, "seed \(seed)")
        }
    }

    /// A mixed sequence of every kind of draw, so restoring is checked for all of them.
    func draws(_ g: inout RandomGenerator, _ n: Int) -> [Double] {
        var out: [Double] = []
        for i in 0..<n {
            switch i % 4 {
            case 0: out.append(Double(g.nextUInt64() >> 11))
            case 1: out.append(Double(g.uniform()))
            case 2: out.append(Double(g.normal()))
            default: out.append(Double(g.uniformInt(-5...17)))
            }
        }
        return out
    }

    func testSameSeedSameStreamAndDifferentSeedsDiffer() {
        var a = RandomGenerator(seed: 7), b = RandomGenerator(seed: 7), c = RandomGenerator(seed: 8)
        let sa = draws(&a, 400)
        XCTAssertEqual(sa, draws(&b, 400))
        XCTAssertNotEqual(sa, draws(&c, 400))
        var fa = RandomGenerator(seed: 9), fb = RandomGenerator(seed: 9)
        let u: [Float] = .buffer(50) { fa.fillUniform($0, count: 50, low: -1, high: 3) }
        XCTAssertEqual(u, .buffer(50) { fb.fillUniform($0, count: 50, low: -1, high: 3) })
        let z: [Float] = .buffer(50) { fa.fillNormal($0, count: 50) }
        XCTAssertEqual(z, .buffer(50) { fb.fillNormal($0, count: 50) })
    }

    func testRestoringStateReproducesContinuation() {
        var g = RandomGenerator(seed: 1234)
        _ = draws(&g, 101)
        let saved = g.stateWords
        let continuation = draws(&g, 300)
        var restored = RandomGenerator(seed: 99) // any generator; the state words alone must decide
        restored.stateWords = saved
        XCTAssertEqual(draws(&restored, 300), continuation)
        XCTAssertEqual(restored.stateWords, g.stateWords)
        // The tuple is the same state.
        var viaTuple = RandomGenerator(seed: 5)
        viaTuple.state = (saved[0], saved[1], saved[2], saved[3])
        XCTAssertEqual(draws(&viaTuple, 300), continuation)
    }

    func testUniformRangeGridAndMoments() {
        var g = RandomGenerator(seed: 2024)
        let n = 100_000
        var sum = 0.0, sumSq = 0.0, offGrid = 0, outOfRange = 0
        for _ in 0..<n {
            let u = g.uniform()
            if !(u >= 0 && u < 1) { outOfRange += 1 }
            if (u * 0x1p24).rounded() != u * 0x1p24 { offGrid += 1 } // 24 random bits: multiples of 2⁻²⁴
            sum += Double(u); sumSq += Double(u) * Double(u)
        }
        XCTAssertEqual(outOfRange, 0)
        XCTAssertEqual(offGrid, 0)
        let mean = sum / Double(n), variance = sumSq / Double(n) - mean * mean
        // U[0,1): mean ½, variance 1/12; standard error of the mean sqrt(1/12/n) ≈ 9.1e-4, of the variance
        // sqrt((1/80 − 1/144)/n) ≈ 2.4e-4 (fourth central moment 1/80). 5 standard errors each.
        XCTAssertEqual(mean, 0.5, accuracy: 5 * (1.0 / 12 / Double(n)).squareRoot())
        XCTAssertEqual(variance, 1.0 / 12, accuracy: 5 * ((1.0 / 80 - 1.0 / 144) / Double(n)).squareRoot())

        let m = 20_000
        let f: [Float] = .buffer(m) { g.fillUniform($0, count: m, low: -3, high: 5) }
        XCTAssertTrue(f.allSatisfy { $0 >= -3 && $0 < 5 })
        // U[−3, 5): mean 1, sd 8/√12 ≈ 2.31, standard error 2.31/√m ≈ 0.016.
        XCTAssertEqual(f.reduce(0.0) { $0 + Double($1) } / Double(m), 1, accuracy: 5 * 8 / (12.0 * Double(m)).squareRoot())
    }

    func testNormalMoments() {
        var g = RandomGenerator(seed: 31337)
        let n = 100_000
        var sum = 0.0, sumSq = 0.0, beyond3 = 0
        for _ in 0..<n {
            let z = Double(g.normal())
            XCTAssertTrue(z.isFinite)
            sum += z; sumSq += z * z
            if abs(z) > 3 { beyond3 += 1 }
        }
        let mean = sum / Double(n), variance = (sumSq - Double(n) * mean * mean) / Double(n - 1)
        // N(0,1): standard error of the mean 1/√n ≈ 3.2e-3; of the sample variance √(2/(n−1)) ≈ 4.5e-3. 5 SE each.
        XCTAssertEqual(mean, 0, accuracy: 5 / Double(n).squareRoot())
        XCTAssertEqual(variance, 1, accuracy: 5 * (2 / Double(n - 1)).squareRoot())
        // P(|z| > 3) = 0.0026998: the tails are right, not just the first two moments. Binomial sd √(n·p·(1−p)) ≈ 16.4.
        let p3 = 0.0026998, expected = Double(n) * p3, sd = (Double(n) * p3 * (1 - p3)).squareRoot()
        XCTAssertEqual(Double(beyond3), expected, accuracy: 5 * sd)

        let m = 20_000
        let f: [Float] = .buffer(m) { g.fillNormal($0, count: m, mean: 3, std: 0.5) }
        let fm = f.reduce(0.0) { $0 + Double($1) } / Double(m)
        let fv = f.reduce(0.0) { $0 + (Double($1) - fm) * (Double($1) - fm) } / Double(m - 1)
        // Mean 3 ± 5·0.5/√m; variance 0.25 ± 5·0.25·√(2/(m−1)).
        XCTAssertEqual(fm, 3, accuracy: 5 * 0.5 / Double(m).squareRoot())
        XCTAssertEqual(fv, 0.25, accuracy: 5 * 0.25 * (2 / Double(m - 1)).squareRoot())
    }

    func testUniformIntCoversRangeUniformlyAndIsUnbiased() {
        var g = RandomGenerator(seed: 77)
        // Small range: every value appears, each frequency within 5 binomial sd of n/7.
        let n = 70_000
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<n {
            let v = g.uniformInt(-2...4)
            XCTAssertTrue((-2...4).contains(v))
            counts[v + 2] += 1
        }
        let sd = (Double(n) * (1.0 / 7) * (6.0 / 7)).squareRoot() // ≈ 92.6
        for (i, c) in counts.enumerated() { XCTAssertEqual(Double(c), Double(n) / 7, accuracy: 5 * sd, "value \(i - 2)") }

        // Degenerate and extreme ranges.
        XCTAssertEqual(g.uniformInt(5...5), 5)
        var sawNegative = false, sawPositive = false
        for _ in 0..<64 { let v = g.uniformInt(Int.min...Int.max); if v < 0 { sawNegative = true } else { sawPositive = true } }
        XCTAssertTrue(sawNegative && sawPositive)
        for _ in 0..<1000 { XCTAssertTrue((Int.max - 2...Int.max).contains(g.uniformInt(Int.max - 2...Int.max))) }

        // Width S = 3·2⁶¹, so 2⁶⁴/S = 8/3 is far from an integer and shortcuts show large biases:
        //   x mod S gives values below 2⁶² three pre-images and the rest two: P(v < S/2) = 0.5625, not 0.5;
        //   (x·S) >> 64 without rejection gives residues mod 3 the pre-image counts 3, 3, 2 of 8: P(v ≡ 2) = 0.25, not ⅓.
        // With m draws those are 18 and 25 standard errors away; the tests allow 5.
        let s = 3 << 61, m = 20_000
        var low = 0, residues = [0, 0, 0]
        for _ in 0..<m {
            let v = g.uniformInt(0...(s - 1))
            XCTAssertTrue(v >= 0 && v < s)
            if v < s / 2 { low += 1 }
            residues[v % 3] += 1
        }
        XCTAssertEqual(Double(low) / Double(m), 0.5, accuracy: 5 * (0.25 / Double(m)).squareRoot())
        for r in 0..<3 {
            XCTAssertEqual(Double(residues[r]) / Double(m), 1.0 / 3, accuracy: 5 * (2.0 / 9 / Double(m)).squareRoot(), "residue \(r)")
        }
    }
}
