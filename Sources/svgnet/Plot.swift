// A plain raster plot of SSIM and PSNR per future step (the paper's Fig. 6): two panels side by side,
// one line per sample count with its 95% confidence band, drawn into an RGB image for writePNG.
import SVGData
import SVGNet

/// A 3×5 pixel font for tick labels and titles: each glyph is five rows of three bits.
private let glyphs: [Character: [UInt8]] = [
    "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7], "4": [5, 5, 7, 1, 1],
    "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 2, 2], "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7],
    ".": [0, 0, 0, 0, 2], "-": [0, 0, 7, 0, 0], " ": [0, 0, 0, 0, 0], "S": [7, 4, 7, 1, 7], "I": [7, 2, 2, 2, 7],
    "M": [5, 7, 7, 5, 5], "P": [7, 5, 7, 4, 4], "N": [6, 5, 5, 5, 5], "Y": [5, 5, 2, 2, 2], "R": [7, 5, 6, 5, 5], "T": [7, 2, 2, 2, 2],
    "E": [7, 4, 7, 4, 7], "D": [6, 5, 5, 5, 6], "B": [6, 5, 6, 5, 6], "F": [7, 4, 7, 4, 4], "O": [7, 5, 5, 5, 7],
    "=": [0, 7, 0, 7, 0], "(": [1, 2, 2, 2, 1], ")": [4, 2, 2, 2, 4], "X": [5, 5, 2, 5, 5],
]

private let palette: [(Float, Float, Float)] = [(0.12, 0.47, 0.71), (0.84, 0.15, 0.16), (0.17, 0.63, 0.17), (0.58, 0.40, 0.74), (1.0, 0.5, 0.05)]

func plotReports(_ reports: [EvaluationReport], firstStep: Int, title: String) -> Image {
    let panelW = 360, panelH = 240, margin = 30, left = 60
    var img = Image(channels: 3, height: panelH + 3 * margin, width: 2 * panelW + 2 * left + margin)
    img.pixels = [Float](repeating: 1, count: img.pixels.count)
    func set(_ x: Int, _ y: Int, _ c: (Float, Float, Float), alpha: Float = 1) {
        guard x >= 0, y >= 0, x < img.width, y < img.height else { return }
        let i = y * img.width + x, n = img.height * img.width
        img.pixels[i] = img.pixels[i] * (1 - alpha) + c.0 * alpha
        img.pixels[n + i] = img.pixels[n + i] * (1 - alpha) + c.1 * alpha
        img.pixels[2 * n + i] = img.pixels[2 * n + i] * (1 - alpha) + c.2 * alpha
    }
    /// Text at (x, y) (top-left), each font pixel drawn as scale×scale.
    func text(_ string: String, _ x: Int, _ y: Int, scale: Int = 2, _ c: (Float, Float, Float) = (0.2, 0.2, 0.2)) {
        for (k, ch) in string.uppercased().enumerated() {
            guard let rows = glyphs[ch] else { continue }
            for (r, bits) in rows.enumerated() { for b in 0..<3 where bits & (4 >> b) != 0 {
                for dy in 0..<scale { for dx in 0..<scale { set(x + (k * 4 + b) * scale + dx, y + r * scale + dy, c) } }
            } }
        }
    }
    func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: (Float, Float, Float)) {
        let n = max(abs(x1 - x0), abs(y1 - y0), 1)
        for k in 0...n { set(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n, c); set(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n + 1, c) }
    }
    for (panel, pick) in [(0, { (r: EvaluationReport) in r.ssimBestSSIM }), (1, { (r: EvaluationReport) in r.psnrBestPSNR })] {
        let x0 = left + panel * (panelW + left), y0 = margin
        let series = reports.map(pick)
        let lo = series.flatMap(\.ciLow).min() ?? 0, hi = series.flatMap(\.ciHigh).max() ?? 1
        let span = max(hi - lo, 1e-6)
        func py(_ v: Double) -> Int { y0 + panelH - Int(Double(panelH) * (v - lo) / span) }
        let steps = reports.first?.steps ?? 1
        func px(_ t: Int) -> Int { x0 + (steps == 1 ? panelW / 2 : t * panelW / (steps - 1)) }
        // Axes, a light grid every quarter of the range with its value, and the title.
        for q in 0...4 {
            let y = y0 + q * panelH / 4
            for x in x0...(x0 + panelW) { set(x, y, (0.85, 0.85, 0.85)) }
            let v = hi - Double(q) * span / 4
            text(panel == 0 ? String(format: "%.3f", v) : String(format: "%.1f", v), x0 - 52, y - 5)
        }
        text(panel == 0 ? "SSIM (BEST OF N BY SSIM)" : "PSNR (BEST OF N BY PSNR)", x0 + 4, 6)
        for t in [0, steps / 2, steps - 1] where steps > 0 { text(String(firstStep + t), px(t) - 4, y0 + panelH + 8) }
        text("STEP", x0 + panelW - 30, y0 + panelH + 20)
        if panel == 1 {
            for k in 0..<reports.count {   // legend: one swatch per sample count
                let c = palette[k % palette.count], ly = y0 + panelH + 26
                for dy in 0..<8 { for dx in 0..<14 { set(x0 + k * 90 + dx, ly + dy, c) } }
                text("N=\(reports[k].samples)", x0 + k * 90 + 18, ly - 1)
            }
        }
        line(x0, y0, x0, y0 + panelH, (0, 0, 0)); line(x0, y0 + panelH, x0 + panelW, y0 + panelH, (0, 0, 0))
        for (k, s) in series.enumerated() {
            let color = palette[k % palette.count]
            for t in 0..<steps {   // confidence band as a translucent vertical bar
                for y in py(s.ciHigh[t])...py(s.ciLow[t]) { for dx in -2...2 { set(px(t) + dx, y, color, alpha: 0.25) } }
            }
            for t in 1..<max(steps, 1) where steps > 1 { line(px(t - 1), py(s.mean[t - 1]), px(t), py(s.mean[t]), color) }
        }
    }
    _ = title
    return img
}
