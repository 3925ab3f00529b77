// Protocol-buffer wire format, as far as tf.train.Example needs it, read by hand (no protobuf library):
//   a message is a run of fields, each a tag varint (field number << 3 | wire type) and a value:
//   wire type 0 varint, 1 fixed 8 bytes, 2 length-delimited (varint length, then that many bytes),
//   5 fixed 4 bytes; 3 and 4 (groups) are obsolete and refused. Varints are little-endian base-128.
// tf.train.Example (tensorflow/core/example/{example,feature}.proto):
//   Example  { Features features = 1 }
//   Features { map<string, Feature> feature = 1 }  — each entry a message { string key = 1; Feature value = 2 }
//   Feature  { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3 } }
//   BytesList { repeated bytes value = 1 }  FloatList { repeated float value = 1 [packed] }
//   Int64List { repeated int64 value = 1 [packed] }
// Decoding follows protobuf's merge rules: unknown fields are skipped, a repeated message field is merged
// (map entries accumulate, a later key replaces an earlier one), and a oneof keeps its last member.
// Every length is checked against the bytes left before anything is sliced or allocated.
import Foundation

/// A malformed protocol-buffer message: what is wrong and at which byte of the message.
public struct WireFormatError: Error, CustomStringConvertible, Equatable {
    /// What is wrong, in words, with the byte offset.
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The wire type of a protocol-buffer field (the low 3 bits of its tag).
public enum WireType: UInt8, Sendable {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
}

/// Reads the fields of one protocol-buffer message from `data`, front to back.
public struct ProtobufReader {
    /// The message's bytes (possibly a slice of a larger Data).
    public let data: Data
    /// The next byte to read, an index of `data`.
    public private(set) var position: Data.Index

    /// A reader at the first byte of `data`.
    public init(_ data: Data) {
        self.data = data
        position = data.startIndex
    }

    /// True when every byte has been read.
    public var isAtEnd: Bool { position >= data.endIndex }
    /// Bytes not yet read.
    public var remaining: Int { data.endIndex - position }
    /// The offset of the next byte from the start of the message, for error messages.
    public var offset: Int { position - data.startIndex }

