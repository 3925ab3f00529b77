// Section "kernels": every kernel at the shapes DCGAN-64 uses at batch 16 over 15 frames
// (F = 240 encoder frames, D = 224 decoder frames, S = 64 skip-source frames; MODEL.md "Backbones"), plus
// VGG-64's 3×3 layers. Each compute-bound row is paired with the bare OpenBLAS GEMM(s) it is built on, on the
// same buffers and shapes, timed in the same run: the ratio shows what im2col/col2im, bias, softmax and
// the other glue cost on top of the GEMM.
import Kernels
import SVGNet

let batch = 16
let encoderFrames = 240 // F = 15 time steps × 16
let decoderFrames = 224 // D = 14 prediction steps × 16
let sourceFrames = 64 // S = (nPast − 1) × 16 distinct skip sources

/// 2·M·N·K.
func gemmFlops(_ m: Int, _ n: Int, _ k: Int) -> Double { 2 * Double(m) * Double(n) * Double(k) }

/// Times of `reps` sgemm 2048³ (the ceiling every ÷peak divides by), sorted, after `warmup` untimed ones.
func timeSgemm2048(reps: Int, warmup: Int = 1) -> [Double] {
    let n = 2048
    let a = Buffer(n * n, scale: 1, seed: 1), b = Buffer(n * n, scale: 1, seed: 2), c = Buffer(n * n, scale: 0)
    return measure(reps: reps, warmup: warmup) {
        gemm(transA: false, transB: false, m: n, n: n, k: n, a: a.p, lda: n, b: b.p, ldb: n, c: c.p, ldc: n)
    }
}

func machineCeilings(reps: Int) -> (Ceilings, [Row]) {
    var rows: [Row] = []
    rows.append(
        Row(
            section: "ceiling", name: "sgemm 2048³", shape: "M=N=K=2048 NN", times: timeSgemm2048(reps: reps),
            flops: gemmFlops(2048, 2048, 2048)))
    // Copy bandwidth: 64 Mi floats (256 MiB) each way, far beyond cache; counts read + write bytes.
    let count = 64 << 20
    let src = Buffer(count, seed: 3), dst = Buffer(count, scale: 0)
    let tc = measure(reps: reps) { dst.p.update(from: src.p, count: count) }
    rows.append(Row(section: "ceiling", name: "memory copy", shape: "256 MiB → 256 MiB", times: tc, bytes: Double(8 * count)))
    var ceilings = Ceilings()
    ceilings.sgemmGflops = rows[0].gflops!
    ceilings.copyGBps = rows[1].gbps!
    return (ceilings, rows)
}

