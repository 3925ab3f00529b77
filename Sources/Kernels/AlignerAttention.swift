// HAF-SVG feature-aligner attention (MODEL.md "Feature aligner"), the part after the three 1×1 convolutions.
// All maps are CNHW, P = H·W, Lq = queryFrames·P, Lk = keyFrames·P:
//   q:         e × Lq     (e = keyChannels = max(C/8, 1))     Q = W_q F^d + b_q
//   k:         e × Lk                                          K = W_k F^e + b_k
//   v:         C × Lk     (C = valueChannels)                  V = W_v F^e + b_v
//              or C × Lq when valueFromQueryFrame (V = W_v F^d, the paper's literal text,
//              MODEL.md "Feature aligner"):
//              then frame f reads V_f instead of V_s below.
//   z:         C × Lq     output, overwritten
//   attention: queryFrames × P × P, frame f's P×P block row-major at f·P·P; or, when the maps are not
//              kept (keepsAttention false), P × P: one frame's map, which the backward recomputes
//   keyFrame:  queryFrames entries in 0..<keyFrames: the source frame s(f) of query frame f; nil means
//              s(f) = f (then keyFrames == queryFrames). Several query frames may share one source,
//              which is how K and V are computed once per skip frame (MODEL.md "Cost").
// Frame f of a map is the e×P (or C×P) block at column f·P with row stride Lq or Lk, so every product
// below is one sgemm on the maps in place, with no gathers or transposing copies.
// Forward, per query frame f with s = s(f) (one sgemm per run of consecutive frames sharing s):
//   S_f = Q_fᵀ K_s (P×P),  A_f = softmax of each row of S_f (over key positions),  Z_f = V_s A_fᵀ (C×P)
//   Kept: A (in `attention`), unless the caller cannot afford queryFrames·P²; the backward reads q, k, v again.
// Backward, per query frame f, with gZ given (and A_f recomputed as in the forward when it was not kept):
//   gV_s += gZ_f A_f
//   gA_f  = gZ_fᵀ V_s                               (P×P, in `scratch`)
//   gS_f  = A_f ⊙ (gA_f − rowsum(gA_f ⊙ A_f))       (softmax Jacobian, in place in `scratch`)
//   gQ_f  = K_s gS_fᵀ                               (overwritten: each query frame is written once)
//   gK_s += Q_f gS_f
//   gK and gV accumulate because several query frames may share a source; the caller zeroes them.
// Memory: kept maps are queryFrames·P² floats (4 MB per frame at P = 1024); recomputing them costs one
// more S_f product and softmax per frame in the backward, and needs P² floats. The softmax's row
// reductions run in Float with per-lane Kahan compensation, since rows are up to 4096 long.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Sizes of one feature-aligner attention call: frames, plane P = H·W and channel counts (file header).
public struct AlignerShape: Sendable, Equatable {
    /// Frames of the query map q and the output z (Lq = queryFrames·P columns).
    public var queryFrames: Int
    /// Frames of the key map k, and of v unless values come from the query frame (Lk = keyFrames·P columns).
    public var keyFrames: Int
    /// Positions per frame, P = H·W; each frame's attention block is P × P.
    public var plane: Int
    /// Rows e of q and k (max(C/8, 1) in the model).
    public var keyChannels: Int
    /// Rows C of v and z.
    public var valueChannels: Int

    /// Creates a shape; the sizes are checked against the frame mapping when a kernel is called.
    public init(queryFrames: Int, keyFrames: Int, plane: Int, keyChannels: Int, valueChannels: Int) {
        self.queryFrames = queryFrames
        self.keyFrames = keyFrames
        self.plane = plane
        self.keyChannels = keyChannels
        self.valueChannels = valueChannels
    }
}

/// The aligner attention's forward: per query frame f, A_f = row softmax of Q_fᵀ K_s(f) into `attention`
/// (queryFrames × P × P) and Z_f = V_s(f) A_fᵀ into `z` (C × Lq, overwritten; V_f when
/// `valueFromQueryFrame`). `keyFrame` maps query frames to source frames (nil: the identity); an
/// out-of-range entry stops with a precondition failure. `keepsAttention` false: `attention` is one frame's
/// P² workspace, and the backward must recompute the maps (keptAttention false).
public func alignerAttentionForward(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    attention: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>,
    keyFrame: UnsafePointer<Int32>?, shape: AlignerShape, valueFromQueryFrame: Bool = false, keepsAttention: Bool = true
) {
    validate(keyFrame, shape)
    let p = shape.plane, e = shape.keyChannels, c = shape.valueChannels
    let ldq = shape.queryFrames * p, ldk = shape.keyFrames * p
    let ldv = valueFromQueryFrame ? ldq : ldk
    // Consecutive query frames that share a source (all N samples of one sequence when generating) make
    // one run: their S blocks are consecutive rows of `attention` and their Z columns consecutive columns
    // of z, so each product is one sgemm over the run instead of one per frame.
    var f = 0
    while f < shape.queryFrames {
        let s = sourceFrame(f, keyFrame)
        var run = 1
        if !valueFromQueryFrame && keepsAttention { while f + run < shape.queryFrames && sourceFrame(f + run, keyFrame) == s { run += 1 } }
        let vs = valueFromQueryFrame ? f : s
        let a = keepsAttention ? attention + f * p * p : attention
        gemm(
            transA: true, transB: false, m: run * p, n: p, k: e,
            a: q + f * p, lda: ldq, b: k + s * p, ldb: ldk, beta: 0, c: a, ldc: p)
        softmaxRows(a, rows: run * p, columns: p)
        gemm(
            transA: false, transB: true, m: c, n: run * p, k: p,
            a: v + vs * p, lda: ldv, b: a, ldb: p, beta: 0, c: z + f * p, ldc: ldq)
        f += run
    }
}

