// Conv2d over CNHW activations, PyTorch weight layout.
//   x:      Cin  × (N·H·W)            weight: Cout × (Cin·kH·kW)  (= PyTorch (Cout, Cin, kH, kW))
//   y:      Cout × (N·Ho·Wo)          bias:   Cout
//   col:    (Cin·kH·kW) × (N·Ho·Wo)   workspace; forward leaves convColumns(x) in it for the backward
//           (im2col(x), or its transpose N × (Cin·kH·kW) for a whole-image kernel: Im2col.swift)
// Forward  y = W · im2col(x) + b                       (one GEMM for all N frames)
// Backward gradW (+)= gradY · colᵀ,  gradB (+)= Σ_cols gradY,  gradX = col2im(Wᵀ · gradY)
//          (that is convTranspose2dForward of gradY with the same weight, through the same col)
// `weightStride` is the row stride of the weight matrix: a stage that splits its input channels
// ([d; skip], MODEL.md "Cost") passes a column block of the full weight with the full stride.
// Chunked (conv2dForwardChunked, conv2dBackwardChunked): the same products a chunk of frames at a time,
// through a col of colRows × (chunkFrames·Ho·Wo); the backward rebuilds each chunk's columns from x.
// For layers whose whole col is far larger than their activations (a 3×3 layer's col is 9× its input):
// VGG-64's 64×64 layers at the kth preset would need gigabytes of col for one GEMM.

/// Conv2d's forward over all frames in one GEMM: y = W · im2col(x) + b, overwritten or, with `accumulate`,
/// added to. Leaves convColumns(x) in `col` (g.colCount floats) for the backward.
public func conv2dForward(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>, col: UnsafeMutablePointer<Float>,
    geometry g: ConvGeometry, outChannels: Int, weightStride: Int? = nil, accumulate: Bool = false
) {
    convColumns(x, col, g)
    let n = g.colColumns, frameMajor = colIsFrameMajor(g)
    // With a bias, y starts as the bias rows and the GEMM accumulates onto them: sgemm with β = 0 would
    // spend a pass zeroing y first, and adding the bias afterwards would be another pass over y.
    if let bias, !accumulate { fillRows(y, bias, rows: outChannels, columns: n) }
    gemm(
        transA: false, transB: frameMajor, m: outChannels, n: n, k: g.colRows,
        a: weight, lda: weightStride ?? g.colRows, b: col, ldb: frameMajor ? g.colRows : n,
        beta: accumulate || bias != nil ? 1 : 0, c: y, ldc: n)
    if let bias, accumulate { addRowBias(y, bias, rows: outChannels, columns: n) }
}

/// `col` must hold convColumns(x) as the forward left it. Parameter gradients accumulate when
/// `accumulateParams` (several uses of one weight); gradX, when wanted, is overwritten, and col with it.
public func conv2dBackward(
    gradY: UnsafePointer<Float>, col: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>,
    gradX: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>,
    gradBias: UnsafeMutablePointer<Float>?,
    geometry g: ConvGeometry, outChannels: Int, weightStride: Int? = nil, accumulateParams: Bool = false
) {
    let n = g.colColumns, k = g.colRows, ldw = weightStride ?? k, frameMajor = colIsFrameMajor(g)
    gemm(
        transA: false, transB: !frameMajor, m: outChannels, n: k, k: n,
        a: gradY, lda: n, b: col, ldb: frameMajor ? k : n,
        beta: accumulateParams ? 1 : 0, c: gradWeight, ldc: ldw)
    if let gradBias { sumRows(gradY, into: gradBias, rows: outChannels, columns: n, accumulate: accumulateParams) }
    guard let gradX else { return }
    // col is no longer needed, and the input gradient is the transposed convolution of gradY with the same
    // weight: col2im(Wᵀ · gradY), in chunks of frames where colChunkFrames says so (ConvTranspose2d.swift).
    convTranspose2dForward(
        x: gradY, weight: weight, bias: nil, y: gradX, col: col, inChannels: outChannels,
        outputGeometry: g, weightStride: ldw)
}

/// Frames per chunk of a direct conv's col when it may hold at most `limit` floats: all of them when the
/// whole col fits (or when the col is frame-major, which is never chunked), else as many as fit, at least one.
public func conv2dChunkFrames(_ g: ConvGeometry, limit: Int) -> Int {
    if colIsFrameMajor(g) || g.colCount <= limit { return g.frames }
    return min(g.frames, max(1, limit / (g.colRows * g.outHeight * g.outWidth)))
}

/// conv2dForward a chunk of `chunkFrames` frames at a time: each chunk's im2col into `col` (colRows ×
/// chunkFrames·Ho·Wo floats) and one GEMM into that chunk's columns of y. col keeps nothing for the backward.
public func conv2dForwardChunked(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>, col: UnsafeMutablePointer<Float>,
    geometry g: ConvGeometry, outChannels: Int, weightStride: Int? = nil, accumulate: Bool = false, chunkFrames: Int
) {
    precondition(chunkFrames > 0 && !colIsFrameMajor(g), "conv2dForwardChunked: chunks of \(chunkFrames) frames of a plain col")
    let n = g.colColumns, k = g.colRows
    if let bias, !accumulate { fillRows(y, bias, rows: outChannels, columns: n) }
    forEachFrameChunk(g, framesPerChunk: chunkFrames) { frames, first, columns in
        im2col(x, col, g, frames: frames)
        gemm(
            transA: false, transB: false, m: outChannels, n: columns, k: k,
            a: weight, lda: weightStride ?? k, b: col, ldb: columns,
            beta: accumulate || bias != nil ? 1 : 0, c: y + first, ldc: n)
    }
    if let bias, accumulate { addRowBias(y, bias, rows: outChannels, columns: n) }
}

/// conv2dBackward a chunk of `chunkFrames` frames at a time, rebuilding each chunk's columns from `x` in
/// `col`: gradW (+)= Σ_chunks gradY_chunk · col_chunkᵀ, gradB (+)= Σ gradY, and gradX's frames of the chunk
/// = col2im(Wᵀ · gradY_chunk) (overwritten; nil skips it).
public func conv2dBackwardChunked(
    gradY: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    gradX: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?,
    col: UnsafeMutablePointer<Float>, geometry g: ConvGeometry, outChannels: Int, weightStride: Int? = nil,
    accumulateParams: Bool = false, chunkFrames: Int
) {
    precondition(chunkFrames > 0 && !colIsFrameMajor(g), "conv2dBackwardChunked: chunks of \(chunkFrames) frames of a plain col")
    let n = g.colColumns, k = g.colRows, ldw = weightStride ?? k
    if let gradBias { sumRows(gradY, into: gradBias, rows: outChannels, columns: n, accumulate: accumulateParams) }
    forEachFrameChunk(g, framesPerChunk: chunkFrames) { frames, first, columns in
        im2col(x, col, g, frames: frames)
        gemm(
            transA: false, transB: true, m: outChannels, n: k, k: columns,
            a: gradY + first, lda: n, b: col, ldb: columns,
            beta: accumulateParams || first > 0 ? 1 : 0, c: gradWeight, ldc: ldw)
        if let gradX {
            gemm(
                transA: true, transB: false, m: k, n: columns, k: outChannels,
                a: weight, lda: ldw, b: gradY + first, ldb: n, beta: 0, c: col, ldc: columns)
            col2im(col, gradX, g, frames: frames)
        }
    }
}

private struct RowArguments {
    var x: UnsafeMutablePointer<Float>, vector: UnsafeMutablePointer<Float>, columns: Int, accumulate: Bool
}

/// y[r][j] += bias[r]; rows split over the cores.
public func addRowBias(_ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, columns: Int) {
    parallelFor(
        rows, minimumPerWorker: max(1, 65_536 / max(columns, 1)),
        RowArguments(x: y, vector: UnsafeMutablePointer(mutating: bias), columns: columns, accumulate: false)
    ) { raw, lo, hi in
        let a = arguments(raw, as: RowArguments.self)
        for r in lo..<hi {
            let b = a.vector[r], row = a.x + r * a.columns
            for j in 0..<a.columns { row[j] += b }
        }
    }
}

/// y[r][j] = value[r]; rows split over the cores.
public func fillRows(_ y: UnsafeMutablePointer<Float>, _ value: UnsafePointer<Float>, rows: Int, columns: Int) {
    parallelFor(
        rows, minimumPerWorker: max(1, 65_536 / max(columns, 1)),
        RowArguments(x: y, vector: UnsafeMutablePointer(mutating: value), columns: columns, accumulate: false)
    ) { raw, lo, hi in
        let a = arguments(raw, as: RowArguments.self)
        for r in lo..<hi { (a.x + r * a.columns).update(repeating: a.vector[r], count: a.columns) }
    }
}

/// out[r] (+)= Σ_j x[r][j], summed in Double (eight lanes, Reductions.swift) so long rows (N·H·W up to
/// ~10⁶) keep Float accuracy; rows split over the cores.
public func sumRows(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, columns: Int, accumulate: Bool) {
    parallelFor(
        rows, minimumPerWorker: max(1, 65_536 / max(columns, 1)),
        RowArguments(x: UnsafeMutablePointer(mutating: x), vector: out, columns: columns, accumulate: accumulate)
    ) { raw, lo, hi in
        let a = arguments(raw, as: RowArguments.self)
        for r in lo..<hi {
            let s = blockedSum(a.x + r * a.columns, count: a.columns)
            a.vector[r] = a.accumulate ? a.vector[r] + Float(s) : Float(s)
        }
    }
}