/// Conv2d forward (im2col + GEMM + bias) and backward (grad weight [+ grad input via GEMM + col2im]).
/// `col` is refilled with convColumns(x) before each backward call, untimed, because the kernel's
/// contract is that the forward left it there (the model recomputes it: see the note). Every conv here
/// is followed by BatchNorm, whose backward sums the bias gradient (the BN rows), so the backward, as the
/// model calls it, has none to compute.
func benchConv2d(
    _ name: String, cin: Int, cout: Int, size: Int, kernel: Int, stride: Int, padding: Int,
    frames: Int, gradInput: Bool, reps: Int
) -> [Row] {
    let g = ConvGeometry(
        channels: cin, frames: frames, height: size, width: size, kernelH: kernel, kernelW: kernel,
        stride: stride, padding: padding)
    let m = cout, n = g.colColumns, k = g.colRows
    let x = Buffer(g.imageCount, seed: 11), w = Buffer(m * k, scale: 0.02, seed: 12), bias = Buffer(m, scale: 0.1, seed: 13)
    let y = Buffer(m * n, scale: 0), col = Buffer(g.colCount, scale: 0)
    let gy = Buffer(m * n, seed: 14), gx = Buffer(g.imageCount, scale: 0), gw = Buffer(m * k, scale: 0)
    let shape = "\(cin)→\(cout) \(kernel)×\(kernel)/\(stride) @\(size)² ×\(frames)"
    var rows: [Row] = []

    let forward = measurePair(reps: reps) {
        conv2dForward(x: x.p, weight: w.p, bias: bias.p, y: y.p, col: col.p, geometry: g, outChannels: m)
    } reference: {
        gemm(transA: false, transB: false, m: m, n: n, k: k, a: w.p, lda: k, b: col.p, ldb: n, c: y.p, ldc: n)
    }
    rows.append(
        Row(
            section: "kernels", name: "\(name) conv fwd", shape: shape + " [GEMM \(m)×\(n)×\(k)]", pairs: forward,
            flops: gemmFlops(m, n, k)))
    let im2colTimes = measure(reps: reps) { convColumns(x.p, col.p, g) }
    rows.append(
        Row(
            section: "kernels", name: "\(name) im2col", shape: shape, times: im2colTimes,
            bytes: Double(4 * (g.imageCount + g.colCount)), note: "part of the fwd row; training keeps col for the bwd (encoder col cache)"))

    let backward = measurePair(reps: reps, setup: { convColumns(x.p, col.p, g) }) {
        conv2dBackward(
            gradY: gy.p, col: col.p, weight: w.p, gradX: gradInput ? gx.p : nil, gradWeight: gw.p, gradBias: nil,
            geometry: g, outChannels: m)
    } reference: {
        gemm(transA: false, transB: true, m: m, n: k, k: n, a: gy.p, lda: n, b: col.p, ldb: n, c: gw.p, ldc: k)
        if gradInput { gemm(transA: true, transB: false, m: k, n: n, k: m, a: w.p, lda: k, b: gy.p, ldb: n, c: col.p, ldc: n) }
    }
    let products = gradInput ? 2.0 : 1.0
    rows.append(
        Row(
            section: "kernels", name: "\(name) conv bwd" + (gradInput ? "" : " (no gX)"), shape: shape,
            pairs: backward, flops: products * gemmFlops(m, n, k)))

    // The Winograd path the model takes at this shape (ConvBlock.swift), against the same direct GEMMs:
    // FLOPs are the direct convolution's (the useful ones), so a ratio above 1 is the saving.
    if winograd3x3Applies(
        kernel: kernel, stride: stride, padding: padding, height: size, width: size, inChannels: cin, outChannels: cout, frames: frames)
    {
        // In chunks of frames within the default plan's workspace, each chunk's Bᵀ[x] rebuilt in the backward:
        // how the model runs a layer this large.
        let chunk = winograd3x3ChunkFrames(
            inChannels: cin, outChannels: cout, frames: frames, height: size, width: size, limit: MemoryBudget().columnWorkspace)
        let wg = Winograd3x3Geometry(inChannels: cin, outChannels: cout, frames: frames, height: size, width: size, chunkFrames: chunk)
        let ws = Buffer(wg.transformedInputChunkCount + wg.scratchCount, scale: 0), scratch = ws.p + wg.transformedInputChunkCount
        let wForward = measurePair(reps: reps) {
            winograd3x3Conv2dForward(
                x: x.p, weight: w.p, bias: bias.p, y: y.p, transformedInput: ws.p, keepsEveryChunk: false, scratch: scratch, geometry: wg)
        } reference: {
            gemm(transA: false, transB: false, m: m, n: n, k: k, a: w.p, lda: k, b: col.p, ldb: n, c: y.p, ldc: n)
        }
        let note = "F(2×2, 3×3), \(wg.chunkCount) chunks of \(chunk) frames; direct FLOPs and direct GEMM"
        rows.append(
            Row(
                section: "kernels", name: "\(name) conv fwd Winograd", shape: shape + " [16 GEMMs \(m)×\(wg.chunkTiles)×\(cin)]",
                pairs: wForward, flops: gemmFlops(m, n, k), note: note))
        let wBackward = measurePair(reps: reps) {
            winograd3x3Conv2dBackward(
                gradY: gy.p, x: x.p, transformedInput: ws.p, keepsEveryChunk: false, weight: w.p, gradX: gradInput ? gx.p : nil,
                gradWeight: gw.p, gradBias: nil, scratch: scratch, geometry: wg)
        } reference: {
            gemm(transA: false, transB: true, m: m, n: k, k: n, a: gy.p, lda: n, b: col.p, ldb: n, c: gw.p, ldc: k)
            if gradInput { gemm(transA: true, transB: false, m: k, n: n, k: m, a: w.p, lda: k, b: gy.p, ldb: n, c: col.p, ldc: n) }
        }
        rows.append(
            Row(
                section: "kernels", name: "\(name) conv bwd Winograd" + (gradInput ? "" : " (no gX)"), shape: shape,
                pairs: wBackward, flops: products * gemmFlops(m, n, k), note: note))
        // The pieces of one whole chunk: where the time of the rows above goes.
        let frames0 = 0..<chunk, tc = wg.chunkTiles
        let transformedWeight = scratch, product = scratch + 2 * wg.transformedWeightCount
        let chunkNote = "one chunk of \(chunk) frames, part of the rows above"
        let gemms = measure(reps: reps) {
            for xi in 0..<16 {
                gemm(
                    transA: false, transB: false, m: cout, n: tc, k: cin, a: transformedWeight + xi * cout * cin, lda: cin,
                    b: ws.p + xi * cin * tc, ldb: tc, c: product + xi * cout * tc, ldc: tc)
            }
        }
        rows.append(
            Row(
                section: "kernels", name: "\(name) Winograd 16 GEMMs", shape: shape + " [16 × \(cout)×\(tc)×\(cin)]", times: gemms,
                flops: 16 * gemmFlops(cout, tc, cin), note: chunkNote + "; their own FLOPs"))
        let inputSide = Double(4 * (cin * chunk * size * size + wg.transformedInputChunkCount))
        let outputSide = Double(4 * (cout * chunk * size * size + wg.transformedOutputChunkCount))
        for (label, bytes, body) in [
            ("Bᵀ[x]", inputSide, { winograd3x3InputTransform(x.p, ws.p, wg, frames: frames0) }),
            ("Aᵀ[Y~]", outputSide, { winograd3x3OutputTransform(product, y.p, wg, frames: frames0, bias: bias.p) }),
            ("A[gY]", outputSide, { winograd3x3OutputAdjoint(gy.p, product, wg, frames: frames0) }),
            ("B[gX~]", inputSide, { winograd3x3InputAdjoint(ws.p, gx.p, wg, frames: frames0) })
        ] as [(String, Double, () -> Void)] {
            rows.append(
                Row(
                    section: "kernels", name: "\(name) Winograd \(label)", shape: shape, times: measure(reps: reps, body), bytes: bytes,
                    note: chunkNote))
        }
        return rows
    }
    guard
        winogradApplies(
            kernel: kernel, stride: stride, padding: padding, convOutHeight: g.outHeight, convOutWidth: g.outWidth,
            inChannels: cin, outChannels: cout, frames: frames)
    else { return rows }
    for tile in [2, 4] where g.outHeight % tile == 0 && g.outWidth % tile == 0 {
        let wg = WinogradGeometry(
            inChannels: cin, outChannels: cout, frames: frames, outHeight: g.outHeight, outWidth: g.outWidth, outputTile: tile)
        let variant = winogradRowLabel(wg), algorithm = winogradNote(wg, frames: frames)
        let ws = Buffer(wg.workspaceCount, scale: 0), scratch = ws.p + wg.transformedInputCount
        let wForward = measurePair(reps: reps) {
            winogradConv2dForward(x: x.p, weight: w.p, bias: bias.p, y: y.p, transformedInput: ws.p, scratch: scratch, geometry: wg)
        } reference: {
            gemm(transA: false, transB: false, m: m, n: n, k: k, a: w.p, lda: k, b: col.p, ldb: n, c: y.p, ldc: n)
        }
        rows.append(
            Row(
                section: "kernels", name: "\(name) conv fwd \(variant)", shape: shape + " [\(wg.points) GEMMs \(m)×\(wg.tiles)×\(4 * cin)]",
                pairs: wForward, flops: gemmFlops(m, n, k), note: "\(algorithm); direct FLOPs and direct GEMM"))
        let wBackward = measurePair(reps: reps, setup: { winogradInputTransform(x.p, ws.p, wg) }) {
            winogradConv2dBackward(
                gradY: gy.p, transformedInput: ws.p, weight: w.p, gradX: gradInput ? gx.p : nil, gradWeight: gw.p, gradBias: nil,
                scratch: scratch, geometry: wg)
        } reference: {
            gemm(transA: false, transB: true, m: m, n: k, k: n, a: gy.p, lda: n, b: col.p, ldb: n, c: gw.p, ldc: k)
            if gradInput { gemm(transA: true, transB: false, m: k, n: n, k: m, a: w.p, lda: k, b: gy.p, ldb: n, c: col.p, ldc: n) }
        }
        rows.append(
            Row(
                section: "kernels", name: "\(name) conv bwd \(variant)" + (gradInput ? "" : " (no gX)"), shape: shape,
                pairs: wBackward, flops: products * gemmFlops(m, n, k), note: "\(algorithm); direct FLOPs and direct GEMMs"))
        let k4 = 4 * cin, t = wg.tiles
        let gemms = measure(reps: reps) {
            for xi in 0..<wg.points {
                gemm(
                    transA: false, transB: false, m: m, n: t, k: k4, a: scratch + wg.transformedOutputCount + xi * m * k4, lda: k4,
                    b: ws.p + xi * k4 * t, ldb: t, c: scratch + xi * m * t, ldc: t)
            }
        }
        rows.append(
            Row(
                section: "kernels", name: "\(name) \(variant) \(wg.points) GEMMs", shape: shape + " [\(wg.points) × \(m)×\(t)×\(k4)]", times: gemms,
                flops: Double(wg.points) * gemmFlops(m, t, k4), note: "the fwd row's GEMMs, their own FLOPs"))
        let inputTransform = measure(reps: reps) { winogradInputTransform(x.p, ws.p, wg) }
        rows.append(
            Row(
                section: "kernels", name: "\(name) \(variant) Bᵀ[x]", shape: shape, times: inputTransform,
                bytes: Double(4 * (g.imageCount + wg.transformedInputCount)), note: "input transform, part of the fwd row"))
        let outputTransform = measure(reps: reps) { winogradOutputTransform(scratch, y.p, wg, bias: bias.p) }
        rows.append(
            Row(
                section: "kernels", name: "\(name) \(variant) Aᵀ[Y~]", shape: shape, times: outputTransform,
                bytes: Double(4 * (m * n + wg.transformedOutputCount)), note: "output transform, part of the fwd row"))
    }
    return rows
}

