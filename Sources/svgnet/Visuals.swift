// Pictures for people: animated GIFs of sequences side by side (as in the SVG paper's figures) and PNG
// grids. Frames are C×64×64 in [0, 1]; panels are separated by a 2-pixel white gutter.
import Foundation
import SVGData
import SVGNet

let gutter = 2

/// A canvas of rows × columns panels of 64×64.
func canvas(rows: Int, columns: Int, channels: Int) -> Image {
    var img = Image(channels: channels, height: rows * 64 + (rows - 1) * gutter, width: columns * 64 + (columns - 1) * gutter)
    img.pixels = [Float](repeating: 1, count: img.pixels.count)
    return img
}

/// Copies frame (C×64×64 at `source`) into panel (row, column); a 1-channel frame on a 3-channel canvas is gray.
func paste(_ source: UnsafePointer<Float>, channels: Int, into img: inout Image, row: Int, column: Int) {
    let y0 = row * (64 + gutter), x0 = column * (64 + gutter)
    for c in 0..<img.channels {
        let sc = min(c, channels - 1)
        for y in 0..<64 {
            for x in 0..<64 {
                img.pixels[(c * img.height + y0 + y) * img.width + x0 + x] = min(max(source[(sc * 64 + y) * 64 + x], 0), 1)
            }
        }
    }
}

/// The training-time sample: for each sequence a row [ground truth | prediction], one GIF frame per time step.
func writeSampleGIF(generator: Generator, frames: [Float], path: String) throws {
    let c = generator.config, B = c.batch, C = c.channels, frame = C * framePixels
    let out = frames.withUnsafeBufferPointer { generator.generate($0.baseAddress!) }
    var gif: [Image] = []
    frames.withUnsafeBufferPointer { x in
        for t in 0..<c.frameCount {
            var img = canvas(rows: B, columns: 2, channels: C)
            for b in 0..<B {
                paste(x.baseAddress! + (t * B + b) * frame, channels: C, into: &img, row: b, column: 0)
                let pred = t < c.nPast ? x.baseAddress! + (t * B + b) * frame : out + ((b * generator.samples) * c.nFuture + t - c.nPast) * frame
                paste(pred, channels: C, into: &img, row: b, column: 1)
            }
            gif.append(img)
        }
    }
    do { try writeGIF(path, frames: gif, delayCentiseconds: 25) } catch { throw CLIError("\(error)") }
}

/// The paper's Fig. 4 for several models: for each of `sequences` test sequences a row of ground truth
/// (all frames) and then one row per model with its best sample by SSIM (predicted frames only, the
/// observed columns left blank); and the same as a GIF, one frame per time step, ground truth then each
/// model left to right, one row per sequence. truth: sequences × T frames; rows[m]: sequences × nFuture.
func writeComparisonFigure(truth: [Float], rows: [[Float]], sequences K: Int, nPast: Int, nFuture: Int, channels C: Int, to dir: String) throws {
    let frame = C * framePixels, T = nPast + nFuture, M = rows.count
    var png = canvas(rows: K * (1 + M), columns: T, channels: C)
    var gif: [Image] = []
    truth.withUnsafeBufferPointer { tr in
        for k in 0..<K {
            for t in 0..<T { paste(tr.baseAddress! + (k * T + t) * frame, channels: C, into: &png, row: k * (1 + M), column: t) }
            for m in 0..<M {
                rows[m].withUnsafeBufferPointer { p in
                    for t in 0..<nFuture {
                        paste(p.baseAddress! + (k * nFuture + t) * frame, channels: C, into: &png, row: k * (1 + M) + 1 + m, column: nPast + t)
                    }
                }
            }
        }
        for t in 0..<T {
            var img = canvas(rows: K, columns: 1 + M, channels: C)
            for k in 0..<K {
                let gt = tr.baseAddress! + (k * T + t) * frame
                paste(gt, channels: C, into: &img, row: k, column: 0)
                for m in 0..<M {
                    rows[m].withUnsafeBufferPointer { p in
                        paste(t < nPast ? gt : p.baseAddress! + (k * nFuture + t - nPast) * frame, channels: C, into: &img, row: k, column: 1 + m)
                    }
                }
            }
            gif.append(img)
        }
    }
    try writePNG("\(dir)/figure.png", png)
    try writeGIF("\(dir)/figure.gif", frames: gif, delayCentiseconds: 25)
}
