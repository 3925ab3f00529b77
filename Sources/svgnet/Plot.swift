// A plain raster plot of SSIM and PSNR per future step (the paper's Fig. 6): two panels side by side,
// one line per sample count with its 95% confidence band, drawn into an RGB image for writePNG.
import SVGData
import SVGNet

private let palette: [(Float, Float, Float)] = [(0.12, 0.47, 0.71), (0.84, 0.15, 0.16), (0.17, 0.63, 0.17), (0.58, 0.40, 0.74), (1.0, 0.5, 0.05)]

func plotReports(_ reports: [EvaluationReport], firstStep: Int, title: String) -> Image {
    let panelW = 360, panelH = 240, margin = 30
    var img = Image(channels: 3, height: panelH + 2 * margin, width: 2 * panelW + 3 * margin)
    img.pixels = [Float](repeating: 1, count: img.pixels.count)
    func set(_ x: Int, _ y: Int, _ c: (Float, Float, Float), alpha: Float = 1) {
        guard x >= 0, y >= 0, x < img.width, y < img.height else { return }
        let i = y * img.width + x, n = img.height * img.width
        img.pixels[i] = img.pixels[i] * (1 - alpha) + c.0 * alpha
        img.pixels[n + i] = img.pixels[n + i] * (1 - alpha) + c.1 * alpha
        img.pixels[2 * n + i] = img.pixels[2 * n + i] * (1 - alpha) + c.2 * alpha
    }
    func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: (Float, Float, Float)) {
        let n = max(abs(x1 - x0), abs(y1 - y0), 1)
        for k in 0...n { set(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n, c); set(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n + 1, c) }
    }
    for (panel, pick) in [(0, { (r: EvaluationReport) in r.ssimBestSSIM }), (1, { (r: EvaluationReport) in r.psnrBestPSNR })] {
        let x0 = margin + panel * (panelW + margin), y0 = margin
        let series = reports.map(pick)
        let lo = series.flatMap(\.ciLow).min() ?? 0, hi = series.flatMap(\.ciHigh).max() ?? 1
        let span = max(hi - lo, 1e-6)
        func py(_ v: Double) -> Int { y0 + panelH - Int(Double(panelH) * (v - lo) / span) }
        let steps = reports.first?.steps ?? 1
        func px(_ t: Int) -> Int { x0 + (steps == 1 ? panelW / 2 : t * panelW / (steps - 1)) }
        // Axes and a light grid every quarter of the range.
        for q in 0...4 { let y = y0 + q * panelH / 4; for x in x0...(x0 + panelW) { set(x, y, (0.85, 0.85, 0.85)) } }
        line(x0, y0, x0, y0 + panelH, (0, 0, 0)); line(x0, y0 + panelH, x0 + panelW, y0 + panelH, (0, 0, 0))
        for (k, s) in series.enumerated() {
            let color = palette[k % palette.count]
            for t in 0..<steps {   // confidence band as a translucent vertical bar
                for y in py(s.ciHigh[t])...py(s.ciLow[t]) { for dx in -2...2 { set(px(t) + dx, y, color, alpha: 0.25) } }
            }
            for t in 1..<max(steps, 1) where steps > 1 { line(px(t - 1), py(s.mean[t - 1]), px(t), py(s.mean[t]), color) }
        }
    }
    _ = (title, firstStep)
    return img
}
