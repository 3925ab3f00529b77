// Video files through FFmpeg (libavformat demuxes, libavcodec decodes, libswscale converts and resizes),
// for the KTH AVIs, whose codec is whatever their authors' tools wrote: the "_uncomp" files may hold MPEG-4.
//   decodeGrayVideo: every frame of the first video stream, in decoding order, as 8-bit gray resized to
//   width × height as SVG's reference ffmpeg command did (libswscale, bicubic; see GrayScaler).
// Strictness, so a damaged file is an error rather than a quietly concealed frame: the decoder runs with
// AV_EF_EXPLODE and AV_EF_CRCCHECK; any message the decoder logs at error level fails the file (decoders
// conceal damage, such as an FFV1 slice failing its CRC or an MPEG-4 macroblock that does not parse, and
// only say so in the log); packets the demuxer flags corrupt (a short read at the end of a
// truncated file) are refused; and an AVI shorter than its RIFF header says is refused. (Not the frame count
// in the AVI header: a capture's dropped last frame leaves the count one too high in an intact file.)
// FFmpeg prints nothing itself: its log goes to a callback, and errors come back as one DataError.
import CFFmpeg
import Foundation

/// Decodes every frame of the first video stream of the file at `path`, converts it to 8-bit gray and
/// resizes it to `width` × `height` (bicubic, the aspect ratio not kept), and calls `body` with the frame's
/// index (from 0) and its width·height bytes, row-major. Gaps in the timestamps, at `framesPerSecond`, are
/// filled as `ffmpeg -r framesPerSecond` fills them; frames are never dropped (KTH is 25 fps throughout).
/// `name` is what errors call the file. Returns the number of frames given to `body`. Throws
/// `DataError(name, "frame k: …")`, frames numbered from 1, for a file FFmpeg cannot open, a missing video
/// stream or decoder, a damaged frame, or an AVI shorter than its RIFF header says.
@discardableResult
public func decodeGrayVideo(
    at path: String, name: String, width: Int, height: Int, framesPerSecond: Int,
    _ body: (_ index: Int, _ pixels: UnsafeRawBufferPointer) throws -> Void
) throws -> Int {
    _ = installFFmpegLog
    var format: UnsafeMutablePointer<AVFormatContext>? = nil
    var status = avformat_open_input(&format, path, nil, nil)
    guard status >= 0 else { throw DataError(name, "not a readable video (FFmpeg: \(ffmpegMessage(status)))") }
    defer { avformat_close_input(&format) }
    status = avformat_find_stream_info(format, nil)
    guard status >= 0 else { throw DataError(name, "cannot read the video's streams (FFmpeg: \(ffmpegMessage(status)))") }

    var codec: UnsafePointer<AVCodec>? = nil
    let streamIndex = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0)
    guard streamIndex >= 0 else {
        throw DataError(
            name,
            streamIndex == svgnet_averror_decoder_not_found()
                ? "no decoder for its video codec in this FFmpeg" : "no video stream")
    }
    let stream = format!.pointee.streams[Int(streamIndex)]!
    var context = avcodec_alloc_context3(codec)
    guard context != nil else { throw DataError(name, "cannot allocate a decoder") }
    defer { avcodec_free_context(&context) }
    status = avcodec_parameters_to_context(context, stream.pointee.codecpar)
    guard status >= 0 else { throw DataError(name, "cannot set up the decoder (FFmpeg: \(ffmpegMessage(status)))") }
    // One thread: the machine is shared, and frames then come out without frame-threading's delay.
    context!.pointee.thread_count = 1
    context!.pointee.err_recognition |= Int32(AV_EF_EXPLODE | AV_EF_CRCCHECK)
    FFmpegLog.shared.watch(UnsafeMutableRawPointer(context))
    defer { FFmpegLog.shared.watch(nil) }
    status = avcodec_open2(context, codec, nil)
    guard status >= 0 else { throw DataError(name, "cannot open the \(codecName(codec)) decoder (FFmpeg: \(ffmpegMessage(status)))") }

    var packet = av_packet_alloc()
    var frame = av_frame_alloc()
    defer { av_packet_free(&packet); av_frame_free(&frame) }
    guard packet != nil, frame != nil else { throw DataError(name, "cannot allocate a frame") }
    var scaler = GrayScaler(width: width, height: height)
    defer { scaler.release() }
    var pixels = [UInt8](repeating: 0, count: width * height), previous = pixels
    var count = 0
    var firstTimestamp: Int64? = nil
    let secondsPerTick = Double(stream.pointee.time_base.num) / Double(max(1, stream.pointee.time_base.den))

    func receiveFrames() throws {
        while true {
            let received = avcodec_receive_frame(context, frame)
            if received == svgnet_averror_eagain() || received == svgnet_averror_eof() { return }
            guard received >= 0 else { throw DataError(name, "frame \(count + 1): cannot decode (FFmpeg: \(ffmpegMessage(received)))") }
            defer { av_frame_unref(frame) }
            try checkLog(name, "frame \(count + 1): damaged")
            guard frame!.pointee.decode_error_flags == 0 else { throw DataError(name, "frame \(count + 1): damaged (the decoder reports errors)") }
            // Frames missing from the stream (a capture's dropped frames: the AVI holds an empty chunk, which the
            // demuxer skips) leave a gap in the timestamps. `ffmpeg -r` fills a gap of g frames with g − 1 copies
            // of the frame before and one of the frame after, and so does this.
            var gap = 0
            let timestamp = frame!.pointee.best_effort_timestamp
            if timestamp != Int64.min { // AV_NOPTS_VALUE
                if let first = firstTimestamp {
                    let slot = Int((Double(timestamp - first) * secondsPerTick * Double(framesPerSecond)).rounded())
                    gap = max(0, slot - count)
                } else {
                    firstTimestamp = timestamp
                }
            }
            guard gap <= maxTimestampGap else {
                throw DataError(name, "frame \(count + 1): the timestamps skip \(gap) frames (more than \(maxTimestampGap)); damaged file?")
            }
            try pixels.withUnsafeMutableBytes { out in
                try scaler.convert(frame!, into: out.baseAddress!.assumingMemoryBound(to: UInt8.self), name: name, frame: count + 1)
            }
            if gap > 0 {
                for _ in 1..<gap { try previous.withUnsafeBytes { try body(count, $0) }; count += 1 }
                try pixels.withUnsafeBytes { try body(count, $0) }
                count += 1
            }
            try pixels.withUnsafeBytes { try body(count, $0) }
            count += 1
            swap(&pixels, &previous)
        }
    }

    while true {
        let read = av_read_frame(format, packet)
        if read == svgnet_averror_eof() { break }
        guard read >= 0 else { throw DataError(name, "frame \(count + 1): cannot read the file (FFmpeg: \(ffmpegMessage(read)))") }
        defer { av_packet_unref(packet) }
        guard packet!.pointee.stream_index == streamIndex else { continue }
        guard packet!.pointee.flags & AV_PKT_FLAG_CORRUPT == 0 else {
            throw DataError(name, "frame \(count + 1): the file is cut short or damaged (corrupt packet)")
        }
        let sent = avcodec_send_packet(context, packet)
        guard sent >= 0 else { throw DataError(name, "frame \(count + 1): cannot decode (FFmpeg: \(ffmpegMessage(sent)))") }
        try checkLog(name, "frame \(count + 1): damaged")
        try receiveFrames()
    }
    // Drain the frames the decoder still holds (reordered B-frames).
    let flushed = avcodec_send_packet(context, nil)
    guard flushed >= 0 else { throw DataError(name, "frame \(count + 1): cannot decode (FFmpeg: \(ffmpegMessage(flushed)))") }
    try receiveFrames()
    try checkLog(name, "frame \(count + 1): damaged")

    guard count > 0 else { throw DataError(name, "the video has no frames") }
    try checkRIFFLength(path, name: name, framesRead: count)
    return count
}

