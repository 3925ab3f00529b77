// BatchNorm2d over CNHW activations with statistics per time-step group (MODEL.md "Training step").
//   x, y, gradY, gradX:  C × (G·B·P)    G = groups, B = framesPerGroup, P = plane = H·W, M = B·P
//                        group g of channel c is the contiguous run x[c·G·M + g·M ..< c·G·M + (g+1)·M]
//   gamma, beta, gradGamma, gradBeta, runningMean, runningVar:  C
//   mean, invStd:        G × C, row-major [g][c]; written by the training forward, read by backward
// Training forward, per (g, c) over its run of M values:
//   μ = Σx / M,  σ² = Σ(x − μ)² / M (biased),  s = 1/√(σ² + eps),  y = γ·(x − μ)·s + β
//   running stats, for g = 0 … G−1 in order:  r ← (1 − momentum)·r + momentum·stat,
//   stat = μ for runningMean and σ²·M/(M − 1) (unbiased) for runningVar — PyTorch's update once per group,
//   because the reference calls the network once per time step.
// Inference forward: y = γ·(x − runningMean)/√(runningVar + eps) + β, every column alike.
// Both forwards optionally apply LeakyReLU(leakySlope) to y in the same pass.
// Backward (training statistics; x is the forward's input, μ and s are what it saved), per (g, c),
// optionally through the fused LeakyReLU first (gy ← gy·LeakyReLU′(y), the gate recomputed from x):
//   x̂ = (x − μ)·s,  Σ_g gy and Σ_g gy·x̂ over the run,
//   gradX = γ·s·(gy − Σ_g gy / M − x̂·Σ_g gy·x̂ / M)
//   gradBeta (+)= Σ_groups Σ_g gy,   gradGamma (+)= Σ_groups Σ_g gy·x̂
//   gradXSum (+)= Σ_groups Σ_g gradX (optional): the gradient of a bias added just before this BatchNorm
//   (the conv's), summed in the pass that writes gradX rather than in a pass of its own over it
// Data parallelism (`replicas`): each process holds its own frames of every group, and the statistics
// are those of all processes' frames together. The forward then runs in three passes over the map (Σx,
// allreduce, Σ(x − μ)², allreduce, normalise) and the backward in two (Σgy and Σgy·x̂, allreduce, gradX);
// gradGamma, gradBeta and gradXSum stay this process's share, summed later with the other parameter
// gradients. Without replicas one pass per channel does it all, as above.
// Sums run in Double, eight lanes wide (Reductions.swift): a run is up to ~60,000 values, where Float sums lose the low digits, and the
// variance is taken about the mean (second pass) so a large offset does not cancel it away.

/// Sizes of one BatchNorm2d call over a CNHW map C × (G·B·P), statistics taken per (group, channel).
public struct BatchNormShape: Sendable, Equatable {
    /// C channels, G groups (time steps) of B frames each, and P = H·W values per frame; all positive.
    public var channels: Int, groups: Int, framesPerGroup: Int, plane: Int

    /// Creates a shape; every size must be positive (precondition).
    public init(channels: Int, groups: Int, framesPerGroup: Int, plane: Int) {
        precondition(
            channels > 0 && groups > 0 && framesPerGroup > 0 && plane > 0,
            "BatchNormShape: every size must be positive")
        self.channels = channels; self.groups = groups; self.framesPerGroup = framesPerGroup; self.plane = plane
    }

    /// Values per (group, channel): the population one set of statistics is taken over.
    public var groupRun: Int { framesPerGroup * plane }
    /// Columns of the CNHW matrix: every frame of every group.
    public var columns: Int { groups * groupRun }
    /// Floats of the whole map: channels × columns.
    public var count: Int { channels * columns }
}

