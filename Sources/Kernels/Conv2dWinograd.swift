// Conv2d and ConvTranspose2d with a 4×4 kernel, stride 2, padding 1, by Winograd F(2×2, 2×2): nine
// GEMMs of 9/16 the direct FLOPs between the transforms of WinogradTransforms.swift (Bᵀ, Aᵀ, G and
// their adjoints B, A, Gᵀ). Conv view, CNHW, PyTorch weights (the same memory for both ops):
//   conv:   x C × (frames·2Ho·2Wo) → y M × (frames·Ho·Wo),  weight (M, C, 4, 4), rows `weightStride` apart
//   convT:  x M × (frames·Ho·Wo)  → y C × (frames·2Ho·2Wo), weight (M, C, 4, 4) = PyTorch (Cin, Cout, 4, 4)
// Per transformed point ξ (one GEMM each; T tiles, K = 4C):
//   conv  forward    Y~ = W~ · X~                      y  = Aᵀ[Y~] + b,        X~ = Bᵀ[x]
//   conv  backward   gW~ = A[gy] · X~ᵀ, gW (+)= Gᵀ[gW~]; gx = B[W~ᵀ · A[gy]]
//   convT forward    Z  = W~ᵀ · A[x]                   y  = B[Z] + b
//   convT backward   gW~ = A[x] · Bᵀ[gy]ᵀ, gW (+)= Gᵀ[gW~]; gx = Aᵀ[W~ · Bᵀ[gy]]
// The transposed conv is the conv's adjoint, so its two passes are the conv's two passes read backwards.
// Workspace (WinogradGeometry): transformed input 36C·T, then scratch 9M·T + 36M·C.

/// y (+)= conv(x) + bias. `transformedInput` (36C·T floats) keeps Bᵀ[x] for the backward; `scratch`
/// holds Y~ and W~ (`geometry.scratchCount` floats).
public func winogradConv2dForward(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
    transformedInput: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
    geometry g: WinogradGeometry, weightStride: Int? = nil, accumulate: Bool = false
) {
    let product = scratch, transformedWeight = scratch + g.transformedOutputCount
    winogradInputTransform(x, transformedInput, g)
    winogradWeightTransform(weight, transformedWeight, g, weightStride: weightStride)
    pointProducts(transformedWeight, transformedInput, product, g)
    winogradOutputTransform(product, y, g, bias: bias, accumulate: accumulate)
}

/// `transformedInput` must hold Bᵀ[x] as the forward left it; it is overwritten when gradX is wanted.
/// Parameter gradients accumulate when `accumulateParams`; gradX is overwritten.
public func winogradConv2dBackward(
    gradY: UnsafePointer<Float>, transformedInput: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>,
    gradX: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?,
    scratch: UnsafeMutablePointer<Float>, geometry g: WinogradGeometry, weightStride: Int? = nil, accumulateParams: Bool = false
) {
    let gradProduct = scratch, transformedWeight = scratch + g.transformedOutputCount
    winogradOutputAdjoint(gradY, gradProduct, g)
    pointWeightGradients(gradProduct, transformedInput, transformedWeight, g)
    winogradWeightAdjoint(transformedWeight, gradWeight, g, weightStride: weightStride, accumulate: accumulateParams)
    if let gradBias { sumRows(gradY, into: gradBias, rows: g.outChannels, columns: g.frames * g.outHeight * g.outWidth, accumulate: accumulateParams) }
    guard let gradX else { return }
    winogradWeightTransform(weight, transformedWeight, g, weightStride: weightStride)
    pointProductsTransposed(transformedWeight, gradProduct, transformedInput, g)
    winogradInputAdjoint(transformedInput, gradX, g)
}

/// y (+)= convTranspose(x) + bias; `workspace` holds `geometry.workspaceCount` floats.
public func winogradConvTranspose2dForward(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
    workspace: UnsafeMutablePointer<Float>, geometry g: WinogradGeometry, accumulate: Bool = false
) {
    let spread = workspace, transformedX = workspace + g.transformedInputCount, transformedWeight = transformedX + g.transformedOutputCount
    winogradOutputAdjoint(x, transformedX, g)
    winogradWeightTransform(weight, transformedWeight, g)
    pointProductsTransposed(transformedWeight, transformedX, spread, g)
    winogradInputAdjoint(spread, y, g, bias: bias, accumulate: accumulate)
}

/// Parameter gradients accumulate when `accumulateParams`; gradX is overwritten. `workspace` holds
/// `geometry.workspaceCount` floats.
public func winogradConvTranspose2dBackward(
    gradY: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    gradX: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?,
    workspace: UnsafeMutablePointer<Float>, geometry g: WinogradGeometry, accumulateParams: Bool = false
) {
    let transformedGradY = workspace, transformedX = workspace + g.transformedInputCount, transformedWeight = transformedX + g.transformedOutputCount
    winogradInputTransform(gradY, transformedGradY, g)
    winogradOutputAdjoint(x, transformedX, g)
    pointWeightGradients(transformedX, transformedGradY, transformedWeight, g)
    winogradWeightAdjoint(transformedWeight, gradWeight, g, accumulate: accumulateParams)
    if let gradBias {
        sumRows(gradY, into: gradBias, rows: g.inChannels, columns: g.frames * g.inHeight * g.inWidth, accumulate: accumulateParams)
    }
    guard let gradX else { return }
    // A[x] is no longer needed: W~ · Bᵀ[gy] takes its place.
    winogradWeightTransform(weight, transformedWeight, g)
    pointProducts(transformedWeight, transformedGradY, transformedX, g)
    winogradOutputTransform(transformedX, gradX, g)
}

// MARK: the nine products, one per transformed point ξ

/// out[ξ] (M × T) = W~[ξ] (M × 4C) · input[ξ] (4C × T).
private func pointProducts(
    _ weight: UnsafePointer<Float>, _ input: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    _ g: WinogradGeometry
) {
    let t = g.tiles, k4 = 4 * g.inChannels, m = g.outChannels
    for xi in 0..<9 {
        gemm(
            transA: false, transB: false, m: m, n: t, k: k4, a: weight + xi * m * k4, lda: k4,
            b: input + xi * k4 * t, ldb: t, beta: 0, c: out + xi * m * t, ldc: t)
    }
}

/// out[ξ] (4C × T) = W~[ξ]ᵀ (4C × M) · outputSide[ξ] (M × T).
private func pointProductsTransposed(
    _ weight: UnsafePointer<Float>, _ outputSide: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    _ g: WinogradGeometry
) {
    let t = g.tiles, k4 = 4 * g.inChannels, m = g.outChannels
    for xi in 0..<9 {
        gemm(
            transA: true, transB: false, m: k4, n: t, k: m, a: weight + xi * m * k4, lda: k4,
            b: outputSide + xi * m * t, ldb: t, beta: 0, c: out + xi * k4 * t, ldc: t)
    }
}

/// gradW~[ξ] (M × 4C) = outputSide[ξ] (M × T) · inputSide[ξ]ᵀ (T × 4C).
private func pointWeightGradients(
    _ outputSide: UnsafePointer<Float>, _ inputSide: UnsafePointer<Float>, _ gradW: UnsafeMutablePointer<Float>,
    _ g: WinogradGeometry
) {
    let t = g.tiles, k4 = 4 * g.inChannels, m = g.outChannels
    for xi in 0..<9 {
        gemm(
            transA: false, transB: true, m: m, n: k4, k: t, a: outputSide + xi * m * t, lda: t,
            b: inputSide + xi * k4 * t, ldb: t, beta: 0, c: gradW + xi * m * k4, ldc: k4)
    }
}
