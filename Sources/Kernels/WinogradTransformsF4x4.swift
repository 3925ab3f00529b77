// The six transforms of Winograd F(4×4, 2×2) for the 4×4, stride-2, padding-1 conv: output tiles of 4×4
// instead of WinogradTransforms.swift's 2×2, so 25 GEMMs of 25/64 of the direct FLOPs instead of nine of
// 9/16. Same conv view, polyphase split and layout, with 5×5 points (WinogradGeometry, outputTile 4):
//   X~: [25][4C][T]   Y~: [25][M][T]   W~: [25][M][4C]
// T = frames·(Ho/4)·(Wo/4) tiles; t = (frame·Ho/4 + th)·Wo/4 + tw; ξ = 5ξh + ξw; k = 4c + π, π = 2rh + rw.
//
// Each component is a stride-1 2×2 correlation of the sub-sampled plane u[m] = x[2m − 1 + rh]; its 4 outputs
// from 5 inputs come from Toom–Cook at the points 0, 1, −1, 2, ∞, with Bᵀ's rows scaled to integers and G's
// rows by the inverse (the product of the two is unchanged):
//   Bᵀ = [2 −1 −2 1 0; 0 2 1 −1 0; 0 −2 3 −1 0; 0 −1 0 1 0; 0 2 −1 −2 1]
//   G  = [1/2 0; 1/2 1/2; 1/6 −1/6; 1/6 1/3; 0 1]
//   Aᵀ = [1 1 1 1 0; 0 1 −1 2 0; 0 1 1 4 0; 0 1 −1 8 1]
// Aᵀ's 8 amplifies rounding more than F(2×2, 2×2)'s 0/±1 coefficients (the tests bound it against the naive
// Double convolution). A tile reads component rows 8th − 1 + rh + 2i (i < 5), so neighbouring tiles share
// one row (and column) of each component.
//
// Why lanes run across tiles: a plane has few tiles (16 at a 16×16 output, 1 at 4×4), too few to vectorise
// along a row. So each transform takes eight consecutive tiles t at once, across rows, planes and frames, in
// SIMD8 lanes: contiguous loads and stores on the transformed side, a gather (or scatter) through a 25 × 8
// staging block on the image side. Channels split over the cores, so the input adjoint's shared rows are
// summed by one worker.

private typealias TileLanes = SIMD8<Float>

/// Five lane vectors: one per point (or per input position) of a line of a tile, over eight tiles.
private struct Five {
    var v0, v1, v2, v3, v4: TileLanes
    @inline(__always) subscript(_ i: Int) -> TileLanes {
        switch i {
        case 0: v0
        case 1: v1
        case 2: v2
        case 3: v3
        default: v4
        }
    }
}

/// Four lane vectors: one per output position of a line of a tile.
private struct Four {
    var v0, v1, v2, v3: TileLanes
    @inline(__always) subscript(_ i: Int) -> TileLanes {
        switch i {
        case 0: v0
        case 1: v1
        case 2: v2
        default: v3
        }
    }
}

/// Bᵀ d.
@inline(__always)
private func inputLine(_ d0: TileLanes, _ d1: TileLanes, _ d2: TileLanes, _ d3: TileLanes, _ d4: TileLanes) -> Five {
    let d31 = d3 - d1, d02 = d0 - d2, d13 = d1 - d3
    let p0 = 2 * d02 + d31
    let p1 = 2 * d1 + d2 - d3
    let p2 = 3 * d2 - 2 * d1 - d3
    let p4 = 2 * d13 + (d4 - d2)
    return Five(v0: p0, v1: p1, v2: p2, v3: d31, v4: p4)
}

