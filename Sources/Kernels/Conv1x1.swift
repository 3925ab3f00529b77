// 1×1 convolution over CNHW activations, PyTorch weight layout. On CNHW a 1×1 convolution is a plain
// matrix product over all frames at once, so there is no im2col and no workspace.
//   x:      Cin  × columns        (columns = frames·H·W)
//   weight: Cout × Cin            (= PyTorch (Cout, Cin, 1, 1))
//   bias:   Cout                  y: Cout × columns
// Forward  y = W · x + b
// Backward gradW (+)= gradY · xᵀ,  gradB (+)= Σ_columns gradY,  gradX (+)= Wᵀ · gradY
// Nothing is cached: the backward reads x itself.
// gradX may accumulate because the aligner's encoder map feeds both K and V (and the plain skip path):
// each consumer adds its share into one buffer instead of the caller summing temporaries.

/// 1×1 convolution over CNHW columns as one GEMM: y (Cout × columns) = W · x + b, overwritten; bias nil
/// adds none.
public func conv1x1Forward(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>, inChannels: Int, outChannels: Int, columns: Int
) {
    gemm(
        transA: false, transB: false, m: outChannels, n: columns, k: inChannels,
        a: weight, lda: inChannels, b: x, ldb: columns, beta: 0, c: y, ldc: columns)
    if let bias { addRowBias(y, bias, rows: outChannels, columns: columns) }
}

/// gradWeight/gradBias: += when `accumulateParams`, else overwritten. gradX: += when `accumulateGradX`,
/// else overwritten; nil skips that product.
public func conv1x1Backward(
    gradY: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    gradX: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>,
    gradBias: UnsafeMutablePointer<Float>?,
    inChannels: Int, outChannels: Int, columns: Int,
    accumulateParams: Bool = false, accumulateGradX: Bool = false
) {
    gemm(
        transA: false, transB: true, m: outChannels, n: inChannels, k: columns,
        a: gradY, lda: columns, b: x, ldb: columns,
        beta: accumulateParams ? 1 : 0, c: gradWeight, ldc: inChannels)
    if let gradBias { sumRows(gradY, into: gradBias, rows: outChannels, columns: columns, accumulate: accumulateParams) }
    if let gradX {
        gemm(
            transA: true, transB: false, m: inChannels, n: columns, k: outChannels,
            a: weight, lda: inChannels, b: gradY, ldb: columns,
            beta: accumulateGradX ? 1 : 0, c: gradX, ldc: columns)
    }
}
