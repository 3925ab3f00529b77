// gunzip: gzip-compressed bytes → the original bytes, through zlib's inflate with a gzip wrapper
// (windowBits 16 + MAX_WBITS). Several concatenated gzip members, as `cat a.gz b.gz` makes, are
// decompressed one after the other, as gzip(1) does.
import CSystemZlib
import Foundation

/// `source` names where the bytes came from (a path) for the error message; `limit` bounds the output, so
/// that a few kilobytes that inflate to gigabytes are an error rather than an allocation.
public func gunzip(_ data: Data, source: String = "gzip data", limit: Int = 1 << 30) throws -> Data {
    guard !data.isEmpty else { throw DataError(source, "empty, expected gzip data") }
    var stream = z_stream()
    guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw DataError(source, "zlib could not start inflating")
    }
    defer { inflateEnd(&stream) }

    var output = Data()
    let chunkSize = 1 << 18
    var chunk = [UInt8](repeating: 0, count: chunkSize)
    try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
        let base = input.bindMemory(to: Bytef.self).baseAddress!
        stream.next_in = UnsafeMutablePointer(mutating: base)
        stream.avail_in = uInt(input.count)
        while true {
            let status = chunk.withUnsafeMutableBufferPointer { out -> Int32 in
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(chunkSize)
                return inflate(&stream, Z_NO_FLUSH)
            }
            let produced = chunkSize - Int(stream.avail_out)
            guard output.count + produced <= limit else {
                throw DataError(source, "gzip data inflates to more than \(limit >> 20) MiB")
            }
            output.append(contentsOf: chunk[0..<produced])
            switch status {
            case Z_STREAM_END:
                if stream.avail_in == 0 { return }
                guard inflateReset(&stream) == Z_OK else { throw DataError(source, "zlib could not restart inflating") }
            case Z_OK:
                continue
            case Z_BUF_ERROR where stream.avail_in == 0:
                throw DataError(source, "truncated gzip data (the stream ends before its end marker)")
            default:
                let reason = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                throw DataError(source, "not valid gzip data (\(reason))")
            }
        }
    }
    return output
}
