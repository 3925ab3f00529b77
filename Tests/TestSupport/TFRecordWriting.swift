// The BAIR converter's inputs, written the way TensorFlow writes them and independently of SVGData's readers:
// protocol-buffer wire bytes of tf.train.Example built field by field, and TFRecord framing whose CRC-32C is
// computed bit by bit (the reader uses a table), so a shared mistake cannot make reader and writer agree.

/// Protocol-buffer wire format, encoded.
public enum Wire {
    /// A base-128 varint, least significant group first.
    public static func varint(_ value: UInt64) -> [UInt8] {
        var v = value, out: [UInt8] = []
        repeat {
            let low = UInt8(v & 0x7F)
            v >>= 7
            out.append(v == 0 ? low : low | 0x80)
        } while v != 0
        return out
    }

    /// A field's tag: number << 3 | wire type.
    public static func tag(_ field: Int, _ wireType: UInt8) -> [UInt8] { varint(UInt64(field) << 3 | UInt64(wireType)) }

    /// A length-delimited field (wire type 2).
    public static func lengthDelimited(_ field: Int, _ bytes: [UInt8]) -> [UInt8] {
        tag(field, 2) + varint(UInt64(bytes.count)) + bytes
    }

    /// A varint field (wire type 0).
    public static func varintField(_ field: Int, _ value: UInt64) -> [UInt8] { tag(field, 0) + varint(value) }

    /// A 4-byte field (wire type 5), little-endian.
    public static func fixed32Field(_ field: Int, _ value: UInt32) -> [UInt8] { tag(field, 5) + littleEndian(value) }
}

/// A feature value as a test writes it.
public enum TestFeature {
    case bytes([[UInt8]])
    case floats([Float], packed: Bool)
    case int64s([Int64], packed: Bool)
}

/// The wire bytes of a tf.train.Example holding `features` as map entries in the given order.
public func encodeExample(_ features: [(String, TestFeature)]) -> [UInt8] {
    var entries: [UInt8] = []
    for (key, value) in features {
        entries += Wire.lengthDelimited(1, Wire.lengthDelimited(1, Array(key.utf8)) + Wire.lengthDelimited(2, encodeFeature(value)))
    }
    return Wire.lengthDelimited(1, entries)
}

/// The wire bytes of a tf.train.Feature.
public func encodeFeature(_ feature: TestFeature) -> [UInt8] {
    switch feature {
    case .bytes(let values):
        return Wire.lengthDelimited(1, values.flatMap { Wire.lengthDelimited(1, $0) })
    case .floats(let values, let packed):
        let list =
            packed
            ? Wire.lengthDelimited(1, values.flatMap { littleEndian($0.bitPattern) })
            : values.flatMap { Wire.fixed32Field(1, $0.bitPattern) }
        return Wire.lengthDelimited(2, list)
    case .int64s(let values, let packed):
        let list =
            packed
            ? Wire.lengthDelimited(1, values.flatMap { Wire.varint(UInt64(bitPattern: $0)) })
            : values.flatMap { Wire.varintField(1, UInt64(bitPattern: $0)) }
        return Wire.lengthDelimited(3, list)
    }
}

/// CRC-32C computed one bit at a time, straight from the definition (reflected polynomial 0x82F63B78).
public func bitwiseCRC32C(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 0 ? 0 : 0x82F6_3B78) }
    }
    return ~crc
}

/// TFRecord's masking of a CRC: rotate right by 15 bits, add 0xA282EAD8.
public func maskTFRecordCRC(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }

/// One record framed as TFRecord: length, masked CRC of the length, data, masked CRC of the data.
public func tfRecord(_ data: [UInt8]) -> [UInt8] {
    let length = littleEndian(UInt64(data.count))
    return length + littleEndian(maskTFRecordCRC(bitwiseCRC32C(length))) + data + littleEndian(maskTFRecordCRC(bitwiseCRC32C(data)))
}

/// A BAIR-like record: features "<i>/image_aux1/encoded" (the given 64×64×3 frames) and, as the real records
/// carry them, "<i>/image_main/encoded", "<i>/action" and "<i>/endeffector_pos".
public func bairExample(frames: [[UInt8]]) -> [UInt8] {
    var features: [(String, TestFeature)] = []
    for (i, frame) in frames.enumerated() {
        features.append(("\(i)/action", .floats([0.25, -0.5, Float(i)], packed: true)))
        features.append(("\(i)/endeffector_pos", .floats([1, 2, 3], packed: true)))
        features.append(("\(i)/image_aux1/encoded", .bytes([frame])))
        features.append(("\(i)/image_main/encoded", .bytes([frame.reversed()])))
    }
    return encodeExample(features)
}

func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}
