// The op case table: every linear map among the kernels, and the backward that claims to be its adjoint.
// For a linear A and its adjoint Aᵀ, ⟨A x, u⟩ = ⟨x, Aᵀ u⟩ for every x and u: an identity that needs no
// reference implementation and no step size, and that fails for any transposed index, dropped term or
// wrong stride in the backward. Each case is one row: input and output sizes, the forward as a function
// of the input (weights or the other input held fixed), and the backward that gives Aᵀ u.
import XCTest
import TestSupport
@testable import Kernels

final class AdjointTests: XCTestCase {
    struct Case {
        let name: String
        let inputCount: Int
        let outputCount: Int
        let forward: ([Float]) -> [Float]
        let adjoint: ([Float]) -> [Float]
    }

    static func zeros(_ n: Int) -> [Float] { [Float](repeating: 0, count: n) }

    /// Conv2d, ConvTranspose2d and Conv1x1 over x, and over their weight with x fixed.
    static func convolutionCases(_ rng: inout TestRNG) -> [Case] {
        var cases: [Case] = []
        for (cin, cout, frames, size, kernel, stride, padding) in [(3, 4, 2, 8, 4, 2, 1), (2, 3, 3, 5, 3, 1, 1), (4, 5, 2, 4, 4, 1, 0), (1, 2, 1, 6, 3, 2, 1)] {
            let g = ConvGeometry(channels: cin, frames: frames, height: size, width: size, kernelH: kernel, kernelW: kernel, stride: stride, padding: padding)
            let label = "\(cin)→\(cout), \(frames)×\(size)², k\(kernel) s\(stride) p\(padding)"
            let weight = rng.array(cout * g.colRows), x0 = rng.array(g.imageCount)
            let yCount = cout * g.colColumns
            cases.append(
                Case(
                    name: "conv2d over x, \(label)", inputCount: g.imageCount, outputCount: yCount,
                    forward: { x in
                        var y = zeros(yCount), col = zeros(g.colCount)
                        conv2dForward(x: x, weight: weight, bias: nil, y: &y, col: &col, geometry: g, outChannels: cout)
                        return y
                    },
                    adjoint: { u in
                        var gx = zeros(g.imageCount), gw = zeros(weight.count), col = zeros(g.colCount)
                        convColumns(x0, &col, g)
                        conv2dBackward(gradY: u, col: &col, weight: weight, gradX: &gx, gradWeight: &gw, gradBias: nil, geometry: g, outChannels: cout)
                        return gx
                    }))
            cases.append(
                Case(
                    name: "conv2d over its weight, \(label)", inputCount: weight.count, outputCount: yCount,
                    forward: { w in
                        var y = zeros(yCount), col = zeros(g.colCount)
                        conv2dForward(x: x0, weight: w, bias: nil, y: &y, col: &col, geometry: g, outChannels: cout)
                        return y
                    },
                    adjoint: { u in
                        var gw = zeros(weight.count), col = zeros(g.colCount)
                        convColumns(x0, &col, g)
                        conv2dBackward(gradY: u, col: &col, weight: weight, gradX: nil, gradWeight: &gw, gradBias: nil, geometry: g, outChannels: cout)
                        return gw
                    }))
            cases.append(
                Case(
                    name: "im2col (convColumns) against convColumnsAdjoint, \(label)", inputCount: g.imageCount, outputCount: g.colCount,
                    forward: { x in
                        var col = zeros(g.colCount)
                        convColumns(x, &col, g)
                        return col
                    },
                    adjoint: { u in
                        var image = zeros(g.imageCount)
                        convColumnsAdjoint(u, &image, g)
                        return image
                    }))
            // The transposed conv whose output image is g's input: x is cout × (frames·outH·outW).
            let tw = rng.array(cout * g.colRows), tx0 = rng.array(cout * g.colColumns)
            cases.append(
                Case(
                    name: "convTranspose2d over x, \(label)", inputCount: tx0.count, outputCount: g.imageCount,
                    forward: { x in
                        var y = zeros(g.imageCount), col = zeros(g.colCount)
                        convTranspose2dForward(x: x, weight: tw, bias: nil, y: &y, col: &col, inChannels: cout, outputGeometry: g)
                        return y
                    },
                    adjoint: { u in
                        var gx = zeros(tx0.count), gw = zeros(tw.count), col = zeros(g.colCount)
                        convTranspose2dBackward(
                            gradY: u, x: tx0, weight: tw, gradX: &gx, gradWeight: &gw, gradBias: nil, col: &col, inChannels: cout, outputGeometry: g)
                        return gx
                    }))
            cases.append(
                Case(
                    name: "convTranspose2d over its weight, \(label)", inputCount: tw.count, outputCount: g.imageCount,
                    forward: { w in
                        var y = zeros(g.imageCount), col = zeros(g.colCount)
                        convTranspose2dForward(x: tx0, weight: w, bias: nil, y: &y, col: &col, inChannels: cout, outputGeometry: g)
                        return y
                    },
                    adjoint: { u in
                        var gw = zeros(tw.count), col = zeros(g.colCount)
                        convTranspose2dBackward(
                            gradY: u, x: tx0, weight: tw, gradX: nil, gradWeight: &gw, gradBias: nil, col: &col, inChannels: cout, outputGeometry: g)
                        return gw
                    }))
        }
        // Winograd F(2×2, 2×2) and F(4×4, 2×2): the 4×4/2/1 layers, conv and transposed conv, over x and over the weight.
        for (cin, cout, frames, outSize, tile) in [(3, 4, 2, 4, 2), (2, 2, 1, 6, 2), (3, 4, 3, 8, 4), (2, 3, 9, 4, 4)] {
            let w = WinogradGeometry(inChannels: cin, outChannels: cout, frames: frames, outHeight: outSize, outWidth: outSize, outputTile: tile)
            let label = "\(cin)→\(cout), \(frames)×\(w.inHeight)² → \(outSize)², tile \(tile)"
            let xCount = cin * frames * w.inHeight * w.inWidth, yCount = cout * frames * outSize * outSize
            let weight = rng.array(cout * cin * 16), x0 = rng.array(xCount), ty0 = rng.array(yCount)
            cases.append(
                Case(
                    name: "Winograd conv2d over x, \(label)", inputCount: xCount, outputCount: yCount,
                    forward: { x in
                        var y = zeros(yCount), t = zeros(w.transformedInputCount), s = zeros(w.scratchCount)
                        winogradConv2dForward(x: x, weight: weight, bias: nil, y: &y, transformedInput: &t, scratch: &s, geometry: w)
                        return y
                    },
                    adjoint: { u in
                        var y = zeros(yCount), t = zeros(w.transformedInputCount), s = zeros(w.scratchCount), gx = zeros(xCount), gw = zeros(weight.count)
                        winogradConv2dForward(x: x0, weight: weight, bias: nil, y: &y, transformedInput: &t, scratch: &s, geometry: w)
                        winogradConv2dBackward(
                            gradY: u, transformedInput: &t, weight: weight, gradX: &gx, gradWeight: &gw, gradBias: nil, scratch: &s, geometry: w)
                        return gx
                    }))
            cases.append(
                Case(
                    name: "Winograd conv2d over its weight, \(label)", inputCount: weight.count, outputCount: yCount,
                    forward: { wt in
                        var y = zeros(yCount), t = zeros(w.transformedInputCount), s = zeros(w.scratchCount)
                        winogradConv2dForward(x: x0, weight: wt, bias: nil, y: &y, transformedInput: &t, scratch: &s, geometry: w)
                        return y
                    },
                    adjoint: { u in
                        var y = zeros(yCount), t = zeros(w.transformedInputCount), s = zeros(w.scratchCount), gw = zeros(weight.count)
                        winogradConv2dForward(x: x0, weight: weight, bias: nil, y: &y, transformedInput: &t, scratch: &s, geometry: w)
                        winogradConv2dBackward(
                            gradY: u, transformedInput: &t, weight: weight, gradX: nil, gradWeight: &gw, gradBias: nil, scratch: &s, geometry: w)
                        return gw
                    }))
            // The transposed conv maps the conv's output shape (its x: cout channels) back to the input shape.
            cases.append(
                Case(
                    name: "Winograd convTranspose2d over x, \(label)", inputCount: yCount, outputCount: xCount,
                    forward: { x in
                        var out = zeros(xCount), ws = zeros(w.transposedWorkspaceCount())
                        winogradConvTranspose2dForward(x: x, weight: weight, bias: nil, y: &out, workspace: &ws, geometry: w)
                        return out
                    },
                    adjoint: { u in
                        var gx = zeros(yCount), gw = zeros(weight.count), ws = zeros(w.transposedWorkspaceCount())
                        winogradConvTranspose2dBackward(
                            gradY: u, x: ty0, weight: weight, gradX: &gx, gradWeight: &gw, gradBias: nil, workspace: &ws, geometry: w)
                        return gx
                    }))
            cases.append(
                Case(
                    name: "Winograd convTranspose2d over its weight, \(label)", inputCount: weight.count, outputCount: xCount,
                    forward: { wt in
                        var out = zeros(xCount), ws = zeros(w.transposedWorkspaceCount())
                        winogradConvTranspose2dForward(x: ty0, weight: wt, bias: nil, y: &out, workspace: &ws, geometry: w)
                        return out
                    },
                    adjoint: { u in
                        var gw = zeros(weight.count), ws = zeros(w.transposedWorkspaceCount())
                        winogradConvTranspose2dBackward(
                            gradY: u, x: ty0, weight: weight, gradX: nil, gradWeight: &gw, gradBias: nil, workspace: &ws, geometry: w)
                        return gw
                    }))
        }
        let (cin, cout, columns) = (5, 3, 7)
        let w1 = rng.array(cout * cin), x1 = rng.array(cin * columns)
        cases.append(
            Case(
                name: "conv1x1 over x", inputCount: x1.count, outputCount: cout * columns,
                forward: { x in
                    var y = zeros(cout * columns)
                    conv1x1Forward(x: x, weight: w1, bias: nil, y: &y, inChannels: cin, outChannels: cout, columns: columns)
                    return y
                },
                adjoint: { u in
                    var gx = zeros(x1.count), gw = zeros(w1.count)
                    conv1x1Backward(
                        gradY: u, x: x1, weight: w1, gradX: &gx, gradWeight: &gw, gradBias: nil, inChannels: cin, outChannels: cout, columns: columns)
                    return gx
                }))
        cases.append(
            Case(
                name: "conv1x1 over its weight", inputCount: w1.count, outputCount: cout * columns,
                forward: { w in
                    var y = zeros(cout * columns)
                    conv1x1Forward(x: x1, weight: w, bias: nil, y: &y, inChannels: cin, outChannels: cout, columns: columns)
                    return y
                },
                adjoint: { u in
                    var gw = zeros(w1.count)
                    conv1x1Backward(
                        gradY: u, x: x1, weight: w1, gradX: nil, gradWeight: &gw, gradBias: nil, inChannels: cin, outChannels: cout, columns: columns)
                    return gw
                }))
        return cases
    }