/// With `keptAttention`, `attention` must hold A as the forward left it; without, it is a P² workspace
/// where each frame's A_f is recomputed from q and k. Treat it as undefined afterwards either way.
public func alignerAttentionBackward(
    gradZ: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    attention: UnsafeMutablePointer<Float>,
    gradQ: UnsafeMutablePointer<Float>, gradK: UnsafeMutablePointer<Float>, gradV: UnsafeMutablePointer<Float>,
    scratch: UnsafeMutablePointer<Float>, keyFrame: UnsafePointer<Int32>?, shape: AlignerShape, valueFromQueryFrame: Bool = false,
    keptAttention: Bool = true
) {
    validate(keyFrame, shape)
    let p = shape.plane, e = shape.keyChannels, c = shape.valueChannels
    let ldq = shape.queryFrames * p, ldk = shape.keyFrames * p
    let ldv = valueFromQueryFrame ? ldq : ldk
    for f in 0..<shape.queryFrames {
        let s = sourceFrame(f, keyFrame)
        let vs = valueFromQueryFrame ? f : s
        let a = keptAttention ? attention + f * p * p : attention, gz = gradZ + f * p
        if !keptAttention {
            // The forward's product and softmax for this frame alone, as the forward ran it without kept maps.
            gemm(
                transA: true, transB: false, m: p, n: p, k: e,
                a: q + f * p, lda: ldq, b: k + s * p, ldb: ldk, beta: 0, c: a, ldc: p)
            softmaxRows(a, rows: p, columns: p)
        }
        gemm(
            transA: false, transB: false, m: c, n: p, k: p,
            a: gz, lda: ldq, b: a, ldb: p, beta: 1, c: gradV + vs * p, ldc: ldv)
        gemm(
            transA: true, transB: false, m: p, n: p, k: c,
            a: gz, lda: ldq, b: v + vs * p, ldb: ldv, beta: 0, c: scratch, ldc: p)
        softmaxBackwardRows(a, scratch, rows: p, columns: p)
        gemm(
            transA: false, transB: true, m: e, n: p, k: p,
            a: k + s * p, lda: ldk, b: scratch, ldb: p, beta: 0, c: gradQ + f * p, ldc: ldq)
        gemm(
            transA: false, transB: false, m: e, n: p, k: p,
            a: q + f * p, lda: ldq, b: scratch, ldb: p, beta: 1, c: gradK + s * p, ldc: ldk)
    }
}

@inline(__always)
private func sourceFrame(_ f: Int, _ keyFrame: UnsafePointer<Int32>?) -> Int {
    keyFrame.map { Int($0[f]) } ?? f
}

// An out-of-range source frame would make sgemm read or write outside the caller's buffers, so the
// mapping is checked in release builds too; it is queryFrames integers, nothing next to the GEMMs.
private func validate(_ keyFrame: UnsafePointer<Int32>?, _ shape: AlignerShape) {
    precondition(
        shape.queryFrames >= 0 && shape.keyFrames >= 0 && shape.plane >= 0
            && shape.keyChannels >= 0 && shape.valueChannels >= 0, "negative aligner dimension: \(shape)")
    guard let keyFrame else {
        precondition(shape.keyFrames == shape.queryFrames, "identity keyFrame needs keyFrames == queryFrames: \(shape)")
        return
    }
    for f in 0..<shape.queryFrames {
        precondition(
            keyFrame[f] >= 0 && Int(keyFrame[f]) < shape.keyFrames,
            "keyFrame[\(f)] = \(keyFrame[f]) outside 0..<\(shape.keyFrames)")
    }
}

/// Row-wise softmax in place; subtracting the row maximum keeps exp in range for any finite logits.
/// Rows are split over the cores; exp is the eight-lane `expLanes` below.
private struct SoftmaxArguments { var a: UnsafeMutablePointer<Float>; var g: UnsafeMutablePointer<Float>?; var n: Int }

func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, columns n: Int) {
    parallelFor(rows, minimumPerWorker: max(1, 16_384 / max(n, 1)), SoftmaxArguments(a: x, g: nil, n: n)) { raw, lo, hi in
        let args = arguments(raw, as: SoftmaxArguments.self), x = args.a, n = args.n
        for r in lo..<hi {
            let row = x + r * n
            let m = rowMax(row, count: n)
            var j = 0
            let mm = Lanes(repeating: m)
            while j + Lanes.scalarCount <= n {
                UnsafeMutableRawPointer(row + j).storeBytes(of: expLanes(loadLanes(row + j) - mm), as: Lanes.self)
                j += Lanes.scalarCount
            }
            while j < n { row[j] = expf(row[j] - m); j += 1 }
            // The sum is ≥ 1 (the maximum contributes exp(0)), so the reciprocal is always finite.
            let inv = 1 / compensatedSum(row, count: n)
            for j in 0..<n { row[j] *= inv }
        }
    }
}

