// Moving whole frames between CNHW buffers: the decoder's skip contributions are computed once per
// source frame and added to every step that reads that source (MODEL.md "Cost").
//   shared:   channels × (sourceFrames·plane)
//   perStep:  channels × (frames·plane)
//   sourceOf: frames entries in 0..<sourceFrames
// gatherFramesAdd:  perStep[c][f] += shared[c][sourceOf[f]]
// scatterFramesSum: shared[c][s]   = Σ_{f : sourceOf[f] = s} perStep[c][f]   (its adjoint; overwrites)

/// perStep[c][f] += shared[c][sourceOf[f]] for each of `frames` frames of `plane` floats: adds a per-source
/// contribution to every step that reads that source.
public func gatherFramesAdd(
    shared: UnsafePointer<Float>, perStep: UnsafeMutablePointer<Float>, sourceOf: UnsafePointer<Int32>,
    channels: Int, frames: Int, sourceFrames: Int, plane: Int
) {
    for c in 0..<channels {
        let src = shared + c * sourceFrames * plane, dst = perStep + c * frames * plane
        for f in 0..<frames {
            let s = src + Int(sourceOf[f]) * plane, d = dst + f * plane
            for p in 0..<plane { d[p] += s[p] }
        }
    }
}

/// The adjoint of gatherFramesAdd: shared[c][s] = Σ perStep[c][f] over the frames f with sourceOf[f] = s
/// (overwrites `shared`).
public func scatterFramesSum(
    perStep: UnsafePointer<Float>, shared: UnsafeMutablePointer<Float>, sourceOf: UnsafePointer<Int32>,
    channels: Int, frames: Int, sourceFrames: Int, plane: Int
) {
    shared.update(repeating: 0, count: channels * sourceFrames * plane)
    for c in 0..<channels {
        let dst = shared + c * sourceFrames * plane, src = perStep + c * frames * plane
        for f in 0..<frames {
            let d = dst + Int(sourceOf[f]) * plane, s = src + f * plane
            for p in 0..<plane { d[p] += s[p] }
        }
    }
}

/// dst[c][0 ..< count] = src[c][first·plane ..< first·plane + count] for every channel, where src rows
/// hold `srcFrames` frames and dst rows `count / plane` frames: a contiguous range of frames, compacted.
public func copyFrameRange(
    src: UnsafePointer<Float>, srcFrames: Int, first: Int, dst: UnsafeMutablePointer<Float>, frames: Int,
    channels: Int, plane: Int, accumulateInto: Bool = false
) {
    for c in 0..<channels {
        let s = src + (c * srcFrames + first) * plane, d = dst + c * frames * plane
        if accumulateInto { for p in 0..<(frames * plane) { d[p] += s[p] } } else { d.update(from: s, count: frames * plane) }
    }
}

/// The adjoint of copyFrameRange: big[c][first·plane …] += compact[c][…].
public func addFrameRange(
    compact: UnsafePointer<Float>, frames: Int, into big: UnsafeMutablePointer<Float>, bigFrames: Int, first: Int,
    channels: Int, plane: Int
) {
    for c in 0..<channels {
        let s = compact + c * frames * plane, d = big + (c * bigFrames + first) * plane
        for p in 0..<(frames * plane) { d[p] += s[p] }
    }
}

/// y (cols × rows) = xᵀ for x (rows × cols): the change between CNHW vectors (C × frames) and the
/// row-major (frames × C) rows the LSTMs read.
public func transpose(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, columns: Int, accumulate: Bool = false) {
    for r in 0..<rows {
        for c in 0..<columns {
            if accumulate { y[c * rows + r] += x[r * columns + c] } else { y[c * rows + r] = x[r * columns + c] }
        }
    }
}
