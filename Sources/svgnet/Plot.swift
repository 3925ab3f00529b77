// A raster plot of SSIM and PSNR per predicted frame (the paper's Fig. 6): two panels side by side, one
// line per model with its 95% confidence band, baselines dashed, round tick values, axis labels and a
// legend, drawn into an RGB image for writePNG. Text uses a 3×5 pixel font (capitals, digits, a few signs).
import Foundation
import SVGData
import SVGNet

/// Each glyph is five rows of three bits (4 = left column).
private let glyphs: [Character: [UInt8]] = [
    "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7], "4": [5, 5, 7, 1, 1],
    "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 2, 2], "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7],
    "A": [2, 5, 7, 5, 5], "B": [6, 5, 6, 5, 6], "C": [3, 4, 4, 4, 3], "D": [6, 5, 5, 5, 6], "E": [7, 4, 6, 4, 7],
    "F": [7, 4, 6, 4, 4], "G": [3, 4, 5, 5, 3], "H": [5, 5, 7, 5, 5], "I": [7, 2, 2, 2, 7], "J": [1, 1, 1, 5, 2],
    "K": [5, 5, 6, 5, 5], "L": [4, 4, 4, 4, 7], "M": [5, 7, 7, 5, 5], "N": [6, 5, 5, 5, 5], "O": [2, 5, 5, 5, 2],
    "P": [6, 5, 6, 4, 4], "Q": [2, 5, 5, 6, 3], "R": [6, 5, 6, 5, 5], "S": [3, 4, 2, 1, 6], "T": [7, 2, 2, 2, 2],
    "U": [5, 5, 5, 5, 7], "V": [5, 5, 5, 5, 2], "W": [5, 5, 7, 7, 5], "X": [5, 5, 2, 5, 5], "Y": [5, 5, 2, 2, 2],
    "Z": [7, 1, 2, 4, 7], ".": [0, 0, 0, 0, 2], ",": [0, 0, 0, 2, 4], ":": [0, 2, 0, 2, 0], "-": [0, 0, 7, 0, 0],
    "+": [0, 2, 7, 2, 0], "=": [0, 7, 0, 7, 0], "(": [1, 2, 2, 2, 1], ")": [4, 2, 2, 2, 4], "[": [3, 2, 2, 2, 3],
    "]": [6, 2, 2, 2, 6], "/": [1, 1, 2, 4, 4], "%": [5, 1, 2, 4, 5], "_": [0, 0, 0, 0, 7], " ": [0, 0, 0, 0, 0]
]

private let palette: [(Float, Float, Float)] = [
    (0.12, 0.47, 0.71), (0.84, 0.15, 0.16), (0.17, 0.63, 0.17), (0.58, 0.40, 0.74),
    (1.0, 0.5, 0.05), (0.55, 0.34, 0.29), (0.89, 0.47, 0.76)
]
private let baselineColors: [(Float, Float, Float)] = [(0.1, 0.1, 0.1), (0.55, 0.55, 0.55)]

/// One curve of each panel: SSIM and PSNR per predicted frame.
struct PlotSeries {
    let label: String
    let ssim: MetricSeries
    let psnr: MetricSeries
    let dashed: Bool
}

/// Round tick values covering [lo, hi]: a step of 1, 2 or 5 × 10^k giving four to seven ticks.
func niceTicks(_ lo: Double, _ hi: Double) -> (ticks: [Double], step: Double) {
    let span = max(hi - lo, 1e-9)
    var step = pow(10, (log10(span / 5)).rounded(.down))
    for m in [1.0, 2, 5, 10] where span / (step * m) <= 6 { step *= m; break }
    let first = (lo / step).rounded(.down) * step, last = (hi / step).rounded(.up) * step
    let n = Int(((last - first) / step).rounded())
    return ((0...n).map { first + Double($0) * step }, step)
}

private func tickText(_ v: Double, step: Double) -> String {
    let decimals = max(0, Int((-log10(step)).rounded(.up)))
    return String(format: "%.\(decimals)f", v)
}

