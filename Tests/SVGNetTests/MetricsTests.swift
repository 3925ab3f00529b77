// Metrics (MODEL.md "Evaluation"): SSIM against a naive 2-D Double reference written here and against scikit-image
// (Tests/Fixtures/make_metrics_fixtures.py → metrics_skimage.json), PSNR against the formula, and the
// best-of-N protocol on a hand-built case whose answers are known by construction.
import Foundation
import XCTest
@testable import SVGNet
import TestSupport

// MARK: - Independent references (Double, no separability, explicit two-pass moments)

/// SSIM straight from Wang et al.: at every valid position, the 2-D Gaussian window (normalised as a
/// whole), μ = Σ w·x, σ² = Σ w·(x−μ)², σxy = Σ w·(x−μx)(y−μy), then the mean of the map, then over channels.
func naiveSSIM(_ x: [Float], _ y: [Float], channels: Int, height: Int, width: Int) -> Double {
    var w = [[Double]](repeating: [Double](repeating: 0, count: 11), count: 11)
    var total = 0.0
    for u in 0..<11 {
        for v in 0..<11 {
            let du = Double(u - 5), dv = Double(v - 5)
            w[u][v] = exp(-(du * du + dv * dv) / (2 * 1.5 * 1.5)); total += w[u][v]
        }
    }
    for u in 0..<11 { for v in 0..<11 { w[u][v] /= total } }
    let c1 = 0.01 * 0.01, c2 = 0.03 * 0.03
    var sum = 0.0
    for c in 0..<channels {
        var planeSum = 0.0
        for i in 0...(height - 11) {
            for j in 0...(width - 11) {
                func px(_ a: [Float], _ u: Int, _ v: Int) -> Double { Double(a[(c * height + i + u) * width + j + v]) }
                var mx = 0.0, my = 0.0
                for u in 0..<11 { for v in 0..<11 { mx += w[u][v] * px(x, u, v); my += w[u][v] * px(y, u, v) } }
                var vx = 0.0, vy = 0.0, cxy = 0.0
                for u in 0..<11 {
                    for v in 0..<11 {
                        let a = px(x, u, v) - mx, b = px(y, u, v) - my
                        vx += w[u][v] * a * a; vy += w[u][v] * b * b; cxy += w[u][v] * a * b
                    }
                }
                planeSum += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
            }
        }
        sum += planeSum / Double((height - 10) * (width - 10))
    }
    return sum / Double(channels)
}

func naivePSNR(_ x: [Float], _ y: [Float]) -> Double {
    var s = 0.0
    for i in 0..<x.count { let d = Double(x[i]) - Double(y[i]); s += d * d }
    return 10 * log10(1 / (s / Double(x.count)))
}

// MARK: - The fixture's input formulas (keep in sync with make_metrics_fixtures.py)

func metricsHash01(_ c: Int, _ i: Int, _ j: Int, _ seed: Int) -> Double {
    var v = UInt32(truncatingIfNeeded: i &* 7919 &+ j &* 104729 &+ c &* 1299709 &+ seed &* 15485863)
    v ^= v >> 16; v = v &* 0x7FEB_352D; v ^= v >> 15; v = v &* 0x846C_A68B; v ^= v >> 16
    return Double(v >> 8) / 16777216.0
}

func metricsPattern(_ kind: String, _ which: Int, _ c: Int, _ i: Int, _ j: Int) -> Double {
    let (di, dj, dc) = (Double(i), Double(j), Double(c))
    switch kind {
    case "smooth":
        let a = 0.5 + 0.4 * sin(0.37 * di + 0.23 * dj + 1.1 * dc)
        if which == 0 { return a }
        return min(1.0, max(0.0, 0.5 + 0.35 * sin(0.37 * di + 0.23 * dj + 1.1 * dc + 0.3) + 0.1 * cos(0.71 * dj - 0.53 * di)))
    case "hash":
        let a = metricsHash01(c, i, j, 1)
        return which == 0 ? a : 0.7 * a + 0.3 * metricsHash01(c, i, j, 2)
    case "offset":
        let a = 0.5 + 0.3 * sin(0.41 * di - 0.19 * dj + 0.7 * dc)
        return which == 0 ? a : a + 0.1
    case "mixed":
        return which == 0 ? 0.5 + 0.4 * sin(0.37 * di + 0.23 * dj + 1.1 * dc) : metricsHash01(c, i, j, 3)
    default:
        fatalError(kind)
    }
}

