// The KTH converter's input, written by the tests with FFmpeg's encoders and AVI muxer: gray frames whose
// pixels the test chose, stored losslessly (FFV1, gray or YUV 4:2:0 with neutral chroma) so the decoded
// pixels are known exactly, or as MPEG-4 Part 2 tagged DX50 (DivX 5), the lossy codec KTH-era AVIs hold.
import CFFmpeg
import Foundation

/// How a test video is encoded.
public enum TestVideoCodec: Sendable {
    /// FFV1 version 3 (slices carry CRCs, so damage is detectable), 8-bit gray: lossless, decodes to gray (full range).
    case ffv1Gray
    /// FFV1 version 3, YUV 4:2:0 with chroma 128: lossless, decodes to limited-range YUV, as DivX files do.
    case ffv1YUV420
    /// MPEG-4 Part 2 tagged DX50, YUV 4:2:0, quantiser 2, with B-frames (so the decoder reorders and must be drained).
    case mpeg4DivX
}

public struct TestVideoError: Error, CustomStringConvertible {
    public let description: String
}

/// Writes `frames` (each width·height gray bytes, row-major) as an AVI at 25 fps. For the YUV codecs the
/// bytes are the luma plane.
public func writeTestAVI(_ path: String, width: Int, height: Int, frames: [[UInt8]], codec kind: TestVideoCodec) throws {
    func check(_ status: Int32, _ what: String) throws {
        guard status >= 0 else { throw TestVideoError(description: "\(what) failed (\(status))") }
    }
    av_log_set_level(AV_LOG_QUIET)
    var output: UnsafeMutablePointer<AVFormatContext>? = nil
    try check(avformat_alloc_output_context2(&output, nil, "avi", path), "avformat_alloc_output_context2")
    defer { avformat_free_context(output) }
    let codecID = kind == .mpeg4DivX ? AV_CODEC_ID_MPEG4 : AV_CODEC_ID_FFV1
    let pixelFormat = kind == .ffv1Gray ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_YUV420P
    guard let codec = avcodec_find_encoder(codecID) else { throw TestVideoError(description: "no encoder") }
    guard let stream = avformat_new_stream(output, nil) else { throw TestVideoError(description: "avformat_new_stream failed") }
    var context = avcodec_alloc_context3(codec)
    defer { avcodec_free_context(&context) }
    let c = context!
    c.pointee.width = Int32(width)
    c.pointee.height = Int32(height)
    c.pointee.pix_fmt = pixelFormat
    c.pointee.time_base = AVRational(num: 1, den: 25)
    c.pointee.framerate = AVRational(num: 25, den: 1)
    c.pointee.thread_count = 1
    if kind != .mpeg4DivX {
        c.pointee.level = 3
        c.pointee.gop_size = 1 // every frame a keyframe, so a frame can be dropped from the file (dropAVIChunks)
    }
    if kind == .mpeg4DivX {
        c.pointee.max_b_frames = 2
        c.pointee.gop_size = 12
        c.pointee.flags |= AV_CODEC_FLAG_QSCALE
        c.pointee.global_quality = FF_QP2LAMBDA * 2
    }
    if output!.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 { c.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
    try check(avcodec_open2(c, codec, nil), "avcodec_open2")
    try check(avcodec_parameters_from_context(stream.pointee.codecpar, c), "avcodec_parameters_from_context")
    stream.pointee.time_base = c.pointee.time_base
    if kind == .mpeg4DivX {
        stream.pointee.codecpar.pointee.codec_tag =
            UInt32(UInt8(ascii: "D")) | UInt32(UInt8(ascii: "X")) << 8
            | UInt32(UInt8(ascii: "5")) << 16 | UInt32(UInt8(ascii: "0")) << 24
    }
    try check(avio_open(&output!.pointee.pb, path, AVIO_FLAG_WRITE), "avio_open")
    try check(avformat_write_header(output, nil), "avformat_write_header")

    var packet = av_packet_alloc()
    var frame = av_frame_alloc()
    defer { av_packet_free(&packet); av_frame_free(&frame) }
    func writePackets() throws {
        while true {
            let status = avcodec_receive_packet(c, packet)
            if status == svgnet_averror_eagain() || status == svgnet_averror_eof() { return }
            try check(status, "avcodec_receive_packet")
            av_packet_rescale_ts(packet, c.pointee.time_base, stream.pointee.time_base)
            packet!.pointee.stream_index = stream.pointee.index
            try check(av_interleaved_write_frame(output, packet), "av_interleaved_write_frame")
        }
    }
    let chroma = [UInt8](repeating: 128, count: (width / 2) * (height / 2))
    for (index, pixels) in frames.enumerated() {
        precondition(pixels.count == width * height, "frame \(index) has \(pixels.count) bytes for \(width)×\(height)")
        frame!.pointee.format = pixelFormat.rawValue
        frame!.pointee.width = Int32(width)
        frame!.pointee.height = Int32(height)
        try check(av_frame_get_buffer(frame, 0), "av_frame_get_buffer")
        svgnet_copy_plane_into_frame(frame, 0, pixels, Int32(width), Int32(height))
        if pixelFormat == AV_PIX_FMT_YUV420P {
            for plane in 1...2 { svgnet_copy_plane_into_frame(frame, Int32(plane), chroma, Int32(width / 2), Int32(height / 2)) }
        }
        frame!.pointee.pts = Int64(index)
        if kind == .mpeg4DivX { frame!.pointee.quality = c.pointee.global_quality }
        try check(avcodec_send_frame(c, frame), "avcodec_send_frame")
        av_frame_unref(frame)
        try writePackets()
    }
    try check(avcodec_send_frame(c, nil), "avcodec_send_frame (flush)")
    try writePackets()
    try check(av_write_trailer(output), "av_write_trailer")
    avio_closep(&output!.pointee.pb)
}

/// `data` with video chunks `indices` (from 0) emptied the way a capture records a dropped frame: the chunk
/// keeps its id with size 0, its bytes become a JUNK chunk, and its idx1 entry's size becomes 0.
public func dropAVIChunks(_ data: Data, _ indices: [Int]) -> Data {
    var bytes = [UInt8](data)
    func put(_ value: Int, at offset: Int) { for k in 0..<4 { bytes[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * k)) } }
    let chunks = aviVideoChunks(data)
    let idx1 = (0..<bytes.count - 4).first { bytes[$0..<$0 + 4].elementsEqual("idx1".utf8) }! + 8
    for i in indices {
        let body = chunks[i].lowerBound, length = chunks[i].count
        precondition(length >= 8, "chunk \(i) is too short to hold a JUNK header")
        put(0, at: body - 4)
        bytes.replaceSubrange(body..<body + 4, with: Array("JUNK".utf8))
        put(length - 8, at: body + 4)
        put(0, at: idx1 + 16 * i + 12) // idx1 entries: id, flags, offset, size; one per video chunk here
    }
    return Data(bytes)
}

/// The byte ranges of the video chunks ("00dc") of an AVI's movi list, in order: RIFF chunks are a fourcc, a
/// little-endian size and the data padded to an even length; LIST and RIFF chunks hold a fourcc and chunks.
public func aviVideoChunks(_ data: Data) -> [Range<Int>] {
    let bytes = [UInt8](data)
    func fourcc(_ at: Int) -> String { String(decoding: bytes[at..<at + 4], as: UTF8.self) }
    func size(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24 }
    var chunks: [Range<Int>] = []
    func walk(_ start: Int, _ end: Int, inMovi: Bool) {
        var at = start
        while at + 8 <= end {
            let id = fourcc(at), length = size(at + 4), body = at + 8
            if id == "RIFF" || id == "LIST" {
                walk(body + 4, min(end, body + length), inMovi: inMovi || fourcc(body) == "movi")
            } else if inMovi && id.hasSuffix("dc") {
                chunks.append(body..<body + length)
            }
            at = body + length + (length & 1)
        }
    }
    walk(0, bytes.count, inMovi: false)
    return chunks
}
