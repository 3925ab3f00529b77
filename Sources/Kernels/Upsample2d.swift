// Nearest-neighbour ×2 upsampling over independent planes (CNHW: planes = C·frames).
//   x, gradX: planes × H × W          y, gradY: planes × 2H × 2W
// Forward  y[p][2i+a][2j+b] = x[p][i][j],  a, b ∈ {0, 1}
// Backward gradX[p][i][j] = Σ_{a,b} gradY[p][2i+a][2j+b]   (the adjoint; nothing is cached)

/// Nearest-neighbour ×2 upsampling of `planes` H × W planes into planes × 2H × 2W.
public func upsampleNearest2xForward(
    x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
    planes: Int, height: Int, width: Int
) {
    let outW = 2 * width
    for p in 0..<planes {
        let src = x + p * height * width, dst = y + p * 4 * height * width
        for i in 0..<height {
            let row = src + i * width, top = dst + 2 * i * outW
            for j in 0..<width {
                let v = row[j]
                top[2 * j] = v
                top[2 * j + 1] = v
            }
            // The second output row is a copy of the first.
            (top + outW).update(from: top, count: outW)
        }
    }
}

/// The adjoint of the ×2 upsampling: each gradX value is the sum of its 2×2 block of gradY (overwritten).
public func upsampleNearest2xBackward(
    gradY: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>,
    planes: Int, height: Int, width: Int
) {
    let outW = 2 * width
    for p in 0..<planes {
        let src = gradY + p * 4 * height * width, dst = gradX + p * height * width
        for i in 0..<height {
            let top = src + 2 * i * outW, bottom = top + outW, row = dst + i * width
            for j in 0..<width {
                row[j] = (top[2 * j] + top[2 * j + 1]) + (bottom[2 * j] + bottom[2 * j + 1])
            }
        }
    }
}