/// ConvTranspose2d forward (GEMM + col2im + bias) and backward (im2col of gradY + grad input GEMM +
/// grad weight GEMM [+ grad bias]). `cin` is the block of input channels this call uses (the skip split).
/// `gradBias`: the layer computes its own bias gradient, as upc5 (no BatchNorm after it) does; for the
/// others BatchNorm's backward sums it, and the skip half has none.
func benchConvTranspose2d(
    _ name: String, cin: Int, cout: Int, size: Int, kernel: Int, stride: Int, padding: Int,
    frames: Int, gradBias: Bool, reps: Int, note: String = ""
) -> [Row] {
    let g = convTranspose2dOutputGeometry(
        inChannels: cin, outChannels: cout, frames: frames, height: size, width: size,
        kernel: kernel, stride: stride, padding: padding)
    let m = g.colRows, n = g.colColumns // GEMM Wᵀ·x: (Cout·k²) × (frames·H·W), inner Cin
    let inCount = cin * n, outCount = g.imageCount
    let x = Buffer(inCount, seed: 21), w = Buffer(cin * m, scale: 0.02, seed: 22), bias = Buffer(cout, scale: 0.1, seed: 23)
    let y = Buffer(outCount, scale: 0), col = Buffer(g.colCount, scale: 0)
    let gy = Buffer(outCount, seed: 24), gx = Buffer(inCount, scale: 0), gw = Buffer(cin * m, scale: 0), gb = Buffer(cout, scale: 0)
    let shape = "\(cin)→\(cout) \(kernel)×\(kernel)/\(stride) @\(size)²→\(g.height)² ×\(frames)"
    var rows: [Row] = []

    let forward = measurePair(reps: reps) {
        convTranspose2dForward(x: x.p, weight: w.p, bias: bias.p, y: y.p, col: col.p, inChannels: cin, outputGeometry: g)
    } reference: {
        gemm(transA: true, transB: false, m: m, n: n, k: cin, a: w.p, lda: m, b: x.p, ldb: n, c: col.p, ldc: n)
    }
    rows.append(
        Row(
            section: "kernels", name: "\(name) convT fwd", shape: shape + " [GEMM \(m)×\(n)×\(cin)]", pairs: forward,
            flops: gemmFlops(m, n, cin), note: note))
    let col2imTimes = measure(reps: reps) { convColumnsAdjoint(col.p, y.p, g, bias: bias.p) }
    rows.append(
        Row(
            section: "kernels", name: "\(name) col2im", shape: shape, times: col2imTimes,
            bytes: Double(4 * (g.imageCount + g.colCount)), note: "the forward's pass after its GEMM"))
    let backward = measurePair(reps: reps) {
        convTranspose2dBackward(
            gradY: gy.p, x: x.p, weight: w.p, gradX: gx.p, gradWeight: gw.p, gradBias: gradBias ? gb.p : nil, col: col.p,
            inChannels: cin, outputGeometry: g)
    } reference: {
        gemm(transA: false, transB: false, m: cin, n: n, k: m, a: w.p, lda: m, b: col.p, ldb: n, c: gx.p, ldc: n)
        gemm(transA: false, transB: true, m: cin, n: m, k: n, a: x.p, lda: n, b: col.p, ldb: n, c: gw.p, ldc: m)
    }
    rows.append(
        Row(
            section: "kernels", name: "\(name) convT bwd", shape: shape, pairs: backward,
            flops: 2 * gemmFlops(m, n, cin), note: note))

    guard
        winogradApplies(
            kernel: kernel, stride: stride, padding: padding, convOutHeight: size, convOutWidth: size,
            inChannels: cout, outChannels: cin, frames: frames)
    else { return rows }
    for tile in [2, 4] where size % tile == 0 {
        let wg = WinogradGeometry(inChannels: cout, outChannels: cin, frames: frames, outHeight: size, outWidth: size, outputTile: tile)
        let variant = winogradRowLabel(wg), algorithm = winogradNote(wg, frames: frames)
        // In chunks of frames as the model's plan runs it; the transform rows below take all frames at once.
        let chunk = wg.transposedChunkFrames(limit: MemoryBudget().transposedWinogradWorkspace)
        let chunkNote = chunk < frames ? " in chunks of \(chunk) frames" : ""
        let ws = Buffer(max(wg.workspaceCount, wg.transposedWorkspaceCount(chunkFrames: chunk)), scale: 0)
        let wForward = measurePair(reps: reps) {
            winogradConvTranspose2dForward(x: x.p, weight: w.p, bias: bias.p, y: y.p, workspace: ws.p, geometry: wg, chunkFrames: chunk)
        } reference: {
            gemm(transA: true, transB: false, m: m, n: n, k: cin, a: w.p, lda: m, b: x.p, ldb: n, c: col.p, ldc: n)
        }
        rows.append(
            Row(
                section: "kernels", name: "\(name) convT fwd \(variant)", shape: shape + " [\(wg.points) GEMMs \(4 * cout)×\(wg.tiles)×\(cin)]",
                pairs: wForward, flops: gemmFlops(m, n, cin), note: "\(algorithm)\(chunkNote); direct FLOPs and direct GEMM"))
        let wBackward = measurePair(reps: reps) {
            winogradConvTranspose2dBackward(
                gradY: gy.p, x: x.p, weight: w.p, gradX: gx.p, gradWeight: gw.p, gradBias: gradBias ? gb.p : nil,
                workspace: ws.p, geometry: wg, chunkFrames: chunk)
        } reference: {
            gemm(transA: false, transB: false, m: cin, n: n, k: m, a: w.p, lda: m, b: col.p, ldb: n, c: gx.p, ldc: n)
            gemm(transA: false, transB: true, m: cin, n: m, k: n, a: x.p, lda: n, b: col.p, ldb: n, c: gw.p, ldc: m)
        }
        rows.append(
            Row(
                section: "kernels", name: "\(name) convT bwd \(variant)", shape: shape, pairs: wBackward,
                flops: 2 * gemmFlops(m, n, cin), note: "\(algorithm)\(chunkNote); direct FLOPs and direct GEMMs"))
        let inputTransform = measure(reps: reps) { winogradInputTransform(gy.p, ws.p, wg) }
        rows.append(
            Row(
                section: "kernels", name: "\(name) \(variant) Bᵀ[gy]", shape: shape, times: inputTransform,
                bytes: Double(4 * (outCount + wg.transformedInputCount)), note: "input transform, part of the bwd row"))
        let inputAdjoint = measure(reps: reps) { winogradInputAdjoint(ws.p, y.p, wg, bias: bias.p) }
        rows.append(
            Row(
                section: "kernels", name: "\(name) \(variant) B[Z]", shape: shape, times: inputAdjoint,
                bytes: Double(4 * (outCount + wg.transformedInputCount)), note: "col2im's place, part of the fwd row"))
        let outputAdjoint = measure(reps: reps) { winogradOutputAdjoint(x.p, ws.p, wg) }
        rows.append(
            Row(
                section: "kernels", name: "\(name) \(variant) A[x]", shape: shape, times: outputAdjoint,
                bytes: Double(4 * (inCount + wg.transformedOutputCount)), note: "part of the fwd and bwd rows"))
    }
    return rows
}

