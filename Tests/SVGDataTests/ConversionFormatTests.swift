// The converters' parsers and decoder: CRC-32C against its published check value and a bitwise CRC, TFRecord
// framing (every way a frame can be wrong), the protocol-buffer wire reader against hand-built bytes, and
// tf.train.Example decoding against an independent encoder; then FFmpeg decoding of AVIs the test encodes,
// pixel for pixel where the codec is lossless.
import Foundation
import XCTest
@testable import SVGData

final class TFRecordAndExampleTests: XCTestCase {
    func testCRC32CMatchesItsCheckValueAndABitwiseCRC() {
        // The check value of the CRC-32C catalogue entry (Castagnoli, reflected 0x82F63B78).
        XCTAssertEqual(crc32c(Data("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(bitwiseCRC32C(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(crc32c(Data()), 0)
        var rng = TestRNG(7)
        for length in [1, 3, 8, 255, 1000] {
            let bytes = (0..<length).map { _ in rng.byte() }
            XCTAssertEqual(crc32c(Data(bytes)), bitwiseCRC32C(bytes), "length \(length)")
        }
        // Masking: rotate right 15, add 0xA282EAD8 (mod 2³²).
        XCTAssertEqual(maskedCRC32C(0), 0xA282_EAD8)
        XCTAssertEqual(maskedCRC32C(0x0000_8000), 0xA282_EAD9)
        XCTAssertEqual(maskedCRC32C(0xFFFF_FFFF), 0xA282_EAD7)
    }

    func testRecordsComeBackInOrderFromAFileAndFromASlice() throws {
        var rng = TestRNG(11)
        let records: [[UInt8]] = [[], [42], (0..<5000).map { _ in rng.byte() }]
        let file = records.flatMap { tfRecord($0) }
        XCTAssertEqual(file.count, records.map { $0.count + TFRecord.framingBytes }.reduce(0, +))
        XCTAssertEqual(try TFRecord.records(in: Data(file), path: "f").map { Array($0) }, records)
        // A slice whose indices do not start at 0 (a record handed on from a larger buffer).
        let padded = Data([9, 9, 9] + file)
        XCTAssertEqual(try TFRecord.records(in: padded[3...], path: "f").map { Array($0) }, records)
        XCTAssertEqual(try TFRecord.records(in: Data(), path: "f").count, 0)
    }

    func testBadFramingIsAnErrorNamingTheFileAndRecord() throws {
        let first = tfRecord([1, 2, 3]), second = tfRecord(Array(repeating: 7, count: 100))
        let good = first + second
        func refuses(_ bytes: [UInt8], _ fragments: String..., line: UInt = #line) {
            do {
                _ = try TFRecord.records(in: Data(bytes), path: "dir/x.tfrecords")
                XCTFail("accepted", line: line)
            } catch let error as DataError {
                XCTAssertEqual(error.path, "dir/x.tfrecords", line: line)
                for f in fragments { XCTAssertTrue(error.problem.contains(f), "«\(error.problem)» lacks «\(f)»", line: line) }
            } catch { XCTFail("\(error)", line: line) }
        }
        let secondStart = first.count
        // Cut inside the second record's header, inside its data, and inside its data checksum.
        refuses(Array(good.prefix(secondStart + 5)), "record 2 (byte \(secondStart))", "truncated", "12")
        refuses(Array(good.prefix(secondStart + 12 + 50)), "record 2", "truncated", "claims 100 bytes")
        refuses(Array(good.dropLast(1)), "record 2", "truncated")
        var badLength = good
        badLength[secondStart + 9] ^= 0x10 // the length's checksum
        refuses(badLength, "record 2", "length's checksum is wrong")
        var lengthChanged = good
        lengthChanged[secondStart] ^= 0x01 // the length itself, so its checksum no longer matches
        refuses(lengthChanged, "record 2", "length's checksum is wrong")
        var badData = good
        badData[secondStart + 12 + 40] ^= 0x01 // a data byte
        refuses(badData, "record 2", "data's checksum is wrong")
        var badDataCRC = good
        badDataCRC[good.count - 1] ^= 0x80 // the data's checksum
        refuses(badDataCRC, "record 2", "data's checksum is wrong")
        // A header claiming 10¹² bytes, with a correct checksum of those 8 bytes: refused, nothing allocated.
        let huge = littleEndianBytes(UInt64(1_000_000_000_000))
        refuses(first + huge + littleEndianBytes(maskTFRecordCRC(bitwiseCRC32C(huge))) + [0, 0, 0, 0], "record 2", "claims 1000000000000 bytes")
        let maximal = littleEndianBytes(UInt64.max)
        refuses(maximal + littleEndianBytes(maskTFRecordCRC(bitwiseCRC32C(maximal))) + [0, 0, 0, 0], "record 1", "claims \(UInt64.max) bytes")
    }

    func testTheWireReaderReadsHandBuiltBytes() throws {
        func varint(_ bytes: [UInt8]) throws -> UInt64 {
            var r = ProtobufReader(Data(bytes))
            let v = try r.readVarint()
            XCTAssertTrue(r.isAtEnd)
            return v
        }
        // The protobuf documentation's examples: 1 = 01, 150 = 96 01; and the extremes.
        XCTAssertEqual(try varint([0x00]), 0)
        XCTAssertEqual(try varint([0x01]), 1)
        XCTAssertEqual(try varint([0x96, 0x01]), 150)
        XCTAssertEqual(try varint([0xAC, 0x02]), 300)
        XCTAssertEqual(try varint([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]), UInt64.max)
        XCTAssertEqual(try varint(Wire.varint(1 << 63)), 1 << 63)
        assertThrowsMentioning("longer than 64 bits", try varint([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]))
        assertThrowsMentioning("longer than 64 bits", try varint([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]))
        assertThrowsMentioning("truncated varint at byte 0", try varint([0x96]))
        assertThrowsMentioning("truncated varint", try varint([]))

        // Tag 08 = field 1 varint, 12 = field 2 length-delimited, 1D = field 3 fixed32, 21 = field 4 fixed64.
        var r = ProtobufReader(
            Data([
                0x08, 0x96, 0x01, 0x12, 0x03, 0x61, 0x62, 0x63, 0x1D, 0x00, 0x00, 0x80, 0x3F,
                0x21, 1, 2, 3, 4, 5, 6, 7, 8
            ]))
        XCTAssertEqual(try r.readTag().field, 1)
        XCTAssertEqual(try r.readVarint(), 150)
        let tag2 = try r.readTag()
        XCTAssertEqual(tag2.field, 2); XCTAssertEqual(tag2.wireType, .lengthDelimited)
        XCTAssertEqual(String(decoding: try r.readLengthDelimited(), as: UTF8.self), "abc")
        XCTAssertEqual(try r.readTag().wireType, .fixed32)
        XCTAssertEqual(Float(bitPattern: try r.readFixed32()), 1.0)
        XCTAssertEqual(try r.readTag().wireType, .fixed64)
        XCTAssertEqual(try r.readFixed64(), 0x0807_0605_0403_0201)
        XCTAssertTrue(r.isAtEnd)

        // Skipping every wire type lands on the next field.
        var s = ProtobufReader(Data([0x08, 0x96, 0x01, 0x12, 0x02, 0x00, 0x00, 0x1D, 1, 2, 3, 4, 0x21, 1, 2, 3, 4, 5, 6, 7, 8, 0x28, 0x05]))
        for _ in 0..<4 { try s.skip(try s.readTag().wireType) }
        XCTAssertEqual(try s.readTag().field, 5)
        XCTAssertEqual(try s.readVarint(), 5)

        func refuses(_ bytes: [UInt8], _ fragment: String, line: UInt = #line) {
            var reader = ProtobufReader(Data(bytes))
            assertThrowsMentioning(
                fragment,
                try { () throws -> Void in
                    while !reader.isAtEnd { try reader.skip(try reader.readTag().wireType) }
                }(), line: line)
        }
        refuses([0x0E], "invalid wire type 6")
        refuses([0x0F], "invalid wire type 7")
        refuses([0x02, 0x00], "invalid field number 0")
        refuses([0x0B], "group field")
        refuses([0x12, 0x05, 0x61], "claims 5 bytes, 1 are left")
        refuses([0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "claims 4294967295 bytes, 0 are left")
        refuses([0x1D, 1, 2, 3], "truncated 4-byte field")
        refuses([0x21, 1, 2, 3, 4, 5, 6, 7], "truncated 8-byte field")
    }

    func testExampleFromHandBuiltBytes() throws {
        // Example{features{feature{key "a" value{bytes_list{value "xy"}}}
        //                  feature{key "f" value{float_list{value [1.0] packed}}}
        //                  feature{key "i" value{int64_list{value 300, -1 unpacked}}}}}, worked out by hand:
        let bytesFeature: [UInt8] = [0x0A, 0x04, 0x0A, 0x02, 0x78, 0x79] // bytes_list{value "xy"}
        let floatFeature: [UInt8] = [0x12, 0x06, 0x0A, 0x04, 0x00, 0x00, 0x80, 0x3F] // float_list{packed 1.0}
        let minusOne: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        let intFeature: [UInt8] = [0x1A, 0x0E, 0x08, 0xAC, 0x02, 0x08] + minusOne // int64_list{300, -1}
        let features = entry(0x61, bytesFeature) + entry(0x66, floatFeature) + entry(0x69, intFeature)
        let example = [0x0A, UInt8(features.count)] + features
        XCTAssertEqual(example.count, 2 + 13 + 15 + 23)
        let decoded = try decodeExample(Data(example))
        XCTAssertEqual(decoded.features, ["a": .bytesList([Data("xy".utf8)]), "f": .floatList([1.0]), "i": .int64List([300, -1])])
        // The test's encoder writes the same bytes for the same message.
        XCTAssertEqual(
            encodeExample([
                ("a", .bytes([Array("xy".utf8)])), ("f", .floats([1], packed: true)),
                ("i", .int64s([300, -1], packed: false))
            ]), example)

        // Unknown fields are skipped at every level; a repeated key keeps its last value; Features repeated merge.
        let unknownVarint: [UInt8] = [0x38, 0x07] // field 7, varint 7
        let unknownBytes: [UInt8] = [0x42, 0x01, 0x00] // field 8, one byte
        let entryWithUnknown: [UInt8] = {
            let body: [UInt8] = unknownVarint + [0x0A, 0x01, 0x61] + unknownBytes + [0x12, 0x06] + bytesFeature
            return [0x0A, UInt8(body.count)] + body
        }()
        let replaced = entry(0x61, [0x12, 0x06, 0x0A, 0x04, 0x00, 0x00, 0x00, 0x40]) // "a" again: float_list{2.0}
        let firstFeatures = entryWithUnknown + unknownVarint + replaced
        let merged =
            [0x0A, UInt8(firstFeatures.count)] + firstFeatures + unknownBytes
            + [0x0A, UInt8(entry(0x69, intFeature).count)] + entry(0x69, intFeature)
        XCTAssertEqual(try decodeExample(Data(merged)).features, ["a": .floatList([2.0]), "i": .int64List([300, -1])])
        // An entry without a value is an empty Feature; a Feature naming two lists keeps the last.
        XCTAssertEqual(try decodeExample(Data([0x0A, 0x05, 0x0A, 0x03, 0x0A, 0x01, 0x7A])).features, ["z": .empty])
        let twoLists = bytesFeature + floatFeature
        XCTAssertEqual(try decodeExample(Data([0x0A, UInt8(entry(0x62, twoLists).count)] + entry(0x62, twoLists))).features, ["b": .floatList([1.0])])
    }

    func testExamplesRoundTripThroughTheTestEncoder() throws {
        var rng = TestRNG(3)
        let frames = (0..<30).map { _ in (0..<BAIRConversion.frameBytes).map { _ in rng.byte() } }
        let decoded = try decodeExample(Data(bairExample(frames: frames)))
        XCTAssertEqual(decoded.features.count, 120)
        XCTAssertEqual(decoded.features["3/action"], .floatList([0.25, -0.5, 3]))
        let read = try BAIRConversion.frames(of: decoded, path: "p", record: 1)
        XCTAssertEqual(read.map { Array($0) }, frames)
        let lists = try decodeExample(
            Data(
                encodeExample([
                    ("u", .floats([1, -2, .infinity], packed: false)),
                    ("p", .int64s([0, .max, .min], packed: true)),
                    ("e", .bytes([[], [1], [2, 3]]))
                ])))
        XCTAssertEqual(
            lists.features,
            [
                "u": .floatList([1, -2, .infinity]), "p": .int64List([0, .max, .min]),
                "e": .bytesList([Data(), Data([1]), Data([2, 3])])
            ])
    }

    func testEveryTruncationOfAnExampleIsAnError() {
        let example = encodeExample([
            ("0/image_aux1/encoded", .bytes([[1, 2, 3, 4]])), ("0/action", .floats([1, 2], packed: true)),
            ("n", .int64s([5, 300], packed: false))
        ])
        // The Example is a single length-delimited field, so every strict prefix cuts something short.
        for length in 1..<example.count {
            XCTAssertThrowsError(try decodeExample(Data(example.prefix(length))), "prefix of \(length) bytes") { error in
                XCTAssertTrue(error is WireFormatError, "\(error)")
            }
        }
        let threeBytePackedFloats: [UInt8] = [0x12, 0x05, 0x0A, 0x03, 1, 2, 3] // float_list{packed, 3 bytes}
        let features = entry(0x6B, threeBytePackedFloats)
        assertThrowsMentioning("not a multiple of 4", try decodeExample(Data([0x0A, UInt8(features.count)] + features)), "feature 'k'")
        assertThrowsMentioning("not UTF-8", try decodeExample(Data([0x0A, 0x05, 0x0A, 0x03, 0x0A, 0x01, 0xFF])))
        assertThrowsMentioning("Example.features has wire type 0", try decodeExample(Data([0x08, 0x01])))
    }

    func testBAIRFramesAreCheckedOneByOne() throws {
        let frame = [UInt8](repeating: 9, count: BAIRConversion.frameBytes)
        var features: [String: TFFeature] = [:]
        for i in 0..<30 { features["\(i)/image_aux1/encoded"] = .bytesList([Data(frame)]) }
        XCTAssertEqual(try BAIRConversion.frames(of: TFExample(features: features), path: "p", record: 4).count, 30)
        var missing = features
        missing["17/image_aux1/encoded"] = nil
        assertThrowsMentioning(
            "record 4: no feature '17/image_aux1/encoded'", try BAIRConversion.frames(of: TFExample(features: missing), path: "p", record: 4), "p: ")
        var small = features
        small["2/image_aux1/encoded"] = .bytesList([Data(frame.dropLast())])
        assertThrowsMentioning(
            "'2/image_aux1/encoded' holds 12287 bytes, expected 12288", try BAIRConversion.frames(of: TFExample(features: small), path: "p", record: 4))
        var floats = features
        floats["0/image_aux1/encoded"] = .floatList([1])
        assertThrowsMentioning("is a float list", try BAIRConversion.frames(of: TFExample(features: floats), path: "p", record: 4))
        var two = features
        two["29/image_aux1/encoded"] = .bytesList([Data(frame), Data(frame)])
        assertThrowsMentioning("holds 2 byte strings", try BAIRConversion.frames(of: TFExample(features: two), path: "p", record: 4))
    }
}

final class VideoDecodingTests: TemporaryFolderTestCase {
    /// Decodes a video to an array of frames.
    func decode(_ path: String, side: Int = 64) throws -> [[UInt8]] {
        var frames: [[UInt8]] = []
        let count = try decodeGrayVideo(at: path, name: "video.avi", width: side, height: side, framesPerSecond: 25) { index, pixels in
            XCTAssertEqual(index, frames.count)
            frames.append(Array(pixels))
        }
        XCTAssertEqual(count, frames.count)
        return frames
    }

    func testLosslessGray64AVIComesBackPixelForPixel() throws {
        var rng = TestRNG(21)
        let frames = (0..<7).map { _ in (0..<64 * 64).map { _ in rng.byte() } }
        try writeTestAVI(path("v.avi"), width: 64, height: 64, frames: frames, codec: .ffv1Gray)
        XCTAssertEqual(try decode(path("v.avi")), frames)
    }

    func testLimitedRangeYUVIsStretchedToFullRange() throws {
        var rng = TestRNG(22)
        let luma = (0..<3).map { _ in (0..<64 * 64).map { _ in UInt8(16 + Int(rng.next() % 220)) } }
        try writeTestAVI(path("v.avi"), width: 64, height: 64, frames: luma, codec: .ffv1YUV420)
        let decoded = try decode(path("v.avi"))
        XCTAssertEqual(decoded.count, 3)
        // Gray = (Y − 16)·255/219. libswscale's YUV → RGB pass (the reference's) works in fixed point and
        // truncates, so a value may lie up to one level below the exact one, never further.
        for (t, frame) in decoded.enumerated() {
            for p in 0..<64 * 64 {
                let exact = (Double(luma[t][p]) - 16) * 255 / 219
                XCTAssertLessThanOrEqual(abs(Double(frame[p]) - exact), 1, "frame \(t) pixel \(p): Y \(luma[t][p]) → \(frame[p])")
            }
        }
        XCTAssertEqual(decoded.flatMap { $0 }.min(), 0) // Y 16 is black
        XCTAssertEqual(decoded.flatMap { $0 }.max(), 255) // Y 235 is white
    }

    /// A 160 × 120 frame of four flat regions split at x = 40 and y = 90, whose 64 × 64 images split at 16 and 48.
    func quadrants(_ t: Int) -> (pixels: [UInt8], values: [UInt8]) {
        let values: [UInt8] = [UInt8(20 + 10 * t), UInt8(200 - 10 * t), UInt8(90 + 5 * t), UInt8(250 - 20 * t)]
        var pixels = [UInt8](repeating: 0, count: 160 * 120)
        for y in 0..<120 { for x in 0..<160 { pixels[y * 160 + x] = values[(y < 90 ? 0 : 2) + (x < 40 ? 0 : 1)] } }
        return (pixels, values)
    }

    func testKTHSizedFramesAreSquashedTo64WithoutCroppingOrFlipping() throws {
        let frames = (0..<5).map { quadrants($0) }
        try writeTestAVI(path("v.avi"), width: 160, height: 120, frames: frames.map { $0.pixels }, codec: .ffv1Gray)
        let decoded = try decode(path("v.avi"))
        XCTAssertEqual(decoded.count, 5)
        // Squashing 160 → 64 and 120 → 64 maps the splits to x = 16 and y = 48. Bicubic downscaling by 2.5 and
        // 1.875 reaches ±2 output pixels around a split; every normalised filter keeps a flat region's value, so
        // pixels 3 or more away from a split equal their region's value exactly. A crop, a flip, a transpose or
        // keeping the aspect ratio moves the splits and fails this.
        for (t, frame) in decoded.enumerated() {
            for y in 0..<64 {
                for x in 0..<64 where abs(x - 16) >= 3 && abs(y - 48) >= 3 {
                    let expected = frames[t].values[(y < 48 ? 0 : 2) + (x < 16 ? 0 : 1)]
                    XCTAssertEqual(frame[y * 64 + x], expected, "frame \(t) (\(x), \(y))")
                }
            }
        }
    }

    func testDivXAVIWithBFramesDecodesEveryFrameInOrder() throws {
        // Flat frames of levels 40, 55, 70, …: MPEG-4 at quantiser 2 keeps a flat block's level within a level
        // or two, far less than the 15 between frames, so a lost, repeated or reordered frame fails.
        let levels = (0..<13).map { 40 + 15 * $0 }
        let frames = levels.map { [UInt8](repeating: UInt8($0), count: 160 * 120) }
        try writeTestAVI(path("divx.avi"), width: 160, height: 120, frames: frames, codec: .mpeg4DivX)
        let decoded = try decode(path("divx.avi"))
        XCTAssertEqual(decoded.count, 13)
        for (t, frame) in decoded.enumerated() {
            let mean = Double(frame.map(Int.init).reduce(0, +)) / Double(frame.count)
            let expected = (Double(levels[t]) - 16) * 255 / 219 // limited-range YUV, stretched
            XCTAssertEqual(mean, expected, accuracy: 3, "frame \(t)")
        }
    }

    func testDroppedFramesAreFilledAsTheReferenceFfmpegFilledThem() throws {
        var rng = TestRNG(24)
        let frames = (0..<6).map { _ in (0..<64 * 64).map { _ in rng.byte() } }
        try writeTestAVI(path("v.avi"), width: 64, height: 64, frames: frames, codec: .ffv1Gray)
        let avi = try Data(contentsOf: URL(fileURLWithPath: path("v.avi")))
        // What Debian's ffmpeg 5.1 wrote for the reference's `ffmpeg -i v.avi -r 25 -f image2 -s 64x64 …` on
        // these drops (read back by hand): a gap of g frames gets g − 1 copies of the frame before it and one
        // of the frame after; a dropped last frame is simply missing.
        let expected: [[Int]: [Int]] = [[2]: [0, 1, 3, 3, 4, 5], [2, 3]: [0, 1, 1, 4, 4, 5], [1, 2, 3]: [0, 0, 0, 4, 4, 5], [5]: [0, 1, 2, 3, 4]]
        for (dropped, sources) in expected {
            try dropAVIChunks(avi, dropped).write(to: URL(fileURLWithPath: path("dropped.avi")))
            // Which source frame each output frame is (-1: none of them).
            let decoded = try decode(path("dropped.avi")).map { frame in frames.firstIndex(of: frame) ?? -1 }
            XCTAssertEqual(decoded, sources, "dropped \(dropped)")
        }
    }

    func testDamagedVideosAreErrorsNamingTheFrame() throws {
        var rng = TestRNG(23)
        let frames = (0..<8).map { _ in (0..<64 * 64).map { _ in rng.byte() } }
        try writeTestAVI(path("v.avi"), width: 64, height: 64, frames: frames, codec: .ffv1Gray)
        let good = try Data(contentsOf: URL(fileURLWithPath: path("v.avi")))

        try Data((0..<4096).map { _ in rng.byte() }).write(to: URL(fileURLWithPath: path("noise.avi")))
        assertThrowsMentioning("not a readable video", try decode(path("noise.avi")), "video.avi: ")
        try Data().write(to: URL(fileURLWithPath: path("empty.avi")))
        assertThrowsMentioning("not a readable video", try decode(path("empty.avi")))

        // Cut after about half the frames' data: the file ends before the frames its header announces.
        try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: path("cut.avi")))
        assertThrowsMentioning("frame ", try decode(path("cut.avi")), "video.avi: ")

        // Cut exactly after frame 4's chunk: no packet is damaged, the RIFF header says the file was longer.
        let chunks = aviVideoChunks(good)
        try good.prefix(chunks[3].upperBound).write(to: URL(fileURLWithPath: path("cut-between.avi")))
        assertThrowsMentioning(
            "video.avi: frame 5: the file ends early, at byte \(chunks[3].upperBound) of the \(good.count)", try decode(path("cut-between.avi")))

        // Garble the data of frame 5: FFV1 version 3 finds its slice CRC wrong.
        XCTAssertEqual(chunks.count, 8)
        var garbled = good
        for i in chunks[4].lowerBound + 10..<chunks[4].lowerBound + 40 { garbled[i] ^= 0x5A }
        try garbled.write(to: URL(fileURLWithPath: path("garbled.avi")))
        assertThrowsMentioning("frame 5: damaged (FFmpeg: slice CRC mismatch", try decode(path("garbled.avi")), "video.avi: ")

        // The same for MPEG-4 (DivX), whose decoder conceals damage and says so in its log.
        let divxFrames = (0..<12).map { t in (0..<160 * 120).map { UInt8(truncatingIfNeeded: ($0 % 160) + 7 * t) } }
        try writeTestAVI(path("divx.avi"), width: 160, height: 120, frames: divxFrames, codec: .mpeg4DivX)
        XCTAssertEqual(try decode(path("divx.avi")).count, 12)
        let divx = try Data(contentsOf: URL(fileURLWithPath: path("divx.avi")))
        var divxGarbled = divx
        let first = aviVideoChunks(divx)[0] // an intra frame: every macroblock is coded
        for i in first.lowerBound + first.count / 3..<first.upperBound { divxGarbled[i] = rng.byte() }
        try divxGarbled.write(to: URL(fileURLWithPath: path("divx-garbled.avi")))
        assertThrowsMentioning("video.avi: frame 1: ", try decode(path("divx-garbled.avi")), "(FFmpeg: ")
        try divx.prefix(divx.count * 2 / 3).write(to: URL(fileURLWithPath: path("divx-cut.avi")))
        assertThrowsMentioning("video.avi: ", try decode(path("divx-cut.avi")))
    }
}

/// A map entry of Features, as the field that holds it: {key = one ASCII byte, value = `feature`'s bytes}.
private func entry(_ key: UInt8, _ feature: [UInt8]) -> [UInt8] {
    let body = [0x0A, 0x01, key, 0x12, UInt8(feature.count)] + feature
    return [0x0A, UInt8(body.count)] + body
}

private func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}