/// g ← a ⊙ (g − rowsum(g ⊙ a)) for each row: the softmax Jacobian applied to g, in place.
func softmaxBackwardRows(_ a: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, rows: Int, columns n: Int) {
    parallelFor(rows, minimumPerWorker: max(1, 16_384 / max(n, 1)), SoftmaxArguments(a: UnsafeMutablePointer(mutating: a), g: g, n: n)) { raw, lo, hi in
        let args = arguments(raw, as: SoftmaxArguments.self), a = args.a, g = args.g!, n = args.n
        for r in lo..<hi {
            let ar = a + r * n, gr = g + r * n
            let d = compensatedDot(ar, gr, count: n)
            for j in 0..<n { gr[j] = ar[j] * (gr[j] - d) }
        }
    }
}

/// e^x for x ≤ 0 on eight lanes (Cephes' expf: x = k·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial
/// for e^r, 2^k built in the exponent bits). Relative error ≤ 2e-7 against expf; arguments below −87
/// are clamped to −87 (e^−87 ≈ 1.6e−38, nothing next to a row sum ≥ 1).
@inline(__always)
func expLanes(_ x: Lanes) -> Lanes {
    // Only concrete lane-wise operations below: the generic SIMD conversions (Int32(_, rounding:),
    // .rounded(_:)) compile to scalar loops. Rounding uses the 1.5·2²³ trick: adding it leaves
    // round-to-nearest(k) in the low mantissa bits, which also give the integer k for the exponent.
    let magic = Lanes(repeating: 12_582_912)
    let xc = x.replacing(with: -87, where: x .< -87)
    let t = xc * 1.442_695_040_888_963_4 + magic
    let k = t - magic
    let r = xc - k * 0.693_359_375 - k * -2.121_944_400_546_905_8e-4
    var p = Lanes(repeating: 1.987_569_150_0e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let e = p * r * r + r + 1
    let exponent = (unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    return e * unsafeBitCast(exponent, to: Lanes.self)
}

typealias Lanes = SIMD8<Float>

@inline(__always)
func loadLanes(_ p: UnsafePointer<Float>) -> Lanes {
    UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
}

@inline(__always)
private func rowMax(_ x: UnsafePointer<Float>, count n: Int) -> Float {
    var m = -Float.infinity
    var j = 0
    if n >= Lanes.scalarCount {
        var lanes = loadLanes(x)
        j = Lanes.scalarCount
        while j + Lanes.scalarCount <= n { let v = loadLanes(x + j); lanes = lanes.replacing(with: v, where: v .> lanes); j += Lanes.scalarCount }
        m = lanes.max()
    }
    while j < n { m = max(m, x[j]); j += 1 }
    return m
}

// Kahan summation, one compensated accumulator per SIMD lane: a plain Float running sum over a
// 4096-long row can lose ~n·ε relative; this keeps the error near ε and still vectorises (Swift does
// not reassociate Float arithmetic, so the compensation is not optimised away).
@inline(__always)
private func kahanAdd(_ sum: inout Lanes, _ comp: inout Lanes, _ x: Lanes) {
    let y = x - comp
    let t = sum + y
    comp = (t - sum) - y
    sum = t
}

@inline(__always)
private func kahanAdd(_ sum: inout Float, _ comp: inout Float, _ x: Float) {
    let y = x - comp
    let t = sum + y
    comp = (t - sum) - y
    sum = t
}

@inline(__always)
private func finish(_ sum: Lanes, _ comp: Lanes, tail: Float, tailComp: Float) -> Float {
    var s = tail, c = tailComp
    for l in 0..<Lanes.scalarCount { kahanAdd(&s, &c, sum[l]); kahanAdd(&s, &c, -comp[l]) }
    return s
}

func compensatedSum(_ x: UnsafePointer<Float>, count n: Int) -> Float {
    var sum = Lanes(), comp = Lanes()
    var j = 0
    while j + Lanes.scalarCount <= n { kahanAdd(&sum, &comp, loadLanes(x + j)); j += Lanes.scalarCount }
    var s: Float = 0, c: Float = 0
    while j < n { kahanAdd(&s, &c, x[j]); j += 1 }
    return finish(sum, comp, tail: s, tailComp: c)
}

func compensatedDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
    var sum = Lanes(), comp = Lanes()
    var j = 0
    while j + Lanes.scalarCount <= n { kahanAdd(&sum, &comp, loadLanes(a + j) * loadLanes(b + j)); j += Lanes.scalarCount }
    var s: Float = 0, c: Float = 0
    while j < n { kahanAdd(&s, &c, a[j] * b[j]); j += 1 }
    return finish(sum, comp, tail: s, tailComp: c)
}
