// One step of PyTorch nn.LSTMCell, batch-major rows, gate order i, f, g, o.
//   x:      N × in  (row stride ldx, default in)     hPrev, cPrev, c, h: N × H
//   weightIH: 4H × in    weightHH: 4H × H    biasIH, biasHH: 4H
//   gates:  N × 4H, row n = [i | f | g | o] after activation (saved for the backward)
//   gradX:  N × in (row stride ldx)    gradH, gradCNext, gradHPrev, gradCPrev: N × H
//   gateGrad: N × 4H workspace (pre-activation gate gradients)
// Forward
//   a = x·W_ihᵀ + h_prev·W_hhᵀ + b_ih + b_hh
//   i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o)
//   c = f⊙c_prev + i⊙g,   h = o⊙tanh(c)
// Backward (dh = gradH, the total dL/dh of this step)
//   dc   = dh⊙o⊙(1 − tanh²c) + gradCNext
//   da_i = dc⊙g⊙i(1 − i),  da_f = dc⊙c_prev⊙f(1 − f),  da_g = dc⊙i⊙(1 − g²),  da_o = dh⊙tanh(c)⊙o(1 − o)
//   gradCPrev = dc⊙f,   gradHPrev = da·W_hh,   gradX = da·W_ih
//   gradW_ih (+)= daᵀ·x,  gradW_hh (+)= daᵀ·h_prev,  gradB_ih = gradB_hh (+)= Σ_rows da
// Cached from the forward: the activated gates and c (tanh c is recomputed: one tanh per element is
// cheaper than another N×H buffer per time step). x, hPrev, cPrev are the caller's to keep.
// Aliasing: the forward has read all of hPrev (GEMM) before writing h, and reads cPrev[j] just before
// writing c[j], so generation without a backward may pass h == hPrev and c == cPrev. The backward reads
// gradH and gradCNext element by element before writing gradHPrev and gradCPrev, so a time loop may
// pass gradHPrev == gradH and gradCPrev == gradCNext (in place).
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One nn.LSTMCell step for `batch` rows (gate order i, f, g, o): writes the activated `gates` (N × 4H) for
/// the backward, and c and h (N × H). Generation may pass h == hPrev and c == cPrev.
public func lstmCellForward(
    x: UnsafePointer<Float>, hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>,
    weightIH: UnsafePointer<Float>, weightHH: UnsafePointer<Float>,
    biasIH: UnsafePointer<Float>, biasHH: UnsafePointer<Float>,
    gates: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>,
    batch: Int, inFeatures: Int, hidden: Int, ldx: Int? = nil
) {
    let H = hidden, G = 4 * hidden, ldx = ldx ?? inFeatures
    gemm(
        transA: false, transB: true, m: batch, n: G, k: inFeatures,
        a: x, lda: ldx, b: weightIH, ldb: inFeatures, beta: 0, c: gates, ldc: G)
    gemm(
        transA: false, transB: true, m: batch, n: G, k: H,
        a: hPrev, lda: H, b: weightHH, ldb: H, beta: 1, c: gates, ldc: G)
    for n in 0..<batch {
        let a = gates + n * G
        for j in 0..<G { a[j] += biasIH[j] + biasHH[j] }
        let ig = a, fg = a + H, gg = a + 2 * H, og = a + 3 * H
        let cp = cPrev + n * H, cn = c + n * H, hn = h + n * H
        for j in 0..<H {
            let i = lstmSigmoid(ig[j]), f = lstmSigmoid(fg[j]), g = tanhf(gg[j]), o = lstmSigmoid(og[j])
            ig[j] = i; fg[j] = f; gg[j] = g; og[j] = o
            let cv = f * cp[j] + i * g
            cn[j] = cv
            hn[j] = o * tanhf(cv)
        }
    }
}

/// Parameter gradients accumulate when `accumulateParams` (the same cell at every time step);
/// gradX, gradHPrev and gradCPrev are overwritten. gradX nil skips it.
public func lstmCellBackward(
    gradH: UnsafePointer<Float>, gradCNext: UnsafePointer<Float>,
    x: UnsafePointer<Float>, hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>,
    gates: UnsafePointer<Float>, c: UnsafePointer<Float>,
    weightIH: UnsafePointer<Float>, weightHH: UnsafePointer<Float>,
    gradX: UnsafeMutablePointer<Float>?, gradHPrev: UnsafeMutablePointer<Float>, gradCPrev: UnsafeMutablePointer<Float>,
    gradWeightIH: UnsafeMutablePointer<Float>, gradWeightHH: UnsafeMutablePointer<Float>,
    gradBiasIH: UnsafeMutablePointer<Float>, gradBiasHH: UnsafeMutablePointer<Float>,
    gateGrad: UnsafeMutablePointer<Float>,
    batch: Int, inFeatures: Int, hidden: Int, ldx: Int? = nil, accumulateParams: Bool = false
) {
    let H = hidden, G = 4 * hidden, ldx = ldx ?? inFeatures
    for n in 0..<batch {
        let a = gates + n * G, d = gateGrad + n * G
        let dh = gradH + n * H, dcn = gradCNext + n * H, cp = cPrev + n * H, cn = c + n * H
        let dcp = gradCPrev + n * H
        for j in 0..<H {
            let i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j]
            let tc = tanhf(cn[j]), dhv = dh[j]
            let dc = dhv * o * (1 - tc * tc) + dcn[j]
            d[j] = dc * g * i * (1 - i)
            d[H + j] = dc * cp[j] * f * (1 - f)
            d[2 * H + j] = dc * i * (1 - g * g)
            d[3 * H + j] = dhv * tc * o * (1 - o)
            dcp[j] = dc * f
        }
    }
    let beta: Float = accumulateParams ? 1 : 0
    gemm(
        transA: true, transB: false, m: G, n: inFeatures, k: batch,
        a: gateGrad, lda: G, b: x, ldb: ldx, beta: beta, c: gradWeightIH, ldc: inFeatures)
    gemm(
        transA: true, transB: false, m: G, n: H, k: batch,
        a: gateGrad, lda: G, b: hPrev, ldb: H, beta: beta, c: gradWeightHH, ldc: H)
    // Both biases enter the pre-activation identically, so they share one column sum.
    columnSumsInDouble(gateGrad, into: gradBiasIH, rows: batch, columns: G, ld: G, accumulate: accumulateParams)
    if accumulateParams {
        columnSumsInDouble(gateGrad, into: gradBiasHH, rows: batch, columns: G, ld: G, accumulate: true)
    } else {
        gradBiasHH.update(from: gradBiasIH, count: G)
    }
    if let gradX {
        gemm(
            transA: false, transB: false, m: batch, n: inFeatures, k: G,
            a: gateGrad, lda: G, b: weightIH, ldb: inFeatures, beta: 0, c: gradX, ldc: ldx)
    }
    gemm(
        transA: false, transB: false, m: batch, n: H, k: G,
        a: gateGrad, lda: G, b: weightHH, ldb: H, beta: 0, c: gradHPrev, ldc: H)
}

@inline(__always)
private func lstmSigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }
