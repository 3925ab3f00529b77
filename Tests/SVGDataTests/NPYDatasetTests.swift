// .npy round trips and errors, and the KTH / BAIR / .npy datasets on small synthetic folders in every layout.
import Foundation
import XCTest
@testable import SVGData

final class NPYTests: TemporaryFolderTestCase {
    func testFloat32AndUInt8RoundTrips() throws {
        var rng = TestRNG(21)
        let values = (0..<(2 * 3 * 4)).map { _ in Float(rng.next() % 1000) / 999 }
        try NPY.write(path("f.npy"), shape: [2, 3, 4], values: values)
        let f = try NPY.read(path("f.npy"))
        XCTAssertEqual(f.shape, [2, 3, 4])
        XCTAssertEqual(f.dtype, .float32)
        XCTAssertEqual(f.values, values)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path("f.npy")))
        XCTAssertEqual(bytes.count, 128 + 24 * 4, "the data should start on a 64-byte boundary")
        XCTAssertEqual(bytes[127], UInt8(ascii: "\n"))

        let grid = (0..<10).map { _ in Float(rng.byte()) / 255 }
        try NPY.writeUInt8(path("u.npy"), shape: [10], values: grid)
        let u = try NPY.read(path("u.npy"))
        XCTAssertEqual(u.shape, [10])
        XCTAssertEqual(u.dtype, .uint8)
        XCTAssertEqual(u.values, grid)
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path("u.npy")))[10..<70], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{'descr': '|u1', 'fortran_order': False, 'shape': (10,), }"), header)
    }

    func testVersion2And3HeadersAreRead() throws {
        for version: UInt8 in [2, 3] {
            var dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }"
            dict += String(repeating: " ", count: 128 - 12 - dict.utf8.count - 1) + "\n"
            var data = Data([0x93] + Array("NUMPY".utf8) + [version, 0])
            let n = dict.utf8.count
            data.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8), 0, 0])
            data.append(contentsOf: Array(dict.utf8) + [0, 51, 204, 255])
            try data.write(to: URL(fileURLWithPath: path("v\(version).npy")))
            let read = try NPY.read(path("v\(version).npy"))
            XCTAssertEqual(read.shape, [2, 2])
            XCTAssertEqual(read.values, [0, 0.2, 0.8, 1])
        }
    }

    func testErrorsNameThePathAndTheProblem() throws {
        let file = path("bad.npy")
        assertThrowsMentioning(file, try NPY.read(file), "no such")
        try Data("PK\u{3}\u{4} a zip, not npy".utf8).write(to: URL(fileURLWithPath: file))
        assertThrowsMentioning(file, try NPY.read(file), "not a .npy")
        try rawNPY(file, descr: "<f8", fortran: "False", shape: "(2,)", payload: [UInt8](repeating: 0, count: 16))
        assertThrowsMentioning(file, try NPY.read(file), "<f8")
        try rawNPY(file, descr: ">f4", fortran: "False", shape: "(2,)", payload: [UInt8](repeating: 0, count: 8))
        assertThrowsMentioning(file, try NPY.read(file), ">f4")
        try rawNPY(file, descr: "|u1", fortran: "True", shape: "(2, 2)", payload: [1, 2, 3, 4])
        assertThrowsMentioning(file, try NPY.read(file), "Fortran")
        try rawNPY(file, descr: "<f4", fortran: "False", shape: "(3, 2)", payload: [UInt8](repeating: 0, count: 20))
        assertThrowsMentioning(file, try NPY.read(file), "truncated")
        try NPY.write(file, shape: [3], values: [0, 1.5, 0.5])
        XCTAssertEqual(try NPY.read(file).values, [0, 1.5, 0.5], "no validation unless asked")
        assertThrowsMentioning(file, try NPY.read(file, validateRange: true), "outside [0, 1]")
        try NPY.write(file, shape: [1], values: [.nan])
        assertThrowsMentioning(file, try NPY.read(file, validateRange: true), "outside [0, 1]")
        assertThrowsMentioning(file, try NPY.write(file, shape: [2, 2], values: [0, 0, 0]), "does not hold 3 values")
    }

    func rawNPY(_ file: String, descr: String, fortran: String, shape: String, payload: [UInt8]) throws {
        var dict = "{'descr': '\(descr)', 'fortran_order': \(fortran), 'shape': \(shape), }"
        dict += String(repeating: " ", count: 128 - 10 - dict.utf8.count - 1) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dict.utf8.count & 0xFF), UInt8(dict.utf8.count >> 8)])
        data.append(contentsOf: Array(dict.utf8) + payload)
        try data.write(to: URL(fileURLWithPath: file))
    }
}

