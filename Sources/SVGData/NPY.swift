// NumPy .npy files, format versions 1.0, 2.0 and 3.0, C order only:
//   "\x93NUMPY", major, minor, header length (uint16 LE for v1, uint32 LE for v2/v3), then a Python dict
//   literal {'descr': '<f4', 'fortran_order': False, 'shape': (T, N, H, W), } padded with spaces and a
//   newline so the data starts on a 64-byte boundary, then the values.
//   dtypes: uint8 ('|u1', read as byte/255) and little-endian float32 ('<f4').
//   NPY.read → (shape, values as Float, dtype); NPY.write writes float32, NPY.writeUInt8 bytes. Writes are atomic.
import Foundation
import Kernels

/// The element types a .npy may hold here; the raw value is NumPy's `descr`.
public enum NPYDType: String, Sendable {
    /// Unsigned bytes, read as byte/255.
    case uint8 = "|u1"
    /// Little-endian single-precision floats, read as they are.
    case float32 = "<f4"

    var byteCount: Int { self == .uint8 ? 1 : 4 }
}

/// What the header says, and where the values start in the file.
public struct NPYHeader: Sendable, Equatable {
    /// The array's shape, C order.
    public var shape: [Int]
    /// The element type.
    public var dtype: NPYDType
    /// Byte offset of the first value in the file.
    public var dataOffset: Int
    /// Values in the array: the product of the shape.
    public var elementCount: Int { checkedProduct(shape) ?? Int.max }
}

