// Evaluation metrics and protocol (MODEL.md "Evaluation"): per-frame PSNR and SSIM, best-of-N sample selection per
// sequence, and per-step means with 95% confidence intervals.
//
// Decisions the papers leave open (MODEL.md "Evaluation" states them):
// - PSNR of a perfect frame (MSE = 0) is +infinity from `psnr(...)`, as skimage's compare_psnr /
//   peak_signal_noise_ratio (which SVG's evaluation uses) returns. Every aggregate in this file first
//   clamps per-frame PSNR to `psnrCap` = 100 dB (MSE 1e-10), so means, intervals and metrics.json stay
//   finite. A frame that differs from the truth by one Float ulp at 0.5 on every pixel is ≈ 150 dB, so
//   the cap only ever touches frames that are (almost) exact copies.
// - Confidence interval: mean ± t(0.975, n−1) · s / √n, with s the sample standard deviation (n − 1 in
//   the denominator) over the n sequences and t the Student-t quantile with n − 1 degrees of freedom
//   (exact table for n − 1 ≤ 30, Cornish–Fisher expansion beyond, error < 3e-8; t → 1.96 as n grows).
//   With a single sequence no interval can be estimated; the bounds are then reported equal to the mean
//   (zero width) so the report stays finite and JSON-encodable; `sequences` in the report says so.
// - SSIM uses biased (population) local statistics, as Wang et al. 2004 and skimage with
//   use_sample_covariance=False: with Gaussian weights w (Σw = 1), μ = Σ w·x, σ² = Σ w·x² − μ²,
//   σxy = Σ w·x·y − μx·μy. Only the valid region is scored: (H−10)×(W−10) window positions, no padding;
//   this equals skimage's crop of (win−1)/2 = 5 pixels from each border. All accumulation is in Double.
// - Selection ties (equal mean score) go to the lowest sample index. NaN scores are never selected
//   unless every sample of the sequence is NaN (then sample 0).

import Foundation

/// Constants of the evaluation protocol.
public enum EvaluationConstants {
    /// Per-frame PSNR is clamped to this many dB before any aggregation (MSE = 0 gives +infinity).
    public static let psnrCap = 100.0
    /// SSIM window side (11) and Gaussian σ (1.5); stability constants for data range 1.
    public static let ssimWindow = 11
    /// Standard deviation of the Gaussian SSIM window, in pixels.
    public static let ssimSigma = 1.5
    /// SSIM's K1: C1 = (K1·L)² with data range L = 1.
    public static let ssimK1 = 0.01
    /// SSIM's K2: C2 = (K2·L)² with data range L = 1.
    public static let ssimK2 = 0.03
}

/// The 11-tap Gaussian, σ = 1.5, normalised to sum 1 (the 2-D window is its outer product).
let ssimGaussian1D: [Double] = {
    let n = EvaluationConstants.ssimWindow, r = Double(n / 2), s = EvaluationConstants.ssimSigma
    let raw = (0..<n).map { k -> Double in
        let d = Double(k) - r; return exp(-d * d / (2 * s * s))
    }
    let total = raw.reduce(0, +)
    return raw.map { $0 / total }
}()

// MARK: - PSNR

/// Mean squared error over `count` values, accumulated in Double.
public func meanSquaredError(prediction: UnsafePointer<Float>, truth: UnsafePointer<Float>, count: Int) -> Double {
    precondition(count > 0)
    var sum = 0.0
    for i in 0..<count {
        let d = Double(prediction[i]) - Double(truth[i])
        sum += d * d
    }
    return sum / Double(count)
}

/// PSNR = 10·log10(1 / MSE) for images in [0, 1]. Returns +infinity when MSE = 0 (as skimage does);
/// aggregates clamp it to `EvaluationConstants.psnrCap` (see `cappedPSNR`).
public func psnr(prediction: UnsafePointer<Float>, truth: UnsafePointer<Float>, count: Int) -> Double {
    let mse = meanSquaredError(prediction: prediction, truth: truth, count: count)
    return mse == 0 ? .infinity : 10 * log10(1 / mse)
}