func metricsImage(_ kind: String, _ which: Int, _ C: Int, _ H: Int, _ W: Int) -> [Float] {
    var out: [Float] = []
    for c in 0..<C { for i in 0..<H { for j in 0..<W { out.append(Float(metricsPattern(kind, which, c, i, j))) } } }
    return out
}

/// 95% interval computed directly, with the t quantile supplied by the caller (from scipy).
func directInterval(_ v: [Double], t: Double) -> (Double, Double, Double) {
    let n = Double(v.count)
    let m = v.reduce(0, +) / n
    let sd = (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / (n - 1)).squareRoot()
    return (m, m - t * sd / n.squareRoot(), m + t * sd / n.squareRoot())
}

final class MetricsTests: XCTestCase {
    func testSSIMMatchesNaiveReferenceOnRandomImages() {
        var rng = TestRNG(11)
        for (C, H, W) in [(1, 23, 17), (3, 17, 23), (1, 11, 11), (3, 12, 30), (1, 40, 33)] {
            let truth = rng.array(C * H * W, 0, 1)
            let noise = rng.array(C * H * W, 0, 1)
            // Correlated prediction so SSIM is neither ≈ 0 nor ≈ 1.
            let pred = zip(truth, noise).map { 0.6 * $0 + 0.4 * $1 }
            let got = ssim(prediction: pred, truth: truth, channels: C, height: H, width: W)
            let want = naiveSSIM(pred, truth, channels: C, height: H, width: W)
            XCTAssertEqual(got, want, accuracy: 1e-10, "random \(C)×\(H)×\(W)")
            let independent = ssim(prediction: noise, truth: truth, channels: C, height: H, width: W)
            XCTAssertEqual(independent, naiveSSIM(noise, truth, channels: C, height: H, width: W), accuracy: 1e-10)
        }
    }

    func testSSIMMatchesNaiveReferenceOnStructuredImages() {
        for (kind, C, H, W) in [("smooth", 1, 23, 17), ("smooth", 3, 17, 23), ("mixed", 3, 13, 29), ("offset", 1, 21, 11)] {
            let truth = metricsImage(kind, 0, C, H, W), pred = metricsImage(kind, 1, C, H, W)
            let got = ssim(prediction: pred, truth: truth, channels: C, height: H, width: W)
            XCTAssertEqual(got, naiveSSIM(pred, truth, channels: C, height: H, width: W), accuracy: 1e-10, "\(kind) \(C)×\(H)×\(W)")
        }
    }

    func testSSIMAndPSNRMatchScikitImage() throws {
        struct Case: Decodable { var kind: String; var channels: Int; var height: Int; var width: Int; var ssim: Double; var psnr: Double }
        struct Fixture: Decodable { var skimage: String; var cases: [Case] }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/metrics_skimage.json")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        XCTAssertGreaterThanOrEqual(fixture.cases.count, 6)
        for c in fixture.cases {
            let truth = metricsImage(c.kind, 0, c.channels, c.height, c.width)
            let pred = metricsImage(c.kind, 1, c.channels, c.height, c.width)
            let what = "\(c.kind) \(c.channels)×\(c.height)×\(c.width) vs skimage \(fixture.skimage)"
            XCTAssertEqual(
                ssim(prediction: pred, truth: truth, channels: c.channels, height: c.height, width: c.width),
                c.ssim, accuracy: 1e-9, what)
            XCTAssertEqual(psnr(prediction: pred, truth: truth), c.psnr, accuracy: 1e-9, what)
        }
    }

