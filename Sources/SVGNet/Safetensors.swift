// safetensors (MODEL.md "Checkpoints"): 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the raw little-endian tensor bytes. Reading validates everything and throws; it never traps.
// Tensors are F32, or F16 (an export for shipping: read back as float32, written only on request).
import Foundation
import Kernels

/// A safetensors file that cannot be read, parsed or written; `description` names the path and the problem.
public struct SafetensorsError: Error, CustomStringConvertible {
    /// The path and what went wrong.
    public let description: String
    init(_ path: String, _ what: String) { description = "\(path): \(what)" }
}

/// A safetensors file in memory (MODEL.md "Checkpoints"): named tensors with Float values and string metadata.
public struct SafetensorsFile: Sendable {
    /// One tensor: its dtype as stored, its shape and its values, row-major.
    public struct Tensor: Sendable {
        /// The element type as read, "F32" or "F16"; `write` stores the type its `dtype` argument gives.
        public var dtype: String
        /// The tensor's shape.
        public var shape: [Int]
        /// Shape-product values in row-major order.
        public var values: [Float] // read from F32 or F16; other dtypes are rejected by the reader
    }
    /// The `__metadata__` strings.
    public var metadata: [String: String]
    /// The tensors by name.
    public var tensors: [String: Tensor]
    /// Tensor names, sorted: the default write order.
    public var names: [String] { tensors.keys.sorted() }

    /// A file with the given metadata and tensors.
    public init(metadata: [String: String] = [:], tensors: [String: Tensor] = [:]) {
        self.metadata = metadata; self.tensors = tensors
    }

    // MARK: write

    /// The element types a file can store.
    public enum DType: String, Sendable, CaseIterable {
        /// `f32`: IEEE single precision; `f16`: IEEE half precision, read back as Float.
        case f32 = "F32", f16 = "F16"
        var bytes: Int { self == .f32 ? 4 : 2 }
    }