/// Grouped BatchNorm with the fused LeakyReLU, as the backbones run it: training forward (statistics +
/// normalise + activate + running stats) and backward (through the activation's gate, summing the conv
/// bias gradient as it writes gradX).
/// Bytes are the compulsory traffic: forward reads x and writes y (8 B/value), backward reads gradY and
/// x and writes gradX (12 B/value). The kernel actually reads x three times in forward and twice in backward.
func benchBatchNorm(_ name: String, channels: Int, groups: Int, plane: Int, reps: Int) -> [Row] {
    let shape = BatchNormShape(channels: channels, groups: groups, framesPerGroup: batch, plane: plane)
    let x = Buffer(shape.count, seed: 31), y = Buffer(shape.count, scale: 0), gy = Buffer(shape.count, seed: 32), gx = Buffer(shape.count, scale: 0)
    let gamma = Buffer(channels, scale: 0.02, seed: 33), beta = Buffer(channels, scale: 0, seed: 34)
    for i in 0..<channels { gamma.p[i] += 1 }
    let mean = Buffer(groups * channels, scale: 0), invStd = Buffer(groups * channels, scale: 0)
    let rm = Buffer(channels, scale: 0), rv = Buffer(channels, scale: 0)
    let gg = Buffer(channels, scale: 0), gbeta = Buffer(channels, scale: 0), gbias = Buffer(channels, scale: 0)
    let desc = "C \(channels) × \(groups) groups × \(batch) × \(plane) (\(shape.count / 1_000_000)M values)"
    let values = Double(shape.count)
    let f = measure(reps: reps) {
        batchNorm2dTrainingForward(
            x: x.p, y: y.p, gamma: gamma.p, beta: beta.p, mean: mean.p, invStd: invStd.p,
            runningMean: rm.p, runningVar: rv.p, leakySlope: leakyReLUSlope, shape: shape)
    }
    let b = measure(reps: reps) {
        batchNorm2dBackward(
            gradY: gy.p, x: x.p, gamma: gamma.p, mean: mean.p, invStd: invStd.p, gradX: gx.p,
            gradGamma: gg.p, gradBeta: gbeta.p, gradXSum: gbias.p, beta: beta.p, leakySlope: leakyReLUSlope, shape: shape)
    }
    return [
        Row(section: "kernels", name: "BN+LeakyReLU \(name) fwd", shape: desc, times: f, bytes: 8 * values, note: "bytes: read x, write y"),
        Row(section: "kernels", name: "BN+LeakyReLU \(name) bwd", shape: desc, times: b, bytes: 12 * values, note: "bytes: read gy, x; write gx")
    ]
}