    func testSSIMKnownValues() {
        var rng = TestRNG(5)
        let (H, W) = (19, 14)
        let x = rng.array(3 * H * W, 0, 1)
        XCTAssertEqual(ssim(prediction: x, truth: x, channels: 3, height: H, width: W), 1, accuracy: 1e-12, "ssim(x, x)")
        // Constant images a and b: σ = 0, so SSIM = (2ab + C1) / (a² + b² + C1) at every position.
        let (a, b): (Float, Float) = (0.3, 0.55)
        let ca = [Float](repeating: a, count: H * W), cb = [Float](repeating: b, count: H * W)
        let (da, db) = (Double(a), Double(b))
        XCTAssertEqual(
            ssim(prediction: ca, truth: cb, channels: 1, height: H, width: W),
            (2 * da * db + 1e-4) / (da * da + db * db + 1e-4), accuracy: 1e-12, "constant images")
        // Textured image plus a constant offset: contrast-structure term is 1, so SSIM is the mean over
        // positions of the luminance term alone (window means computed here from the 2-D window).
        let t = metricsImage("offset", 0, 1, H, W), o = metricsImage("offset", 1, 1, H, W)
        var w = [Double](repeating: 0, count: 121), tw = 0.0
        for u in 0..<11 { for v in 0..<11 { w[u * 11 + v] = exp(-Double((u - 5) * (u - 5) + (v - 5) * (v - 5)) / 4.5); tw += w[u * 11 + v] } }
        var lum = 0.0
        for i in 0...(H - 11) {
            for j in 0...(W - 11) {
                var mt = 0.0, mo = 0.0
                for u in 0..<11 {
                    for v in 0..<11 {
                        mt += w[u * 11 + v] / tw * Double(t[(i + u) * W + j + v]); mo += w[u * 11 + v] / tw * Double(o[(i + u) * W + j + v])
                    }
                }
                lum += (2 * mt * mo + 1e-4) / (mt * mt + mo * mo + 1e-4)
            }
        }
        lum /= Double((H - 10) * (W - 10))
        let got = ssim(prediction: o, truth: t, channels: 1, height: H, width: W)
        XCTAssertEqual(got, lum, accuracy: 1e-6, "offset image")
        XCTAssertLessThan(got, 1 - 1e-3)
        // Symmetric, and a reused workspace gives the same answer as a fresh one.
        let y = rng.array(3 * H * W, 0, 1)
        let ws = SSIMWorkspace(height: H, width: W)
        let first = ssim(prediction: x, truth: y, channels: 3, height: H, width: W, workspace: ws)
        _ = ssim(prediction: y, truth: o + o + o, channels: 3, height: H, width: W, workspace: ws)
        XCTAssertEqual(ssim(prediction: x, truth: y, channels: 3, height: H, width: W, workspace: ws), first)
        XCTAssertEqual(ssim(prediction: y, truth: x, channels: 3, height: H, width: W), first, accuracy: 1e-14)
    }

    func testPSNRMatchesFormula() {
        var rng = TestRNG(7)
        for n in [1, 17, 3 * 64 * 64] {
            let x = rng.array(n, 0, 1), y = rng.array(n, 0, 1)
            XCTAssertEqual(psnr(prediction: x, truth: y), naivePSNR(x, y), accuracy: 1e-10, "n = \(n)")
        }
        let x = rng.array(100, 0, 1)
        XCTAssertEqual(psnr(prediction: x, truth: x), .infinity)
        XCTAssertEqual(cappedPSNR(.infinity), 100)
        XCTAssertEqual(cappedPSNR(42.5), 42.5)
        // MSE 0.01 exactly in Double is 20 dB; Float(0.1) rounding moves it by < 1e-6 dB.
        let z = [Float](repeating: 0, count: 9), d = [Float](repeating: 0.1, count: 9)
        XCTAssertEqual(psnr(prediction: d, truth: z), 20, accuracy: 1e-6)
    }

