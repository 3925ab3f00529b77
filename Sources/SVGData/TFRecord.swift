// TFRecord files, the container of the BAIR dataset: a sequence of records, each framed as
//   uint64 little-endian length n | uint32 masked CRC-32C of those 8 bytes | n bytes of data | uint32 masked CRC-32C of the data
// (CRC32C.swift). Nothing else is in the file: no header, no index, no padding.
import Foundation

/// The framing of TFRecord files.
public enum TFRecord {
    /// Bytes of framing around each record's data: the length, its checksum, and the data's checksum.
    public static let framingBytes = 16

    /// The records of a TFRecord file, in order, as slices of `data` (nothing is copied). Both checksums of
    /// every record are verified, and every length is checked against the bytes that remain before it is used.
    /// Throws `DataError(path, "record k (byte o): …")`, records numbered from 1.
    public static func records(in data: Data, path: String) throws -> [Data] {
        var ranges: [Range<Int>] = []
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < bytes.count {
                let label = "record \(ranges.count + 1) (byte \(offset))"
                let remaining = bytes.count - offset
                guard remaining >= 12 else {
                    throw DataError(path, "\(label): truncated: \(remaining) bytes left, a record header needs 12")
                }
                let header = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + 8])
                let length = littleEndianUInt64(header)
                let storedLengthCRC = littleEndianUInt32(UnsafeRawBufferPointer(rebasing: bytes[offset + 8..<offset + 12]))
                let lengthCRC = maskedCRC32C(crc32c(header))
                guard storedLengthCRC == lengthCRC else {
                    throw DataError(path, "\(label): the length's checksum is wrong (stored \(hex(storedLengthCRC)), computed \(hex(lengthCRC))); corrupt file")
                }
                // Compared as UInt64, so a length of 10¹⁹ is refused instead of overflowing Int.
                guard length <= UInt64(remaining - 12), remaining - 12 - Int(length) >= 4 else {
                    throw DataError(
                        path, "\(label): truncated: the record claims \(length) bytes of data, \(remaining - 12) bytes are left for data and checksum")
                }
                let start = offset + 12, end = start + Int(length)
                let storedDataCRC = littleEndianUInt32(UnsafeRawBufferPointer(rebasing: bytes[end..<end + 4]))
                let dataCRC = maskedCRC32C(crc32c(UnsafeRawBufferPointer(rebasing: bytes[start..<end])))
                guard storedDataCRC == dataCRC else {
                    throw DataError(path, "\(label): the data's checksum is wrong (stored \(hex(storedDataCRC)), computed \(hex(dataCRC))); corrupt file")
                }
                ranges.append(start..<end)
                offset = end + 4
            }
        }
        let base = data.startIndex
        return ranges.map { data[base + $0.lowerBound..<base + $0.upperBound] }
    }
}

func littleEndianUInt64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    (0..<8).reduce(0) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
}

func littleEndianUInt32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    (0..<4).reduce(0) { $0 | UInt32(bytes[$1]) << (8 * UInt32($1)) }
}

private func hex(_ value: UInt32) -> String { String(format: "0x%08X", value) }
