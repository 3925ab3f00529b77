// Conv2d and ConvTranspose2d with a 4×4 kernel, stride 2, padding 1, by Winograd F(2×2, 2×2) (nine GEMMs
// of 9/16 the direct FLOPs) or F(4×4, 2×2) (25 GEMMs of 25/64; `geometry.outputTile` 4), between the
// transforms of WinogradTransforms.swift and WinogradTransformsF4x4.swift (Bᵀ, Aᵀ, G and their adjoints
// B, A, Gᵀ). The counts below are F(2×2, 2×2)'s; F(4×4, 2×2) has 25 points where it has 9 (X~ 100C·T, …). Conv view, CNHW, PyTorch weights (the same memory for both ops):
//   conv:   x C × (frames·2Ho·2Wo) → y M × (frames·Ho·Wo),  weight (M, C, 4, 4), rows `weightStride` apart
//   convT:  x M × (frames·Ho·Wo)  → y C × (frames·2Ho·2Wo), weight (M, C, 4, 4) = PyTorch (Cin, Cout, 4, 4)
// Per transformed point ξ (one GEMM each; T tiles, K = 4C):
//   conv  forward    Y~ = W~ · X~                      y  = Aᵀ[Y~] + b,        X~ = Bᵀ[x]
//   conv  backward   gW~ = A[gy] · X~ᵀ, gW (+)= Gᵀ[gW~]; gx = B[W~ᵀ · A[gy]]
//   convT forward    Z  = W~ᵀ · A[x]                   y  = B[Z] + b
//   convT backward   gW~ = A[x] · Bᵀ[gy]ᵀ, gW (+)= Gᵀ[gW~]; gx = Aᵀ[W~ · Bᵀ[gy]]
// The transposed conv is the conv's adjoint, so its two passes are the conv's two passes read backwards.
// Workspace (WinogradGeometry): conv, transformed input 36C·T, then scratch 9M·T + 36M·C; convT, in chunks of
// frames whose transformed sides (36C + 9M per tile) stay within a limit, 36C·Tc + 9M·Tc + 36M·C (twice that
// last term in several chunks: W~ beside the sum gW~).

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

/// y (+)= convTranspose(x) + bias, `chunkFrames` frames at a time (nil: all at once); `workspace` holds
/// `geometry.transposedWorkspaceCount(chunkFrames:)` floats.
public func winogradConvTranspose2dForward(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
    workspace: UnsafeMutablePointer<Float>, geometry g: WinogradGeometry, chunkFrames: Int? = nil, accumulate: Bool = false
) {
    let chunk = min(chunkFrames ?? g.frames, g.frames), most = g.withFrames(chunk)
    let spread = workspace, transformedX = spread + most.transformedInputCount, transformedWeight = transformedX + most.transformedOutputCount
    winogradWeightTransform(weight, transformedWeight, g)
    for first in stride(from: 0, to: g.frames, by: chunk) {
        let c = g.withFrames(min(chunk, g.frames - first))
        winogradOutputAdjoint(x + first * g.outHeight * g.outWidth, transformedX, c, imageFrames: g.frames)
        pointProductsTransposed(transformedWeight, transformedX, spread, c)
        winogradInputAdjoint(spread, y + first * g.inHeight * g.inWidth, c, bias: bias, accumulate: accumulate, imageFrames: g.frames)
    }
}

/// Parameter gradients accumulate when `accumulateParams`; gradX is overwritten. `chunkFrames` frames at a
/// time (nil: all at once); `workspace` holds `geometry.transposedWorkspaceCount(chunkFrames:)` floats.
public func winogradConvTranspose2dBackward(
    gradY: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    gradX: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?,
    workspace: UnsafeMutablePointer<Float>, geometry g: WinogradGeometry, chunkFrames: Int? = nil, accumulateParams: Bool = false
) {
    let chunk = min(chunkFrames ?? g.frames, g.frames), chunked = chunk < g.frames, most = g.withFrames(chunk)
    let transformedGradY = workspace, transformedX = workspace + most.transformedInputCount
    // In one chunk, W~ takes gW~'s place once gW is done; in several, gW~ sums over the chunks beside W~.
    let transformedWeight = transformedX + most.transformedOutputCount
    let gradTransformedWeight = chunked ? transformedWeight + g.transformedWeightCount : transformedWeight
    for first in stride(from: 0, to: g.frames, by: chunk) {
        let c = g.withFrames(min(chunk, g.frames - first))
        winogradInputTransform(gradY + first * g.inHeight * g.inWidth, transformedGradY, c, imageFrames: g.frames)
        winogradOutputAdjoint(x + first * g.outHeight * g.outWidth, transformedX, c, imageFrames: g.frames)
        pointWeightGradients(transformedX, transformedGradY, gradTransformedWeight, c, accumulate: first > 0)
        if first + chunk >= g.frames { winogradWeightAdjoint(gradTransformedWeight, gradWeight, g, accumulate: accumulateParams) }
        guard let gradX else { continue }
        if first == 0 || !chunked { winogradWeightTransform(weight, transformedWeight, g) }
        // A[x] of this chunk is used: W~ · Bᵀ[gy] takes its place.
        pointProducts(transformedWeight, transformedGradY, transformedX, c)
        winogradOutputTransform(transformedX, gradX + first * g.outHeight * g.outWidth, c, imageFrames: g.frames)
    }
    if let gradBias {
        sumRows(gradY, into: gradBias, rows: g.inChannels, columns: g.frames * g.inHeight * g.inWidth, accumulate: accumulateParams)
    }
}

// MARK: the products, one per transformed point ξ (9 or 25)

/// out[ξ] (M × T) = W~[ξ] (M × 4C) · input[ξ] (4C × T).
private func pointProducts(
    _ weight: UnsafePointer<Float>, _ input: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    _ g: WinogradGeometry
) {
    let t = g.tiles, k4 = 4 * g.inChannels, m = g.outChannels
    for xi in 0..<g.points {
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
    for xi in 0..<g.points {
        gemm(
            transA: true, transB: false, m: k4, n: t, k: m, a: weight + xi * m * k4, lda: k4,
            b: outputSide + xi * m * t, ldb: t, beta: 0, c: out + xi * k4 * t, ldc: t)
    }
}

/// gradW~[ξ] (M × 4C) (+)= outputSide[ξ] (M × T) · inputSide[ξ]ᵀ (T × 4C).
private func pointWeightGradients(
    _ outputSide: UnsafePointer<Float>, _ inputSide: UnsafePointer<Float>, _ gradW: UnsafeMutablePointer<Float>,
    _ g: WinogradGeometry, accumulate: Bool = false
) {
    let t = g.tiles, k4 = 4 * g.inChannels, m = g.outChannels
    for xi in 0..<g.points {
        gemm(
            transA: false, transB: true, m: m, n: k4, k: t, a: outputSide + xi * m * t, lda: t,
            b: inputSide + xi * k4 * t, ldb: t, beta: accumulate ? 1 : 0, c: gradW + xi * m * k4, ldc: k4)
    }
}