/// Reading and writing NumPy .npy files (format 1.0 to 3.0, C order, uint8 or float32); writes are atomic.
public enum NPY {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Reads a whole .npy. With `validateRange`, float32 values outside [0, 1] (or NaN) are an error.
    public static func read(_ path: String, validateRange: Bool = false) throws -> (shape: [Int], values: [Float], dtype: NPYDType) {
        let data = try readFile(path)
        let header = try parseHeader(data, path: path)
        var values = [Float](repeating: 0, count: header.elementCount)
        data.withUnsafeBytes { raw in
            decode(raw, header: header, elementOffset: 0, into: &values[...])
        }
        if validateRange && header.dtype == .float32, let bad = values.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
            throw DataError(path, "value \(values[bad]) at flat index \(bad) is outside [0, 1]")
        }
        return (header.shape, values, header.dtype)
    }

    /// Writes float32 ('<f4') values in C order.
    public static func write(_ path: String, shape: [Int], values: [Float]) throws {
        try checkCount(path, shape: shape, count: values.count)
        var body = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
        try writeDataAtomically(encodeHeader(shape: shape, dtype: .float32) + body, to: path)
    }

    /// Writes uint8 ('|u1'): each value in [0, 1] is stored as round(255·v) (clamped), the inverse of `read`.
    public static func writeUInt8(_ path: String, shape: [Int], values: [Float]) throws {
        try writeUInt8(path, shape: shape, bytes: values.map(byteFromUnit))
    }

    /// Writes raw uint8 ('|u1') bytes.
    public static func writeUInt8(_ path: String, shape: [Int], bytes: [UInt8]) throws {
        try checkCount(path, shape: shape, count: bytes.count)
        try writeDataAtomically(encodeHeader(shape: shape, dtype: .uint8) + Data(bytes), to: path)
    }

    /// Parses and checks the header: magic, version, dtype, C order, and that the file holds all the values.
    public static func parseHeader(_ data: Data, path: String) throws -> NPYHeader {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw DataError(path, "not a .npy file (the file does not start with \\x93NUMPY)")
        }
        let major = Int(bytes[6])
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw DataError(path, "truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw DataError(path, "unsupported .npy format version \(major).\(bytes[7]) (1, 2 and 3 are supported)")
        }
        guard data.count >= headerStart + headerLength else { throw DataError(path, "truncated .npy header") }
        let start = data.startIndex + headerStart
        // v3 headers are UTF-8, v1/v2 Latin-1; every key and value we accept is ASCII either way.
        guard let text = String(data: data[start..<start + headerLength], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw DataError(path, "unreadable .npy header")
        }

        guard let descr = dictValue(text, key: "descr") else { throw DataError(path, ".npy header has no 'descr': \(text)") }
        let dtype: NPYDType
        switch descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) {
        case "|u1", "<u1", "u1", "uint8": dtype = .uint8
        case "<f4", "f4", "float32": dtype = .float32
        case let other:
            throw DataError(path, "unsupported .npy dtype \(other) (only uint8 '|u1' and little-endian float32 '<f4')")
        }
        guard let fortran = dictValue(text, key: "fortran_order") else {
            throw DataError(path, ".npy header has no 'fortran_order': \(text)")
        }
        guard fortran == "False" else {
            throw DataError(
                path,
                fortran == "True"
                    ? "Fortran-order .npy arrays are not supported (save in C order)"
                    : "unreadable fortran_order \(fortran)")
        }
        guard let shapeText = dictValue(text, key: "shape"), shapeText.hasPrefix("("), shapeText.hasSuffix(")") else {
            throw DataError(path, ".npy header has no readable 'shape': \(text)")
        }
        var shape: [Int] = []
        for piece in shapeText.dropFirst().dropLast().split(separator: ",") {
            let trimmed = piece.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if trimmed.isEmpty { continue }
            guard let dim = Int(trimmed), dim >= 0 else { throw DataError(path, "unreadable .npy shape \(shapeText)") }
            shape.append(dim)
        }
        let header = NPYHeader(shape: shape, dtype: dtype, dataOffset: headerStart + headerLength)
        guard let needed = checkedProduct(shape + [dtype.byteCount]) else {
            throw DataError(path, ".npy shape \(shape) multiplies past any file size")
        }
        let available = data.count - header.dataOffset
        guard available >= needed else {
            throw DataError(path, "truncated .npy data: shape \(shape) of \(dtype.rawValue) needs \(needed) bytes, the file has \(available)")
        }
        return header
    }

    /// The value of `key` in the header's dict literal, as text: a quoted string, a tuple or a bare word.
    private static func dictValue(_ text: String, key: String) -> String? {
        for quote in ["'", "\""] {
            guard let keyRange = text.range(of: quote + key + quote) else { continue }
            var rest = text[keyRange.upperBound...].drop { $0 == " " }
            guard rest.first == ":" else { return nil }
            rest = rest.dropFirst().drop { $0 == " " }
            guard let first = rest.first else { return nil }
            if first == "(" {
                guard let close = rest.firstIndex(of: ")") else { return nil }
                return String(rest[...close])
            }
            if first == "'" || first == "\"" {
                guard let close = rest.dropFirst().firstIndex(of: first) else { return nil }
                return String(rest[...close])
            }
            return String(rest.prefix { $0 != "," && $0 != "}" && $0 != " " })
        }
        return nil
    }

    static func encodeHeader(shape: [Int], dtype: NPYDType) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
        // Version 1 unless the header does not fit its 16-bit length; pad so the data starts 64-byte aligned.
        let version: UInt8 = dict.utf8.count + 1 + 10 > 65535 ? 2 : 1
        let prefix = version == 1 ? 10 : 12
        let total = (prefix + dict.utf8.count + 1 + 63) / 64 * 64
        dict += String(repeating: " ", count: total - prefix - dict.utf8.count - 1) + "\n"
        var out = Data(magic + [version, 0])
        let length = dict.utf8.count
        out.append(
            contentsOf: version == 1
                ? [UInt8(length & 0xFF), UInt8(length >> 8)]
                : (0..<4).map { UInt8((length >> (8 * $0)) & 0xFF) })
        out.append(contentsOf: Array(dict.utf8))
        return out
    }

    private static func checkCount(_ path: String, shape: [Int], count: Int) throws {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == count else {
            throw DataError(path, "shape \(shape) does not hold \(count) values")
        }
    }

    /// Converts `out.count` consecutive elements starting at element `elementOffset` of the data section.
    static func decode(_ raw: UnsafeRawBufferPointer, header: NPYHeader, elementOffset: Int, into out: inout ArraySlice<Float>) {
        let base = raw.baseAddress! + header.dataOffset
        switch header.dtype {
        case .uint8:
            let p = base.assumingMemoryBound(to: UInt8.self) + elementOffset
            for (k, i) in out.indices.enumerated() { out[i] = Float(p[k]) / 255 }
        case .float32:
            let p = base + 4 * elementOffset
            for (k, i) in out.indices.enumerated() {
                out[i] = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)))
            }
        }
    }
}