/// Elementwise activations in place, as the model runs them. Forward 8 B/value, backward 12 B/value.
func benchActivations(reps: Int) -> [Row] {
    var rows: [Row] = []
    func add(
        _ name: String, _ count: Int, _ where_: String,
        _ forward: (UnsafeMutablePointer<Float>, Int) -> Void,
        _ backward: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
    ) {
        let x = Buffer(count, seed: 41), g = Buffer(count, seed: 42)
        let f = measure(reps: reps, setup: { x.fill(scale: 1, seed: 41) }) { forward(x.p, count) }
        let b = measure(reps: reps) { backward(g.p, x.p, count) }
        let ns = { (t: [Double]) in fixed(median(t) / Double(count) * 1e9, 2) + " ns/value" }
        rows.append(Row(section: "kernels", name: "\(name) fwd", shape: "\(count) values (\(where_))", times: f, bytes: 8 * Double(count), note: ns(f)))
        rows.append(Row(section: "kernels", name: "\(name) bwd", shape: "\(count) values (\(where_))", times: b, bytes: 12 * Double(count), note: ns(b)))
    }
    let c1Out = 64 * encoderFrames * 32 * 32
    add(
        "LeakyReLU", c1Out, "c1 output", { leakyReLUForward(x: $0, y: $0, count: $1) },
        { leakyReLUBackward(gradY: $0, y: $1, gradX: $0, count: $2) })
    add(
        "Tanh", 128 * encoderFrames, "c5 output h", { tanhForward(x: $0, y: $0, count: $1) },
        { tanhBackward(gradY: $0, y: $1, gradX: $0, count: $2) })
    add(
        "Tanh", c1Out, "at c1-output size, for GB/s", { tanhForward(x: $0, y: $0, count: $1) },
        { tanhBackward(gradY: $0, y: $1, gradX: $0, count: $2) })
    add(
        "Sigmoid", decoderFrames * 64 * 64, "upc5 output", { sigmoidForward(x: $0, y: $0, count: $1) },
        { sigmoidBackward(gradY: $0, y: $1, gradX: $0, count: $2) })
    return rows
}

