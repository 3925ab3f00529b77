import Foundation
import XCTest
@testable import Kernels

final class ActivationTests: XCTestCase {
    typealias Forward = (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
    typealias Backward = (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void

    struct Activation {
        var name: String
        var forward: Forward
        var backward: Backward
        var reference: (Double) -> Double
        var hasKinkAtZero: Bool
        var forwardAtol: Double, forwardRtol: Double
        var step: Float, gradAtol: Double, gradRtol: Double
    }

    // Forward bounds: the reference is exact, so they are the Float error of one evaluation.
    // Gradient bounds: elementwise, so a probe changes one output; error = truncation h²/6·|f'''| plus
    // two roundings of that output / (2h) (|r| ≤ 1).
    let activations: [Activation] = [
        // slope·x is one rounding (6e-8 relative) of a product with Float(0.2), itself 1.5e-8 off 0.2. Gradient: |x| ≥ 0.05 > h keeps the probe on one
        // linear piece, so no truncation; 2·2.4e-8 (0.5 ulp of |y| ≤ 0.8) / 0.02 = 2.4e-6.
        Activation(
            name: "leakyReLU", forward: { leakyReLUForward(x: $0, y: $1, count: $2) },
            backward: { leakyReLUBackward(gradY: $0, y: $1, gradX: $2, count: $3) },
            reference: { $0 > 0 ? $0 : 0.2 * $0 }, hasKinkAtZero: true,
            forwardAtol: 0, forwardRtol: 1e-7, step: 1e-2, gradAtol: 5e-6, gradRtol: 1e-6),
        // Exact copies or zeros; the gradient is exact up to Double rounding of the loss.
        Activation(
            name: "relu", forward: { reluForward(x: $0, y: $1, count: $2) },
            backward: { reluBackward(gradY: $0, y: $1, gradX: $2, count: $3) },
            reference: { max($0, 0) }, hasKinkAtZero: true,
            forwardAtol: 0, forwardRtol: 0, step: 1e-2, gradAtol: 1e-9, gradRtol: 1e-9),
        // tanhf is within ~1 ulp of |y| ≤ 1 (1.2e-7). Gradient: |tanh'''| ≤ 2 → 3.3e-5, rounding 2·1.2e-7/0.02
        // = 1.2e-5: 5e-5.
        Activation(
            name: "tanh", forward: { tanhForward(x: $0, y: $1, count: $2) },
            backward: { tanhBackward(gradY: $0, y: $1, gradX: $2, count: $3) },
            reference: { Foundation.tanh($0) }, hasKinkAtZero: false,
            forwardAtol: 1.2e-7, forwardRtol: 1.2e-7, step: 1e-2, gradAtol: 5e-5, gradRtol: 1e-4),
        // expf (≤ 1 ulp), the addition and the division: ≤ 3 half-ulps, 1.8e-7 relative; below FLT_MIN (x < −87)
        // the result is subnormal and only absolutely accurate. Gradient: |σ'''| ≤ 1/8 → 2e-6, rounding
        // 2·1.8e-7/0.02 = 1.8e-5: 3e-5.
        Activation(
            name: "sigmoid", forward: { sigmoidForward(x: $0, y: $1, count: $2) },
            backward: { sigmoidBackward(gradY: $0, y: $1, gradX: $2, count: $3) },
            reference: { 1 / (1 + Foundation.exp(-$0)) }, hasKinkAtZero: false,
            forwardAtol: 1.2e-38, forwardRtol: 2e-7, step: 1e-2, gradAtol: 3e-5, gradRtol: 1e-4)
    ]

    struct Shape { var n, c, h, w: Int; var count: Int { n * c * h * w } }
    // Elementwise, so the layout is immaterial; the shapes still go through CNHW as the engine's data does.
    let shapes: [Shape] = [Shape(n: 1, c: 1, h: 5, w: 7), Shape(n: 2, c: 3, h: 3, w: 4), Shape(n: 3, c: 3, h: 1, w: 1)]

    func forward(_ a: Activation, _ s: Shape, _ x: [Float]) -> [Float] {
        let xc = toCNHW(x, n: s.n, c: s.c, p: s.h * s.w)
        let y: [Float] = .buffer(x.count) { py in xc.withUnsafeBufferPointer { a.forward($0.baseAddress!, py, x.count) } }
        return toNCHW(y, n: s.n, c: s.c, p: s.h * s.w)
    }

    /// U(−4, 4), which reaches the saturated tails of tanh and sigmoid; kinked ones keep |x| ≥ 0.05 so that
    /// central differences with h = 1e-2 never straddle 0.
    func input(_ a: Activation, _ n: Int, _ rng: inout TestRNG) -> [Float] {
        rng.array(n, -4, 4).map { a.hasKinkAtZero && abs($0) < 0.05 ? ($0 < 0 ? -0.05 : 0.05) : $0 }
    }

    func testForwardMatchesReference() {
        var rng = TestRNG(40)
        for a in activations {
            for s in shapes {
                let x = input(a, s.count, &rng)
                assertClose(forward(a, s, x), x.map { a.reference(Double($0)) }, atol: a.forwardAtol, rtol: a.forwardRtol, "\(a.name) forward \(s)")
            }
        }
    }

    func testExtremeInputsStayFinite() {
        let x: [Float] = [-1000, -100, -88.8, -20, -1e-30, 0, 1e-30, 20, 88.8, 100, 1000]
        for a in activations {
            let y: [Float] = .buffer(x.count) { py in x.withUnsafeBufferPointer { a.forward($0.baseAddress!, py, x.count) } }
            XCTAssertTrue(y.allSatisfy { $0.isFinite }, "\(a.name) at extreme inputs: \(y)")
            assertClose(y, x.map { a.reference(Double($0)) }, atol: max(a.forwardAtol, 1.2e-38), rtol: a.forwardRtol, "\(a.name) extremes")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(41)
        for a in activations {
            for s in shapes {
                var x = input(a, s.count, &rng)
                let y = forward(a, s, x)
                let r = rng.array(x.count) // loss = Σ r·y, so gradY = r
                let gx: [Float] = .buffer(x.count) { pgx in
                    r.withUnsafeBufferPointer { pr in y.withUnsafeBufferPointer { py in a.backward(pr.baseAddress!, py.baseAddress!, pgx, x.count) } }
                }
                checkGradient("\(a.name) x \(s)", values: &x, analytic: gx, step: a.step, atol: a.gradAtol, rtol: a.gradRtol) {
                    dot(r, self.forward(a, s, $0))
                }
            }
        }
    }

    func testInPlaceGivesSameBits() {
        var rng = TestRNG(42)
        for a in activations {
            let n = 37
            let x = input(a, n, &rng), r = rng.array(n)
            let y: [Float] = .buffer(n) { py in x.withUnsafeBufferPointer { a.forward($0.baseAddress!, py, n) } }
            let gx: [Float] = .buffer(n) { pgx in
                r.withUnsafeBufferPointer { pr in y.withUnsafeBufferPointer { py in a.backward(pr.baseAddress!, py.baseAddress!, pgx, n) } }
            }
            var inPlace = x
            inPlace.withUnsafeMutableBufferPointer { p in a.forward(p.baseAddress!, p.baseAddress!, n) }
            XCTAssertEqual(inPlace, y, "\(a.name) forward in place")
            var grad = r
            grad.withUnsafeMutableBufferPointer { p in y.withUnsafeBufferPointer { py in a.backward(p.baseAddress!, py.baseAddress!, p.baseAddress!, n) } }
            XCTAssertEqual(grad, gx, "\(a.name) backward in place")
        }
    }

    func testNonDefaultLeakySlope() {
        var rng = TestRNG(43)
        let x = rng.array(25, -2, 2).map { abs($0) < 0.05 ? 0.05 : $0 }, r = rng.array(25)
        let y: [Float] = .buffer(25) { py in x.withUnsafeBufferPointer { leakyReLUForward(x: $0.baseAddress!, y: py, count: 25, slope: 0.01) } }
        // One rounding (6e-8) of a product with Float(0.01), 2.2e-8 off 0.01.
        assertClose(y, x.map { $0 > 0 ? Double($0) : 0.01 * Double($0) }, atol: 0, rtol: 1e-7, "leakyReLU slope 0.01")
        let gx: [Float] = .buffer(25) { pgx in
            r.withUnsafeBufferPointer { pr in
                y.withUnsafeBufferPointer { py in
                    leakyReLUBackward(gradY: pr.baseAddress!, y: py.baseAddress!, gradX: pgx, count: 25, slope: 0.01)
                }
            }
        }
        assertClose(gx, zip(x, r).map { Double($0 > 0 ? $1 : 0.01 * $1) }, atol: 0, rtol: 0, "leakyReLU backward slope 0.01")
    }
}
