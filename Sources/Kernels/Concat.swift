// Channel concatenation in CNHW: [a; b] is a's rows followed by b's rows, so it is two block copies.
//   a, gradA: aChannels × columns     b, gradB: bChannels × columns     columns = frames·H·W
//   out, gradOut: (aChannels + bChannels) × columns
// Forward  out = [a; b]
// Backward gradA (+)= gradOut[0 ..< aChannels],  gradB (+)= gradOut[aChannels ..< aChannels + bChannels]
//          (nil skips a part whose gradient nobody wants; nothing is cached)
// The model avoids these copies where it can: a producer (a convolution, a BatchNorm, an activation)
// writes straight into its row block of the concatenated buffer, and a consumer's backward hands each
// producer its row block of the gradient by pointer offset. These functions serve the places where the
// two halves cannot share one buffer.

/// out = [a; b] along channels: a's `aChannels` rows, then b's `bChannels` rows, each `columns` long.
public func concatChannelsForward(
    a: UnsafePointer<Float>, aChannels: Int, b: UnsafePointer<Float>, bChannels: Int,
    out: UnsafeMutablePointer<Float>, columns: Int
) {
    out.update(from: a, count: aChannels * columns)
    (out + aChannels * columns).update(from: b, count: bChannels * columns)
}

/// Splits gradOut back into gradA (its first `aChannels` rows) and gradB (the rest), overwriting or, with
/// `accumulate`, adding; nil skips that part.
public func concatChannelsBackward(
    gradOut: UnsafePointer<Float>, gradA: UnsafeMutablePointer<Float>?, aChannels: Int,
    gradB: UnsafeMutablePointer<Float>?, bChannels: Int, columns: Int,
    accumulate: Bool = false
) {
    func route(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        if accumulate {
            for i in 0..<n { dst[i] += src[i] }
        } else {
            dst.update(from: src, count: n)
        }
    }
    if let gradA { route(gradOut, gradA, aChannels * columns) }
    if let gradB { route(gradOut + aChannels * columns, gradB, bChannels * columns) }
}