/// One LSTMCell step (PyTorch semantics). FLOPs: the GEMMs only (forward 2, backward 4 products).
func benchLSTM(batch n: Int, inFeatures: Int, hidden: Int, reps: Int, note: String) -> [Row] {
    let G = 4 * hidden
    let x = Buffer(n * inFeatures, seed: 51), hp = Buffer(n * hidden, seed: 52), cp = Buffer(n * hidden, seed: 53)
    let wih = Buffer(G * inFeatures, scale: 0.06, seed: 54), whh = Buffer(G * hidden, scale: 0.06, seed: 55)
    let bih = Buffer(G, scale: 0.06, seed: 56), bhh = Buffer(G, scale: 0.06, seed: 57)
    let gates = Buffer(n * G, scale: 0), c = Buffer(n * hidden, scale: 0), h = Buffer(n * hidden, scale: 0)
    let gh = Buffer(n * hidden, seed: 58), gcn = Buffer(n * hidden, seed: 59)
    let gx = Buffer(n * inFeatures, scale: 0), ghp = Buffer(n * hidden, scale: 0), gcp = Buffer(n * hidden, scale: 0)
    let gwih = Buffer(G * inFeatures, scale: 0), gwhh = Buffer(G * hidden, scale: 0), gbih = Buffer(G, scale: 0), gbhh = Buffer(G, scale: 0)
    let gateGrad = Buffer(n * G, scale: 0)
    let shape = "batch \(n), in \(inFeatures), hidden \(hidden)"
    let f = measurePair(reps: reps) {
        lstmCellForward(
            x: x.p, hPrev: hp.p, cPrev: cp.p, weightIH: wih.p, weightHH: whh.p, biasIH: bih.p, biasHH: bhh.p,
            gates: gates.p, c: c.p, h: h.p, batch: n, inFeatures: inFeatures, hidden: hidden)
    } reference: {
        gemm(transA: false, transB: true, m: n, n: G, k: inFeatures, a: x.p, lda: inFeatures, b: wih.p, ldb: inFeatures, c: gates.p, ldc: G)
        gemm(transA: false, transB: true, m: n, n: G, k: hidden, a: hp.p, lda: hidden, b: whh.p, ldb: hidden, beta: 1, c: gates.p, ldc: G)
    }
    let b = measurePair(reps: reps) {
        lstmCellBackward(
            gradH: gh.p, gradCNext: gcn.p, x: x.p, hPrev: hp.p, cPrev: cp.p, gates: gates.p, c: c.p,
            weightIH: wih.p, weightHH: whh.p, gradX: gx.p, gradHPrev: ghp.p, gradCPrev: gcp.p,
            gradWeightIH: gwih.p, gradWeightHH: gwhh.p, gradBiasIH: gbih.p, gradBiasHH: gbhh.p,
            gateGrad: gateGrad.p, batch: n, inFeatures: inFeatures, hidden: hidden)
    } reference: {
        gemm(transA: true, transB: false, m: G, n: inFeatures, k: n, a: gateGrad.p, lda: G, b: x.p, ldb: inFeatures, c: gwih.p, ldc: inFeatures)
        gemm(transA: true, transB: false, m: G, n: hidden, k: n, a: gateGrad.p, lda: G, b: hp.p, ldb: hidden, c: gwhh.p, ldc: hidden)
        gemm(transA: false, transB: false, m: n, n: inFeatures, k: G, a: gateGrad.p, lda: G, b: wih.p, ldb: inFeatures, c: gx.p, ldc: inFeatures)
        gemm(transA: false, transB: false, m: n, n: hidden, k: G, a: gateGrad.p, lda: G, b: whh.p, ldb: hidden, c: ghp.p, ldc: hidden)
    }
    let fwdFlops = gemmFlops(n, G, inFeatures) + gemmFlops(n, G, hidden)
    return [
        Row(section: "kernels", name: "LSTMCell fwd", shape: shape, pairs: f, flops: fwdFlops, note: note),
        Row(section: "kernels", name: "LSTMCell bwd", shape: shape, pairs: b, flops: 2 * fwdFlops, note: note)
    ]
}