/// B z, the adjoint of Bᵀ.
@inline(__always)
private func inputAdjointLine(_ z: Five) -> Five {
    let d1 = 2 * (z.v1 - z.v2 + z.v4) - z.v0 - z.v3
    let d2 = 3 * z.v2 + z.v1 - 2 * z.v0 - z.v4
    let d3 = z.v0 - z.v1 - z.v2 + z.v3 - 2 * z.v4
    return Five(v0: 2 * z.v0, v1: d1, v2: d2, v3: d3, v4: z.v4)
}

/// Aᵀ m.
@inline(__always)
private func outputLine(_ m0: TileLanes, _ m1: TileLanes, _ m2: TileLanes, _ m3: TileLanes, _ m4: TileLanes) -> Four {
    let sum = m1 + m2, difference = m1 - m2
    return Four(v0: m0 + sum + m3, v1: difference + 2 * m3, v2: sum + 4 * m3, v3: difference + 8 * m3 + m4)
}

/// A y, the adjoint of Aᵀ.
@inline(__always)
private func outputAdjointLine(_ y: Four) -> Five {
    let even = y.v0 + y.v2, odd = y.v1 + y.v3
    let m3 = y.v0 + 2 * y.v1 + 4 * y.v2 + 8 * y.v3
    return Five(v0: y.v0, v1: even + odd, v2: even - odd, v3: m3, v4: y.v3)
}

@inline(__always) private func load(_ p: UnsafePointer<Float>) -> TileLanes { UnsafeRawPointer(p).loadUnaligned(as: TileLanes.self) }

/// The first `lanes` of p (the rest zero).
@inline(__always)
private func load(_ p: UnsafePointer<Float>, _ lanes: Int) -> TileLanes {
    if lanes == 8 { return load(p) }
    var v = TileLanes()
    for k in 0..<lanes { v[k] = p[k] }
    return v
}

/// The first `lanes` of v to p.
@inline(__always)
private func store(_ v: TileLanes, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
    if lanes == 8 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: TileLanes.self); return }
    for k in 0..<lanes { p[k] = v[k] }
}

/// Where each of the (up to) eight tiles from t0 lies on the image side: its plane's offset from the
/// channel's first plane, and its tile row and column. `lane` holds 3 Ints per lane.
@inline(__always)
private func locateTiles(_ lane: UnsafeMutablePointer<Int>, from t0: Int, count: Int, _ g: WinogradGeometry, planeSize: Int) {
    let perFrame = g.tileRows * g.tileColumns
    for l in 0..<count {
        let t = t0 + l, f = t / perFrame, r = t - f * perFrame, th = r / g.tileColumns
        lane[3 * l] = f * planeSize; lane[3 * l + 1] = th; lane[3 * l + 2] = r - th * g.tileColumns
    }
}

/// Lane l's component (rh, rw) input patch: its plane's offset from the channel's first plane, its first row
/// 8th − 1 + rh and column 8tw − 1 + rw, and whether all of it (rows and columns + 0, 2, …, 8) lies inside
/// the h × w plane, away from the padding.
@inline(__always)
private func inputPatch(_ lane: UnsafeMutablePointer<Int>, _ l: Int, rh: Int, rw: Int, h: Int, w: Int) -> (
    plane: Int, row0: Int, column0: Int, inside: Bool
) {
    let row0 = 8 * lane[3 * l + 1] - 1 + rh, column0 = 8 * lane[3 * l + 2] - 1 + rw
    return (lane[3 * l], row0, column0, row0 >= 0 && row0 + 8 < h && column0 >= 0 && column0 + 8 < w)
}

/// Runs `body(stage, lane)` with a 25 × 8 staging block and room for eight tiles' locations, both on the stack.
@inline(__always)
private func withStaging(_ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Int>) -> Void) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 25 * 8) { stage in
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * 8) { lane in body(stage.baseAddress!, lane.baseAddress!) }
    }
}

// MARK: input: x → X~ and its adjoint