    /// Linear layers (with strided rows, as the LSTM's gates use them) and the data-movement ops.
    static func otherCases(_ rng: inout TestRNG) -> [Case] {
        var cases: [Case] = []
        let (batch, inF, outF, ldx, ldy) = (4, 6, 5, 9, 7)
        let wl = rng.array(outF * inF), xl = rng.array(batch * ldx)
        cases.append(
            Case(
                name: "linear over x (strided rows)", inputCount: batch * ldx, outputCount: batch * ldy,
                forward: { x in
                    var y = zeros(batch * ldy)
                    linearForward(x: x, weight: wl, bias: nil, y: &y, batch: batch, inFeatures: inF, outFeatures: outF, ldx: ldx, ldy: ldy)
                    return y
                },
                adjoint: { u in
                    // Columns past outFeatures in each output row are not the layer's: its adjoint ignores them.
                    var gx = zeros(batch * ldx), gw = zeros(wl.count)
                    linearBackward(
                        gradY: u, x: xl, weight: wl, gradX: &gx, gradWeight: &gw, gradBias: nil, batch: batch, inFeatures: inF, outFeatures: outF, ldx: ldx,
                        ldy: ldy)
                    return gx
                }))
        cases.append(
            Case(
                name: "linear over its weight", inputCount: wl.count, outputCount: batch * ldy,
                forward: { w in
                    var y = zeros(batch * ldy)
                    linearForward(x: xl, weight: w, bias: nil, y: &y, batch: batch, inFeatures: inF, outFeatures: outF, ldx: ldx, ldy: ldy)
                    return y
                },
                adjoint: { u in
                    var gw = zeros(wl.count)
                    linearBackward(
                        gradY: u, x: xl, weight: wl, gradX: nil, gradWeight: &gw, gradBias: nil, batch: batch, inFeatures: inF, outFeatures: outF, ldx: ldx,
                        ldy: ldy)
                    return gw
                }))
        let (planes, h, w) = (3, 4, 6)
        cases.append(
            Case(
                name: "nearest 2× upsample", inputCount: planes * h * w, outputCount: planes * 4 * h * w,
                forward: { x in
                    var y = zeros(planes * 4 * h * w)
                    upsampleNearest2xForward(x: x, y: &y, planes: planes, height: h, width: w)
                    return y
                },
                adjoint: { u in
                    var gx = zeros(planes * h * w)
                    upsampleNearest2xBackward(gradY: u, gradX: &gx, planes: planes, height: h, width: w)
                    return gx
                }))
        // Max-pooling is linear for a fixed choice of maxima: the arg-max of x0 picks the same entries of x.
        let xp = rng.array(planes * h * w)
        var argmax = [Int32](repeating: 0, count: planes * (h / 2) * (w / 2))
        var pooled = zeros(argmax.count)
        maxPool2dForward(x: xp, y: &pooled, argmax: &argmax, planes: planes, height: h, width: w)
        let fixedArgmax = argmax
        cases.append(
            Case(
                name: "2×2 max-pool at fixed arg-max", inputCount: xp.count, outputCount: fixedArgmax.count,
                forward: { x in
                    (0..<fixedArgmax.count).map { i in x[(i / ((h / 2) * (w / 2))) * h * w + Int(fixedArgmax[i])] }
                },
                adjoint: { u in
                    var gx = zeros(xp.count)
                    maxPool2dBackward(gradY: u, argmax: fixedArgmax, gradX: &gx, planes: planes, height: h, width: w)
                    return gx
                }))
        let (ca, cb, columns) = (2, 3, 5)
        cases.append(
            Case(
                name: "channel concat", inputCount: (ca + cb) * columns, outputCount: (ca + cb) * columns,
                forward: { x in
                    var out = zeros((ca + cb) * columns)
                    concatChannelsForward(
                        a: Array(x[0..<(ca * columns)]), aChannels: ca, b: Array(x[(ca * columns)...]), bChannels: cb, out: &out, columns: columns)
                    return out
                },
                adjoint: { u in
                    var ga = zeros(ca * columns), gb = zeros(cb * columns)
                    concatChannelsBackward(gradOut: u, gradA: &ga, aChannels: ca, gradB: &gb, bChannels: cb, columns: columns)
                    return ga + gb
                }))
        let (rows, cols) = (4, 7)
        cases.append(
            Case(
                name: "transpose", inputCount: rows * cols, outputCount: rows * cols,
                forward: { x in
                    var y = zeros(rows * cols); transpose(x, &y, rows: rows, columns: cols); return y
                },
                adjoint: { u in
                    var y = zeros(rows * cols); transpose(u, &y, rows: cols, columns: rows); return y
                }))
        let (n, c, p) = (3, 2, 5)
        cases.append(
            Case(
                name: "NCHW → CNHW", inputCount: n * c * p, outputCount: n * c * p,
                forward: { x in
                    var y = zeros(n * c * p); nchwToCNHW(x, &y, frames: n, channels: c, plane: p); return y
                },
                adjoint: { u in
                    var y = zeros(n * c * p); cnhwToNCHW(u, &y, frames: n, channels: c, plane: p); return y
                }))
        // Skip sources: the decoder's frames read their source frame's shared term (gather), and the backward
        // sums each frame's gradient into its source (scatter).
        let (frames, sources) = (6, 3)
        let sourceOf: [Int32] = [0, 1, 2, 2, 2, 1]
        cases.append(
            Case(
                name: "gather of skip sources (gatherFramesAdd / scatterFramesSum)", inputCount: c * sources * p, outputCount: c * frames * p,
                forward: { x in
                    var y = zeros(c * frames * p)
                    gatherFramesAdd(shared: x, perStep: &y, sourceOf: sourceOf, channels: c, frames: frames, sourceFrames: sources, plane: p)
                    return y
                },
                adjoint: { u in
                    var gx = zeros(c * sources * p)
                    scatterFramesSum(perStep: u, shared: &gx, sourceOf: sourceOf, channels: c, frames: frames, sourceFrames: sources, plane: p)
                    return gx
                }))
        let (bigFrames, first, count) = (7, 2, 3)
        cases.append(
            Case(
                name: "frame range copy (copyFrameRange / addFrameRange)", inputCount: c * bigFrames * p, outputCount: c * count * p,
                forward: { x in
                    var y = zeros(c * count * p)
                    copyFrameRange(src: x, srcFrames: bigFrames, first: first, dst: &y, frames: count, channels: c, plane: p)
                    return y
                },
                adjoint: { u in
                    var gx = zeros(c * bigFrames * p)
                    addFrameRange(compact: u, frames: count, into: &gx, bigFrames: bigFrames, first: first, channels: c, plane: p)
                    return gx
                }))
        return cases
    }

