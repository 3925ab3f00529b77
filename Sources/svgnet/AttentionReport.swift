// What the feature aligner attends to (generate --attention): per aligner level, how focused each
// attention row is over all predicted frames, and a picture of a few rows for the first sequence.
// A row A[q, ·] is a distribution over the P positions of the skip-source frame; its entropy divided by
// log P is 1 for a uniform row (no alignment at all) and 0 for a row on one position.
import Foundation
import SVGData
import SVGNet

final class AttentionReport {
    struct Level {
        let level: Int
        let plane: Int
        var entropy = 0.0, maxWeight = 0.0, rows = 0
        var lastMaps: [Float] = [] // sample 0 of sequence 0 at the last predicted frame: P×P
    }
    private(set) var levels: [Level]
    let nFuture: Int

    init(_ generator: Generator) {
        levels = (0..<4).compactMap { l in generator.attention(level: l).map { Level(level: l, plane: $0.plane) } }
        nFuture = generator.config.nFuture
    }

    /// Accumulates the last decoded frame's attention of every level (the generator's afterDecoding hook).
    func record(_ generator: Generator, futureStep: Int, firstBatch: Bool) {
        for k in levels.indices {
            guard let (P, maps) = generator.attention(level: levels[k].level) else { continue }
            let logP = log(Double(P))
            var h = 0.0, m = 0.0
            for r in 0..<(maps.count / P) {
                var rowEntropy = 0.0, rowMax: Float = 0
                for j in 0..<P {
                    let a = maps[r * P + j]
                    if a > 0 { rowEntropy -= Double(a) * log(Double(a)) }
                    rowMax = max(rowMax, a)
                }
                h += rowEntropy / logP; m += Double(rowMax)
            }
            levels[k].entropy += h; levels[k].maxWeight += m; levels[k].rows += maps.count / P
            if firstBatch && futureStep == nFuture - 1 { levels[k].lastMaps = Array(maps[0..<(P * P)]) }
        }
    }

    func summary() -> String {
        levels.map { l in
            let side = Int(Double(l.plane).squareRoot())
            return String(
                format: "aligner level %d (%d×%d): attention entropy %.3f of a uniform row's; mean largest weight %.4f (uniform: %.4f)",
                l.level, side, side, l.entropy / Double(max(l.rows, 1)), l.maxWeight / Double(max(l.rows, 1)), 1 / Double(l.plane))
        }.joined(separator: "\n")
    }

    /// One row per level: the skip-source frame, the predicted frame, then the attention rows of the three
    /// brightest positions of the prediction (on the level's grid) and the mean row, each scaled to its
    /// maximum and drawn over the source frame's grid.
    func picture(source: UnsafePointer<Float>, prediction: UnsafePointer<Float>) -> Image {
        var img = canvas(rows: levels.count, columns: 6, channels: 1)
        for (row, l) in levels.enumerated() where !l.lastMaps.isEmpty {
            let side = Int(Double(l.plane).squareRoot()), cell = 64 / side
            paste(source, channels: 1, into: &img, row: row, column: 0)
            paste(prediction, channels: 1, into: &img, row: row, column: 1)
            // Brightness of the prediction on the level's grid.
            var brightness = [Float](repeating: 0, count: l.plane)
            for y in 0..<64 { for x in 0..<64 { brightness[(y / cell) * side + x / cell] += prediction[y * 64 + x] } }
            let queries = brightness.indices.sorted { brightness[$0] > brightness[$1] }.prefix(3)
            var mean = [Float](repeating: 0, count: l.plane)
            for q in 0..<l.plane { for j in 0..<l.plane { mean[j] += l.lastMaps[q * l.plane + j] / Float(l.plane) } }
            let shown = queries.map { q in Array(l.lastMaps[(q * l.plane)..<((q + 1) * l.plane)]) } + [mean]
            for (k, values) in shown.enumerated() {
                let top = max(values.max() ?? 1, 1e-12)
                var frame = [Float](repeating: 0, count: framePixels)
                for y in 0..<64 { for x in 0..<64 { frame[y * 64 + x] = values[(y / cell) * side + x / cell] / top } }
                // The query's own cell, outlined, on the three query panels.
                if k < queries.count {
                    let q = queries[queries.index(queries.startIndex, offsetBy: k)]
                    let qy = (q / side) * cell, qx = (q % side) * cell
                    for d in 0..<cell {
                        for (y, x) in [(qy, qx + d), (qy + cell - 1, qx + d), (qy + d, qx), (qy + d, qx + cell - 1)] { frame[y * 64 + x] = 0.5 }
                    }
                }
                frame.withUnsafeBufferPointer { paste($0.baseAddress!, channels: 1, into: &img, row: row, column: 2 + k) }
            }
        }
        return img
    }
}