/// X~[ξ][4c + π][t] = (Bᵀ ⊗ Bᵀ) of component π's 5×5 input tile.
func f4x4InputTransform(_ x: UnsafePointer<Float>, _ transformed: UnsafeMutablePointer<Float>, _ g: WinogradGeometry, imageFrames: Int) {
    parallelFor(g.inChannels, WinogradArguments(source: x, target: transformed, geometry: g, imageFrames: imageFrames)) { raw, lo, hi in
        let a = arguments(raw, as: WinogradArguments.self)
        let g = a.geometry
        let h = g.inHeight, w = g.inWidth, tiles = g.tiles, pointStride = 4 * g.inChannels * tiles
        withStaging { stage, lane in
            for c in lo..<hi {
                let channel = a.source + c * a.imageFrames * h * w
                for t0 in stride(from: 0, to: tiles, by: 8) {
                    let n = min(8, tiles - t0)
                    locateTiles(lane, from: t0, count: n, g, planeSize: h * w)
                    if n < 8 { stage.update(repeating: 0, count: 25 * 8) }
                    for rh in 0..<2 {
                        for rw in 0..<2 {
                            // Gather: lane l's input d[i][j] = x[8th − 1 + rh + 2i][8tw − 1 + rw + 2j], 0 on the padding.
                            for l in 0..<n {
                                let (offset, row0, column0, inside) = inputPatch(lane, l, rh: rh, rw: rw, h: h, w: w)
                                let plane = channel + offset
                                if inside {
                                    let p = plane + row0 * w + column0
                                    for i in 0..<5 { for j in 0..<5 { stage[(5 * i + j) * 8 + l] = p[2 * i * w + 2 * j] } }
                                } else {
                                    for i in 0..<5 {
                                        let row = row0 + 2 * i, rowInside = row >= 0 && row < h
                                        let p = plane + min(max(row, 0), h - 1) * w
                                        for j in 0..<5 {
                                            let column = column0 + 2 * j
                                            let v = p[min(max(column, 0), w - 1)]
                                            stage[(5 * i + j) * 8 + l] = rowInside && column >= 0 && column < w ? v : 0
                                        }
                                    }
                                }
                            }
                            // Bᵀ along w (each row i), then along h (each point column ξw).
                            func row(_ i: Int) -> Five {
                                let s = stage + 40 * i
                                return inputLine(load(s), load(s + 8), load(s + 16), load(s + 24), load(s + 32))
                            }
                            let e0 = row(0), e1 = row(1), e2 = row(2), e3 = row(3), e4 = row(4)
                            let out = a.target + (4 * c + 2 * rh + rw) * tiles + t0
                            for xw in 0..<5 {
                                let column = inputLine(e0[xw], e1[xw], e2[xw], e3[xw], e4[xw])
                                for xh in 0..<5 { store(column[xh], out + (5 * xh + xw) * pointStride, n) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// x (+)= (B ⊗ B) of X~, summed where neighbouring tiles share input rows and columns, dropped where it falls
/// on the padding, + bias[c]. Without `accumulate` each plane starts as bias[c] (or 0).
func f4x4InputAdjoint(
    _ transformed: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ g: WinogradGeometry,
    bias: UnsafePointer<Float>?, accumulate: Bool, imageFrames: Int
) {
    parallelFor(
        g.inChannels,
        WinogradArguments(source: transformed, target: x, geometry: g, bias: bias, accumulate: accumulate, imageFrames: imageFrames)
    ) { raw, lo, hi in
        let a = arguments(raw, as: WinogradArguments.self)
        let g = a.geometry
        let h = g.inHeight, w = g.inWidth, tiles = g.tiles, pointStride = 4 * g.inChannels * tiles
        withStaging { stage, lane in
            for c in lo..<hi {
                let channel = a.target + c * a.imageFrames * h * w
                let b = a.bias.map { $0[c] } ?? 0
                for f in 0..<g.frames {
                    let plane = channel + f * h * w
                    if !a.accumulate { plane.update(repeating: b, count: h * w) } else if b != 0 { for i in 0..<(h * w) { plane[i] += b } }
                }
                for t0 in stride(from: 0, to: tiles, by: 8) {
                    let n = min(8, tiles - t0)
                    locateTiles(lane, from: t0, count: n, g, planeSize: h * w)
                    for rh in 0..<2 {
                        for rw in 0..<2 {
                            // B along w (each point row ξh), then along h (each input column j).
                            let z = a.source + (4 * c + 2 * rh + rw) * tiles + t0
                            func pointRow(_ xh: Int) -> Five {
                                let p = z + 5 * xh * pointStride
                                return inputAdjointLine(
                                    Five(
                                        v0: load(p, n), v1: load(p + pointStride, n), v2: load(p + 2 * pointStride, n),
                                        v3: load(p + 3 * pointStride, n), v4: load(p + 4 * pointStride, n)))
                            }
                            let r0 = pointRow(0), r1 = pointRow(1), r2 = pointRow(2), r3 = pointRow(3), r4 = pointRow(4)
                            for j in 0..<5 {
                                let column = inputAdjointLine(Five(v0: r0[j], v1: r1[j], v2: r2[j], v3: r3[j], v4: r4[j]))
                                for i in 0..<5 { UnsafeMutableRawPointer(stage + (5 * i + j) * 8).storeBytes(of: column[i], as: TileLanes.self) }
                            }
                            // Scatter: lane l's d[i][j] adds into x[8th − 1 + rh + 2i][8tw − 1 + rw + 2j] unless on the padding.
                            for l in 0..<n {
                                let (offset, row0, column0, inside) = inputPatch(lane, l, rh: rh, rw: rw, h: h, w: w)
                                let plane = channel + offset
                                if inside {
                                    let p = plane + row0 * w + column0
                                    for i in 0..<5 { for j in 0..<5 { p[2 * i * w + 2 * j] += stage[(5 * i + j) * 8 + l] } }
                                } else {
                                    for i in 0..<5 {
                                        let row = row0 + 2 * i
                                        guard row >= 0 && row < h else { continue }
                                        for j in 0..<5 {
                                            let column = column0 + 2 * j
                                            if column >= 0 && column < w { plane[row * w + column] += stage[(5 * i + j) * 8 + l] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// MARK: output: Y~ → y and its adjoint

/// y (+)= (Aᵀ ⊗ Aᵀ) of Y~ (+ bias[m]).
func f4x4OutputTransform(
    _ transformed: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ g: WinogradGeometry,
    bias: UnsafePointer<Float>?, accumulate: Bool, imageFrames: Int
) {
    parallelFor(
        g.outChannels,
        WinogradArguments(source: transformed, target: y, geometry: g, bias: bias, accumulate: accumulate, imageFrames: imageFrames)
    ) { raw, lo, hi in
        let a = arguments(raw, as: WinogradArguments.self)
        let g = a.geometry
        let ho = g.outHeight, wo = g.outWidth, tiles = g.tiles, pointStride = g.outChannels * tiles
        withStaging { stage, lane in
            for m in lo..<hi {
                let channel = a.target + m * a.imageFrames * ho * wo
                let b = a.bias.map { $0[m] } ?? 0
                for t0 in stride(from: 0, to: tiles, by: 8) {
                    let n = min(8, tiles - t0)
                    locateTiles(lane, from: t0, count: n, g, planeSize: ho * wo)
                    // Aᵀ along w (each point row ξh), then along h (each output column j).
                    let s = a.source + m * tiles + t0
                    func pointRow(_ xh: Int) -> Four {
                        let p = s + 5 * xh * pointStride
                        return outputLine(
                            load(p, n), load(p + pointStride, n), load(p + 2 * pointStride, n), load(p + 3 * pointStride, n),
                            load(p + 4 * pointStride, n))
                    }
                    let r0 = pointRow(0), r1 = pointRow(1), r2 = pointRow(2), r3 = pointRow(3), r4 = pointRow(4)
                    for j in 0..<4 {
                        let column = outputLine(r0[j], r1[j], r2[j], r3[j], r4[j])
                        for i in 0..<4 { UnsafeMutableRawPointer(stage + (4 * i + j) * 8).storeBytes(of: column[i] + b, as: TileLanes.self) }
                    }
                    for l in 0..<n {
                        let p = channel + lane[3 * l] + 4 * lane[3 * l + 1] * wo + 4 * lane[3 * l + 2]
                        for i in 0..<4 {
                            let row = p + i * wo
                            for j in 0..<4 {
                                let v = stage[(4 * i + j) * 8 + l]
                                row[j] = a.accumulate ? row[j] + v : v
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Y~ = (A ⊗ A) of y: the output transform's adjoint (a gradient dL/dy → dL/dY~, or a transposed conv's input).
func f4x4OutputAdjoint(_ y: UnsafePointer<Float>, _ transformed: UnsafeMutablePointer<Float>, _ g: WinogradGeometry, imageFrames: Int) {
    parallelFor(g.outChannels, WinogradArguments(source: y, target: transformed, geometry: g, imageFrames: imageFrames)) { raw, lo, hi in
        let a = arguments(raw, as: WinogradArguments.self)
        let g = a.geometry
        let ho = g.outHeight, wo = g.outWidth, tiles = g.tiles, pointStride = g.outChannels * tiles
        withStaging { stage, lane in
            for m in lo..<hi {
                let channel = a.source + m * a.imageFrames * ho * wo
                for t0 in stride(from: 0, to: tiles, by: 8) {
                    let n = min(8, tiles - t0)
                    locateTiles(lane, from: t0, count: n, g, planeSize: ho * wo)
                    if n < 8 { stage.update(repeating: 0, count: 16 * 8) }
                    for l in 0..<n {
                        let p = channel + lane[3 * l] + 4 * lane[3 * l + 1] * wo + 4 * lane[3 * l + 2]
                        for i in 0..<4 { for j in 0..<4 { stage[(4 * i + j) * 8 + l] = p[i * wo + j] } }
                    }
                    // A along w (each output row i), then along h (each point column ξw).
                    func row(_ i: Int) -> Five {
                        let s = stage + 32 * i
                        return outputAdjointLine(Four(v0: load(s), v1: load(s + 8), v2: load(s + 16), v3: load(s + 24)))
                    }
                    let e0 = row(0), e1 = row(1), e2 = row(2), e3 = row(3)
                    let out = a.target + m * tiles + t0
                    for xw in 0..<5 {
                        let column = outputAdjointLine(Four(v0: e0[xw], v1: e1[xw], v2: e2[xw], v3: e3[xw]))
                        for xh in 0..<5 { store(column[xh], out + (5 * xh + xw) * pointStride, n) }
                    }
                }
            }
        }
    }
}

// MARK: weight: w → W~ and its adjoint

private let sixth: Float = 1.0 / 6

/// One point column ξw of W~: G along h of the column's two tap-row values, to the five points ξh (`pointStride`
/// apart, five rows of points between ξh and ξh + 1).
@inline(__always)
private func storeWeightColumn(_ top: Float, _ bottom: Float, _ o: UnsafeMutablePointer<Float>, _ pointStride: Int) {
    o[0] = 0.5 * top
    o[5 * pointStride] = 0.5 * (top + bottom)
    o[10 * pointStride] = (top - bottom) * sixth
    o[15 * pointStride] = (top + 2 * bottom) * sixth
    o[20 * pointStride] = bottom
}

/// W~[ξ][m][4c + π] = (G ⊗ G) of component π's 2×2 taps w[m][c][2a + rh][2b + rw].
func f4x4WeightTransform(_ weight: UnsafePointer<Float>, _ transformed: UnsafeMutablePointer<Float>, _ g: WinogradGeometry, weightStride: Int) {
    parallelFor(
        g.outChannels, minimumPerWorker: 16, WinogradArguments(source: weight, target: transformed, geometry: g, weightStride: weightStride)
    ) { raw, lo, hi in
        let a = arguments(raw, as: WinogradArguments.self)
        let g = a.geometry
        let k4 = 4 * g.inChannels, ps = g.outChannels * k4
        for m in lo..<hi {
            for c in 0..<g.inChannels {
                let w = a.source + m * a.weightStride + 16 * c
                for rh in 0..<2 {
                    for rw in 0..<2 {
                        let (g00, g01, g10, g11) = componentTaps(w, rh, rw)
                        // G along w for both tap rows (one value per point column ξw), then along h.
                        let o = a.target + m * k4 + 4 * c + 2 * rh + rw
                        storeWeightColumn(0.5 * g00, 0.5 * g10, o, ps)
                        storeWeightColumn(0.5 * (g00 + g01), 0.5 * (g10 + g11), o + ps, ps)
                        storeWeightColumn((g00 - g01) * sixth, (g10 - g11) * sixth, o + 2 * ps, ps)
                        storeWeightColumn((g00 + 2 * g01) * sixth, (g10 + 2 * g11) * sixth, o + 3 * ps, ps)
                        storeWeightColumn(g01, g11, o + 4 * ps, ps)
                    }
                }
            }
        }
    }
}

/// Gᵀ of five values `stride` apart: the gradients of the two taps.
@inline(__always)
private func weightAdjointLine(_ p: UnsafePointer<Float>, _ stride: Int) -> (Float, Float) {
    weightAdjointLine(p[0], p[stride], p[2 * stride], p[3 * stride], p[4 * stride])
}

/// Gᵀ of five values: the gradients of the two taps.
@inline(__always)
private func weightAdjointLine(_ v0: Float, _ v1: Float, _ v2: Float, _ v3: Float, _ v4: Float) -> (Float, Float) {
    (0.5 * (v0 + v1) + (v2 + v3) * sixth, 0.5 * v1 + (2 * v3 - v2) * sixth + v4)
}

/// gradWeight (+)= (Gᵀ ⊗ Gᵀ) of gradW~: the weight transform's adjoint.
func f4x4WeightAdjoint(
    _ transformed: UnsafePointer<Float>, _ gradWeight: UnsafeMutablePointer<Float>, _ g: WinogradGeometry, weightStride: Int, accumulate: Bool
) {
    parallelFor(
        g.outChannels, minimumPerWorker: 16,
        WinogradArguments(source: transformed, target: gradWeight, geometry: g, accumulate: accumulate, weightStride: weightStride)
    ) { raw, lo, hi in
        let a = arguments(raw, as: WinogradArguments.self)
        let g = a.geometry
        let k4 = 4 * g.inChannels, ps = g.outChannels * k4
        for m in lo..<hi {
            for c in 0..<g.inChannels {
                let gw = a.target + m * a.weightStride + 16 * c
                for rh in 0..<2 {
                    for rw in 0..<2 {
                        let s = a.source + m * k4 + 4 * c + 2 * rh + rw
                        // Gᵀ along h (points ξh → tap rows a) for each point column ξw, then along w.
                        let (t0, b0) = weightAdjointLine(s, 5 * ps), (t1, b1) = weightAdjointLine(s + ps, 5 * ps)
                        let (t2, b2) = weightAdjointLine(s + 2 * ps, 5 * ps), (t3, b3) = weightAdjointLine(s + 3 * ps, 5 * ps)
                        let (t4, b4) = weightAdjointLine(s + 4 * ps, 5 * ps)
                        let (g00, g01) = weightAdjointLine(t0, t1, t2, t3, t4), (g10, g11) = weightAdjointLine(b0, b1, b2, b3, b4)
                        storeComponentTaps((g00, g01, g10, g11), gw, rh, rw, accumulate: a.accumulate)
                    }
                }
            }
        }
    }
}
