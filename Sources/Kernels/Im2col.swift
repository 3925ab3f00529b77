// im2col / col2im over the CNHW layout, shared by Conv2d and ConvTranspose2d.
//   image: channels × frames × height × width          (CNHW)
//   col:   (channels·kernelH·kernelW) × (frames·outH·outW)
// col[(c, ki, kj)][(n, oh, ow)] = image[c][n][oh·stride − pad + ki][ow·stride − pad + kj], zero outside.
// col2im is the adjoint: it sums every col entry back onto the pixel it was read from.

public struct ConvGeometry: Sendable, Equatable {
    public var channels: Int
    public var frames: Int
    public var height: Int
    public var width: Int
    public var kernelH: Int
    public var kernelW: Int
    public var stride: Int
    public var padding: Int

    public init(channels: Int, frames: Int, height: Int, width: Int,
                kernelH: Int, kernelW: Int, stride: Int = 1, padding: Int = 0) {
        precondition(channels > 0 && frames > 0 && height > 0 && width > 0 && kernelH > 0 && kernelW > 0 && stride > 0 && padding >= 0,
                     "ConvGeometry: every size must be positive (padding non-negative)")
        self.channels = channels; self.frames = frames; self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW; self.stride = stride; self.padding = padding
        precondition(outHeight > 0 && outWidth > 0, "ConvGeometry: kernel \(kernelH)×\(kernelW) does not fit \(height)×\(width) with padding \(padding)")
    }

    public var outHeight: Int { (height + 2 * padding - kernelH) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernelW) / stride + 1 }
    public var colRows: Int { channels * kernelH * kernelW }
    public var colColumns: Int { frames * outHeight * outWidth }
    public var imageCount: Int { channels * frames * height * width }
    public var colCount: Int { colRows * colColumns }
}

private struct Im2colArguments {
    var image: UnsafePointer<Float>, col: UnsafeMutablePointer<Float>, geometry: ConvGeometry, accumulate: Bool
}

public func im2col(_ image: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    // Each channel fills its own kH·kW rows: channels split cleanly over the workers.
    parallelFor(g.channels, minimumPerWorker: max(1, 32_768 / max(g.kernelH * g.kernelW * g.colColumns, 1)),
                Im2colArguments(image: image, col: col, geometry: g, accumulate: false)) { raw, lo, hi in
        let a = arguments(raw, as: Im2colArguments.self)
        im2colChannels(a.image, a.col, a.geometry, lo..<hi)
    }
}

private func im2colChannels(_ image: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry, _ channels: Range<Int>) {
    let oh = g.outHeight, ow = g.outWidth, h = g.height, w = g.width, s = g.stride, p = g.padding
    let nCols = g.colColumns
    for c in channels {
        for ki in 0..<g.kernelH {
            for kj in 0..<g.kernelW {
                let row = col + ((c * g.kernelH + ki) * g.kernelW + kj) * nCols
                if oh * ow <= 16 {
                    // Tiny outputs (c5: 4×4 → 1×1): a plain gather; the run copies below would move
                    // one element per call.
                    var k = 0
                    for n in 0..<g.frames {
                        let plane = image + (c * g.frames + n) * h * w
                        for y in 0..<oh {
                            let iy = y * s - p + ki
                            for x in 0..<ow {
                                let ix = x * s - p + kj
                                row[k] = iy >= 0 && iy < h && ix >= 0 && ix < w ? plane[iy * w + ix] : 0
                                k += 1
                            }
                        }
                    }
                    continue
                }
                // Output columns ow whose input column ow·s − p + kj lies inside [0, w).
                let owLo = max(0, (p - kj + s - 1) / s)
                let owHi = w - 1 + p - kj < 0 ? 0 : min(ow, (w - 1 + p - kj) / s + 1)   // exclusive
                for n in 0..<g.frames {
                    let plane = image + (c * g.frames + n) * h * w
                    for y in 0..<oh {
                        let dst = row + (n * oh + y) * ow
                        let iy = y * s - p + ki
                        if iy < 0 || iy >= h || owLo >= owHi {
                            dst.update(repeating: 0, count: ow)
                            continue
                        }
                        if owLo > 0 { dst.update(repeating: 0, count: owLo) }
                        let src = plane + iy * w - p + kj
                        if s == 1 {
                            (dst + owLo).update(from: src + owLo, count: owHi - owLo)
                        } else {
                            for x in owLo..<owHi { dst[x] = src[x * s] }
                        }
                        if owHi < ow { (dst + owHi).update(repeating: 0, count: ow - owHi) }
                    }
                }
            }
        }
    }
}

/// image = col2im(col), or image += col2im(col) when `accumulate`.
public func col2im(_ col: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, _ g: ConvGeometry, accumulate: Bool = false) {
    // Each channel's rows add only into that channel's planes: channels split cleanly over the workers.
    parallelFor(g.channels, minimumPerWorker: max(1, 32_768 / max(g.kernelH * g.kernelW * g.colColumns, 1)),
                Im2colArguments(image: UnsafePointer(image), col: UnsafeMutablePointer(mutating: col), geometry: g, accumulate: accumulate)) { raw, lo, hi in
        let a = arguments(raw, as: Im2colArguments.self)
        col2imChannels(a.col, UnsafeMutablePointer(mutating: a.image), a.geometry, a.accumulate, lo..<hi)
    }
}

private func col2imChannels(_ col: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, _ g: ConvGeometry, _ accumulate: Bool,
                            _ channels: Range<Int>) {
    let oh = g.outHeight, ow = g.outWidth, h = g.height, w = g.width, s = g.stride, p = g.padding
    let nCols = g.colColumns
    for c in channels {
        if !accumulate { (image + c * g.frames * h * w).update(repeating: 0, count: g.frames * h * w) }
        for ki in 0..<g.kernelH {
            for kj in 0..<g.kernelW {
                let row = col + ((c * g.kernelH + ki) * g.kernelW + kj) * nCols
                if oh * ow <= 16 {
                    // Tiny outputs (upc1's 1×1 → 4×4 adjoint): a plain scatter.
                    var k = 0
                    for n in 0..<g.frames {
                        let plane = image + (c * g.frames + n) * h * w
                        for y in 0..<oh {
                            let iy = y * s - p + ki
                            for x in 0..<ow {
                                let ix = x * s - p + kj
                                if iy >= 0 && iy < h && ix >= 0 && ix < w { plane[iy * w + ix] += row[k] }
                                k += 1
                            }
                        }
                    }
                    continue
                }
                let owLo = max(0, (p - kj + s - 1) / s)
                let owHi = w - 1 + p - kj < 0 ? 0 : min(ow, (w - 1 + p - kj) / s + 1)
                if owLo >= owHi { continue }
                for n in 0..<g.frames {
                    let plane = image + (c * g.frames + n) * h * w
                    for y in 0..<oh {
                        let iy = y * s - p + ki
                        if iy < 0 || iy >= h { continue }
                        let src = row + (n * oh + y) * ow
                        let dst = plane + iy * w - p + kj
                        if s == 1 {
                            for x in owLo..<owHi { dst[x] += src[x] }
                        } else {
                            for x in owLo..<owHi { dst[x * s] += src[x] }
                        }
                    }
                }
            }
        }
    }
}