/// PSNR of two arrays of equal length (precondition), as `psnr(prediction:truth:count:)`.
public func psnr(prediction: [Float], truth: [Float]) -> Double {
    precondition(prediction.count == truth.count)
    return prediction.withUnsafeBufferPointer { p in
        truth.withUnsafeBufferPointer { t in psnr(prediction: p.baseAddress!, truth: t.baseAddress!, count: t.count) }
    }
}

/// PSNR clamped to the cap used by every aggregate (NaN stays NaN).
@inlinable public func cappedPSNR(_ value: Double) -> Double {
    value > EvaluationConstants.psnrCap ? EvaluationConstants.psnrCap : value
}

// MARK: - SSIM

/// Scratch for SSIM on frames of one size: the horizontal pass of the five moment maps
/// (5 × H × (W−10) Doubles) and one row of vertical accumulators (5 × (W−10)). Allocated once; reuse it for
/// every frame of that size. Not thread-safe: one workspace per thread.
public final class SSIMWorkspace {
    /// Frame height this workspace serves.
    public let height: Int
    /// Frame width this workspace serves.
    public let width: Int
    let validHeight: Int
    let validWidth: Int
    let horizontal: UnsafeMutablePointer<Double>
    let row: UnsafeMutablePointer<Double>
    let window: UnsafeMutablePointer<Double>

    /// Allocates the scratch for H × W frames; both at least the window side (precondition).
    public init(height: Int, width: Int) {
        let n = EvaluationConstants.ssimWindow
        precondition(height >= n && width >= n, "SSIM needs frames of at least \(n)×\(n), got \(height)×\(width)")
        self.height = height
        self.width = width
        validHeight = height - (n - 1)
        validWidth = width - (n - 1)
        horizontal = .allocate(capacity: 5 * height * validWidth)
        row = .allocate(capacity: 5 * validWidth)
        window = .allocate(capacity: n)
        for k in 0..<n { window[k] = ssimGaussian1D[k] }
    }

    deinit {
        horizontal.deallocate()
        row.deallocate()
        window.deallocate()
    }