    func testConfidenceInterval() {
        // t quantiles from scipy.stats.t.ppf(0.975, df).
        let scipy: [Int: Double] = [
            1: 12.706204736174694, 4: 2.7764451051977934, 29: 2.045229642132703,
            30: 2.0422724563012378, 40: 2.021075390306273, 50: 2.008559112100761,
            100: 1.9839715185235518, 200: 1.9718962236339088, 1000: 1.9623390808264083
        ]
        for (df, t) in scipy { XCTAssertEqual(studentT975(degreesOfFreedom: df), t, accuracy: 5e-8, "df \(df)") }
        let v = [1.0, 2, 3, 4, 5]
        let ci = meanConfidenceInterval95(v)
        XCTAssertEqual(ci.mean, 3, accuracy: 1e-15)
        XCTAssertEqual(ci.high - ci.mean, 2.7764451051977934 * 2.5.squareRoot() / 5.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(ci.mean - ci.low, ci.high - ci.mean, accuracy: 1e-12)
        let one = meanConfidenceInterval95([0.25])
        XCTAssertEqual([one.mean, one.low, one.high], [0.25, 0.25, 0.25])
    }

    /// 3 sequences × 3 samples × 2 steps, 1 × 16 × 16 frames. Per sequence the samples are: an exact copy
    /// (best for both metrics), the truth plus 0.1 (structure intact: high SSIM, PSNR 20 dB), the truth plus
    /// uniform noise in ±0.07 (PSNR ≈ 28 dB, lower SSIM) and heavy noise in ±0.3 (worst for both).
    func makeProtocolCase() -> (truth: [Float], predictions: [Float], B: Int, N: Int, T: Int, H: Int, W: Int) {
        let (B, N, T, H, W) = (3, 3, 2, 16, 16)
        var rng = TestRNG(99)
        // sample kinds per sequence: 0 copy, 1 offset, 2 light noise, 3 heavy noise
        let kinds = [[3, 1, 2], [0, 2, 1], [2, 3, 1]]
        var truth: [Float] = [], preds: [Float] = []
        var frames: [[Float]] = []
        for b in 0..<B {
            for t in 0..<T {
                let f = (0..<(H * W)).map { k -> Float in
                    let (i, j) = (Double(k / W), Double(k % W))
                    return Float(0.5 + 0.3 * sin(0.5 * i + 0.3 * j + Double(b) + 0.4 * Double(t)) + 0.05 * cos(1.3 * i * j / 7))
                }
                frames.append(f); truth += f
            }
        }
        for b in 0..<B {
            for s in 0..<N {
                for t in 0..<T {
                    let f = frames[b * T + t]
                    switch kinds[b][s] {
                    case 0: preds += f
                    case 1: preds += f.map { $0 + 0.1 }
                    case 2: preds += f.map { min(1, max(0, $0 + rng.uniform(-0.07, 0.07))) }
                    default: preds += f.map { min(1, max(0, $0 + rng.uniform(-0.3, 0.3))) }
                    }
                }
            }
        }
        return (truth, preds, B, N, T, H, W)
    }

    func testProtocolPicksKnownSamplesAndReportsIntervals() {
        let c = makeProtocolCase()
        let frame = c.H * c.W
        func truthFrame(_ b: Int, _ t: Int) -> [Float] { Array(c.truth[((b * c.T + t) * frame)..<((b * c.T + t + 1) * frame)]) }
        func predFrame(_ b: Int, _ s: Int, _ t: Int) -> [Float] {
            let o = ((b * c.N + s) * c.T + t) * frame
            return Array(c.predictions[o..<(o + frame)])
        }
        func refSSIM(_ b: Int, _ s: Int, _ t: Int) -> Double { naiveSSIM(predFrame(b, s, t), truthFrame(b, t), channels: 1, height: c.H, width: c.W) }
        func refPSNR(_ b: Int, _ s: Int, _ t: Int) -> Double { min(100, naivePSNR(predFrame(b, s, t), truthFrame(b, t))) }

        let reports = evaluate(
            truth: c.truth, predictions: c.predictions, sequences: c.B, samples: c.N, steps: c.T,
            channels: 1, height: c.H, width: c.W, sampleCounts: [1, 2, 3])
        XCTAssertEqual(reports.map(\.samples), [1, 2, 3])
        // Known by construction (kinds [[heavy, offset, light], [copy, light, offset], [light, heavy, offset]]).
        XCTAssertEqual(reports[2].bestSSIMSample, [1, 0, 2])
        XCTAssertEqual(reports[2].bestPSNRSample, [2, 0, 0])
        XCTAssertEqual(reports[1].bestSSIMSample, [1, 0, 0])
        XCTAssertEqual(reports[1].bestPSNRSample, [1, 0, 0])
        XCTAssertEqual(reports[0].bestSSIMSample, [0, 0, 0])
        XCTAssertEqual(reports[0].bestPSNRSample, [0, 0, 0])
        // The copy's PSNR is +infinity, clamped to the cap.
        XCTAssertEqual(refPSNR(1, 0, 0), 100)

        let t2 = 4.302652729749462 // scipy.stats.t.ppf(0.975, 2)
        for r in reports {
            XCTAssertEqual(r.sequences, 3); XCTAssertEqual(r.steps, 2); XCTAssertEqual(r.psnrCap, 100)
            let checks: [(MetricSeries, [Int], (Int, Int, Int) -> Double, String)] = [
                (r.ssimBestSSIM, r.bestSSIMSample, refSSIM, "ssimBestSSIM"), (r.psnrBestSSIM, r.bestSSIMSample, refPSNR, "psnrBestSSIM"),
                (r.ssimBestPSNR, r.bestPSNRSample, refSSIM, "ssimBestPSNR"), (r.psnrBestPSNR, r.bestPSNRSample, refPSNR, "psnrBestPSNR")
            ]
            for (series, chosen, ref, name) in checks {
                for t in 0..<c.T {
                    let (m, lo, hi) = directInterval((0..<c.B).map { ref($0, chosen[$0], t) }, t: t2)
                    let what = "\(name) step \(t) with \(r.samples) samples"
                    XCTAssertEqual(series.mean[t], m, accuracy: 1e-9, what)
                    XCTAssertEqual(series.ciLow[t], lo, accuracy: 1e-8, what)
                    XCTAssertEqual(series.ciHigh[t], hi, accuracy: 1e-8, what)
                }
            }
            // The selection really is the arg-max of the mean over steps (ties to the lower index).
            for b in 0..<c.B {
                let ms = (0..<r.samples).map { s in (0..<c.T).map { refSSIM(b, s, $0) }.reduce(0, +) }
                let mp = (0..<r.samples).map { s in (0..<c.T).map { refPSNR(b, s, $0) }.reduce(0, +) }
                XCTAssertEqual(r.bestSSIMSample[b], ms.firstIndex(of: ms.max()!)!)
                XCTAssertEqual(r.bestPSNRSample[b], mp.firstIndex(of: mp.max()!)!)
            }
        }
        // The default (all samples) agrees with sampleCounts' last entry.
        XCTAssertEqual(
            evaluate(
                truth: c.truth, predictions: c.predictions, sequences: c.B, samples: c.N, steps: c.T,
                channels: 1, height: c.H, width: c.W), reports[2])
    }

    func testScoresAccumulateAcrossBatches() {
        let c = makeProtocolCase()
        let frame = c.H * c.W
        var whole = SampleScores(samples: c.N, steps: c.T), split = SampleScores(samples: c.N, steps: c.T)
        let ws = SSIMWorkspace(height: c.H, width: c.W)
        c.truth.withUnsafeBufferPointer { t in
            c.predictions.withUnsafeBufferPointer { p in
                whole.append(truth: t.baseAddress!, predictions: p.baseAddress!, sequences: 3, channels: 1, height: c.H, width: c.W, workspace: ws)
                split.append(truth: t.baseAddress!, predictions: p.baseAddress!, sequences: 1, channels: 1, height: c.H, width: c.W, workspace: ws)
                split.append(
                    truth: t.baseAddress! + c.T * frame, predictions: p.baseAddress! + c.N * c.T * frame, sequences: 2,
                    channels: 1, height: c.H, width: c.W, workspace: ws)
            }
        }
        XCTAssertEqual(split.sequences, 3)
        XCTAssertEqual(split.report(), whole.report())
        XCTAssertEqual(split.report(sampleCount: 2), whole.report(sampleCount: 2))
    }

    func testReportCSVAndJSON() throws {
        let c = makeProtocolCase()
        let r = evaluate(
            truth: c.truth, predictions: c.predictions, sequences: c.B, samples: c.N, steps: c.T,
            channels: 1, height: c.H, width: c.W)
        let lines = r.csv(firstStep: 11).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 1 + c.T)
        XCTAssertEqual(
            lines[0],
            "step,ssimBestSSIM_mean,ssimBestSSIM_ciLow,ssimBestSSIM_ciHigh,psnrBestSSIM_mean,psnrBestSSIM_ciLow,psnrBestSSIM_ciHigh,ssimBestPSNR_mean,ssimBestPSNR_ciLow,ssimBestPSNR_ciHigh,psnrBestPSNR_mean,psnrBestPSNR_ciLow,psnrBestPSNR_ciHigh"
        )
        let row = lines[2].split(separator: ",").map(String.init)
        XCTAssertEqual(row.count, 13)
        XCTAssertEqual(row[0], "12")
        XCTAssertEqual(Double(row[1]), r.ssimBestSSIM.mean[1])
        XCTAssertEqual(Double(row[12]), r.psnrBestPSNR.ciHigh[1])
        let data = try JSONEncoder().encode(r)
        XCTAssertEqual(try JSONDecoder().decode(EvaluationReport.self, from: data), r)
    }
}