/// A gap in the timestamps longer than this many frames (10 s of KTH) is taken for damage, not dropped frames.
private let maxTimestampGap = 250

/// An AVI cut short exactly between two chunks shows no damaged packet: the demuxer just finds no more. Its
/// first RIFF chunk still says how long the file was, so compare. Files that are not RIFF AVI pass.
private func checkRIFFLength(_ path: String, name: String, framesRead: Int) throws {
    guard let file = FileHandle(forReadingAtPath: path) else { return }
    defer { try? file.close() }
    let header = [UInt8](file.readData(ofLength: 12))
    guard header.count == 12, header[0..<4].elementsEqual("RIFF".utf8), header[8..<12].elementsEqual("AVI ".utf8) else { return }
    let announced = 8 + (0..<4).reduce(UInt64(0)) { $0 | UInt64(header[4 + $1]) << (8 * UInt64($1)) }
    let size = file.seekToEndOfFile()
    guard size >= announced else {
        throw DataError(name, "frame \(framesRead + 1): the file ends early, at byte \(size) of the \(announced) its RIFF header announces (cut short?)")
    }
}

/// Converts decoded frames of any size and pixel format to 8-bit gray at a fixed size, the way SVG's reference
/// preprocessing did. convert_kth.lua ran `ffmpeg -i VIDEO -r 25 -f image2 -s 64x64 image-%03d_64x64.png`:
/// ffmpeg picked RGB24 PNGs and one libswscale pass scaled the frame and converted it to RGB, with the
/// command line's default filter, bicubic; SVG reads the first channel. This does that pass (libswscale,
/// SWS_BICUBIC, RGB24 at the output size) and keeps the red channel, so the frames carry the reference's
/// bits: the same as Debian's ffmpeg 5.1 writes for that command (checked by hand on an MPEG-4 video; the
/// tests have no ffmpeg command to compare with). For gray video R = G = B, the gray level. Bicubic also
/// suits the job on its own terms: libswscale widens the kernel by the reduction (2.5× across, 1.875× down),
/// so every source pixel contributes, where point or plain bilinear sampling would alias.
/// Range: YUV video is limited range (luma 16–235) unless it says otherwise, as ffmpeg assumes; gray
/// formats, "J" formats and streams flagged full range are full range.
private struct GrayScaler {
    let width: Int, height: Int
    private var context: OpaquePointer? = nil
    private var rgb: [UInt8]
    /// What `context` was made for; a frame that differs gets a new one.
    private var source: Source? = nil