final class DatasetTests: TemporaryFolderTestCase {
    /// A gray 64 × 64 frame whose pixels encode (video, frame) so order mistakes show.
    func frame(video: Int, index: Int, channels: Int = 1) -> Image {
        var image = Image(channels: channels, height: 64, width: 64)
        for c in 0..<channels {
            for p in 0..<4096 {
                image.pixels[c * 4096 + p] = Float((video * 31 + index * 7 + p + c * 50) % 256) / 255
            }
        }
        return image
    }

    func writeKTH(_ root: String, videos: [(action: String, folder: String, frames: Int)]) throws {
        for (v, video) in videos.enumerated() {
            let dir = try makeFolder("\(root)/\(video.action)/\(video.folder)")
            // 1-based, zero-padded to 2 digits so frame 100 would break text order; RGB to check "first channel only".
            for i in 1...video.frames {
                try writePNG(dir + "/image-\(String(format: "%02d", i))_64x64.png", frame(video: v, index: i, channels: 3))
            }
        }
    }

    func testKTHSplitsByPersonAndReadsClipsInOrder() throws {
        try writeKTH(
            "kth",
            videos: [
                ("walking", "person01_walking_d1", 12), ("walking", "person22_walking_d1", 6),
                ("boxing", "person20_boxing_d2", 8)
            ])
        let train = try KTHDataset(directory: path("kth"), split: .train, length: 5)
        XCTAssertEqual(train.channels, 1)
        XCTAssertEqual(train.videos.map(\.person), [20, 1]) // action folders in name order: boxing, walking
        XCTAssertEqual(train.count, (8 - 5 + 1) + (12 - 5 + 1))
        let test = try KTHDataset(directory: path("kth"), split: .test, length: 5)
        XCTAssertEqual(test.count, 2)
        XCTAssertEqual(test.videos.map(\.person), [22])

        // Clip 4 + 6: past the 4 clips of person20, the 7th clip of person01 (written as video 0): files 07…11.
        let index = 4 + 6
        let clip = try train.clip(index)
        XCTAssertEqual(clip.video, 1)
        XCTAssertEqual(clip.start, 6)
        let sequence = try train.sequence(index)
        XCTAssertEqual(sequence.count, 5 * 4096)
        for t in 0..<5 {
            XCTAssertEqual(Array(sequence[t * 4096..<(t + 1) * 4096]), Array(frame(video: 0, index: 7 + t, channels: 3).pixels[0..<4096]), "frame \(t)")
        }
        // Numeric order beyond 9: frame 10 follows 9.
        XCTAssertTrue(train.videos[1].frames[9].hasSuffix("image-10_64x64.png"))

        let batch = try train.batch(indices: [0, index])
        XCTAssertEqual(batch.count, 5 * 2 * 4096)
        XCTAssertEqual(Array(batch[(3 * 2 + 1) * 4096..<(3 * 2 + 2) * 4096]), Array(sequence[3 * 4096..<4 * 4096]))
        XCTAssertEqual(Array(batch[(3 * 2) * 4096..<(3 * 2 + 1) * 4096]), Array(try train.sequence(0)[3 * 4096..<4 * 4096]))
        assertThrowsMentioning(path("kth"), try train.sequence(train.count), "sequence \(train.count)")
    }

