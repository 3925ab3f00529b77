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

/// LeakyReLU over `count` values: y = x > 0 ? x : slope·x, split over the cores. May run in place (y == x).
public func leakyReLUForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, slope: Float = leakyReLUSlope) {
    parallelFor(count, minimumPerWorker: valuesPerWorker, ElementwiseArguments(x: x, y: y, slope: slope)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self)
        for i in lo..<hi { let v = a.x[i]; a.y[i] = v > 0 ? v : a.slope * v }
    }
}

/// LeakyReLU's backward from the forward's output: gradX = y > 0 ? gradY : slope·gradY (valid for slope > 0,
/// where y has x's sign). May run in place (gradX == gradY).
public func leakyReLUBackward(
    gradY: UnsafePointer<Float>, y: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>,
    count: Int, slope: Float = leakyReLUSlope
) {
    // At slope ≤ 0 the sign of y no longer tells which branch x took.
    precondition(slope > 0, "leakyReLUBackward reads the branch from y, which needs slope > 0 (got \(slope))")
    parallelFor(count, minimumPerWorker: valuesPerWorker, ElementwiseArguments(x: y, y: gradX, gradY: gradY, slope: slope)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self), gy = a.gradY!
        for i in lo..<hi { let g = gy[i]; a.y[i] = a.x[i] > 0 ? g : a.slope * g }
    }
}

/// ReLU over `count` values: y = max(x, 0). May run in place (y == x).
public func reluForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: valuesPerWorker, ElementwiseArguments(x: x, y: y)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self)
        for i in lo..<hi { let v = a.x[i]; a.y[i] = v < 0 ? 0 : v }
    }
}

/// ReLU's backward from the forward's output: gradX = y > 0 ? gradY : 0. May run in place (gradX == gradY).
public func reluBackward(gradY: UnsafePointer<Float>, y: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: valuesPerWorker, ElementwiseArguments(x: y, y: gradX, gradY: gradY)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self), gy = a.gradY!
        for i in lo..<hi { a.y[i] = a.x[i] > 0 ? gy[i] : 0 }
    }
}

/// y = tanh x over `count` values. May run in place (y == x).
public func tanhForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: valuesPerWorker / 8, ElementwiseArguments(x: x, y: y)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self)
        for i in lo..<hi { a.y[i] = tanhf(a.x[i]) }
    }
}

/// Tanh's backward from the forward's output: gradX = gradY·(1 − y²). May run in place (gradX == gradY).
public func tanhBackward(gradY: UnsafePointer<Float>, y: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: valuesPerWorker, ElementwiseArguments(x: y, y: gradX, gradY: gradY)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self), gy = a.gradY!
        for i in lo..<hi { let v = a.x[i]; a.y[i] = gy[i] * (1 - v * v) }
    }
}

/// y = 1/(1 + e^(−x)) over `count` values, with exp taken of a non-positive argument only so it never
/// overflows. May run in place (y == x).
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

/// Sigmoid's backward from the forward's output: gradX = gradY·y·(1 − y). May run in place (gradX == gradY).
public func sigmoidBackward(gradY: UnsafePointer<Float>, y: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minimumPerWorker: valuesPerWorker, ElementwiseArguments(x: y, y: gradX, gradY: gradY)) { raw, lo, hi in
        let a = arguments(raw, as: ElementwiseArguments.self), gy = a.gradY!
        for i in lo..<hi { let v = a.x[i]; a.y[i] = gy[i] * v * (1 - v) }
    }
}