    private struct Source: Equatable {
        let width: Int32, height: Int32, format: Int32, fullRange: Bool
    }

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        rgb = [UInt8](repeating: 0, count: width * height * 3)
    }

    mutating func convert(_ frame: UnsafeMutablePointer<AVFrame>, into out: UnsafeMutablePointer<UInt8>, name: String, frame index: Int) throws {
        let f = frame.pointee
        let fullRange = Self.isFullRange(format: f.format, range: f.color_range)
        let frameSource = Source(width: f.width, height: f.height, format: f.format, fullRange: fullRange)
        if frameSource != source {
            release()
            context = sws_alloc_context()
            guard context != nil else { throw DataError(name, "frame \(index): cannot allocate a scaler") }
            let options: [(String, Int64)] = [
                ("srcw", Int64(f.width)), ("srch", Int64(f.height)), ("src_format", Int64(f.format)),
                ("dstw", Int64(width)), ("dsth", Int64(height)), ("dst_format", Int64(AV_PIX_FMT_RGB24.rawValue)),
                ("sws_flags", Int64(SWS_BICUBIC)), ("src_range", fullRange ? 1 : 0), ("dst_range", 1)
            ]
            for (option, value) in options where av_opt_set_int(UnsafeMutableRawPointer(context), option, value, 0) < 0 {
                throw DataError(name, "frame \(index): cannot configure the scaler (\(option))")
            }
            let status = sws_init_context(context, nil, nil)
            guard status >= 0 else {
                let pixelFormat = av_get_pix_fmt_name(AVPixelFormat(f.format)).map { String(cString: $0) } ?? "format \(f.format)"
                throw DataError(name, "frame \(index): cannot convert \(f.width)×\(f.height) \(pixelFormat) to gray (FFmpeg: \(ffmpegMessage(status)))")
            }
            source = frameSource
        }
        let rows = rgb.withUnsafeMutableBufferPointer { svgnet_scale_frame(context, frame, $0.baseAddress, Int32(width * 3)) }
        guard rows == Int32(height) else { throw DataError(name, "frame \(index): the scaler failed (FFmpeg: \(ffmpegMessage(rows)))") }
        for p in 0..<width * height { out[p] = rgb[3 * p] }
    }

    /// Gray and "J" (JPEG) formats, and streams that say so, are full range; other YUV is limited range.
    static func isFullRange(format: Int32, range: AVColorRange) -> Bool {
        if range == AVCOL_RANGE_JPEG { return true }
        let pixelFormat = AVPixelFormat(format)
        if [AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUVJ444P, AV_PIX_FMT_YUVJ440P, AV_PIX_FMT_YUVJ411P].contains(pixelFormat) {
            return true
        }
        guard let descriptor = av_pix_fmt_desc_get(pixelFormat) else { return false }
        let flags = descriptor.pointee.flags
        let colour = flags & UInt64(AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL) != 0
        return !colour && descriptor.pointee.nb_components <= 2 // gray, gray + alpha
    }

    mutating func release() {
        if context != nil { sws_freeContext(context) }
        context = nil
        source = nil
    }
}