    func testKTHErrors() throws {
        assertThrowsMentioning(path("missing"), try KTHDataset(directory: path("missing"), split: .train, length: 3), "no such")
        _ = try makeFolder("empty")
        assertThrowsMentioning(path("empty"), try KTHDataset(directory: path("empty"), split: .train, length: 3), "no KTH videos")
        let noFrames = try makeFolder("noframes/running/person03_running_d1")
        assertThrowsMentioning(noFrames, try KTHDataset(directory: path("noframes"), split: .train, length: 3), "without frames")
        let badName = try makeFolder("badname/running/video7")
        assertThrowsMentioning(badName, try KTHDataset(directory: path("badname"), split: .train, length: 3), "person")
        try writeKTH("short", videos: [("jogging", "person02_jogging_d1", 4)])
        assertThrowsMentioning(
            path("short/jogging/person02_jogging_d1"),
            try KTHDataset(directory: path("short"), split: .train, length: 5), "too short")

        try writeKTH("wrongsize", videos: [("jogging", "person02_jogging_d1", 4)])
        let small = path("wrongsize/jogging/person02_jogging_d1/image-02_64x64.png")
        try writePNG(small, Image(channels: 1, height: 32, width: 64))
        let wrongSize = try KTHDataset(directory: path("wrongsize"), split: .train, length: 3)
        assertThrowsMentioning(small, try wrongSize.sequence(0), "64×32")
        try Data("corrupt".utf8).write(to: URL(fileURLWithPath: small))
        assertThrowsMentioning(small, try wrongSize.sequence(0), "PNG")
    }

    func testBAIRReadsRGBSequences() throws {
        for (traj, n) in [("traj_0_to_255", 0), ("traj_0_to_255", 1), ("traj_256_to_511", 0)] {
            let dir = try makeFolder("bair/processed_data/train/\(traj)/\(n)")
            for i in 0..<4 { try writePNG(dir + "/\(i).png", frame(video: n + (traj.contains("256") ? 10 : 0), index: i, channels: 3)) }
        }
        let bair = try BAIRDataset(directory: path("bair"), split: .train, length: 3)
        XCTAssertEqual(bair.count, 3)
        XCTAssertEqual(bair.channels, 3)
        let sequence = try bair.sequence(2)
        XCTAssertEqual(sequence.count, 3 * 3 * 4096)
        for t in 0..<3 {
            XCTAssertEqual(Array(sequence[t * 12288..<(t + 1) * 12288]), frame(video: 10, index: t, channels: 3).pixels, "frame \(t)")
        }
        let batch = try bair.batch(indices: [2, 0])
        XCTAssertEqual(Array(batch[(1 * 2) * 12288..<(1 * 2 + 1) * 12288]), Array(sequence[12288..<2 * 12288]))

        assertThrowsMentioning(path("bair/processed_data/test"), try BAIRDataset(directory: path("bair"), split: .test, length: 3), "no such")
        assertThrowsMentioning(
            path("bair/processed_data/train/traj_0_to_255/0"),
            try BAIRDataset(directory: path("bair"), split: .train, length: 5), "too short")
        let gray = path("bair/processed_data/train/traj_0_to_255/1/1.png")
        try writePNG(gray, Image(channels: 1, height: 64, width: 64))
        assertThrowsMentioning(gray, try bair.sequence(1), "RGB")
        let empty = try makeFolder("bair/processed_data/train/traj_512_to_767/0")
        assertThrowsMentioning(empty, try BAIRDataset(directory: path("bair"), split: .train, length: 3), "without frames")
    }

