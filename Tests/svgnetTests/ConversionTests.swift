// svgnet data bair and data kth on inputs the tests build: TFRecord files of tf.train.Example records with
// random frames, AVIs encoded losslessly (FFV1) so every pixel is known, zips of them (ZIPFoundation). The
// output must hold exactly the source pixels in SVG's layout and read back through BAIRDataset and
// KTHDataset; every bad input must give one line naming the file and the record or frame, and leave no
// --out and no temporary folder behind.
import Foundation
import SVGData
import TestSupport
import XCTest
import ZIPFoundation

final class ConversionTests: CLITestCase {
    // MARK: BAIR

    /// 30 random 64×64×3 frames.
    func randomFrames(_ rng: inout TestRNG) -> [[UInt8]] {
        (0..<30).map { _ in (0..<BAIRConversion.frameBytes).map { _ in rng.byte() } }
    }

    /// Writes a TFRecord file of the given records (each an Example's bytes).
    func writeTFRecords(_ relative: String, _ records: [[UInt8]]) {
        write(relative, Data(records.flatMap { tfRecord($0) }))
    }

    /// Hidden temporary folders a conversion left in the test folder.
    func leftovers() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.contains(".partial-") }
    }

    /// Asserts that a PNG holds exactly `bytes` (pixel-interleaved, `channels` per pixel).
    func assertPNG(_ relative: String, equals bytes: [UInt8], channels: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let image = try readPNG(path(relative))
        XCTAssertEqual(image.width, 64, file: file, line: line)
        XCTAssertEqual(image.height, 64, file: file, line: line)
        XCTAssertEqual(image.channels, channels, relative, file: file, line: line)
        let plane = 64 * 64
        var stored = [UInt8](repeating: 0, count: plane * channels)
        for p in 0..<plane { for c in 0..<channels { stored[p * channels + c] = UInt8((image.pixels[c * plane + p] * 255).rounded()) } }
        XCTAssertTrue(stored == bytes, "\(relative): pixels differ", file: file, line: line)
    }

    func testDataBAIRWritesSVGsLayoutPixelForPixel() throws {
        var rng = TestRNG(31)
        let train = [randomFrames(&rng), randomFrames(&rng)], test = [randomFrames(&rng)]
        writeTFRecords("src/softmotion30_44k/train/traj_0_to_1.tfrecords", train.map { bairExample(frames: $0) })
        writeTFRecords("src/softmotion30_44k/test/traj_0_to_0.tfrecords", test.map { bairExample(frames: $0) })
        let r = try succeed(["data", "bair", "--from", "src", "--out", "bair"])
        XCTAssertEqual(
            r.stdout,
            """
            BAIR from src into bair
            [1/2] test/traj_0_to_0.tfrecords: 1 record
            [2/2] train/traj_0_to_1.tfrecords: 2 records
            wrote bair: train 2 sequences (60 frames, 1 file), test 1 sequence (30 frames, 1 file); train on it with --data bair:bair

            """)
        // SVG's layout: processed_data/<split>/<file name>/<k from 1>/<i>.png, RGB as stored in the record.
        for (split, records, name) in [("train", train, "traj_0_to_1"), ("test", test, "traj_0_to_0")] {
            for (index, frames) in records.enumerated() {
                let folder = "bair/processed_data/\(split)/\(name)/\(index + 1)"
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path(folder)).count, 30)
                for (i, frame) in frames.enumerated() { try assertPNG("\(folder)/\(i).png", equals: frame, channels: 3) }
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("bair/processed_data")).sorted(), ["test", "train"])
        // bair:DIR reads it back: one sequence per record, frames as the record's bytes / 255, C × H × W.
        let dataset = try BAIRDataset(directory: path("bair"), split: .train, length: 30)
        XCTAssertEqual(dataset.count, 2)
        let second = try dataset.sequence(1)
        for t in [0, 17, 29] {
            for p in [0, 1000, 4095] {
                for c in 0..<3 {
                    XCTAssertEqual(second[(t * 3 + c) * 4096 + p], Float(train[1][t][p * 3 + c]) / 255)
                }
            }
        }
        XCTAssertEqual(try BAIRDataset(directory: path("bair"), split: .test, length: 30).count, 1)
        XCTAssertEqual(leftovers(), [])
        // --from may name softmotion30_44k itself; the output is the same.
        try succeed(["data", "bair", "--from", "src/softmotion30_44k", "--out", "again"])
        XCTAssertEqual(bytes("again/processed_data/train/traj_0_to_1/2/29.png"), bytes("bair/processed_data/train/traj_0_to_1/2/29.png"))
        // An existing empty folder is filled; an existing non-empty one is refused and left as it was.
        try FileManager.default.createDirectory(atPath: path("empty"), withIntermediateDirectories: true)
        try succeed(["data", "bair", "--from", "src", "--out", "empty"])
        XCTAssertTrue(exists("empty/processed_data/test/traj_0_to_0/1/0.png"))
        try fail(["data", "bair", "--from", "src", "--out", "bair"], ["bair: exists and is not empty"])
        XCTAssertTrue(exists("bair/processed_data/test/traj_0_to_0/1/0.png"))
        try fail(["data", "bair", "--from", "src", "--out", "src"], ["--out must be a new folder"], oneLine: false)
        XCTAssertEqual(leftovers(), [])
    }

    func testDataBAIRRefusesEveryBadRecordAndLeavesNothing() throws {
        var rng = TestRNG(32)
        let frames = randomFrames(&rng)
        let good = bairExample(frames: frames)
        let file = "bad/softmotion30_44k/train/traj_0_to_1.tfrecords"
        writeTFRecords("bad/softmotion30_44k/test/traj_0_to_0.tfrecords", [good])
        func refuses(_ trainFile: [UInt8], _ mentions: [String], line: UInt = #line) throws {
            write(file, Data(trainFile))
            try fail(["data", "bair", "--from", "bad", "--out", "out"], [file] + mentions, absent: ["out"], line: line)
            XCTAssertEqual(leftovers(), [], line: line)
        }
        let first = tfRecord(good), second = tfRecord(good), secondStart = first.count
        try refuses(first + second.dropLast(10), ["record 2 (byte \(secondStart))", "truncated"])
        var badLength = first + second
        badLength[secondStart + 9] ^= 0x01
        try refuses(badLength, ["record 2", "the length's checksum is wrong"])
        var badData = first + second
        badData[secondStart + 12 + 5000] ^= 0x01
        try refuses(badData, ["record 2", "the data's checksum is wrong"])
        var features: [(String, TestFeature)] = frames.enumerated().map { ("\($0.offset)/image_aux1/encoded", .bytes([$0.element])) }
        features.remove(at: 17)
        try refuses(first + tfRecord(encodeExample(features)), ["record 2: no feature '17/image_aux1/encoded'"])
        var short = frames
        short[3].removeLast()
        try refuses(first + tfRecord(bairExample(frames: short)), ["record 2: feature '3/image_aux1/encoded' holds 12287 bytes, expected 12288"])
        try refuses(first + tfRecord([0x0A, 0xFF, 0x01]), ["record 2: not a tf.train.Example"])
        // The good file converts, so the failures above were the records' doing.
        write(file, Data(first + second))
        try succeed(["data", "bair", "--from", "bad", "--out", "out"])
        // A folder without both splits.
        try fail(
            ["data", "bair", "--from", "bad/softmotion30_44k/train", "--out", "none"], ["no softmotion30_44k/train and softmotion30_44k/test folders"],
            absent: ["none"])
        try fail(["data", "bair", "--from", "nothing", "--out", "none"], ["nothing: no such BAIR folder"], absent: ["none"])
        try FileManager.default.removeItem(atPath: path("bad/softmotion30_44k/test/traj_0_to_0.tfrecords"))
        try fail(["data", "bair", "--from", "bad", "--out", "none"], ["bad/softmotion30_44k/test: no .tfrecords files"], absent: ["none"])
        XCTAssertEqual(leftovers(), [])
    }

    func testCtrlCRemovesThePartialOutput() throws {
        // Enough records that the conversion is still running when the first file's line appears.
        let record = encodeExample((0..<30).map { ("\($0)/image_aux1/encoded", .bytes([[UInt8](repeating: UInt8($0), count: BAIRConversion.frameBytes)])) })
        for n in 0..<10 { writeTFRecords("src/softmotion30_44k/train/traj_\(n).tfrecords", Array(repeating: record, count: 8)) }
        writeTFRecords("src/softmotion30_44k/test/traj_0.tfrecords", Array(repeating: record, count: 8))
        let (p, out, err) = try start(["data", "bair", "--from", "src", "--out", "bair"])
        let deadline = Date().addingTimeInterval(120)
        while !((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("[1/11]") && p.isRunning && Date() < deadline {
            usleep(10_000)
        }
        p.interrupt()
        let r = finish(p, out, err)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertEqual(r.errorLines, ["interrupted: nothing written to bair"])
        XCTAssertFalse(exists("bair"))
        XCTAssertEqual(leftovers(), [])
    }

    // MARK: KTH

    func randomVideo(_ rng: inout TestRNG, frames: Int, width: Int = 64, height: Int = 64) -> [[UInt8]] {
        (0..<frames).map { _ in (0..<width * height).map { _ in rng.byte() } }
    }

    /// Zips files of `folder` (relative) into `zip` (relative), deflated unless `stored`.
    func makeZip(_ zip: String, from sourceFolder: String, files: [String], stored: Bool = false) throws {
        let archive = try Archive(url: URL(fileURLWithPath: path(zip)), accessMode: .create)
        for name in files {
            try archive.addEntry(with: name, relativeTo: URL(fileURLWithPath: path(sourceFolder)), compressionMethod: stored ? .none : .deflate)
        }
    }

    func testDataKTHConvertsZipsAndExtractedVideosPixelForPixel() throws {
        var rng = TestRNG(41)
        try FileManager.default.createDirectory(atPath: path("raw/walking"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: path("staging"), withIntermediateDirectories: true)
        // boxing.zip: person 1 (train) and person 22 (test), 64 × 64, so no resize happens and pixels must match.
        let person1 = randomVideo(&rng, frames: 6), person22 = randomVideo(&rng, frames: 12)
        try writeTestAVI(path("staging/person01_boxing_d1_uncomp.avi"), width: 64, height: 64, frames: person1, codec: .ffv1Gray)
        try writeTestAVI(path("staging/person22_boxing_d4_uncomp.avi"), width: 64, height: 64, frames: person22, codec: .ffv1Gray)
        try makeZip("raw/boxing.zip", from: "staging", files: ["person01_boxing_d1_uncomp.avi", "person22_boxing_d4_uncomp.avi"])
        // walking, already extracted (the layout of SVG's download_kth.sh): KTH's own size, 160 × 120.
        let person2 = randomVideo(&rng, frames: 5, width: 160, height: 120)
        try writeTestAVI(path("raw/walking/person02_walking_d3_uncomp.avi"), width: 160, height: 120, frames: person2, codec: .ffv1Gray)
        write("raw/00sequences.txt", Data("person01_boxing_d1\t\tframes\t1-6\n".utf8))

        let r = try succeed(["data", "kth", "--from", "raw", "--out", "kth"])
        XCTAssertEqual(
            r.stdout,
            """
            KTH from raw into kth
            [1/3] boxing/person01_boxing_d1: 6 frames (from boxing.zip)
            [2/3] boxing/person22_boxing_d4: 12 frames (from boxing.zip)
            [3/3] walking/person02_walking_d3: 5 frames
            wrote kth: 3 videos, 23 frames; train (persons 1–20) 2 videos, 11 frames; test (persons 21–25) 1 video, 12 frames; \
            videos per action: boxing 2, handclapping 0, handwaving 0, jogging 0, running 0, walking 1; train on it with --data kth:kth

            """)
        // convert_kth.lua's names: <action>/<video without _uncomp.avi>/image-NNN_64x64.png, from 001.
        for (folder, frames) in [("kth/boxing/person01_boxing_d1", person1), ("kth/boxing/person22_boxing_d4", person22)] {
            let names = try FileManager.default.contentsOfDirectory(atPath: path(folder)).sorted()
            XCTAssertEqual(names, (1...frames.count).map { String(format: "image-%03d_64x64.png", $0) })
            for (i, frame) in frames.enumerated() {
                try assertPNG(folder + "/" + String(format: "image-%03d_64x64.png", i + 1), equals: frame, channels: 1)
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("kth/walking/person02_walking_d3")).count, 5)
        XCTAssertEqual(try readPNG(path("kth/walking/person02_walking_d3/image-005_64x64.png")).width, 64)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("kth")).sorted(), ["00sequences.txt", "boxing", "walking"])
        XCTAssertEqual(bytes("kth/00sequences.txt"), bytes("raw/00sequences.txt"))
        // kth:DIR reads it back and splits by person.
        let train = try KTHDataset(directory: path("kth"), split: .train, length: 5)
        XCTAssertEqual(train.videos.map { $0.person }, [1, 2])
        XCTAssertEqual(train.count, (6 - 5 + 1) + (5 - 5 + 1))
        let clip = try train.sequence(1) // person 1, frames 2…6
        for t in 0..<5 { for p in [0, 2048, 4095] { XCTAssertEqual(clip[t * 4096 + p], Float(person1[t + 1][p]) / 255) } }
        let test = try KTHDataset(directory: path("kth"), split: .test, length: 10)
        XCTAssertEqual(test.videos.map { $0.person }, [22])
        XCTAssertEqual(test.count, 3)
        XCTAssertEqual(leftovers(), [])
        XCTAssertFalse(exists("kth/.extract"))

        // A video both extracted and in its zip is read from the extracted file.
        try writeTestAVI(path("raw/person01_boxing_d1_uncomp.avi"), width: 64, height: 64, frames: Array(person1.prefix(5)), codec: .ffv1Gray)
        let again = try succeed(["data", "kth", "--from", "raw", "--out", "kth2"])
        XCTAssertTrue(again.stdout.contains("[1/3] boxing/person01_boxing_d1: 5 frames\n"), again.stdout)
    }

    func testDataKTHRefusesDamagedZipsAndVideosAndLeavesNothing() throws {
        var rng = TestRNG(42)
        try FileManager.default.createDirectory(atPath: path("staging"), withIntermediateDirectories: true)
        let video = randomVideo(&rng, frames: 6)
        try writeTestAVI(path("staging/person01_boxing_d1_uncomp.avi"), width: 64, height: 64, frames: video, codec: .ffv1Gray)
        let avi = bytes("staging/person01_boxing_d1_uncomp.avi")!
        let third = aviVideoChunks(avi)[2]
        var garbled = avi
        for i in third.lowerBound + 10..<third.lowerBound + 40 { garbled[i] ^= 0x5A }

        func refuses(_ setUp: () throws -> Void, _ mentions: [String], line: UInt = #line) throws {
            try? FileManager.default.removeItem(atPath: path("in"))
            try FileManager.default.createDirectory(atPath: path("in"), withIntermediateDirectories: true)
            try setUp()
            try fail(["data", "kth", "--from", "in", "--out", "out"], mentions, absent: ["out"], line: line)
            XCTAssertEqual(leftovers(), [], line: line)
        }
        // Extracted AVIs: garbled frame 3, cut short, not a video at all.
        try refuses(
            { write("in/person01_boxing_d1_uncomp.avi", garbled) },
            ["in/person01_boxing_d1_uncomp.avi: frame 3: damaged (FFmpeg: slice CRC mismatch"])
        try refuses(
            { write("in/person01_boxing_d1_uncomp.avi", avi.prefix(third.lowerBound + 100)) },
            ["in/person01_boxing_d1_uncomp.avi: frame 3: "])
        try refuses(
            { write("in/person01_boxing_d1_uncomp.avi", Data("not a video".utf8)) },
            ["in/person01_boxing_d1_uncomp.avi: not a readable video"])
        // The garbled video inside a zip: named as archive: entry.
        write("staging/garbled/person01_boxing_d1_uncomp.avi", garbled)
        try refuses(
            { try makeZip("in/boxing.zip", from: "staging/garbled", files: ["person01_boxing_d1_uncomp.avi"]) },
            ["in/boxing.zip: person01_boxing_d1_uncomp.avi: frame 3: damaged"])
        // Zips: cut short (no central directory), a stored entry with a flipped byte (fails its CRC-32), and
        // a damaged central directory record (ZIPFoundation alone would skip the entry without a word).
        try makeZip("good.zip", from: "staging", files: ["person01_boxing_d1_uncomp.avi"], stored: true)
        let zip = bytes("good.zip")!
        try refuses({ write("in/boxing.zip", zip.prefix(zip.count / 2)) }, ["in/boxing.zip: not a readable zip archive"])
        var flipped = zip
        flipped[zip.count / 3] ^= 0x01
        try refuses(
            { write("in/boxing.zip", flipped) },
            ["in/boxing.zip: person01_boxing_d1_uncomp.avi: cannot extract (the data fails its CRC-32 check); corrupt zip archive"])
        let centralRecord = zip.count - 22 - 46 - "person01_boxing_d1_uncomp.avi".utf8.count
        XCTAssertEqual(Array(zip[centralRecord..<centralRecord + 4]), [0x50, 0x4B, 1, 2], "central directory record signature")
        var badDirectory = zip
        badDirectory[centralRecord] = 0
        try refuses(
            { write("in/boxing.zip", badDirectory) },
            ["in/boxing.zip: corrupt zip archive: its directory announces 1 entries, 0 can be read"])
        // Names that are not KTH's, and folders without videos.
        try refuses({ write("in/person01_dancing_d1_uncomp.avi", avi) }, ["in/person01_dancing_d1_uncomp.avi: not a KTH video name"])
        try refuses({ write("in/person26_boxing_d1_uncomp.avi", avi) }, ["person 26 is not one of KTH's persons 1–25"])
        try refuses({ write("in/readme.txt", Data("x".utf8)) }, ["in: no KTH videos"])
        try refuses(
            {
                write("in/person01_boxing_d1_uncomp.avi", avi); write("in/boxing/person01_boxing_d1_uncomp.avi", avi)
            },
            ["the video person01_boxing_d1 is also at"])
        // The good video converts, so the failures above were the damage's doing.
        write("in2/person01_boxing_d1_uncomp.avi", avi)
        try succeed(["data", "kth", "--from", "in2", "--out", "out"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("out/boxing/person01_boxing_d1")).count, 6)
    }
}
