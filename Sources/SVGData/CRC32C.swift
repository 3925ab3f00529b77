// CRC-32C (Castagnoli), the checksum of TFRecord framing: reflected polynomial 0x82F63B78, initial value and
// final XOR 0xFFFFFFFF; check value crc32c("123456789") = 0xE3069283. TFRecord stores it "masked":
// ((crc >> 15) | (crc << 17)) + 0xA282EAD8 (mod 2³²), so that a CRC computed over bytes that themselves
// contain CRCs does not degenerate.
import Foundation

/// The 256-entry table of the byte-at-a-time reflected CRC-32C.
private let crc32cTable: [UInt32] = (0..<256).map { byte in
    var crc = UInt32(byte)
    for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    return crc
}

/// CRC-32C (Castagnoli) of `bytes`.
public func crc32c(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    crc32cTable.withUnsafeBufferPointer { table in
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    }
    return crc ^ 0xFFFF_FFFF
}

/// CRC-32C (Castagnoli) of `data`.
public func crc32c(_ data: Data) -> UInt32 {
    data.withUnsafeBytes { crc32c($0) }
}

/// The masked form of a CRC-32C that TFRecord files store.
public func maskedCRC32C(_ crc: UInt32) -> UInt32 {
    ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
}
