// Shared test support (the generator is TestSupport's TestRNG): one closeness assertion that
// reports where and how badly two arrays differ, and a central-finite-difference gradient check.
import XCTest
@testable import Kernels
@_exported import TestSupport

/// Fails when |actual − expected| > atol + rtol·|expected| anywhere, and says: the largest absolute and
/// relative errors, the worst index, and the first few differing pairs.
func assertClose(
    _ actual: [Float], _ expected: [Double], atol: Double, rtol: Double, _ what: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    guard actual.count == expected.count else {
        XCTFail("\(what): \(actual.count) values, expected \(expected.count)", file: file, line: line); return
    }
    var maxAbs = 0.0, maxRel = 0.0, worst = -1, worstExcess = 0.0
    var firstBad: [String] = []
    for i in 0..<actual.count {
        let a = Double(actual[i]), e = expected[i]
        let err = abs(a - e)
        if !a.isFinite || !e.isFinite {
            if !(a.isNaN && e.isNaN) && a != e { firstBad.append("[\(i)] \(a) vs \(e)"); worst = i; worstExcess = .infinity }
            continue
        }
        maxAbs = max(maxAbs, err)
        maxRel = max(maxRel, err / max(abs(e), 1e-30))
        let excess = err - (atol + rtol * abs(e))
        if excess > 0 {
            if firstBad.count < 5 { firstBad.append("[\(i)] got \(a) want \(e)") }
            if excess > worstExcess { worstExcess = excess; worst = i }
        }
    }
    if !firstBad.isEmpty {
        XCTFail(
            "\(what): max abs err \(maxAbs), max rel err \(maxRel), worst index \(worst); first differing: \(firstBad.joined(separator: ", ")) (atol \(atol), rtol \(rtol), n \(actual.count))",
            file: file, line: line)
    }
}

func assertClose(
    _ actual: [Float], _ expected: [Float], atol: Double, rtol: Double, _ what: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    assertClose(actual, expected.map(Double.init), atol: atol, rtol: rtol, what, file: file, line: line)
}

/// Central finite differences of `loss` with respect to `values`, compared to `analytic`.
/// `loss` must read `values` (it is called after each perturbation) and should accumulate in Double.
/// At most `maxChecks` entries are probed (chosen evenly, always including the first and last).
func checkGradient(
    _ what: String, values: inout [Float], analytic: [Float], step: Float,
    atol: Double, rtol: Double, maxChecks: Int = 64,
    loss: ([Float]) -> Double, file: StaticString = #filePath, line: UInt = #line
) {
    precondition(values.count == analytic.count)
    let n = values.count
    let indices: [Int] = n <= maxChecks ? Array(0..<n) : (0..<maxChecks).map { $0 * (n - 1) / (maxChecks - 1) }
    var numeric: [Double] = []
    var picked: [Float] = []
    for i in indices {
        let saved = values[i]
        values[i] = saved + step
        let up = loss(values)
        values[i] = saved - step
        let down = loss(values)
        values[i] = saved
        // The step actually taken in Float may differ from `step`; divide by what was taken.
        let taken = Double(saved + step) - Double(saved - step)
        numeric.append((up - down) / taken)
        picked.append(analytic[i])
    }
    assertClose(picked, numeric, atol: atol, rtol: rtol, "\(what) gradient vs central differences", file: file, line: line)
}

/// Σ r_i · y_i in Double: a scalar loss whose gradient with respect to y is r.
func dot(_ r: [Float], _ y: [Float]) -> Double {
    var s = 0.0
    for i in 0..<r.count { s += Double(r[i]) * Double(y[i]) }
    return s
}

extension Array where Element == Float {
    /// Runs `body` with a mutable pointer to a copy and returns the copy's new contents.
    static func buffer(_ n: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        var out = [Float](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        return out
    }
}