    /// A varint of at most 10 bytes (64 bits).
    public mutating func readVarint() throws -> UInt64 {
        let start = offset
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard position < data.endIndex else { throw WireFormatError("truncated varint at byte \(start)") }
            let byte = data[position]
            position += 1
            // The tenth byte may only carry the 64th bit, so it also ends the varint.
            if shift == 63 && byte > 1 { throw WireFormatError("varint at byte \(start) is longer than 64 bits") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// A field's tag: its number (1 … 2²⁹−1) and wire type.
    public mutating func readTag() throws -> (field: Int, wireType: WireType) {
        let start = offset
        let tag = try readVarint()
        guard let wireType = WireType(rawValue: UInt8(tag & 7)) else {
            throw WireFormatError("field tag at byte \(start) has the invalid wire type \(tag & 7)")
        }
        let field = tag >> 3
        guard field >= 1 && field < 1 << 29 else { throw WireFormatError("field tag at byte \(start) has the invalid field number \(field)") }
        return (Int(field), wireType)
    }

    /// The bytes of a length-delimited value (a slice of `data`); the length is checked against the bytes left.
    public mutating func readLengthDelimited() throws -> Data {
        let start = offset
        let length = try readVarint()
        guard length <= UInt64(remaining) else {
            throw WireFormatError("length-delimited field at byte \(start) claims \(length) bytes, \(remaining) are left")
        }
        let end = position + Int(length)
        defer { position = end }
        return data[position..<end]
    }

    /// A little-endian 4-byte value (wire type 5).
    public mutating func readFixed32() throws -> UInt32 {
        guard remaining >= 4 else { throw WireFormatError("truncated 4-byte field at byte \(offset)") }
        defer { position += 4 }
        return (0..<4).reduce(0) { $0 | UInt32(data[position + $1]) << (8 * UInt32($1)) }
    }

    /// A little-endian 8-byte value (wire type 1).
    public mutating func readFixed64() throws -> UInt64 {
        guard remaining >= 8 else { throw WireFormatError("truncated 8-byte field at byte \(offset)") }
        defer { position += 8 }
        return (0..<8).reduce(0) { $0 | UInt64(data[position + $1]) << (8 * UInt64($1)) }
    }

    /// Skips a field's value of the given wire type. Groups are refused: proto3 messages cannot hold them.
    public mutating func skip(_ wireType: WireType) throws {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .fixed32: _ = try readFixed32()
        case .startGroup, .endGroup: throw WireFormatError("group field at byte \(offset) (obsolete wire type, not in tf.train.Example)")
        }
    }
}

/// One value of a tf.train.Example: a list of byte strings, floats or 64-bit integers, or nothing (a Feature
/// with no member of its oneof set).
public enum TFFeature: Equatable, Sendable {
    case bytesList([Data])
    case floatList([Float])
    case int64List([Int64])
    case empty
}

/// A decoded tf.train.Example: its features by name.
public struct TFExample: Equatable, Sendable {
    public var features: [String: TFFeature]
    public init(features: [String: TFFeature] = [:]) { self.features = features }
}

/// Decodes a serialized tf.train.Example (one TFRecord record). Throws `WireFormatError` naming the first
/// malformed field; byte offsets in its message are relative to the message that holds the field.
public func decodeExample(_ bytes: Data) throws -> TFExample {
    var example = TFExample()
    var reader = ProtobufReader(bytes)
    while !reader.isAtEnd {
        let (field, wireType) = try reader.readTag()
        if field == 1 {
            try expect(wireType, .lengthDelimited, "Example.features")
            try decodeFeatures(try reader.readLengthDelimited(), into: &example.features)
        } else {
            try reader.skip(wireType)
        }
    }
    return example
}

private func decodeFeatures(_ bytes: Data, into features: inout [String: TFFeature]) throws {
    var reader = ProtobufReader(bytes)
    while !reader.isAtEnd {
        let (field, wireType) = try reader.readTag()
        guard field == 1 else { try reader.skip(wireType); continue }
        try expect(wireType, .lengthDelimited, "Features.feature")
        let entryOffset = reader.offset
        var entry = ProtobufReader(try reader.readLengthDelimited())
        var key = ""
        var value = TFFeature.empty
        do {
            while !entry.isAtEnd {
                let (entryField, entryWireType) = try entry.readTag()
                switch entryField {
                case 1:
                    try expect(entryWireType, .lengthDelimited, "the map key")
                    guard let text = String(data: try entry.readLengthDelimited(), encoding: .utf8) else {
                        throw WireFormatError("the map key is not UTF-8")
                    }
                    key = text
                case 2:
                    try expect(entryWireType, .lengthDelimited, "the map value")
                    try decodeFeature(try entry.readLengthDelimited(), into: &value)
                default:
                    try entry.skip(entryWireType)
                }
            }
        } catch let error as WireFormatError {
            let name = key.isEmpty ? "" : " '\(key)'"
            throw WireFormatError("feature\(name) (map entry at byte \(entryOffset) of Features): \(error.description)")
        }
        features[key] = value
    }
}

private func decodeFeature(_ bytes: Data, into feature: inout TFFeature) throws {
    var reader = ProtobufReader(bytes)
    while !reader.isAtEnd {
        let (field, wireType) = try reader.readTag()
        guard (1...3).contains(field) else { try reader.skip(wireType); continue }
        try expect(wireType, .lengthDelimited, ["bytes_list", "float_list", "int64_list"][field - 1])
        let list = try reader.readLengthDelimited()
        switch field {
        case 1:
            var values: [Data] = []
            if case .bytesList(let earlier) = feature { values = earlier }
            try decodeRepeated(list) { r, wireType in
                try expect(wireType, .lengthDelimited, "BytesList.value")
                values.append(try r.readLengthDelimited())
            }
            feature = .bytesList(values)
        case 2:
            var values: [Float] = []
            if case .floatList(let earlier) = feature { values = earlier }
            try decodeRepeated(list) { r, wireType in
                switch wireType {
                case .fixed32: values.append(Float(bitPattern: try r.readFixed32()))
                case .lengthDelimited:
                    let packed = try r.readLengthDelimited()
                    guard packed.count % 4 == 0 else { throw WireFormatError("packed FloatList of \(packed.count) bytes, not a multiple of 4") }
                    var p = ProtobufReader(packed)
                    values.reserveCapacity(values.count + packed.count / 4) // bounded by the bytes present
                    while !p.isAtEnd { values.append(Float(bitPattern: try p.readFixed32())) }
                default: throw WireFormatError("FloatList.value has wire type \(wireType.rawValue), expected 5 or 2 (packed)")
                }
            }
            feature = .floatList(values)
        default:
            var values: [Int64] = []
            if case .int64List(let earlier) = feature { values = earlier }
            try decodeRepeated(list) { r, wireType in
                switch wireType {
                case .varint: values.append(Int64(bitPattern: try r.readVarint()))
                case .lengthDelimited:
                    var p = ProtobufReader(try r.readLengthDelimited())
                    while !p.isAtEnd { values.append(Int64(bitPattern: try p.readVarint())) }
                default: throw WireFormatError("Int64List.value has wire type \(wireType.rawValue), expected 0 or 2 (packed)")
                }
            }
            feature = .int64List(values)
        }
    }
}

/// Calls `value` for each occurrence of field 1 of a list message, skipping other fields.
private func decodeRepeated(_ bytes: Data, _ value: (inout ProtobufReader, WireType) throws -> Void) throws {
    var reader = ProtobufReader(bytes)
    while !reader.isAtEnd {
        let (field, wireType) = try reader.readTag()
        if field == 1 { try value(&reader, wireType) } else { try reader.skip(wireType) }
    }
}

private func expect(_ wireType: WireType, _ expected: WireType, _ what: String) throws {
    guard wireType == expected else {
        throw WireFormatError("\(what) has wire type \(wireType.rawValue), expected \(expected.rawValue)")
    }
}
