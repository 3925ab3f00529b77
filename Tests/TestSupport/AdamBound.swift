// How far bias-corrected Adam (β1 0.9, β2 0.999) can move one entry in `steps` steps, whatever its
// gradients: step t moves it by lr·|m̂|/(√v̂ + ε) with m̂ = Σᵢ aᵢgᵢ, v̂ = Σᵢ bᵢgᵢ², aᵢ = (1−β1)β1^(t−i)/(1−β1^t),
// bᵢ = (1−β2)β2^(t−i)/(1−β2^t), and by Cauchy–Schwarz |m̂| ≤ √(Σ aᵢ²/bᵢ)·√v̂. For tensors whose exact
// gradient is zero, whose gradients are rounding noise, this is the only bound that holds.
import Foundation

/// lr · Σ_{t=1…steps} √(Σᵢ aᵢ²/bᵢ): at least steps·lr, slightly more once the moments' weights differ.
public func adamMoveBound(steps: Int, learningRate lr: Double, beta1: Double = 0.9, beta2: Double = 0.999) -> Double {
    var total = 0.0
    for t in 1...max(steps, 1) {
        var ratio = 0.0
        for i in 1...t {
            let a = (1 - beta1) * pow(beta1, Double(t - i)) / (1 - pow(beta1, Double(t)))
            let b = (1 - beta2) * pow(beta2, Double(t - i)) / (1 - pow(beta2, Double(t)))
            ratio += a * a / b
        }
        total += lr * ratio.squareRoot()
    }
    return total
}
