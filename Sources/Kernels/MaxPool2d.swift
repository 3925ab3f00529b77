// MaxPool2d, 2×2 window, stride 2, over independent planes (CNHW: planes = C·frames, each H × W).
//   x, gradX:       planes × H × W
//   y, gradY, argmax: planes × (H/2) × (W/2)      (floor, as PyTorch's default: an odd last row or
//                                                  column is never read and gets zero gradient)
// Forward  y[p][i][j] = max over x[p][2i+a][2j+b], a, b ∈ {0, 1}; argmax[p][i][j] = (2i+a)·W + (2j+b),
//          the index within the plane of the value taken. The window is scanned row-major and only a
//          strictly larger value replaces the current one, so the first maximum wins; a NaN always
//          replaces it, so NaN propagates — both as PyTorch's CPU kernel.
// Backward gradX = 0, then gradX[p][argmax[p][i][j]] += gradY[p][i][j]   (argmax cached from forward)

/// 2×2, stride-2 max pooling of `planes` independent H × W planes into planes × (H/2) × (W/2), recording in
/// `argmax` the index within the plane of each value taken (first maximum wins, NaN propagates).
public func maxPool2dForward(
    x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>,
    planes: Int, height: Int, width: Int
) {
    precondition(height >= 2 && width >= 2, "maxPool2dForward: a 2×2 window needs at least 2×2 pixels")
    let outH = height / 2, outW = width / 2
    for p in 0..<planes {
        let src = x + p * height * width
        let dst = y + p * outH * outW, idx = argmax + p * outH * outW
        for i in 0..<outH {
            for j in 0..<outW {
                let topLeft = 2 * i * width + 2 * j
                var best = -Float.infinity, bestIndex = topLeft
                for a in 0..<2 {
                    for b in 0..<2 {
                        let candidate = topLeft + a * width + b
                        let v = src[candidate]
                        if v > best || v.isNaN { best = v; bestIndex = candidate }
                    }
                }
                dst[i * outW + j] = best
                idx[i * outW + j] = Int32(truncatingIfNeeded: bestIndex)
            }
        }
    }
}

/// Max pooling's backward: zeroes gradX, then routes each gradY value to the input position in `argmax`.
public func maxPool2dBackward(
    gradY: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, gradX: UnsafeMutablePointer<Float>,
    planes: Int, height: Int, width: Int
) {
    let outH = height / 2, outW = width / 2
    gradX.update(repeating: 0, count: planes * height * width)
    for p in 0..<planes {
        let gx = gradX + p * height * width
        let gy = gradY + p * outH * outW, idx = argmax + p * outH * outW
        // Windows do not overlap, but += keeps this correct for any argmax the forward could produce.
        for k in 0..<(outH * outW) { gx[Int(idx[k])] += gy[k] }
    }
}