/// What a data-parallel BatchNorm needs to take its statistics over every replica's frames: the replicas,
/// the frames per group over all of them, and workspace for the sums. Creating one allocates nothing.
public struct CrossReplicaStatistics {
    /// The replicas whose frames together make each group.
    public var group: any ReplicaGroup
    /// Frames per group summed over all replicas (this replica holds `BatchNormShape.framesPerGroup` of them).
    public var framesPerGroup: Int
    /// Workspace of at least 2·G·C Doubles.
    public var scratch: UnsafeMutablePointer<Double>

    /// Creates the description; `framesPerGroup` must be positive (precondition).
    public init(group: any ReplicaGroup, framesPerGroup: Int, scratch: UnsafeMutablePointer<Double>) {
        precondition(framesPerGroup > 0, "CrossReplicaStatistics: framesPerGroup must be positive")
        self.group = group; self.framesPerGroup = framesPerGroup; self.scratch = scratch
    }
}

/// BatchNorm2d's training forward with batch statistics per (group, channel): writes y (may equal x), the
/// saved `mean` and `invStd` (G × C) for the backward and, when given, updates the running statistics once
/// per group in order. `leakySlope` applies LeakyReLU in the same pass.
public func batchNorm2dTrainingForward(
    x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    mean: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>,
    runningMean: UnsafeMutablePointer<Float>?, runningVar: UnsafeMutablePointer<Float>?,
    momentum: Float = 0.1, eps: Float = 1e-5, leakySlope: Float? = nil, shape: BatchNormShape,
    replicas: CrossReplicaStatistics? = nil
) {
    if let replicas {
        batchNorm2dTrainingForwardAcrossReplicas(
            x: x, y: y, gamma: gamma, beta: beta, mean: mean, invStd: invStd, runningMean: runningMean,
            runningVar: runningVar, momentum: momentum, eps: eps, leakySlope: leakySlope,
            shape: shape, replicas: replicas)
        return
    }
    let m = shape.groupRun, columns = shape.columns, channels = shape.channels
    // The unbiased variance of one value is undefined; PyTorch refuses such a batch in training too.
    precondition(
        m > 1 || runningVar == nil,
        "batchNorm2dTrainingForward: a group of one value per channel has no unbiased variance")
    struct Arguments {
        var x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>
        var mean: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>
        var runningMean: UnsafeMutablePointer<Float>?, runningVar: UnsafeMutablePointer<Float>?
        var momentum: Float, eps: Float, leakySlope: Float?, shape: BatchNormShape
    }
    let args = Arguments(
        x: x, y: y, gamma: gamma, beta: beta, mean: mean, invStd: invStd, runningMean: runningMean,
        runningVar: runningVar, momentum: momentum, eps: eps, leakySlope: leakySlope, shape: shape)
    // Channels are independent: each worker owns whole channels (their rows, statistics and running stats).
    parallelFor(channels, minimumPerWorker: max(1, 16_384 / max(columns, 1)), args) { raw, lo, hi in
        let a = arguments(raw, as: Arguments.self)
        let (x, y, gamma, beta, mean, invStd) = (a.x, a.y, a.gamma, a.beta, a.mean, a.invStd)
        let (runningMean, runningVar, momentum, eps, shape) = (a.runningMean, a.runningVar, a.momentum, a.eps, a.shape)
        let m = shape.groupRun, columns = shape.columns, channels = shape.channels
        let unbiasing = m > 1 ? Double(m) / Double(m - 1) : 0
        for c in lo..<hi {
            let g0 = gamma[c], b0 = beta[c]
            for g in 0..<shape.groups {
                let offset = c * columns + g * m
                let src = x + offset, dst = y + offset
                let mu = blockedSum(src, count: m) / Double(m)
                let variance = blockedSquaredDeviation(src, count: m, mean: mu) / Double(m)
                normalizeGroup(
                    src, dst, count: m, mean: mu, variance: variance, unbiasing: unbiasing, gamma: g0, beta: b0, eps: eps,
                    momentum: momentum, leakySlope: a.leakySlope, savedMean: mean + g * channels + c,
                    savedInvStd: invStd + g * channels + c, runningMean: runningMean.map { $0 + c }, runningVar: runningVar.map { $0 + c })
            }
        }
    }
}

