// safetensors checkpoints: round trip, and every kind of bad file is a clear error, never a crash.
import Foundation
import XCTest
@testable import SVGNet
import Kernels

func temporaryDirectory() -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("svgnet-tests-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

final class CheckpointTests: XCTestCase {
    func testRoundTripPreservesEveryTensorAndTheConfiguration() throws {
        let config = smallConfig {
            $0.groups = 2; $0.alignerLevels = [1, 3]; $0.alignerValue = .decoder
        }
        let a = try Trainer(config: config, seed: 1)
        let x = movingSquares(config, seed: 2)
        x.withUnsafeBufferPointer { _ = a.step($0.baseAddress!) } // running statistics move too
        let path = temporaryDirectory() + "/model.safetensors"
        try a.saveModel(to: path)
        let file = try SafetensorsFile.read(from: path)
        XCTAssertEqual(try ModelConfiguration(metadata: file.metadata), config)
        let b = try Trainer(config: config, seed: 99)
        try b.loadModel(from: path)
        for e in a.layout.entries { XCTAssertEqual(a.parameter(e.spec.name), b.parameter(e.spec.name), e.spec.name) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(path).tmp-\(getpid())"), "temporary file left behind")
    }

    func testCheckpointResumesExactly() throws {
        let config = smallConfig()
        let x = movingSquares(config, seed: 2)
        let dir = temporaryDirectory()
        let straight = try Trainer(config: config, seed: 7)
        x.withUnsafeBufferPointer { p in for _ in 0..<4 { _ = straight.step(p.baseAddress!) } }

        let first = try Trainer(config: config, seed: 7)
        x.withUnsafeBufferPointer { p in for _ in 0..<2 { _ = first.step(p.baseAddress!) } }
        try first.saveCheckpoint(to: dir + "/checkpoint.safetensors")
        let resumed = try Trainer(config: config, seed: 12345)
        try resumed.loadCheckpoint(try SafetensorsFile.read(from: dir + "/checkpoint.safetensors"), path: dir + "/checkpoint.safetensors")
        x.withUnsafeBufferPointer { p in for _ in 0..<2 { _ = resumed.step(p.baseAddress!) } }
        for e in straight.layout.entries {
            XCTAssertEqual(straight.parameter(e.spec.name), resumed.parameter(e.spec.name), "\(e.spec.name) differs after resume")
        }
    }

    func expectError(_ path: String, contains fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        let trainer = try! Trainer(config: smallConfig(), seed: 1)
        do {
            try trainer.loadModel(from: path)
            XCTFail("loading \(path) should fail", file: file, line: line)
        } catch {
            XCTAssertTrue("\(error)".contains(fragment), "error '\(error)' should mention '\(fragment)'", file: file, line: line)
            XCTAssertTrue("\(error)".contains(path), "error '\(error)' should name the file", file: file, line: line)
        }
    }

    /// A tensor whose shape multiplies past Int (the fuzz target's defect class) is a parse error, not a trap.
    func testShapeThatOverflowsIsAnError() {
        let header = #"{"x":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,0]}}"#
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        XCTAssertThrowsError(try SafetensorsFile.parse(data, path: "big.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("more elements than any file holds"), "\(error)")
        }
    }

    func testBadFilesAreErrorsNamingTheProblem() throws {
        let dir = temporaryDirectory()
        let good = dir + "/good.safetensors"
        let trainer = try Trainer(config: smallConfig(), seed: 1)
        try trainer.saveModel(to: good)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))

        expectError(dir + "/missing.safetensors", contains: "no such file")
        for cut in [0, 5, 8, 100, bytes.count / 2, bytes.count - 1] {
            let p = dir + "/truncated-\(cut).safetensors"
            try bytes.prefix(cut).write(to: URL(fileURLWithPath: p))
            expectError(p, contains: cut < 8 ? "truncated" : (cut < 200 ? "header" : "truncated"))
        }
        var garbage = bytes
        for i in 8..<40 { garbage[i] = 0x7B } // '{' over the JSON
        try garbage.write(to: URL(fileURLWithPath: dir + "/garbage.safetensors"))
        expectError(dir + "/garbage.safetensors", contains: "not a JSON object")

        var file = try SafetensorsFile.read(from: good)
        file.tensors["encoder.c1.main.0.weight"]!.shape = [4, 1, 2, 8]
        try file.write(to: dir + "/shape.safetensors")
        expectError(dir + "/shape.safetensors", contains: "encoder.c1.main.0.weight has shape [4, 1, 2, 8]")

        file = try SafetensorsFile.read(from: good)
        file.tensors["decoder.upc3.main.1.bias"] = nil
        try file.write(to: dir + "/missing-tensor.safetensors")
        expectError(dir + "/missing-tensor.safetensors", contains: "missing tensor decoder.upc3.main.1.bias")

        file = try SafetensorsFile.read(from: good)
        file.tensors["decoder.al.0.q.weight"] = .init(dtype: "F32", shape: [1], values: [0])
        try file.write(to: dir + "/extra.safetensors")
        expectError(dir + "/extra.safetensors", contains: "unexpected tensor decoder.al.0.q.weight")

        // num_batches_tracked is optional and ignored (MODEL.md "Checkpoints").
        file = try SafetensorsFile.read(from: good)
        file.tensors["encoder.c1.main.1.num_batches_tracked"] = .init(dtype: "F32", shape: [], values: [3])
        try file.write(to: dir + "/nbt.safetensors")
        XCTAssertNoThrow(try trainer.loadModel(from: dir + "/nbt.safetensors"))
    }

    private func writeOneTensorFile(_ path: String, dtype: String, shape: [Int], bytes: [UInt8]) throws {
        let header = #"{"w":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":[0,\#(bytes.count)]}}"#
        var data = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(header.data(using: .utf8)!)
        data.append(contentsOf: bytes)
        try data.write(to: URL(fileURLWithPath: path))
    }

    func testOtherDtypesAreRejectedByName() throws {
        let dir = temporaryDirectory()
        try writeOneTensorFile(dir + "/bf16.safetensors", dtype: "BF16", shape: [2], bytes: [0, 0, 0, 0])
        XCTAssertThrowsError(try SafetensorsFile.read(from: dir + "/bf16.safetensors")) {
            XCTAssertTrue("\($0)".contains("dtype BF16"), "\($0)")
        }
    }

    /// F16 as the format defines it (IEEE binary16, little-endian), written byte by byte: 1, −2, the
    /// smallest subnormal 2⁻²⁴, 65504 (the largest finite) and 0.333 rounded (0x3555 = 0.33325195…).
    func testF16IsReadFromItsWireFormat() throws {
        let dir = temporaryDirectory()
        try writeOneTensorFile(
            dir + "/f16.safetensors", dtype: "F16", shape: [5],
            bytes: [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0xFF, 0x7B, 0x55, 0x35])
        let t = try XCTUnwrap(try SafetensorsFile.read(from: dir + "/f16.safetensors").tensors["w"])
        XCTAssertEqual(t.dtype, "F16")
        XCTAssertEqual(t.values, [1, -2, 0x1p-24, 65504, 0.333251953125])
        try writeOneTensorFile(dir + "/short.safetensors", dtype: "F16", shape: [3], bytes: [0, 0, 0, 0])
        XCTAssertThrowsError(try SafetensorsFile.read(from: dir + "/short.safetensors")) {
            XCTAssertTrue("\($0)".contains("holds 4 bytes, expected 6"), "\($0)")
        }
    }
}