    /// Mean SSIM over the valid positions of one H × W plane.
    func plane(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Double {
        let n = EvaluationConstants.ssimWindow
        let H = height, W = width, Hv = validHeight, Wv = validWidth
        let g = window
        let plane = H * Wv
        let hx = horizontal, hy = hx + plane, hxx = hy + plane, hyy = hxx + plane, hxy = hyy + plane
        // Horizontal pass: weighted sums along each row for x, y, x², y², xy.
        for r in 0..<H {
            let xr = x + r * W, yr = y + r * W, o = r * Wv
            for j in 0..<Wv {
                var sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0
                for k in 0..<n {
                    let a = Double(xr[j + k]), b = Double(yr[j + k]), w = g[k]
                    sx += w * a; sy += w * b
                    sxx += w * a * a; syy += w * b * b; sxy += w * a * b
                }
                hx[o + j] = sx; hy[o + j] = sy; hxx[o + j] = sxx; hyy[o + j] = syy; hxy[o + j] = sxy
            }
        }
        // Vertical pass, one output row at a time, then the SSIM map summed on the fly.
        let c1 = (EvaluationConstants.ssimK1 * 1) * (EvaluationConstants.ssimK1 * 1)
        let c2 = (EvaluationConstants.ssimK2 * 1) * (EvaluationConstants.ssimK2 * 1)
        let mx = row, my = mx + Wv, mxx = my + Wv, myy = mxx + Wv, mxy = myy + Wv
        var total = 0.0
        for i in 0..<Hv {
            mx.update(repeating: 0, count: 5 * Wv)
            for k in 0..<n {
                let w = g[k], o = (i + k) * Wv
                for j in 0..<Wv {
                    mx[j] += w * hx[o + j]; my[j] += w * hy[o + j]
                    mxx[j] += w * hxx[o + j]; myy[j] += w * hyy[o + j]; mxy[j] += w * hxy[o + j]
                }
            }
            var rowSum = 0.0
            for j in 0..<Wv {
                let ux = mx[j], uy = my[j]
                let vx = mxx[j] - ux * ux, vy = myy[j] - uy * uy, cxy = mxy[j] - ux * uy
                rowSum += ((2 * ux * uy + c1) * (2 * cxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
            }
            total += rowSum
        }
        return total / Double(Hv * Wv)
    }
}

/// SSIM (Wang et al. 2004) of a C × H × W frame in [0, 1]: 11×11 Gaussian window σ = 1.5, K1 = 0.01,
/// K2 = 0.03, data range 1, biased local statistics, valid region only ((H−10)×(W−10) positions), mean over
/// positions, then averaged over channels. Separable: two 1-D passes over μx, μy, E[x²], E[y²], E[xy].
/// Pass a workspace of the frame's size to avoid allocating; without one a temporary is made.
public func ssim(
    prediction: UnsafePointer<Float>, truth: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
    workspace: SSIMWorkspace? = nil
) -> Double {
    precondition(channels > 0)
    let ws = workspace ?? SSIMWorkspace(height: height, width: width)
    precondition(ws.height == height && ws.width == width, "SSIM workspace is \(ws.height)×\(ws.width), frame \(height)×\(width)")
    let plane = height * width
    var sum = 0.0
    for c in 0..<channels { sum += ws.plane(prediction + c * plane, truth + c * plane) }
    return sum / Double(channels)
}

/// SSIM of a C × H × W frame given as arrays of channels·height·width values (precondition), as the
/// pointer form.
public func ssim(
    prediction: [Float], truth: [Float], channels: Int, height: Int, width: Int,
    workspace: SSIMWorkspace? = nil
) -> Double {
    precondition(prediction.count == channels * height * width && truth.count == prediction.count)
    return prediction.withUnsafeBufferPointer { p in
        truth.withUnsafeBufferPointer { t in
            ssim(
                prediction: p.baseAddress!, truth: t.baseAddress!, channels: channels, height: height, width: width,
                workspace: workspace)
        }
    }
}

// MARK: - Confidence intervals

/// t(0.975, ν) for ν = 1 … 30 (scipy.stats.t.ppf).
private let studentT975Table: [Double] = [
    12.706204736174694, 4.302652729749462, 3.1824463052837078, 2.7764451051977934, 2.5705818356363146,
    2.4469118511449786, 2.364624251592784, 2.306004135204166, 2.262157162798205, 2.228138851986274,
    2.200985160091639, 2.1788128296672284, 2.1603686564627913, 2.144786687917804, 2.131449545559776,
    2.1199052992212546, 2.1098155778333156, 2.1009220402410382, 2.0930240544083087, 2.085963447265864,
    2.0796138447276795, 2.0738730679040254, 2.0686576104190486, 2.0638985616280245, 2.0595385527532972,
    2.0555294386428735, 2.0518305164802846, 2.0484071417952454, 2.045229642132703, 2.0422724563012378
]

/// The 0.975 quantile of Student's t with `degreesOfFreedom` ≥ 1: exact table to 30, then the
/// Cornish–Fisher expansion around z = 1.959963984540054 (absolute error < 3e-8 for ν > 30).
public func studentT975(degreesOfFreedom v: Int) -> Double {
    precondition(v >= 1)
    if v <= studentT975Table.count { return studentT975Table[v - 1] }
    let z = 1.959963984540054, n = Double(v)
    let z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z, z9 = z7 * z * z
    return z + (z3 + z) / (4 * n)
        + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n)
        + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n)
        + (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * n * n * n * n)
}

/// Mean and 95% interval mean ± t(0.975, n−1)·s/√n (s: sample sd). n = 1 gives a zero-width interval.
public func meanConfidenceInterval95(_ values: [Double]) -> (mean: Double, low: Double, high: Double) {
    precondition(!values.isEmpty)
    let n = Double(values.count)
    let mean = values.reduce(0, +) / n
    guard values.count > 1 else { return (mean, mean, mean) }
    var ss = 0.0
    for v in values { ss += (v - mean) * (v - mean) }
    let sd = (ss / (n - 1)).squareRoot()
    let half = studentT975(degreesOfFreedom: values.count - 1) * sd / n.squareRoot()
    return (mean, mean - half, mean + half)
}

// MARK: - Protocol

/// Per future step: the mean over sequences and its 95% interval.
public struct MetricSeries: Codable, Sendable, Equatable {
    /// Mean over sequences, one entry per future step.
    public var mean: [Double]
    /// Lower bound of the 95% interval, per step.
    public var ciLow: [Double]
    /// Upper bound of the 95% interval, per step.
    public var ciHigh: [Double]
}

/// A mean over sequences and its 95% interval.
public struct MetricSummary: Codable, Sendable, Equatable {
    /// Mean over sequences.
    public var mean: Double
    /// Lower bound of the 95% interval.
    public var ciLow: Double
    /// Upper bound of the 95% interval.
    public var ciHigh: Double
}

/// The §8 report for one sample count. `ssimBestSSIM` is the SSIM of the sample chosen by best mean SSIM,
/// `psnrBestSSIM` that sample's PSNR; likewise for the sample chosen by best mean PSNR. PSNR is in dB,
/// clamped per frame at `psnrCap`. Sample indices are 0-based, one per sequence. `ssimOverFrames` and
/// `psnrOverFrames` are the single figures of the SRVP/SLAMP tables: per sequence the mean over all
/// predicted frames of the sample chosen by that metric, then the mean over sequences with its interval.
public struct EvaluationReport: Codable, Sendable, Equatable {
    /// Sequences scored; with one, every interval has zero width.
    public var sequences: Int
    /// Samples per sequence the best one was chosen from.
    public var samples: Int
    /// Predicted frames scored per sample.
    public var steps: Int
    /// The per-frame PSNR cap applied before aggregation, in dB.
    public var psnrCap: Double
    /// Per-step SSIM of the sample chosen by best mean SSIM.
    public var ssimBestSSIM: MetricSeries
    /// Per-step PSNR of the sample chosen by best mean SSIM.
    public var psnrBestSSIM: MetricSeries
    /// Per-step SSIM of the sample chosen by best mean PSNR.
    public var ssimBestPSNR: MetricSeries
    /// Per-step PSNR of the sample chosen by best mean PSNR.
    public var psnrBestPSNR: MetricSeries
    /// Mean SSIM over all scored frames of the best-SSIM sample, then over sequences.
    public var ssimOverFrames: MetricSummary
    /// Mean PSNR over all scored frames of the best-PSNR sample, then over sequences.
    public var psnrOverFrames: MetricSummary
    /// Per sequence, the values `ssimOverFrames` and `psnrOverFrames` average: for paired comparisons of
    /// models scored on the same test sequences.
    public var ssimPerSequence: [Double]
    public var psnrPerSequence: [Double]
    /// Per sequence, the 0-based index of the sample with the best mean SSIM.
    public var bestSSIMSample: [Int]
    /// Per sequence, the 0-based index of the sample with the best mean PSNR.
    public var bestPSNRSample: [Int]

