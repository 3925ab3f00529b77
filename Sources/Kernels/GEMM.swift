// GEMM: C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, row-major, over OpenBLAS's cblas_sgemm.
// op(X) is X or Xᵀ; lda/ldb/ldc are the row strides of A, B, C as stored (before op).
// gemmStridedBatched runs `batchCount` independent products whose operands sit at fixed strides.
import COpenBLAS

/// C = alpha · op(A) · op(B) + beta · C for row-major operands, op(X) = Xᵀ when its flag is set; lda, ldb,
/// ldc are the stored row strides. One cblas_sgemm call (k = 0 scales C by hand).
@inline(__always)
public func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        // sgemm with k = 0 is legal but some builds read lda; scale C ourselves.
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

/// Many small products of the same shape. OpenBLAS 0.3.21 has no batched sgemm, so this loops; the
/// products the model batches (per-frame attention) are large enough that the call overhead is noise.
public func gemmStridedBatched(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, strideA: Int,
    b: UnsafePointer<Float>, ldb: Int, strideB: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int,
    batchCount: Int
) {
    for i in 0..<batchCount {
        gemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
            a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
            beta: beta, c: c + i * strideC, ldc: ldc)
    }
}

/// Threads OpenBLAS may use (this Debian build uses pthreads, not OpenMP).
public func setBLASThreadCount(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
/// Threads OpenBLAS currently uses for its GEMMs.
public func blasThreadCount() -> Int { Int(openblas_get_num_threads()) }