    /// ⟨A x, u⟩ = ⟨x, Aᵀ u⟩ to within Float rounding of the products: 1e-5 of Σ|(A x)_i·u_i| + Σ|x_j·(Aᵀu)_j|,
    /// for three random pairs per case.
    func testEveryBackwardIsTheAdjointOfItsForward() {
        var rng = TestRNG(91)
        let cases = Self.convolutionCases(&rng) + Self.otherCases(&rng)
        for c in cases {
            for _ in 0..<3 {
                let x = rng.array(c.inputCount), u = rng.array(c.outputCount)
                let ax = c.forward(x), atu = c.adjoint(u)
                XCTAssertEqual(ax.count, c.outputCount, "\(c.name): forward size")
                XCTAssertEqual(atu.count, c.inputCount, "\(c.name): adjoint size")
                guard ax.count == c.outputCount, atu.count == c.inputCount else { continue }
                var left = 0.0, right = 0.0, scale = 0.0
                for i in 0..<ax.count { left += Double(ax[i]) * Double(u[i]); scale += abs(Double(ax[i]) * Double(u[i])) }
                for j in 0..<x.count { right += Double(x[j]) * Double(atu[j]); scale += abs(Double(x[j]) * Double(atu[j])) }
                XCTAssertLessThanOrEqual(abs(left - right), 1e-5 * scale + 1e-12, "\(c.name): ⟨Ax, u⟩ = \(left), ⟨x, Aᵀu⟩ = \(right)")
            }
        }
        XCTAssertGreaterThanOrEqual(cases.count, 36)
    }
}