    /// One row per future step (numbered from `firstStep`, default 1 = first predicted frame), columns
    /// `<series>_mean,<series>_ciLow,<series>_ciHigh` for the four series, shortest round-trip decimals.
    public func csv(firstStep: Int = 1) -> String {
        let named: [(String, MetricSeries)] = [
            ("ssimBestSSIM", ssimBestSSIM), ("psnrBestSSIM", psnrBestSSIM),
            ("ssimBestPSNR", ssimBestPSNR), ("psnrBestPSNR", psnrBestPSNR)
        ]
        var header = ["step"]
        for (name, _) in named { header += ["\(name)_mean", "\(name)_ciLow", "\(name)_ciHigh"] }
        var lines = [header.joined(separator: ",")]
        for t in 0..<steps {
            var row = ["\(firstStep + t)"]
            for (_, s) in named { row += ["\(s.mean[t])", "\(s.ciLow[t])", "\(s.ciHigh[t])"] }
            lines.append(row.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Per-frame scores of N samples for a growing set of sequences; feed batches with `append`, then
/// `report(sampleCount:)`. Layout: `[(sequence · samples + sample) · steps + step]`; PSNR already capped.
public struct SampleScores: Codable, Sendable {
    /// Samples per sequence.
    public let samples: Int
    /// Predicted frames per sample.
    public let steps: Int
    /// Sequences appended so far.
    public private(set) var sequences = 0
    /// Per-frame SSIM of every sample, in the layout above.
    public private(set) var ssimValues: [Double] = []
    /// Per-frame PSNR of every sample, capped at `psnrCap`, in the layout above.
    public private(set) var psnrValues: [Double] = []

    /// No scores yet, for `samples` samples of `steps` frames per sequence (both positive, precondition).
    public init(samples: Int, steps: Int) {
        precondition(samples > 0 && steps > 0)
        self.samples = samples
        self.steps = steps
    }

    /// Scores assembled elsewhere (by data-parallel ranks, each scoring its own sequences), in the layout above.
    public init(samples: Int, steps: Int, ssimValues: [Double], psnrValues: [Double]) {
        precondition(samples > 0 && steps > 0 && ssimValues.count == psnrValues.count && ssimValues.count % (samples * steps) == 0)
        self.samples = samples
        self.steps = steps
        self.ssimValues = ssimValues
        self.psnrValues = psnrValues
        sequences = ssimValues.count / (samples * steps)
    }

    /// Scores `sequences` sequences. truth: sequences × steps × C × H × W; predictions:
    /// sequences × samples × steps × C × H × W (all contiguous, values in [0, 1]).
    public mutating func append(
        truth: UnsafePointer<Float>, predictions: UnsafePointer<Float>, sequences b: Int,
        channels: Int, height: Int, width: Int, workspace: SSIMWorkspace
    ) {
        let frame = channels * height * width
        ssimValues.reserveCapacity(ssimValues.count + b * samples * steps)
        psnrValues.reserveCapacity(psnrValues.count + b * samples * steps)
        for seq in 0..<b {
            for s in 0..<samples {
                for t in 0..<steps {
                    let x = predictions + ((seq * samples + s) * steps + t) * frame
                    let y = truth + (seq * steps + t) * frame
                    ssimValues.append(
                        ssim(
                            prediction: x, truth: y, channels: channels, height: height, width: width,
                            workspace: workspace))
                    psnrValues.append(cappedPSNR(psnr(prediction: x, truth: y, count: frame)))
                }
            }
        }
        sequences += b
    }

    /// The sample of `sequence` (0-based, among the first `sampleCount`) with the best mean SSIM, or PSNR,
    /// over the first `steps` predicted frames; the first such sample on a tie.
    public func bestSample(of sequence: Int, byPSNR: Bool = false, sampleCount: Int? = nil, steps: Int? = nil) -> Int {
        let n = sampleCount ?? samples, k = steps ?? self.steps, scores = byPSNR ? psnrValues : ssimValues
        var bestIndex = 0, bestMean = -Double.infinity
        for s in 0..<n {
            var m = 0.0
            for t in 0..<k { m += scores[(sequence * samples + s) * self.steps + t] }
            m /= Double(k)
            if m > bestMean { bestMean = m; bestIndex = s }
        }
        return bestIndex
    }

    /// The report using only the first `sampleCount` samples of every sequence (all when nil) and only
    /// the first `steps` predicted frames (all when nil): a shorter horizon scored from the same samples,
    /// with the best sample chosen over that horizon, is the protocol a model generating only that many
    /// frames would be scored by, since a prediction never depends on later frames.
    public func report(sampleCount: Int? = nil, steps horizon: Int? = nil) -> EvaluationReport {
        let n = sampleCount ?? samples, k = horizon ?? steps
        precondition(n >= 1 && n <= samples, "sample count \(n) outside 1…\(samples)")
        precondition(k >= 1 && k <= steps, "horizon \(k) outside 1…\(steps)")
        precondition(sequences > 0, "no sequences scored")
        func at(_ seq: Int, _ s: Int, _ t: Int) -> Int { (seq * samples + s) * steps + t }
        func frameMean(_ scores: [Double], _ seq: Int, _ s: Int) -> Double {
            var m = 0.0
            for t in 0..<k { m += scores[at(seq, s, t)] }
            return m / Double(k)
        }
        let bySSIM = (0..<sequences).map { bestSample(of: $0, sampleCount: n, steps: k) }
        let byPSNR = (0..<sequences).map { bestSample(of: $0, byPSNR: true, sampleCount: n, steps: k) }
        func series(_ scores: [Double], _ chosen: [Int]) -> MetricSeries {
            var out = MetricSeries(mean: [], ciLow: [], ciHigh: [])
            for t in 0..<k {
                let ci = meanConfidenceInterval95((0..<sequences).map { scores[at($0, chosen[$0], t)] })
                out.mean.append(ci.mean); out.ciLow.append(ci.low); out.ciHigh.append(ci.high)
            }
            return out
        }
        let ssimPerSequence = (0..<sequences).map { frameMean(ssimValues, $0, bySSIM[$0]) }
        let psnrPerSequence = (0..<sequences).map { frameMean(psnrValues, $0, byPSNR[$0]) }
        func overFrames(_ values: [Double]) -> MetricSummary {
            let ci = meanConfidenceInterval95(values)
            return MetricSummary(mean: ci.mean, ciLow: ci.low, ciHigh: ci.high)
        }
        return EvaluationReport(
            sequences: sequences, samples: n, steps: k, psnrCap: EvaluationConstants.psnrCap,
            ssimBestSSIM: series(ssimValues, bySSIM), psnrBestSSIM: series(psnrValues, bySSIM),
            ssimBestPSNR: series(ssimValues, byPSNR), psnrBestPSNR: series(psnrValues, byPSNR),
            ssimOverFrames: overFrames(ssimPerSequence), psnrOverFrames: overFrames(psnrPerSequence),
            ssimPerSequence: ssimPerSequence, psnrPerSequence: psnrPerSequence,
            bestSSIMSample: bySSIM, bestPSNRSample: byPSNR)
    }
}

/// §8 on one block: truth `sequences × steps × C × H × W`, predictions `sequences × samples × steps × C × H × W`.
/// Returns one report per entry of `sampleCounts` (each using the first n samples; the Fig. 7 ablation).
public func evaluate(
    truth: UnsafePointer<Float>, predictions: UnsafePointer<Float>, sequences: Int, samples: Int,
    steps: Int, channels: Int, height: Int, width: Int, sampleCounts: [Int]
) -> [EvaluationReport] {
    var scores = SampleScores(samples: samples, steps: steps)
    scores.append(
        truth: truth, predictions: predictions, sequences: sequences, channels: channels, height: height,
        width: width, workspace: SSIMWorkspace(height: height, width: width))
    return sampleCounts.map { scores.report(sampleCount: $0) }
}

/// The evaluation protocol on arrays, one report per entry of `sampleCounts`; the array sizes must match
/// the shapes (precondition).
public func evaluate(
    truth: [Float], predictions: [Float], sequences: Int, samples: Int, steps: Int,
    channels: Int, height: Int, width: Int, sampleCounts: [Int]
) -> [EvaluationReport] {
    let frame = channels * height * width
    precondition(truth.count == sequences * steps * frame, "truth has \(truth.count) values")
    precondition(predictions.count == sequences * samples * steps * frame, "predictions have \(predictions.count) values")
    return truth.withUnsafeBufferPointer { t in
        predictions.withUnsafeBufferPointer { p in
            evaluate(
                truth: t.baseAddress!, predictions: p.baseAddress!, sequences: sequences, samples: samples,
                steps: steps, channels: channels, height: height, width: width, sampleCounts: sampleCounts)
        }
    }
}

/// §8 using all samples.
public func evaluate(
    truth: [Float], predictions: [Float], sequences: Int, samples: Int, steps: Int,
    channels: Int, height: Int, width: Int
) -> EvaluationReport {
    evaluate(
        truth: truth, predictions: predictions, sequences: sequences, samples: samples, steps: steps,
        channels: channels, height: height, width: width, sampleCounts: [samples])[0]
}