    /// Writes to `path.tmp-PID` in the same folder, flushes it, then renames over `path`, so a reader
    /// (or a crash) sees either the old file or the new one, never half of one. At `.f16` every value is
    /// rounded to the nearest float16; a value beyond float16's range is an error, not an infinity.
    public func write(to path: String, order: [String]? = nil, dtype: DType = .f32) throws {
        let names = order ?? self.names
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for n in names {
            guard let t = tensors[n] else { throw SafetensorsError(path, "no tensor \(n) to write") }
            let bytes = t.values.count * dtype.bytes
            header[n] = ["dtype": dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (json.count + 8) % 8 != 0 { json.append(0x20) } // pad so the data starts 8-byte aligned
        var data = Data(capacity: 8 + json.count + offset)
        var len = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &len) { data.append(contentsOf: $0) }
        data.append(json)
        for n in names {
            let values = tensors[n]!.values
            switch dtype {
            case .f32:
                values.withUnsafeBufferPointer { buf in
                    buf.withMemoryRebound(to: UInt8.self) { data.append($0.baseAddress!, count: buf.count * 4) }
                }
            case .f16:
                var half = [UInt16](repeating: 0, count: values.count)
                for (i, v) in values.enumerated() {
                    let h = Float16(v)
                    guard h.isFinite || !v.isFinite else { throw SafetensorsError(path, "tensor \(n) holds \(v), beyond float16's range") }
                    half[i] = h.bitPattern.littleEndian
                }
                half.withUnsafeBufferPointer { buf in
                    buf.withMemoryRebound(to: UInt8.self) { data.append($0.baseAddress!, count: buf.count * 2) }
                }
            }
        }
        try writeAtomically(data, to: path)
    }

    // MARK: read

    /// Reads and parses the file at `path`. Throws `SafetensorsError` when it is missing, unreadable, corrupt,
    /// truncated or holds a dtype other than F32 and F16.
    public static func read(from path: String) throws -> SafetensorsFile {
        guard FileManager.default.fileExists(atPath: path) else { throw SafetensorsError(path, "no such file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw SafetensorsError(path, "cannot be read") }
        return try parse(data, path: path)
    }

    /// Parses a whole file's bytes, validating the header, every offset and every size; `path` is used in error
    /// messages. Throws `SafetensorsError`; never traps on bad input.
    public static func parse(_ data: Data, path: String) throws -> SafetensorsFile {
        guard data.count >= 8 else { throw SafetensorsError(path, "truncated: \(data.count) bytes, no header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8), headerLength < 100_000_000 else {
            throw SafetensorsError(path, "corrupt or truncated: header length \(headerLength) exceeds the file (\(data.count) bytes)")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
        guard let object = try? JSONSerialization.jsonObject(with: headerData), let header = object as? [String: Any] else {
            throw SafetensorsError(path, "corrupt: the header is not a JSON object")
        }
        let body = data.subdata(in: (8 + Int(headerLength))..<data.count)
        var file = SafetensorsFile()
        if let m = header["__metadata__"] {
            guard let meta = m as? [String: String] else { throw SafetensorsError(path, "corrupt: __metadata__ must map strings to strings") }
            file.metadata = meta
        }
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                let shapeAny = info["shape"] as? [Any], let offsAny = info["data_offsets"] as? [Any], offsAny.count == 2
            else {
                throw SafetensorsError(path, "corrupt: tensor \(name) lacks dtype, shape or data_offsets")
            }
            let shape = try shapeAny.map { (v: Any) -> Int in
                guard let i = (v as? NSNumber)?.intValue, i >= 0 else { throw SafetensorsError(path, "corrupt: tensor \(name) has a bad shape") }
                return i
            }
            let offs = try offsAny.map { (v: Any) -> Int in
                guard let i = (v as? NSNumber)?.intValue, i >= 0 else { throw SafetensorsError(path, "corrupt: tensor \(name) has bad data_offsets") }
                return i
            }
            guard let type = DType(rawValue: dtype) else { throw SafetensorsError(path, "tensor \(name) has dtype \(dtype); only F32 and F16 are supported") }
            guard let count = checkedProduct(shape), let bytes = checkedProduct([count, type.bytes]) else {
                throw SafetensorsError(path, "corrupt: tensor \(name) has shape \(shape), more elements than any file holds")
            }
            guard offs[1] >= offs[0], offs[1] <= body.count else {
                throw SafetensorsError(path, "truncated: tensor \(name) ends at byte \(offs[1]) of a \(body.count)-byte data section")
            }
            guard offs[1] - offs[0] == bytes else {
                throw SafetensorsError(path, "corrupt: tensor \(name) of shape \(shape) holds \(offs[1] - offs[0]) bytes, expected \(count * type.bytes)")
            }
            var values = [Float](repeating: 0, count: count)
            body.withUnsafeBytes { src in
                let bytes = UnsafeRawBufferPointer(rebasing: src[offs[0]..<offs[1]])
                switch type {
                case .f32:
                    values.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
                case .f16:
                    for i in 0..<count {
                        let bits = UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8
                        values[i] = Float(Float16(bitPattern: bits))
                    }
                }
            }
            file.tensors[name] = Tensor(dtype: dtype, shape: shape, values: values)
        }
        return file
    }
}

/// Write `data` to a temporary file beside `path`, fsync it, and rename it over `path`.
public func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent().path
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
        throw SafetensorsError(path, "folder \(dir) does not exist")
    }
    let tmp = "\(path).tmp-\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw SafetensorsError(path, "cannot create \(tmp): \(String(cString: strerror(errno)))") }
    var ok = true
    data.withUnsafeBytes { raw in
        var p = raw.baseAddress!, left = raw.count
        while left > 0 {
            let n = Foundation.write(fd, p, left)
            if n <= 0 { ok = false; break }
            p += n; left -= n
        }
    }
    if fsync(fd) != 0 { ok = false }
    close(fd)
    guard ok else { unlink(tmp); throw SafetensorsError(path, "write failed: \(String(cString: strerror(errno)))") }
    guard rename(tmp, path) == 0 else { unlink(tmp); throw SafetensorsError(path, "rename failed: \(String(cString: strerror(errno)))") }
    // The rename itself reaches the disk only when the folder is synced.
    let dirFD = open(dir, O_RDONLY)
    if dirFD >= 0 { _ = fsync(dirFD); close(dirFD) }
}