/// BatchNorm2d's inference forward from the running statistics, every column alike; `leakySlope` applies
/// LeakyReLU in the same pass. y may equal x.
public func batchNorm2dInferenceForward(
    x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>,
    eps: Float = 1e-5, leakySlope: Float? = nil, shape: BatchNormShape
) {
    struct Arguments {
        var x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>
        var runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>, eps: Float, leakySlope: Float?, columns: Int
    }
    let args = Arguments(
        x: x, y: y, gamma: gamma, beta: beta, runningMean: runningMean, runningVar: runningVar, eps: eps,
        leakySlope: leakySlope, columns: shape.columns)
    parallelFor(shape.channels, minimumPerWorker: max(1, 16_384 / max(shape.columns, 1)), args) { raw, lo, hi in
        let a = arguments(raw, as: Arguments.self)
        for c in lo..<hi {
            let scale = a.gamma[c] * Float(1 / (Double(a.runningVar[c]) + Double(a.eps)).squareRoot())
            normalizeRun(
                a.x + c * a.columns, a.y + c * a.columns, count: a.columns, mean: a.runningMean[c], scale: scale,
                shift: a.beta[c], leakySlope: a.leakySlope)
        }
    }
}

/// One (group, channel) of the training forward once its mean and biased variance are known, by either
/// forward: saves μ and s = 1/√(σ² + eps) for the backward, normalises the run, and moves the running
/// statistics (the variance unbiased by `unbiasing` = M/(M − 1)).
@inline(__always)
private func normalizeGroup(
    _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count m: Int, mean mu: Double, variance: Double,
    unbiasing: Double, gamma: Float, beta: Float, eps: Float, momentum: Float, leakySlope: Float?,
    savedMean: UnsafeMutablePointer<Float>, savedInvStd: UnsafeMutablePointer<Float>,
    runningMean: UnsafeMutablePointer<Float>?, runningVar: UnsafeMutablePointer<Float>?
) {
    let muF = Float(mu)
    let sF = Float(1 / (variance + Double(eps)).squareRoot())
    savedMean.pointee = muF
    savedInvStd.pointee = sF
    // Subtracting the mean before scaling keeps precision when |μ| ≫ σ; reading src[i] before writing
    // dst[i] makes y == x safe.
    normalizeRun(src, dst, count: m, mean: muF, scale: gamma * sF, shift: beta, leakySlope: leakySlope)
    if let runningMean { runningMean.pointee = (1 - momentum) * runningMean.pointee + momentum * muF }
    if let runningVar { runningVar.pointee = (1 - momentum) * runningVar.pointee + momentum * Float(variance * unbiasing) }
}

/// dst = (src − mean)·scale + shift, then LeakyReLU with `leakySlope` if given: the activation that
/// follows every BatchNorm of the backbones rides along this pass instead of making its own.
/// Reading src[i] before writing dst[i] makes dst == src safe.
@inline(__always)
private func normalizeRun(
    _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count m: Int,
    mean: Float, scale: Float, shift: Float, leakySlope: Float?
) {
    if let slope = leakySlope {
        for i in 0..<m { let v = (src[i] - mean) * scale + shift; dst[i] = v > 0 ? v : slope * v }
    } else {
        for i in 0..<m { dst[i] = (src[i] - mean) * scale + shift }
    }
}