func plotCurves(_ series: [PlotSeries], firstStep: Int, title: String) -> Image {
    let panelW = 420, panelH = 260, left = 64, gap = 40, top = 44
    let legendRows = (series.count + 2) / 3
    let width = 2 * (left + panelW) + gap + 24, height = top + panelH + 44 + legendRows * 18 + 8
    var img = Image(channels: 3, height: height, width: width)
    img.pixels = [Float](repeating: 1, count: img.pixels.count)
    func set(_ x: Int, _ y: Int, _ c: (Float, Float, Float), alpha: Float = 1) {
        guard x >= 0, y >= 0, x < img.width, y < img.height else { return }
        let i = y * img.width + x, n = img.height * img.width
        img.pixels[i] = img.pixels[i] * (1 - alpha) + c.0 * alpha
        img.pixels[n + i] = img.pixels[n + i] * (1 - alpha) + c.1 * alpha
        img.pixels[2 * n + i] = img.pixels[2 * n + i] * (1 - alpha) + c.2 * alpha
    }
    func textWidth(_ s: String, scale: Int = 2) -> Int { s.count * 4 * scale }
    func text(_ string: String, _ x: Int, _ y: Int, scale: Int = 2, _ c: (Float, Float, Float) = (0.15, 0.15, 0.15)) {
        for (k, ch) in string.uppercased().enumerated() {
            guard let rows = glyphs[ch] else { continue }
            for (r, bits) in rows.enumerated() {
                for b in 0..<3 where bits & (4 >> b) != 0 {
                    for dy in 0..<scale { for dx in 0..<scale { set(x + (k * 4 + b) * scale + dx, y + r * scale + dy, c) } }
                }
            }
        }
    }
    func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: (Float, Float, Float), dashed: Bool = false) {
        let n = max(abs(x1 - x0), abs(y1 - y0), 1)
        for k in 0...n where !dashed || k / 5 % 2 == 0 {
            let x = x0 + (x1 - x0) * k / n, y = y0 + (y1 - y0) * k / n
            set(x, y, c); set(x, y + 1, c)
        }
    }
    func color(_ k: Int) -> (Float, Float, Float) {
        let s = series[k]
        if s.dashed { return baselineColors[series[..<k].filter(\.dashed).count % baselineColors.count] }
        return palette[series[..<k].filter { !$0.dashed }.count % palette.count]
    }
    text(title, (width - textWidth(title)) / 2, 8)
    let steps = series.first?.ssim.mean.count ?? 1
    for (panel, name) in [(0, "SSIM, BEST SAMPLE BY SSIM"), (1, "PSNR (DB), BEST SAMPLE BY PSNR")] {
        let x0 = left + panel * (left + panelW + gap), y0 = top
        let curves = series.map { panel == 0 ? $0.ssim : $0.psnr }
        let (ticks, step) = niceTicks(curves.flatMap(\.ciLow).min() ?? 0, curves.flatMap(\.ciHigh).max() ?? 1)
        let lo = ticks.first!, hi = ticks.last!
        func py(_ v: Double) -> Int { y0 + panelH - Int((Double(panelH) * (v - lo) / (hi - lo)).rounded()) }
        func px(_ t: Int) -> Int { x0 + (steps == 1 ? panelW / 2 : t * panelW / (steps - 1)) }
        for v in ticks {
            let y = py(v)
            for x in x0...(x0 + panelW) { set(x, y, (0.88, 0.88, 0.88)) }
            let label = tickText(v, step: step)
            text(label, x0 - 8 - textWidth(label), y - 5)
        }
        // x ticks at round frame numbers (every 5), and the first predicted frame.
        var xTicks = Set([0, steps - 1])
        for t in 0..<steps where (firstStep + t) % 5 == 0 { xTicks.insert(t) }
        for t in xTicks.sorted() {
            for y in (y0 + panelH)...(y0 + panelH + 4) { set(px(t), y, (0, 0, 0)) }
            let label = String(firstStep + t)
            text(label, px(t) - textWidth(label) / 2, y0 + panelH + 8)
        }
        text(name, x0, y0 - 16)
        let xLabel = "FRAME (1 TO \(firstStep - 1) OBSERVED)"
        text(xLabel, x0 + (panelW - textWidth(xLabel)) / 2, y0 + panelH + 22)
        line(x0, y0, x0, y0 + panelH, (0, 0, 0)); line(x0, y0 + panelH, x0 + panelW, y0 + panelH, (0, 0, 0))
        for (k, s) in curves.enumerated() {
            let c = color(k)
            if !series[k].dashed {
                for t in 0..<steps { // the confidence band, filled between neighbouring steps
                    let xa = px(t), xb = t + 1 < steps ? px(t + 1) : px(t)
                    for x in xa...xb {
                        let f = xb == xa ? 0 : Double(x - xa) / Double(xb - xa), t1 = min(t + 1, steps - 1)
                        let high = s.ciHigh[t] * (1 - f) + s.ciHigh[t1] * f, low = s.ciLow[t] * (1 - f) + s.ciLow[t1] * f
                        for y in py(high)...max(py(high), py(low)) where x < xb || t == steps - 1 { set(x, y, c, alpha: 0.18) }
                    }
                }
            }
            for t in 1..<max(steps, 1) where steps > 1 { line(px(t - 1), py(s.mean[t - 1]), px(t), py(s.mean[t]), c, dashed: series[k].dashed) }
        }
    }
    // Legend: three entries a row under the panels.
    for k in 0..<series.count {
        let lx = left + (k % 3) * ((width - left) / 3), ly = top + panelH + 44 + (k / 3) * 18
        let c = color(k)
        line(lx, ly + 4, lx + 24, ly + 4, c, dashed: series[k].dashed)
        text(series[k].label, lx + 32, ly)
    }
    return img
}