func benchLinear(batch n: Int, inFeatures: Int, outFeatures: Int, reps: Int, note: String) -> [Row] {
    let x = Buffer(n * inFeatures, seed: 61), w = Buffer(outFeatures * inFeatures, scale: 0.02, seed: 62), bias = Buffer(outFeatures, seed: 63)
    let y = Buffer(n * outFeatures, scale: 0), gy = Buffer(n * outFeatures, seed: 64)
    let gx = Buffer(n * inFeatures, scale: 0), gw = Buffer(outFeatures * inFeatures, scale: 0), gb = Buffer(outFeatures, scale: 0)
    let shape = "batch \(n), \(inFeatures)→\(outFeatures)"
    let f = measurePair(reps: reps) {
        linearForward(x: x.p, weight: w.p, bias: bias.p, y: y.p, batch: n, inFeatures: inFeatures, outFeatures: outFeatures)
    } reference: {
        gemm(transA: false, transB: true, m: n, n: outFeatures, k: inFeatures, a: x.p, lda: inFeatures, b: w.p, ldb: inFeatures, c: y.p, ldc: outFeatures)
    }
    let b = measurePair(reps: reps) {
        linearBackward(
            gradY: gy.p, x: x.p, weight: w.p, gradX: gx.p, gradWeight: gw.p, gradBias: gb.p,
            batch: n, inFeatures: inFeatures, outFeatures: outFeatures)
    } reference: {
        gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: n, a: gy.p, lda: outFeatures, b: x.p, ldb: inFeatures, c: gw.p, ldc: inFeatures)
        gemm(transA: false, transB: false, m: n, n: inFeatures, k: outFeatures, a: gy.p, lda: outFeatures, b: w.p, ldb: inFeatures, c: gx.p, ldc: inFeatures)
    }
    let fl = gemmFlops(n, outFeatures, inFeatures)
    return [
        Row(section: "kernels", name: "Linear fwd", shape: shape, pairs: f, flops: fl, note: note),
        Row(section: "kernels", name: "Linear bwd", shape: shape, pairs: b, flops: 2 * fl, note: note)
    ]
}

/// Aligner attention at the 32×32 level. FLOPs per query frame: forward S = QᵀK (2P²e) and Z = V·Aᵀ
/// (2P²C); backward gV, gA (2P²C each), gQ, gK (2P²e each). Softmax and its Jacobian are not counted.
func benchAligner(frames: Int, reps: Int) -> [Row] {
    let p = 1024, c = 64, e = 8
    let shape = AlignerShape(queryFrames: frames, keyFrames: frames, plane: p, keyChannels: e, valueChannels: c)
    let l = frames * p
    let q = Buffer(e * l, seed: 71), k = Buffer(e * l, seed: 72), v = Buffer(c * l, seed: 73)
    let attention = Buffer(frames * p * p, scale: 0), z = Buffer(c * l, scale: 0)
    let gz = Buffer(c * l, seed: 74), gq = Buffer(e * l, scale: 0), gk = Buffer(e * l, scale: 0), gv = Buffer(c * l, scale: 0)
    let scratch = Buffer(p * p, scale: 0)
    let desc = "P \(p), C \(c), e \(e), \(frames) query frames"
    let f = measurePair(reps: reps) {
        alignerAttentionForward(q: q.p, k: k.p, v: v.p, attention: attention.p, z: z.p, keyFrame: nil, shape: shape)
    } reference: {
        for fr in 0..<frames {
            let a = attention.p + fr * p * p
            gemm(transA: true, transB: false, m: p, n: p, k: e, a: q.p + fr * p, lda: l, b: k.p + fr * p, ldb: l, c: a, ldc: p)
            gemm(transA: false, transB: true, m: c, n: p, k: p, a: v.p + fr * p, lda: l, b: a, ldb: p, c: z.p + fr * p, ldc: l)
        }
    }
    // The reference GEMM wrote raw scores into `attention`; restore a real softmax before the backward.
    alignerAttentionForward(q: q.p, k: k.p, v: v.p, attention: attention.p, z: z.p, keyFrame: nil, shape: shape)
    let b = measurePair(
        reps: reps,
        setup: {
            gk.p.update(repeating: 0, count: e * l); gv.p.update(repeating: 0, count: c * l)
        }
    ) {
        alignerAttentionBackward(
            gradZ: gz.p, q: q.p, k: k.p, v: v.p, attention: attention.p, gradQ: gq.p, gradK: gk.p, gradV: gv.p,
            scratch: scratch.p, keyFrame: nil, shape: shape)
    } reference: {
        for fr in 0..<frames {
            let a = attention.p + fr * p * p, g = gz.p + fr * p
            gemm(transA: false, transB: false, m: c, n: p, k: p, a: g, lda: l, b: a, ldb: p, beta: 1, c: gv.p + fr * p, ldc: l)
            gemm(transA: true, transB: false, m: p, n: p, k: c, a: g, lda: l, b: v.p + fr * p, ldb: l, c: scratch.p, ldc: p)
            gemm(transA: false, transB: true, m: e, n: p, k: p, a: k.p + fr * p, lda: l, b: scratch.p, ldb: p, c: gq.p + fr * p, ldc: l)
            gemm(transA: false, transB: false, m: e, n: p, k: p, a: q.p + fr * p, lda: l, b: scratch.p, ldb: p, beta: 1, c: gk.p + fr * p, ldc: l)
        }
    }
    let pp = Double(p) * Double(p) * Double(frames)
    return [
        Row(
            section: "kernels", name: "aligner attention fwd", shape: desc, pairs: f, flops: 2 * pp * Double(e + c),
            note: "softmax not counted"),
        Row(
            section: "kernels", name: "aligner attention bwd", shape: desc, pairs: b, flops: 2 * pp * Double(2 * c + 2 * e),
            note: "softmax Jacobian not counted")
    ]
}

/// The kernel table's sections in the order they run; `--kernels` picks some of them.
let kernelSectionNames = [
    "c1", "c2", "c3", "c4", "c5", "upc1", "upc2", "upc3", "upc4", "upc5",
    "BatchNorm", "activations", "LSTM", "Linear", "aligner", "vgg"
]