/// gradX may alias gradY: each element is read (in the sums, then once more) before it is written.
/// With `leakySlope` (and `beta`), gradY is the gradient at LeakyReLU(y), the training forward's fused
/// output, and the activation's backward is applied on the fly: the gate is recomputed from x, so the
/// activated output need not be read and no intermediate gradient is written.
/// `gradXSum` sums each channel's gradX in Double lanes in the order sumRows(gradX) would (the same
/// bits when a group's run is a multiple of eight values, as in every model shape).
/// With `replicas`, the two sums that gradX needs are taken over every replica's frames; the parameter
/// gradients (and gradXSum) are this replica's share.
public func batchNorm2dBackward(
    gradY: UnsafePointer<Float>, x: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
    gradX: UnsafeMutablePointer<Float>, gradGamma: UnsafeMutablePointer<Float>, gradBeta: UnsafeMutablePointer<Float>,
    gradXSum: UnsafeMutablePointer<Float>? = nil, beta: UnsafePointer<Float>? = nil, leakySlope: Float? = nil,
    shape: BatchNormShape, accumulateParams: Bool = false, replicas: CrossReplicaStatistics? = nil
) {
    precondition(leakySlope == nil || beta != nil, "batchNorm2dBackward: the fused LeakyReLU needs beta")
    let columns = shape.columns, channels = shape.channels
    struct Arguments {
        var gradY: UnsafePointer<Float>, x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, mean: UnsafePointer<Float>
        var invStd: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>, gradGamma: UnsafeMutablePointer<Float>
        var gradBeta: UnsafeMutablePointer<Float>, gradXSum: UnsafeMutablePointer<Float>?, beta: UnsafePointer<Float>?
        var leakySlope: Float?, shape: BatchNormShape, accumulateParams: Bool
        var sums: UnsafeMutablePointer<Double>?, globalRun: Int

        func gate(_ g: Int, _ c: Int) -> LeakyReLUGate {
            LeakyReLUGate(
                mean: mean[g * shape.channels + c], scale: gamma[c] * invStd[g * shape.channels + c],
                shift: beta?[c] ?? 0, slope: leakySlope ?? 1)
        }
        /// (Σ gy, Σ gy·x̂) over this replica's run of (g, c).
        func runSums(_ g: Int, _ c: Int) -> (Double, Double) {
            let offset = c * shape.columns + g * shape.groupRun
            let muF = mean[g * shape.channels + c], sF = invStd[g * shape.channels + c]
            let (sumGy, centered) = blockedSumAndCenteredDot(gradY + offset, x + offset, count: shape.groupRun, mean: Double(muF), gate: gate(g, c))
            return (sumGy, centered * Double(sF))
        }
        /// Writes the run's gradX from the population means of gy and gy·x̂; adds Σ gradX into the lanes.
        func writeRun(_ g: Int, _ c: Int, meanGy: Float, meanGyXhat: Float, lanes: inout SIMD8<Double>, tail: inout Double) {
            let m = shape.groupRun, offset = c * shape.columns + g * m
            let gy = gradY + offset, xs = x + offset, gx = gradX + offset
            let muF = mean[g * shape.channels + c], sF = invStd[g * shape.channels + c]
            let scale = gamma[c] * sF
            // The forward's output pass computed z = (x − μ)·(γ·s) + β: the same operands give the same
            // gate. Without the fused activation the gate has slope 1 and passes gy through exactly.
            let gate = gate(g, c)
            // Eight at a time by hand: the select in the gate keeps the compiler from vectorising.
            var i = 0
            while i + 8 <= m {
                let xv = UnsafeRawPointer(xs + i).loadUnaligned(as: SIMD8<Float>.self)
                let gv = gate.apply(UnsafeRawPointer(gy + i).loadUnaligned(as: SIMD8<Float>.self), x: xv)
                let xhat = (xv - muF) * sF
                let out = scale * (gv - meanGy - xhat * meanGyXhat)
                UnsafeMutableRawPointer(gx + i).storeBytes(of: out, as: SIMD8<Float>.self)
                lanes += SIMD8<Double>(out)
                i += 8
            }
            while i < m {
                let xhat = (xs[i] - muF) * sF
                gx[i] = scale * (gate.apply(gy[i], x: xs[i]) - meanGy - xhat * meanGyXhat)
                tail += Double(gx[i])
                i += 1
            }
        }
        func store(_ c: Int, gradGammaValue: Double, gradBetaValue: Double) {
            if accumulateParams {
                gradGamma[c] += Float(gradGammaValue); gradBeta[c] += Float(gradBetaValue)
            } else {
                gradGamma[c] = Float(gradGammaValue); gradBeta[c] = Float(gradBetaValue)
            }
        }
        func store(_ c: Int, gradXSumValue: Float) {
            guard let s = gradXSum else { return }
            if accumulateParams { s[c] += gradXSumValue } else { s[c] = gradXSumValue }
        }
    }
    var args = Arguments(
        gradY: gradY, x: x, gamma: gamma, mean: mean, invStd: invStd, gradX: gradX, gradGamma: gradGamma,
        gradBeta: gradBeta, gradXSum: gradXSum, beta: beta, leakySlope: leakySlope, shape: shape,
        accumulateParams: accumulateParams, sums: nil, globalRun: shape.groupRun)
    let grain = max(1, 16_384 / max(columns, 1))
    guard let replicas else {
        // One pass per channel: its sums, then its gradX, while the run is still in cache.
        parallelFor(channels, minimumPerWorker: grain, args) { raw, lo, hi in
            let a = arguments(raw, as: Arguments.self)
            let inverseM = 1 / Double(a.shape.groupRun)
            for c in lo..<hi {
                var channelGradGamma: Double = 0, channelGradBeta: Double = 0
                // Σ gradX: eight Double lanes carried across the channel's groups, as blockedSum over its row.
                var lanes = SIMD8<Double>(), tail: Double = 0
                for g in 0..<a.shape.groups {
                    let (sumGy, sumGyXhat) = a.runSums(g, c)
                    channelGradBeta += sumGy
                    channelGradGamma += sumGyXhat
                    a.writeRun(g, c, meanGy: Float(sumGy * inverseM), meanGyXhat: Float(sumGyXhat * inverseM), lanes: &lanes, tail: &tail)
                }
                a.store(c, gradGammaValue: channelGradGamma, gradBetaValue: channelGradBeta)
                a.store(c, gradXSumValue: Float(lanes.sum() + tail))
            }
        }
        return
    }
    // Across replicas: every (g, c)'s two sums first, [Σ gy | Σ gy·x̂], summed over the replicas, then gradX.
    let gc = shape.groups * channels
    args.sums = replicas.scratch
    args.globalRun = replicas.framesPerGroup * shape.plane
    parallelFor(channels, minimumPerWorker: grain, args) { raw, lo, hi in
        let a = arguments(raw, as: Arguments.self)
        for c in lo..<hi {
            var channelGradGamma: Double = 0, channelGradBeta: Double = 0
            for g in 0..<a.shape.groups {
                let (sumGy, sumGyXhat) = a.runSums(g, c)
                a.sums![g * a.shape.channels + c] = sumGy
                a.sums![a.shape.groups * a.shape.channels + g * a.shape.channels + c] = sumGyXhat
                channelGradBeta += sumGy
                channelGradGamma += sumGyXhat
            }
            a.store(c, gradGammaValue: channelGradGamma, gradBetaValue: channelGradBeta)
        }
    }
    replicas.group.sum(replicas.scratch, count: 2 * gc)
    parallelFor(channels, minimumPerWorker: grain, args) { raw, lo, hi in
        let a = arguments(raw, as: Arguments.self)
        let inverseM = 1 / Double(a.globalRun), gc = a.shape.groups * a.shape.channels
        for c in lo..<hi {
            var lanes = SIMD8<Double>(), tail: Double = 0
            for g in 0..<a.shape.groups {
                let k = g * a.shape.channels + c
                a.writeRun(g, c, meanGy: Float(a.sums![k] * inverseM), meanGyXhat: Float(a.sums![gc + k] * inverseM), lanes: &lanes, tail: &tail)
            }
            a.store(c, gradXSumValue: Float(lanes.sum() + tail))
        }
    }
}

