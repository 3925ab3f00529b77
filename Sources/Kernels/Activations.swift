// Elementwise activations over `count` values; the layout does not matter.
//   x, y, gradY, gradX: count
// Forward                                   Backward (reads the forward OUTPUT y, not x)
//   LeakyReLU: y = x > 0 ? x : slope·x        gx = y > 0 ? gy : slope·gy
//   ReLU:      y = max(x, 0)                  gx = y > 0 ? gy : 0
//   Tanh:      y = tanh x                     gx = gy·(1 − y²)
//   Sigmoid:   y = 1/(1 + e^(−x))             gx = gy·y·(1 − y)
// Backward reads y rather than x so every forward may run in place (y == x) and the pre-activation
// buffer need not be kept; for LeakyReLU and ReLU (slope > 0) the sign of y is the sign of x.
// Every function may run in place: forward with y == x, backward with gradX == gradY.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public func leakyReLUForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, slope: Float = 0.2) {
    for i in 0..<count { let v = x[i]; y[i] = v > 0 ? v : slope * v }
}

public func leakyReLUBackward(gradY: UnsafePointer<Float>, y: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>,
                              count: Int, slope: Float = 0.2) {
    for i in 0..<count { let g = gradY[i]; gradX[i] = y[i] > 0 ? g : slope * g }
}

public func reluForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
    // Written as a comparison rather than max() so that NaN propagates, as in PyTorch.
    for i in 0..<count { let v = x[i]; y[i] = v < 0 ? 0 : v }
}

public func reluBackward(gradY: UnsafePointer<Float>, y: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { gradX[i] = y[i] > 0 ? gradY[i] : 0 }
}

public func tanhForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { y[i] = tanhf(x[i]) }
}

public func tanhBackward(gradY: UnsafePointer<Float>, y: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { let v = y[i]; gradX[i] = gradY[i] * (1 - v * v) }
}

public func sigmoidForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
        let v = x[i]
        // exp of a non-positive argument only: e^(−x) for large negative x would overflow to inf.
        if v >= 0 {
            y[i] = 1 / (1 + expf(-v))
        } else {
            let e = expf(v)
            y[i] = e / (1 + e)
        }
    }
}

public func sigmoidBackward(gradY: UnsafePointer<Float>, y: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { let v = y[i]; gradX[i] = gradY[i] * v * (1 - v) }
}
