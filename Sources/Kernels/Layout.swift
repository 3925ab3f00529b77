// Activation layout inside the engine: channel-major "CNHW", i.e. C × (frames·H·W), row-major.
// One GEMM then serves every frame at once (the frame index lives inside the GEMM's N dimension),
// channel concatenation is two adjacent blocks, and a BatchNorm group (B frames of one time step) is
// one contiguous run per channel. NCHW, the layout of data files, checkpoints and tests, is converted
// at the edges only:
//   nchwToCNHW: x[n][c][p] (N×C×P)  ->  y[c][n][p] (C×N×P)     P = H·W
//   cnhwToNCHW: the inverse.

/// Converts N × C × P (data files, checkpoints) to the engine's C × N × P; P = H·W.
public func nchwToCNHW(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, frames n: Int, channels c: Int, plane p: Int) {
    for f in 0..<n {
        for ch in 0..<c {
            (y + (ch * n + f) * p).update(from: x + (f * c + ch) * p, count: p)
        }
    }
}

/// Converts the engine's C × N × P back to N × C × P; the inverse of nchwToCNHW.
public func cnhwToNCHW(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, frames n: Int, channels c: Int, plane p: Int) {
    for f in 0..<n {
        for ch in 0..<c {
            (y + (f * c + ch) * p).update(from: x + (ch * n + f) * p, count: p)
        }
    }
}