/// The training forward with statistics over every replica's frames (`replicas`): three passes over the
/// map, an allreduce after each of the first two. The same arithmetic as the one-pass forward, so with a
/// single replica it gives the same bits.
private func batchNorm2dTrainingForwardAcrossReplicas(
    x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    mean: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>,
    runningMean: UnsafeMutablePointer<Float>?, runningVar: UnsafeMutablePointer<Float>?,
    momentum: Float, eps: Float, leakySlope: Float?, shape: BatchNormShape, replicas: CrossReplicaStatistics
) {
    let globalRun = replicas.framesPerGroup * shape.plane, gc = shape.groups * shape.channels
    precondition(
        globalRun > 1 || runningVar == nil,
        "batchNorm2dTrainingForward: a group of one value per channel has no unbiased variance")
    struct Arguments {
        var x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>
        var mean: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>
        var runningMean: UnsafeMutablePointer<Float>?, runningVar: UnsafeMutablePointer<Float>?
        var momentum: Float, eps: Float, leakySlope: Float?, shape: BatchNormShape
        var sums: UnsafeMutablePointer<Double>, deviations: UnsafeMutablePointer<Double>, globalRun: Int
        func run(_ g: Int, _ c: Int) -> UnsafePointer<Float> { x + c * shape.columns + g * shape.groupRun }
    }
    let args = Arguments(
        x: x, y: y, gamma: gamma, beta: beta, mean: mean, invStd: invStd, runningMean: runningMean,
        runningVar: runningVar, momentum: momentum, eps: eps, leakySlope: leakySlope, shape: shape,
        sums: replicas.scratch, deviations: replicas.scratch + gc, globalRun: globalRun)
    let grain = max(1, 16_384 / max(shape.columns, 1))
    parallelFor(shape.channels, minimumPerWorker: grain, args) { raw, lo, hi in
        let a = arguments(raw, as: Arguments.self)
        for c in lo..<hi { for g in 0..<a.shape.groups { a.sums[g * a.shape.channels + c] = blockedSum(a.run(g, c), count: a.shape.groupRun) } }
    }
    replicas.group.sum(replicas.scratch, count: gc)
    parallelFor(shape.channels, minimumPerWorker: grain, args) { raw, lo, hi in
        let a = arguments(raw, as: Arguments.self)
        for c in lo..<hi {
            for g in 0..<a.shape.groups {
                let k = g * a.shape.channels + c
                a.deviations[k] = blockedSquaredDeviation(a.run(g, c), count: a.shape.groupRun, mean: a.sums[k] / Double(a.globalRun))
            }
        }
    }
    replicas.group.sum(replicas.scratch + gc, count: gc)
    parallelFor(shape.channels, minimumPerWorker: grain, args) { raw, lo, hi in
        let a = arguments(raw, as: Arguments.self)
        let unbiasing = a.globalRun > 1 ? Double(a.globalRun) / Double(a.globalRun - 1) : 0
        for c in lo..<hi {
            for g in 0..<a.shape.groups {
                let k = g * a.shape.channels + c, offset = c * a.shape.columns + g * a.shape.groupRun
                normalizeGroup(
                    a.x + offset, a.y + offset, count: a.shape.groupRun, mean: a.sums[k] / Double(a.globalRun),
                    variance: a.deviations[k] / Double(a.globalRun), unbiasing: unbiasing, gamma: a.gamma[c], beta: a.beta[c],
                    eps: a.eps, momentum: a.momentum, leakySlope: a.leakySlope, savedMean: a.mean + k, savedInvStd: a.invStd + k,
                    runningMean: a.runningMean.map { $0 + c }, runningVar: a.runningVar.map { $0 + c })
            }
        }
    }
}