/// FFmpeg's message for an error code.
func ffmpegMessage(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard av_strerror(code, &buffer, buffer.count) == 0 else { return "error \(code)" }
    let text = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: text, as: UTF8.self)
}

private func codecName(_ codec: UnsafePointer<AVCodec>?) -> String {
    codec.flatMap { $0.pointee.name }.map { String(cString: $0) } ?? "video"
}

/// What the decoder logged at error level, kept to be turned into a DataError instead of printed (the
/// converters report on one line). Only the watched decoder's messages count: a decoder reports the damage it
/// conceals there, while the demuxer's complaints about a container's quirks need not mean a bad frame
/// (a cut file shows as a corrupt packet or missing frames instead). One decoder runs at a time in this
/// tool; the lock makes a second harmless.
final class FFmpegLog: @unchecked Sendable {
    static let shared = FFmpegLog()
    private let lock = NSLock()
    private var errors: [String] = []
    private var decoder: UnsafeMutableRawPointer? = nil

    /// Counts the errors `context` logs from now on, and forgets earlier ones; nil stops counting.
    func watch(_ context: UnsafeMutableRawPointer?) {
        lock.withLock {
            decoder = context
            errors.removeAll()
        }
    }

    /// The first error logged since the last call (or `watch`), and forgets them all.
    func takeFirstError() -> String? {
        lock.withLock {
            defer { errors.removeAll() }
            return errors.first
        }
    }

    fileprivate func record(_ message: String, from context: UnsafeMutableRawPointer?) {
        lock.withLock { if context != nil && context == decoder && errors.count < 16 { errors.append(message) } }
    }
}

/// Routes FFmpeg's log to `FFmpegLog`: messages at error level or worse are offered to it, the rest dropped;
/// nothing is printed.
private let installFFmpegLog: Void = av_log_set_callback { context, level, format, arguments in
    guard level <= AV_LOG_ERROR, let format, let arguments else { return }
    var buffer = [CChar](repeating: 0, count: 512)
    _ = vsnprintf(&buffer, buffer.count, format, arguments)
    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let message = text.trimmingCharacters(in: .whitespacesAndNewlines)
    if !message.isEmpty { FFmpegLog.shared.record(message, from: context) }
}

/// Throws `DataError(name, "problem (FFmpeg: first logged error)")` when FFmpeg logged an error.
private func checkLog(_ name: String, _ problem: String) throws {
    if let message = FFmpegLog.shared.takeFirstError() { throw DataError(name, "\(problem) (FFmpeg: \(message))") }
}
