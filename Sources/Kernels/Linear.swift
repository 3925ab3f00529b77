// Linear layer, PyTorch nn.Linear layout, batch-major rows.
//   x:      N × in   (row stride ldx, default in)     weight: out × in      bias: out (optional)
//   y:      N × out  (row stride ldy, default out)
//   gradY:  N × out  (row stride ldy)                 gradX:  N × in (row stride ldx, like x)
// Forward  y = x · Wᵀ + b
// Backward gradW (+)= gradYᵀ · x,  gradB (+)= Σ_rows gradY,  gradX (+)= gradY · W
// Nothing is cached: the backward needs only x, which the caller keeps.
// The row strides let a layer read one column block of a wider activation (the predictor's [h; z]
// input) and write into one block of a concatenation without copies.

/// nn.Linear over `batch` rows: y (N × out, row stride ldy) = x · Wᵀ + b, overwritten; the strides let x be
/// a column block of a wider matrix and y a block of a concatenation.
public func linearForward(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>, batch: Int, inFeatures: Int, outFeatures: Int,
    ldx: Int? = nil, ldy: Int? = nil
) {
    let ldx = ldx ?? inFeatures, ldy = ldy ?? outFeatures
    gemm(
        transA: false, transB: true, m: batch, n: outFeatures, k: inFeatures,
        a: x, lda: ldx, b: weight, ldb: inFeatures, beta: 0, c: y, ldc: ldy)
    if let bias {
        for r in 0..<batch {
            let row = y + r * ldy
            for j in 0..<outFeatures { row[j] += bias[j] }
        }
    }
}

/// Parameter gradients accumulate when `accumulateParams` (one layer applied at every time step);
/// gradX accumulates when `accumulateGradX` (x also feeds other consumers). gradX nil skips it,
/// e.g. when x is the network input.
public func linearBackward(
    gradY: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    gradX: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>,
    gradBias: UnsafeMutablePointer<Float>?,
    batch: Int, inFeatures: Int, outFeatures: Int, ldx: Int? = nil, ldy: Int? = nil,
    accumulateParams: Bool = false, accumulateGradX: Bool = false
) {
    let ldx = ldx ?? inFeatures, ldy = ldy ?? outFeatures
    gemm(
        transA: true, transB: false, m: outFeatures, n: inFeatures, k: batch,
        a: gradY, lda: ldy, b: x, ldb: ldx,
        beta: accumulateParams ? 1 : 0, c: gradWeight, ldc: inFeatures)
    if let gradBias {
        columnSumsInDouble(gradY, into: gradBias, rows: batch, columns: outFeatures, ld: ldy, accumulate: accumulateParams)
    }
    if let gradX {
        gemm(
            transA: false, transB: false, m: batch, n: inFeatures, k: outFeatures,
            a: gradY, lda: ldy, b: weight, ldb: inFeatures,
            beta: accumulateGradX ? 1 : 0, c: gradX, ldc: ldx)
    }
}

/// out[j] (+)= Σ_r x[r][j]. The sum is in Double like `sumRows`; the column walk is strided, which
/// is cheap because the row count here is a batch, not a spatial extent. Internal, with a name
/// unlikely to clash, because other kernel files are written in parallel into this module.
func columnSumsInDouble(
    _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
    rows: Int, columns: Int, ld: Int, accumulate: Bool
) {
    for j in 0..<columns {
        var s: Double = 0
        for r in 0..<rows { s += Double(x[r * ld + j]) }
        out[j] = accumulate ? out[j] + Float(s) : Float(s)
    }
}
