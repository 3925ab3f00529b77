// The checkpoint format proven the other way: a checkpoint written by this engine, with a generation
// rollout it recorded, loads into the PyTorch reference and reproduces the rollout there:
//   SVGNET_WRITE_SWIFT_CHECKPOINT=1 swift test --filter SwiftCheckpointTests     (rewrites the file)
//   python3 Tests/Fixtures/make_fixtures.py --check-swift Tests/Fixtures/swift-checkpoint.safetensors
// In CI (no PyTorch) the committed file must still load here and reproduce its recorded rollout.
import Foundation
import XCTest
@testable import SVGNet
import Kernels

final class SwiftCheckpointTests: XCTestCase {
    let path = fixtureDirectory.appendingPathComponent("swift-checkpoint.safetensors").path

    func rollout(_ generator: Generator, x: [Float], eps: [Float]) -> [Float] {
        let c = generator.config, M = generator.samples * c.batch, d = c.groupDim
        generator.drawNoise = false
        for s in 0..<(c.frameCount - 1) {
            for j in 0..<c.groups {
                eps.withUnsafeBufferPointer { generator.noise(step: s, group: j).update(from: $0.baseAddress! + (s * c.groups + j) * M * d, count: M * d) }
            }
        }
        let n = c.batch * generator.samples * c.nFuture * c.channels * 4096
        return x.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: generator.generate($0.baseAddress!), count: n)) }
    }

    func testWriteOrVerifySwiftCheckpoint() throws {
        if ProcessInfo.processInfo.environment["SVGNET_WRITE_SWIFT_CHECKPOINT"] != nil {
            let config = smallConfig {
                $0.groups = 2; $0.alignerLevels = [0, 2, 3]; $0.channels = 3; $0.batch = 3
            }
            let trainer = try Trainer(config: config, seed: 21)
            let x = movingSquares(config, seed: 22)
            x.withUnsafeBufferPointer { p in for _ in 0..<3 { _ = trainer.step(p.baseAddress!) } } // weights and running stats move
            let generator = try Generator(config: config, samples: 2, seed: 23)
            generator.loadParameters(from: trainer)
            var rng = RandomGenerator(seed: 24)
            let M = 2 * config.batch
            var eps = [Float](repeating: 0, count: (config.frameCount - 1) * config.groups * M * config.groupDim)
            eps.withUnsafeMutableBufferPointer { rng.fillNormal($0.baseAddress!, count: $0.count) }
            let out = rollout(generator, x: x, eps: eps)
            var file = trainer.layout.export(arena: trainer.arena, metadata: config.metadata)
            file.metadata["gen_samples"] = "2"
            let past = Array(x.prefix(config.nPast * config.batch * config.channels * 4096))
            file.tensors["gen.x"] = .init(dtype: "F32", shape: [config.nPast, config.batch, config.channels, 64, 64], values: past)
            file.tensors["gen.eps"] = .init(dtype: "F32", shape: [config.frameCount - 1, config.groups, M, config.groupDim], values: eps)
            file.tensors["gen.out"] = .init(dtype: "F32", shape: [config.batch, 2, config.nFuture, config.channels, 64, 64], values: out)
            try file.write(to: path)
        }
        let file = try SafetensorsFile.read(from: path)
        let config = try ModelConfiguration(metadata: file.metadata)
        let samples = Int(file.metadata["gen_samples"]!)!
        var weights = file
        for k in file.names where k.hasPrefix("gen.") { weights.tensors[k] = nil }
        let generator = try Generator(config: config, samples: samples, seed: 0)
        try generator.loadModel(weights, path: path)
        let out = rollout(generator, x: file.tensors["gen.x"]!.values, eps: file.tensors["gen.eps"]!.values)
        // Same code and inputs; only OpenBLAS's choice of kernel for this CPU may change the rounding
        // (frames in [0, 1], ~1e-7 per op): a wrong weight or layout is off by ≥ 1e-2.
        let want = file.tensors["gen.out"]!.values
        let maxError = zip(out, want).map { abs(Double($0) - Double($1)) }.max()!
        XCTAssertLessThanOrEqual(maxError, 1e-5, "rollout from the committed Swift checkpoint differs by \(maxError)")
    }
}
