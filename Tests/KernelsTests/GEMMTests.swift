import XCTest
@testable import Kernels

final class GEMMTests: XCTestCase {
    /// Triple loop in Double over the stored (pre-transpose) layouts.
    func naive(
        _ tA: Bool, _ tB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double, _ a: [Float], _ lda: Int,
        _ b: [Float], _ ldb: Int, _ beta: Double, _ c: [Float], _ ldc: Int
    ) -> [Double] {
        var out = c.map(Double.init)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = tA ? a[p * lda + i] : a[i * lda + p]
                    let bv = tB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                out[i * ldc + j] = alpha * s + beta * Double(c[i * ldc + j])
            }
        }
        return out
    }

    func testAllTransposeCombinationsWithLeadingDimensionsAndBeta() {
        var rng = TestRNG(1)
        let (m, n, k) = (7, 5, 11)
        for tA in [false, true] {
            for tB in [false, true] {
                // Leading dimensions larger than the logical row length exercise the strides.
                let lda = (tA ? m : k) + 3, ldb = (tB ? k : n) + 2, ldc = n + 4
                let a = rng.array((tA ? k : m) * lda), b = rng.array((tB ? n : k) * ldb)
                let c0 = rng.array(m * ldc)
                var c = c0
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            gemm(
                                transA: tA, transB: tB, m: m, n: n, k: k, alpha: 0.5, a: pa.baseAddress!, lda: lda,
                                b: pb.baseAddress!, ldb: ldb, beta: -1.5, c: pc.baseAddress!, ldc: ldc)
                        }
                    }
                }
                let want = naive(tA, tB, m, n, k, 0.5, a, lda, b, ldb, -1.5, c0, ldc)
                // Sums of 11 products of values in [-1, 1]: Float rounding is ~1e-6 of the magnitude.
                assertClose(c, want, atol: 1e-5, rtol: 1e-5, "gemm tA=\(tA) tB=\(tB)")
            }
        }
    }

    func testStridedBatched() {
        var rng = TestRNG(2)
        let (m, n, k, batch) = (4, 6, 3, 5)
        for tA in [false, true] {
            for tB in [false, true] {
                let lda = tA ? m : k, ldb = tB ? k : n
                let sA = m * k + 2, sB = k * n + 1, sC = m * n + 3
                let a = rng.array(sA * batch), b = rng.array(sB * batch)
                let c0 = rng.array(sC * batch)
                var c = c0
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            gemmStridedBatched(
                                transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1, a: pa.baseAddress!, lda: lda, strideA: sA,
                                b: pb.baseAddress!, ldb: ldb, strideB: sB, beta: 1, c: pc.baseAddress!, ldc: n, strideC: sC,
                                batchCount: batch)
                        }
                    }
                }
                var want = c0.map(Double.init)
                for i in 0..<batch {
                    let r = naive(
                        tA, tB, m, n, k, 1, Array(a[(i * sA)...]), lda, Array(b[(i * sB)...]), ldb, 1,
                        Array(c0[(i * sC)..<(i * sC + m * n)]), n)
                    for j in 0..<(m * n) { want[i * sC + j] = r[j] }
                }
                assertClose(c, want, atol: 1e-5, rtol: 1e-5, "batched gemm tA=\(tA) tB=\(tB)")
            }
        }
    }
}
