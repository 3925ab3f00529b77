// ConvTranspose2d over CNHW activations, PyTorch weight layout.
//   x:      Cin  × (N·H·W)             weight: Cin × (Cout·kH·kW)  (= PyTorch (Cin, Cout, kH, kW))
//   y:      Cout × (N·Ho·Wo),  Ho = (H − 1)·stride − 2·pad + kH
//   col:    (Cout·kH·kW) × (N·H·W)     workspace
// It is the adjoint of a Conv2d from the output image to the input image, so it reuses that conv's
// geometry: `outputGeometry` describes the Cout × Ho × Wo image with the same kernel, stride, padding,
// and its im2col shape (Cout·kH·kW) × (N·H·W) is exactly this layer's col (transposed, N·H·W × (Cout·kH·kW),
// for a whole-image kernel such as upc1's: convColumns in Im2col.swift).
// Forward  y = col2im(Wᵀ · x) + b                        (b added inside the col2im pass; a chunk of frames
//                                                         at a time when colChunkFrames says so, in col's front)
// Backward gcol = im2col(gradY);  gradX = W · gcol;  gradW (+)= x · gcolᵀ;  gradB (+)= Σ gradY

/// The geometry of a transposed conv's output image (Ho = (H − 1)·stride − 2·padding + kernel), as the
/// Conv2d over it that maps back to the H × W input; the transposed-conv kernels take it as
/// `outputGeometry`. Stops with a precondition failure when the output is empty or the conv does not invert.
public func convTranspose2dOutputGeometry(
    inChannels: Int, outChannels: Int, frames: Int, height: Int, width: Int,
    kernel: Int, stride: Int, padding: Int
) -> ConvGeometry {
    let ho = (height - 1) * stride - 2 * padding + kernel
    let wo = (width - 1) * stride - 2 * padding + kernel
    precondition(ho > 0 && wo > 0, "ConvTranspose2d: output \(ho)×\(wo) is empty")
    let g = ConvGeometry(
        channels: outChannels, frames: frames, height: ho, width: wo,
        kernelH: kernel, kernelW: kernel, stride: stride, padding: padding)
    precondition(g.outHeight == height && g.outWidth == width, "ConvTranspose2d: geometry does not invert")
    return g
}

/// `inChannels` rows of the weight are used: the input-channel split of a transposed conv is a row
/// block of its weight, already contiguous. `accumulate` adds to y instead of overwriting it.
/// `weightStride` is the weight's row stride (default Cout·k²): conv2dBackward passes a conv's weight,
/// which may be a column block of a split layer's, to form its input gradient.
public func convTranspose2dForward(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>, col: UnsafeMutablePointer<Float>,
    inChannels: Int, outputGeometry g: ConvGeometry, accumulate: Bool = false, weightStride: Int? = nil
) {
    let n = g.colColumns, k = g.colRows, ldw = weightStride ?? k, frameMajor = colIsFrameMajor(g)
    forEachColChunk(g, inner: inChannels) { frames, first, columns in
        if frameMajor {
            gemm(
                transA: true, transB: false, m: columns, n: k, k: inChannels,
                a: x + first, lda: n, b: weight, ldb: ldw, beta: 0, c: col, ldc: k)
        } else {
            gemm(
                transA: true, transB: false, m: k, n: columns, k: inChannels,
                a: weight, lda: ldw, b: x + first, ldb: n, beta: 0, c: col, ldc: columns)
        }
        // The bias rides along the col2im pass.
        convColumnsAdjoint(col, y, g, accumulate: accumulate, bias: bias, frames: frames)
    }
}

/// ConvTranspose2d's backward through `col` (overwritten): gradX = W · im2col(gradY) (overwritten; nil skips
/// it), gradW (+)= x · im2col(gradY)ᵀ, gradB (+)= Σ gradY; parameter gradients add when `accumulateParams`.
public func convTranspose2dBackward(
    gradY: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    gradX: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>,
    gradBias: UnsafeMutablePointer<Float>?, col: UnsafeMutablePointer<Float>,
    inChannels: Int, outputGeometry g: ConvGeometry, accumulateParams: Bool = false
) {
    let n = g.colColumns, k = g.colRows, frameMajor = colIsFrameMajor(g)
    convColumns(gradY, col, g)
    if let gradX {
        gemm(
            transA: false, transB: frameMajor, m: inChannels, n: n, k: k,
            a: weight, lda: k, b: col, ldb: frameMajor ? k : n, beta: 0, c: gradX, ldc: n)
    }
    gemm(
        transA: false, transB: !frameMajor, m: inChannels, n: k, k: n,
        a: x, lda: n, b: col, ldb: frameMajor ? k : n, beta: accumulateParams ? 1 : 0, c: gradWeight, ldc: k)
    if let gradBias {
        sumRows(gradY, into: gradBias, rows: g.channels, columns: g.frames * g.height * g.width, accumulate: accumulateParams)
    }
}
