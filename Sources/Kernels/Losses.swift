// Training losses and the reparameterisation of SVG-LP (MODEL.md "Training step").
// All arrays are flat, `count` long.
//   pred, target, gradPred:                            count
//   muQ, logvarQ, muP, logvarP and their gradients:    count = B × d (any layout, summed over all)
//   mu, logvar, eps, z, gradZ, gradMu, gradLogvar:     count
// MSE       L = Σ (pred − target)² / divisor
//           dL/dpred = 2(pred − target)/divisor
//   The model passes divisor = B·C·H·W, so a buffer holding every time step gives Σ_t mean_t.
// KL(q‖p)   L = Σ [ log(σp/σq) + (σq² + (μq − μp)²)/(2σp²) − ½ ] / batch,   σ² = exp(logvar)
//           with log(σp/σq) = ½(lvp − lvq):
//           dL/dμq = (μq − μp)/σp² / batch                  dL/dμp = −dL/dμq
//           dL/dlvq = ½(σq²/σp² − 1) / batch
//           dL/dlvp = ½(1 − (σq² + (μq − μp)²)/σp²) / batch
// Reparameterisation  z = μ + exp(½·logvar)·ε
//           dμ += dz,   dlogvar += dz·ε·½·exp(½·logvar)   (accumulate: the KL term writes them first)
// Nothing is cached; the backward recomputes from its inputs. Sums are in Double because a loss over
// many thousands of pixels must not lose the small per-pixel terms.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Σ (pred − target)² / divisor over `count` values, summed in Double.
public func mseForward(pred: UnsafePointer<Float>, target: UnsafePointer<Float>, count: Int, divisor: Double) -> Double {
    var s: Double = 0
    for k in 0..<count {
        let d = Double(pred[k]) - Double(target[k])
        s += d * d
    }
    return s / divisor
}

/// gradPred is overwritten with the gradient of scale·L.
public func mseBackward(
    pred: UnsafePointer<Float>, target: UnsafePointer<Float>, gradPred: UnsafeMutablePointer<Float>,
    count: Int, divisor: Double, scale: Float = 1
) {
    let factor = Float(2 * Double(scale) / divisor)
    for k in 0..<count { gradPred[k] = factor * (pred[k] - target[k]) }
}

/// KL(q‖p) between diagonal Gaussians given by means and log-variances, summed over `count` values and
/// divided by `batch`, in Double.
public func klDiagonalGaussianForward(
    muQ: UnsafePointer<Float>, logvarQ: UnsafePointer<Float>,
    muP: UnsafePointer<Float>, logvarP: UnsafePointer<Float>,
    count: Int, batch: Int
) -> Double {
    var s: Double = 0
    for k in 0..<count {
        let lvq = Double(logvarQ[k]), lvp = Double(logvarP[k]), dm = Double(muQ[k]) - Double(muP[k])
        s += 0.5 * (lvp - lvq) + (exp(lvq) + dm * dm) / (2 * exp(lvp)) - 0.5
    }
    return s / Double(batch)
}

/// All four gradients of scale·KL are overwritten. Computed per element in Double: exp(lvq − lvp)
/// of a badly matched prior is large, and these arrays are small (B × d per step).
public func klDiagonalGaussianBackward(
    muQ: UnsafePointer<Float>, logvarQ: UnsafePointer<Float>,
    muP: UnsafePointer<Float>, logvarP: UnsafePointer<Float>,
    gradMuQ: UnsafeMutablePointer<Float>, gradLogvarQ: UnsafeMutablePointer<Float>,
    gradMuP: UnsafeMutablePointer<Float>, gradLogvarP: UnsafeMutablePointer<Float>,
    count: Int, batch: Int, scale: Float
) {
    let w = Double(scale) / Double(batch)
    for k in 0..<count {
        let lvq = Double(logvarQ[k]), lvp = Double(logvarP[k]), dm = Double(muQ[k]) - Double(muP[k])
        let invVarP = exp(-lvp), ratio = exp(lvq - lvp)
        let gmu = w * dm * invVarP
        gradMuQ[k] = Float(gmu)
        gradMuP[k] = Float(-gmu)
        gradLogvarQ[k] = Float(w * 0.5 * (ratio - 1))
        gradLogvarP[k] = Float(w * 0.5 * (1 - ratio - dm * dm * invVarP))
    }
}

/// z = μ + exp(½·logvar)·ε over `count` values.
public func reparameterizeForward(
    mu: UnsafePointer<Float>, logvar: UnsafePointer<Float>, eps: UnsafePointer<Float>,
    z: UnsafeMutablePointer<Float>, count: Int
) {
    for k in 0..<count { z[k] = mu[k] + expf(0.5 * logvar[k]) * eps[k] }
}

/// The reparameterisation's backward: gradMu += gradZ and gradLogvar += gradZ·ε·½·exp(½·logvar). Both
/// accumulate, since the KL backward writes them first.
public func reparameterizeBackward(
    gradZ: UnsafePointer<Float>, logvar: UnsafePointer<Float>, eps: UnsafePointer<Float>,
    gradMu: UnsafeMutablePointer<Float>, gradLogvar: UnsafeMutablePointer<Float>, count: Int
) {
    for k in 0..<count {
        let gz = gradZ[k]
        gradMu[k] += gz
        gradLogvar[k] += gz * eps[k] * 0.5 * expf(0.5 * logvar[k])
    }
}