func runKernelSection(reps: Int, ceilings: Ceilings, sections: Set<String>?, log: (String) -> Void) -> [Row] {
    var rows: [Row] = []
    func section(_ label: String, _ make: () -> [Row]) {
        precondition(kernelSectionNames.contains(label), "kernel section \(label) is not in kernelSectionNames")
        guard sections?.contains(label) ?? true else { return }
        log(label); rows += make()
    }
    let F = encoderFrames, D = decoderFrames, S = sourceFrames
    // Encoder (MODEL.md "Backbones"), all F frames in one GEMM. c1 reads the data: no grad input.
    section("c1") { benchConv2d("c1", cin: 1, cout: 64, size: 64, kernel: 4, stride: 2, padding: 1, frames: F, gradInput: false, reps: reps) }
    section("c2") { benchConv2d("c2", cin: 64, cout: 128, size: 32, kernel: 4, stride: 2, padding: 1, frames: F, gradInput: true, reps: reps) }
    section("c3") { benchConv2d("c3", cin: 128, cout: 256, size: 16, kernel: 4, stride: 2, padding: 1, frames: F, gradInput: true, reps: reps) }
    section("c4") { benchConv2d("c4", cin: 256, cout: 512, size: 8, kernel: 4, stride: 2, padding: 1, frames: F, gradInput: true, reps: reps) }
    section("c5") { benchConv2d("c5", cin: 512, cout: 128, size: 4, kernel: 4, stride: 1, padding: 0, frames: F, gradInput: true, reps: reps) }
    // Decoder: upc1 on h viewed 1×1; upc2…upc5 split into the decoder-map half over D frames and the
    // skip half over the S distinct source frames (MODEL.md "Cost").
    section("upc1") { benchConvTranspose2d("upc1", cin: 128, cout: 512, size: 1, kernel: 4, stride: 1, padding: 0, frames: D, gradBias: false, reps: reps) }
    let stages = [("upc2", 512, 256, 4), ("upc3", 256, 128, 8), ("upc4", 128, 64, 16), ("upc5", 64, 1, 32)]
    for (name, half, cout, size) in stages {
        section(name) {
            benchConvTranspose2d(
                name + " d-half", cin: half, cout: cout, size: size, kernel: 4, stride: 2, padding: 1, frames: D,
                gradBias: name == "upc5", reps: reps, note: "decoder-map half, D frames")
                + benchConvTranspose2d(
                    name + " skip-half", cin: half, cout: cout, size: size, kernel: 4, stride: 2, padding: 1, frames: S,
                    gradBias: false, reps: reps, note: "skip half, S source frames")
        }
    }
    section("BatchNorm") {
        benchBatchNorm("c1 out", channels: 64, groups: 15, plane: 32 * 32, reps: reps)
            + benchBatchNorm("c2 out", channels: 128, groups: 15, plane: 16 * 16, reps: reps)
            + benchBatchNorm("upc4 out", channels: 64, groups: 14, plane: 32 * 32, reps: reps)
    }
    section("activations") { benchActivations(reps: reps) }
    section("LSTM") {
        benchLSTM(batch: 16, inFeatures: 256, hidden: 256, reps: max(reps, 20), note: "training: one step of batch 16")
            + benchLSTM(batch: 100, inFeatures: 256, hidden: 256, reps: max(reps, 20), note: "generation: 100 samples")
    }
    section("Linear") {
        benchLinear(batch: 16, inFeatures: 138, outFeatures: 256, reps: max(reps, 20), note: "predictor embed, one step")
            + benchLinear(batch: 224, inFeatures: 138, outFeatures: 256, reps: max(reps, 20), note: "same, all 14 steps at once")
    }
    section("aligner") { benchAligner(frames: 16, reps: reps) }
    section("vgg") {
        // kth preset, batch 16: 19 encoder frames per sequence (64 for the 64×64 layer, whose direct col at
        // 304 frames would take 2.9 GB: the reference GEMM needs it whole).
        benchConv2d("vgg(64,64)", cin: 64, cout: 64, size: 64, kernel: 3, stride: 1, padding: 1, frames: 64, gradInput: true, reps: reps)
            + benchConv2d("vgg(128,128)", cin: 128, cout: 128, size: 32, kernel: 3, stride: 1, padding: 1, frames: 16 * 19, gradInput: true, reps: reps)
            + benchConv2d("vgg(256,256)", cin: 256, cout: 256, size: 16, kernel: 3, stride: 1, padding: 1, frames: 16 * 19, gradInput: true, reps: reps)
            + benchConv2d("vgg(512,512)", cin: 512, cout: 512, size: 8, kernel: 3, stride: 1, padding: 1, frames: 16 * 19, gradInput: true, reps: reps)
    }
    return rows
}

/// The kernel table's name for a 4×4/2/1 Winograd row: "Winograd" for F(2×2, 2×2), "Winograd F(4×4)" for F(4×4, 2×2).
func winogradRowLabel(_ g: WinogradGeometry) -> String { g.outputTile == 2 ? "Winograd" : "Winograd F(4×4)" }

/// The algorithm, and whether the model's plan takes this tile at this shape (winogradOutputTile).
func winogradNote(_ g: WinogradGeometry, frames: Int) -> String {
    let modelTile = winogradOutputTile(convOutHeight: g.outHeight, convOutWidth: g.outWidth, outChannels: g.outChannels, frames: frames)
    return g.algorithmName + (g.outputTile == modelTile ? ", the model's" : ", not the model's")
}
