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

/// The backbones' LeakyReLU slope (DCGAN and VGG, MODEL.md "Backbones").
public let leakyReLUSlope: Float = 0.2

/// Pointers and slope of one elementwise call, handed to the workers (Parallel.swift).
struct ElementwiseArguments {
    var x: UnsafePointer<Float>
    var y: UnsafeMutablePointer<Float>
    var gradY: UnsafePointer<Float>? = nil
    var slope: Float = 0
}

public func leakyReLUForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, slope: Float = leakyReLUSlope) {
    parallelFor(count, minimumPerWorker: valuesPerWorker, ElementwiseArguments(x: x, y: y, slope: slope)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self)
        for i in lo..<hi { let v = a.x[i]; a.y[i] = v > 0 ? v : a.slope * v }
    }
}

public func leakyReLUBackward(gradY: UnsafePointer<Float>, y: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>,
                              count: Int, slope: Float = leakyReLUSlope) {
    parallelFor(count, minimumPerWorker: valuesPerWorker, ElementwiseArguments(x: y, y: gradX, gradY: gradY, slope: slope)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self), gy = a.gradY!
        for i in lo..<hi { let g = gy[i]; a.y[i] = a.x[i] > 0 ? g : a.slope * g }
    }
}

public func reluForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: valuesPerWorker, ElementwiseArguments(x: x, y: y)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self)
        for i in lo..<hi { let v = a.x[i]; a.y[i] = v < 0 ? 0 : v }
    }
}

public func reluBackward(gradY: UnsafePointer<Float>, y: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: valuesPerWorker, ElementwiseArguments(x: y, y: gradX, gradY: gradY)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self), gy = a.gradY!
        for i in lo..<hi { a.y[i] = a.x[i] > 0 ? gy[i] : 0 }
    }
}

public func tanhForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: valuesPerWorker / 8, ElementwiseArguments(x: x, y: y)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self)
        for i in lo..<hi { a.y[i] = tanhf(a.x[i]) }
    }
}

public func tanhBackward(gradY: UnsafePointer<Float>, y: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: valuesPerWorker, ElementwiseArguments(x: y, y: gradX, gradY: gradY)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self), gy = a.gradY!
        for i in lo..<hi { let v = a.x[i]; a.y[i] = gy[i] * (1 - v * v) }
    }
}

public func sigmoidForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: valuesPerWorker / 8, ElementwiseArguments(x: x, y: y)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self)
        for i in lo..<hi {
            let v = a.x[i]
            // exp of a non-positive argument only: e^(−x) for large negative x would overflow to inf.
            if v >= 0 {
                a.y[i] = 1 / (1 + expf(-v))
            } else {
                let e = expf(v)
                a.y[i] = e / (1 + e)
            }
        }
    }
}

public func sigmoidBackward(gradY: UnsafePointer<Float>, y: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: valuesPerWorker, ElementwiseArguments(x: y, y: gradX, gradY: gradY)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self), gy = a.gradY!
        for i in lo..<hi { let v = a.x[i]; a.y[i] = gy[i] * v * (1 - v) }
    }
}