    func testNPYDatasetLayouts() throws {
        var rng = TestRNG(33)
        // 4-D (T, N, H, W) uint8, as mnist_test_seq.npy.
        let (T, N) = (4, 3)
        let tnhw = (0..<(T * N * 4096)).map { _ in rng.byte() }
        try NPY.writeUInt8(path("tnhw.npy"), shape: [T, N, 64, 64], bytes: tnhw)
        let a = try NPYDataset(path: path("tnhw.npy"), length: 3)
        XCTAssertEqual([a.count, a.channels, a.length], [3, 1, 3])
        let s = try a.sequence(1)
        for t in 0..<3 {
            for p in stride(from: 0, to: 4096, by: 97) {
                XCTAssertEqual(s[t * 4096 + p], Float(tnhw[(t * N + 1) * 4096 + p]) / 255)
            }
        }
        // The same values stored (N, T, H, W) give the same sequences.
        var nthw = [Float](repeating: 0, count: tnhw.count)
        for t in 0..<T { for n in 0..<N { for p in 0..<4096 { nthw[(n * T + t) * 4096 + p] = Float(tnhw[(t * N + n) * 4096 + p]) / 255 } } }
        try NPY.write(path("nthw.npy"), shape: [N, T, 64, 64], values: nthw)
        let b = try NPYDataset(path: path("nthw.npy"), layout: .nthw, length: 3)
        XCTAssertEqual(try b.sequence(1), s)
        XCTAssertEqual(try b.batch(indices: [0, 1, 2]), try a.batch(indices: [0, 1, 2]))

        // 5-D (N, T, H, W, C) float32 and (N, T, C, H, W) agree.
        let C = 3
        let ntchw = (0..<(2 * 2 * C * 4096)).map { _ in Float(rng.byte()) / 255 }
        var nthwc = [Float](repeating: 0, count: ntchw.count)
        for n in 0..<2 {
            for t in 0..<2 {
                for c in 0..<C {
                    for p in 0..<4096 {
                        nthwc[((n * 2 + t) * 4096 + p) * C + c] = ntchw[((n * 2 + t) * C + c) * 4096 + p]
                    }
                }
            }
        }
        try NPY.write(path("ntchw.npy"), shape: [2, 2, C, 64, 64], values: ntchw)
        try NPY.write(path("nthwc.npy"), shape: [2, 2, 64, 64, C], values: nthwc)
        let c5 = try NPYDataset(path: path("nthwc.npy"))
        let d5 = try NPYDataset(path: path("ntchw.npy"), layout: .ntchw)
        XCTAssertEqual([c5.count, c5.channels, c5.length], [2, 3, 2])
        XCTAssertEqual(try c5.sequence(1), Array(ntchw[2 * C * 4096..<4 * C * 4096]))
        XCTAssertEqual(try d5.sequence(1), try c5.sequence(1))
    }

    func testNPYDatasetErrors() throws {
        let file = path("bad.npy")
        assertThrowsMentioning(file, try NPYDataset(path: file), "no such")
        try NPY.writeUInt8(file, shape: [2, 64, 64], bytes: [UInt8](repeating: 0, count: 2 * 4096))
        assertThrowsMentioning(file, try NPYDataset(path: file), "rank 3")
        try NPY.writeUInt8(file, shape: [2, 1, 32, 32], bytes: [UInt8](repeating: 0, count: 2 * 1024))
        assertThrowsMentioning(file, try NPYDataset(path: file), "32×32")
        try NPY.writeUInt8(file, shape: [2, 1, 64, 64, 2], bytes: [UInt8](repeating: 0, count: 4 * 4096))
        assertThrowsMentioning(file, try NPYDataset(path: file), "2 channels")
        try NPY.writeUInt8(file, shape: [2, 1, 64, 64], bytes: [UInt8](repeating: 0, count: 2 * 4096))
        assertThrowsMentioning(file, try NPYDataset(path: file, length: 3), "too short")
        var values = [Float](repeating: 0.5, count: 2 * 4096)
        values[4096 + 17] = 2
        try NPY.write(file, shape: [1, 2, 64, 64], values: values)
        let outside = try NPYDataset(path: file, layout: .nthw)
        assertThrowsMentioning(file, try outside.sequence(0), "outside [0, 1]")
        var dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 1, 64, 64), }"
        dict += String(repeating: " ", count: 128 - 10 - dict.utf8.count - 1) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dict.utf8.count), 0])
        data.append(contentsOf: Array(dict.utf8) + [UInt8](repeating: 0, count: 4 * 4096))
        try data.write(to: URL(fileURLWithPath: file))
        assertThrowsMentioning(file, try NPYDataset(path: file), "<i4")
    }
}
