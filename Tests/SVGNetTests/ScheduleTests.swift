// The static schedule: no heap allocation per step, training makes progress, configurations are checked.
import Foundation
import XCTest
@testable import SVGNet
import Kernels
import CHeapStats

/// Heap allocations (malloc, calloc, realloc, aligned) made by the whole process so far, less those that
/// OpenBLAS made itself while svgnet_classify_allocations was on.
func allocationCount() -> Int { Int(svgnet_allocation_count()) - Int(svgnet_blas_allocation_count()) }

func smallConfig(_ edit: (inout ModelConfiguration) -> Void = { _ in }) -> ModelConfiguration {
    var c = ModelConfiguration()
    c.nf = 4; c.gDim = 16; c.rnnSize = 24; c.zDim = 4; c.groups = 1
    c.nPast = 3; c.nFuture = 2; c.batch = 2; c.beta = 1e-4
    edit(&c)
    return c
}

/// (frames, frames per chunk) of every transposed Winograd block of a trainer's plan.
func transposedWinogradChunks(_ t: Trainer) -> [(frames: Int, chunk: Int)] {
    let blocks = t.plan.convLayers.map(\.conv) + t.plan.decoder.skips.flatMap { [$0.sourceBlock] + ($0.alignedBlock.map { [$0] } ?? []) }
    return blocks.compactMap { if case .transposedWinograd(let g) = $0.kernel { (g.frames, $0.chunkFrames) } else { nil } }
}

/// Blobs moving across a dark canvas, time-major (T, B, C, 64, 64).
func movingSquares(_ c: ModelConfiguration, seed: UInt64) -> [Float] {
    var rng = RandomGenerator(seed: seed)
    let T = c.frameCount, B = c.batch, C = c.channels
    var x = [Float](repeating: 0, count: T * B * C * 4096)
    for b in 0..<B {
        let y0 = rng.uniformInt(4...36), x0 = rng.uniformInt(4...36), vy = rng.uniformInt(-3...3), vx = rng.uniformInt(-3...3)
        for t in 0..<T {
            let py = min(max(y0 + vy * t, 0), 48), px = min(max(x0 + vx * t, 0), 48)
            for ch in 0..<C { for i in py..<(py + 16) { for j in px..<(px + 16) { x[(((t * B + b) * C + ch) * 64 + i) * 64 + j] = 1 } } }
        }
    }
    return x
}

final class ScheduleTests: XCTestCase {
    /// After the first step (which may touch lazily created OpenBLAS buffers), further training and
    /// generation steps must not grow the heap: every buffer lives in the arena planned at init.
    ///
    /// Allocations made inside OpenBLAS are not the schedule's and are left out (CHeapStats attributes
    /// each to its caller): its threaded driver (0.3.21, pthreads build) mallocs a job array in every
    /// multi-threaded sgemm call, and on AVX-512 cores without OPENBLAS_CORETYPE pinned, its small-matrix
    /// kernel mallocs in every call it serves (96–144 in 3 training steps of the small models here). OpenBLAS also runs on
    /// one thread here, so that the threaded driver's bookkeeping does not go through libc on the way.
    func testStepsAllocateNothing() throws {
        let threads = blasThreadCount()
        setBLASThreadCount(1)
        defer { setBLASThreadCount(threads) }
        // The small widths keep the automatic choice on the direct path; the Winograd path (stack rows in
        // its transforms) runs where the shape allows in the second and fourth cases.
        let haf = smallConfig {
            $0.groups = 2; $0.alignerLevels = [0, 1, 2, 3]
        }
        // The VGG cases with a bounded budget keep no col, no transformed input and no attention maps: the
        // chunked convs (direct and F(2×2, 3×3)) and the recomputed maps run from the arena too.
        let vgg = smallConfig {
            $0.backbone = .vgg64; $0.channels = 3; $0.alignerLevels = [1]
        }
        for (config, convolution, memory) in [
            (smallConfig(), ConvolutionAlgorithm.automatic, MemoryBudget()), (smallConfig(), .winogradWhereShapeAllows, MemoryBudget()),
            (haf, .automatic, MemoryBudget()), (haf, .winogradWhereShapeAllows, MemoryBudget()), (vgg, .automatic, MemoryBudget()),
            (vgg, .automatic, MemoryBudget(cachedColumns: 0, columnWorkspace: 1 << 16, cachedAttention: 0)),
            (vgg, .winogradWhereShapeAllows, MemoryBudget()),
            (vgg, .winogradWhereShapeAllows, MemoryBudget(cachedColumns: 0, columnWorkspace: 1 << 16, cachedAttention: 0))
        ] {
            let trainer = try Trainer(config: config, seed: 3, memory: memory, convolution: convolution)
            let x = movingSquares(config, seed: 4)
            let generator = try Generator(config: config, samples: 2, seed: 5, convolution: convolution)
            x.withUnsafeBufferPointer { p in
                _ = trainer.step(p.baseAddress!)
                generator.loadParameters(from: trainer)
                _ = generator.generate(p.baseAddress!)
                svgnet_classify_allocations(1)
                defer { svgnet_classify_allocations(0) }
                // The counter itself must work, or this test could not fail.
                let probe = allocationCount()
                let box = UnsafeMutablePointer<Float>.allocate(capacity: 1); box.deallocate()
                XCTAssertGreaterThan(allocationCount(), probe, "the allocation counter does not see allocations")

                var training = 0, generation = 0
                for _ in 0..<3 {
                    let t0 = allocationCount()
                    _ = trainer.step(p.baseAddress!)
                    let t1 = allocationCount()
                    _ = generator.generate(p.baseAddress!)
                    let t2 = allocationCount()
                    training += t1 - t0; generation += t2 - t1
                }
                XCTAssertEqual(
                    training, 0,
                    "\(config.modelName) \(config.backbone) \(convolution) \(memory): \(training) heap allocations in 3 training steps (arena \(trainer.arenaBytes) bytes)"
                )
                XCTAssertEqual(
                    generation, 0,
                    "\(config.modelName) \(config.backbone) \(convolution): \(generation) heap allocations in 3 generation rollouts (arena \(generator.arenaBytes) bytes)"
                )
            }
        }
    }

    /// On one fixed small batch the loss must fall by at least half within a few hundred steps.
    func testLossFallsOnAFixedBatch() throws {
        let config = smallConfig {
            $0.groups = 2; $0.alignerLevels = [0, 1]
        }
        let trainer = try Trainer(config: config, seed: 11)
        let x = movingSquares(config, seed: 12)
        var first = 0.0, last = 0.0
        x.withUnsafeBufferPointer { p in
            for s in 0..<150 {
                let l = trainer.step(p.baseAddress!)
                XCTAssertTrue(l.loss.isFinite)
                if s == 0 { first = l.loss }
                last = l.loss
            }
        }
        XCTAssertLessThanOrEqual(last, first / 2, "loss went from \(first) to \(last) in 150 steps")
    }

    /// Keeping im2col results (or the Winograd path's transformed input) from forward, the default, and
    /// recomputing them in backward are the same computation: the gradients must agree bit for bit, which
    /// also keeps the recompute paths tested.
    func testCachedAndRecomputedIm2colGiveIdenticalGradients() throws {
        for (config, convolution) in [
            (smallConfig(), ConvolutionAlgorithm.automatic), (smallConfig(), .winogradWhereShapeAllows),
            (
                smallConfig {
                    $0.backbone = .vgg64; $0.alignerLevels = [2]
                }, .automatic
            )
        ] {
            // MemoryBudget() caches on both backbones (VGG-64's own default keeps nothing: MemoryBudget.defaults(for:)).
            let cached = try Trainer(config: config, seed: 5, memory: MemoryBudget(), convolution: convolution)
            let recomputed = try Trainer(config: config, seed: 5, memory: MemoryBudget(cachedColumns: 0), convolution: convolution)
            XCTAssertLessThan(recomputed.arenaBytes, cached.arenaBytes, "the default budget should cache something")
            // The model's own default: DCGAN-64 keeps its columns; VGG-64 keeps neither columns nor attention maps.
            let ownDefault = try Trainer(config: config, seed: 5, convolution: convolution)
            let keepsNothing = try Trainer(config: config, seed: 5, memory: MemoryBudget(cachedColumns: 0, cachedAttention: 0), convolution: convolution)
            XCTAssertEqual(ownDefault.arenaBytes, config.backbone == .vgg64 ? keepsNothing.arenaBytes : cached.arenaBytes, "the model's own default budget")
            if config.backbone == .vgg64 {
                XCTAssertLessThan(keepsNothing.arenaBytes, recomputed.arenaBytes, "the generic budget should keep VGG-64's attention maps")
            }
            let x = movingSquares(config, seed: 6)
            let (a, b) = x.withUnsafeBufferPointer { (cached.forwardAndBackward($0.baseAddress!), recomputed.forwardAndBackward($0.baseAddress!)) }
            XCTAssertEqual(a, b)
            for e in cached.layout.entries where e.spec.trainable {
                XCTAssertEqual(cached.gradient(e.spec.name), recomputed.gradient(e.spec.name), "\(config.backbone) \(convolution) \(e.spec.name)")
            }
        }
    }

    /// A bounded col (direct convs in chunks of frames, nothing cached) and no kept attention maps (each
    /// frame's map recomputed in the backward) change where the step's numbers are held, not what they are.
    /// The recomputed maps are the forward's own products, so without kept maps the step is the same bit for
    /// bit. The chunked GEMMs round differently from the whole ones, so with chunks (of seven frames here)
    /// every gradient must agree to 1e-5 relative in norm (measured: under 1e-6), except those whose exact
    /// value is zero (zeroGradientTensors), which are rounding noise either way. With one-frame chunks the
    /// conv weights' gradients, sums that BatchNorm makes cancel, moved by up to 4e-4 relative in a probe, so
    /// that case rests on the kernel tests' Double references. A misplaced chunk is off by O(1).
    func testChunkedColumnsAndRecomputedAttentionGiveTheSameStep() throws {
        let config = smallConfig {
            $0.backbone = .vgg64; $0.groups = 2; $0.alignerLevels = [1, 2]; $0.batch = 4
        }
        let whole = try Trainer(config: config, seed: 5, memory: MemoryBudget(cachedColumns: 0))
        let recomputed = try Trainer(config: config, seed: 5, memory: MemoryBudget(cachedColumns: 0, cachedAttention: 0))
        let chunked = try Trainer(config: config, seed: 5, memory: MemoryBudget(cachedColumns: 0, columnWorkspace: 1 << 20))
        XCTAssertTrue(whole.plan.decoder.skips.compactMap(\.aligner).allSatisfy(\.keepsAttention))
        XCTAssertFalse(recomputed.plan.decoder.skips.compactMap(\.aligner).contains(where: \.keepsAttention))
        func chunks(_ layers: [ConvLayerPlan]) -> Bool { layers.contains { $0.conv.chunkFrames < $0.frames && $0.conv.chunkFrames > 1 } }
        XCTAssertTrue(chunks(chunked.plan.encoder.layers.compactMap { if case .conv(let l) = $0 { l } else { nil } }), "no encoder layer chunks")
        XCTAssertTrue(chunks(chunked.plan.convLayers), "no layer chunks")
        XCTAssertFalse(chunks(whole.plan.convLayers))
        XCTAssertLessThan(recomputed.arenaBytes, whole.arenaBytes)
        XCTAssertLessThan(chunked.arenaBytes, whole.arenaBytes)
        let x = movingSquares(config, seed: 6)
        let (a, b, c) = x.withUnsafeBufferPointer {
            (whole.forwardAndBackward($0.baseAddress!), recomputed.forwardAndBackward($0.baseAddress!), chunked.forwardAndBackward($0.baseAddress!))
        }
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.mse, c.mse, accuracy: 1e-6 * a.mse)
        XCTAssertEqual(a.kld, c.kld, accuracy: 1e-6 * a.kld)
        let zero = zeroGradientTensors(whole.network)
        for e in whole.layout.entries where e.spec.trainable {
            XCTAssertEqual(recomputed.gradient(e.spec.name), whole.gradient(e.spec.name), "recomputed maps: \(e.spec.name)")
            guard !zero.contains(e.spec.name) else { continue }
            let err = relativeNormError(chunked.gradient(e.spec.name), whole.gradient(e.spec.name))
            XCTAssertLessThanOrEqual(err, 1e-5, "chunks: \(e.spec.name): relative error \(err) in norm")
        }
    }

    /// A generator that keeps one frame's attention map at a time computes what one keeping every frame's
    /// computes: the same products frame by frame, so the predictions agree bit for bit (values from the
    /// source and from the decoder), in a smaller arena.
    func testGenerationWithOneMapAtATimeGivesTheSamePredictions() throws {
        for config in [
            smallConfig {
                $0.groups = 2; $0.alignerLevels = [1, 2]
            },
            smallConfig {
                $0.backbone = .vgg64; $0.alignerLevels = [1]; $0.alignerValue = .decoder
            }
        ] {
            let trainer = try Trainer(config: config, seed: 3)
            let x = movingSquares(config, seed: 4)
            let kept = try Generator(config: config, samples: 3, seed: 5, keepsAttentionMaps: true)
            let oneAtATime = try Generator(config: config, samples: 3, seed: 5)
            XCTAssertTrue(kept.plan.decoder.skips.compactMap(\.aligner).allSatisfy(\.keepsAttention))
            XCTAssertFalse(oneAtATime.plan.decoder.skips.compactMap(\.aligner).contains(where: \.keepsAttention))
            XCTAssertLessThan(oneAtATime.arenaBytes, kept.arenaBytes)
            let count = config.batch * 3 * config.nFuture * config.channels * 4096
            let (a, b): ([Float], [Float]) = x.withUnsafeBufferPointer { p in
                _ = trainer.step(p.baseAddress!)
                kept.loadParameters(from: trainer); oneAtATime.loadParameters(from: trainer)
                return (
                    Array(UnsafeBufferPointer(start: kept.generate(p.baseAddress!), count: count)),
                    Array(UnsafeBufferPointer(start: oneAtATime.generate(p.baseAddress!), count: count))
                )
            }
            XCTAssertEqual(a, b, "\(config.modelName)")
            XCTAssertGreaterThan(a.map(abs).max() ?? 0, 0)
        }
    }

    /// The layers' gradients taking turns in two shared buffers (GradientChain.swift) change where they live,
    /// not what they are: the same operations on the same values, so the losses and every parameter gradient
    /// equal those of the plan with a buffer per layer bit for bit, and so do the next steps' losses. The
    /// configurations cover max-pools (VGG-64), upsampling, skip layers with aligners writing the decoder's
    /// map gradient (values from the decoder too), and the two chains meeting in the same buffers; every conv
    /// path writes its input gradient into a shared link: direct, direct in chunks of frames, F(2×2, 2×2),
    /// transposed F(2×2, 2×2) whole and in chunks, F(2×2, 3×3). A link aliased with its neighbour is off by O(1).
    func testSharedGradientBuffersGiveTheSameSteps() throws {
        let chunked = MemoryBudget(columnWorkspace: 1 << 16, transposedWinogradWorkspace: 1 << 15)
        let cases: [(ModelConfiguration, ConvolutionAlgorithm, MemoryBudget)] = [
            (smallConfig(), .automatic, MemoryBudget()),
            (
                smallConfig {
                    $0.groups = 2; $0.alignerLevels = [0, 2, 3]
                }, .winogradWhereShapeAllows, MemoryBudget()
            ),
            (
                smallConfig {
                    $0.alignerLevels = [1, 3]; $0.alignerValue = .decoder
                }, .winogradWhereShapeAllows, chunked
            ),
            (
                smallConfig {
                    $0.backbone = .vgg64; $0.groups = 2; $0.alignerLevels = [1, 2]
                }, .automatic, MemoryBudget()
            ),
            (
                smallConfig {
                    $0.backbone = .vgg64; $0.alignerLevels = [2]
                }, .winogradWhereShapeAllows, chunked
            )
        ]
        for (config, convolution, memory) in cases {
            var unshared = memory
            unshared.sharesGradients = false
            let separate = try Trainer(config: config, seed: 5, memory: unshared, convolution: convolution)
            let shared = try Trainer(config: config, seed: 5, memory: memory, convolution: convolution)
            if memory == chunked && config.backbone == .dcgan64 {
                XCTAssertTrue(transposedWinogradChunks(shared).contains { $0.chunk < $0.frames }, "no transposed block runs in chunks")
            }
            XCTAssertLessThan(shared.arenaBytes, separate.arenaBytes, "\(config.backbone) \(config.alignerLevels)")
            let x = movingSquares(config, seed: 6)
            let (a, b) = x.withUnsafeBufferPointer { (separate.forwardAndBackward($0.baseAddress!), shared.forwardAndBackward($0.baseAddress!)) }
            XCTAssertEqual(a, b, "\(config.backbone) \(config.alignerLevels)")
            for e in separate.layout.entries where e.spec.trainable {
                XCTAssertEqual(shared.gradient(e.spec.name), separate.gradient(e.spec.name), "\(config.backbone) \(config.alignerLevels): \(e.spec.name)")
            }
            for _ in 0..<2 {
                let (a, b) = x.withUnsafeBufferPointer { (separate.step($0.baseAddress!), shared.step($0.baseAddress!)) }
                XCTAssertEqual(a, b, "a later step, \(config.backbone) \(config.alignerLevels)")
            }
        }
    }

    /// Transposed F(2×2, 2×2) convs in chunks of frames (MemoryBudget.transposedWinogradWorkspace: the decoder's
    /// [d], skip and Z blocks) give the step of one whole chunk. The forward's transforms and products are the
    /// same per frame; the weight gradients sum the chunks' products in another order, so they must agree to
    /// 1e-5 relative in norm, except those whose exact value is zero (zeroGradientTensors). A chunk read from
    /// or written to the wrong frames is off by O(1).
    func testTransposedWinogradChunksGiveTheSameStep() throws {
        let config = smallConfig {
            $0.groups = 2; $0.alignerLevels = [1, 2]; $0.batch = 3
        }
        let whole = try Trainer(config: config, seed: 5, convolution: .winogradWhereShapeAllows)
        let chunked = try Trainer(
            config: config, seed: 5, memory: MemoryBudget(transposedWinogradWorkspace: 1 << 15), convolution: .winogradWhereShapeAllows)
        let transposed = transposedWinogradChunks
        XCTAssertFalse(transposed(whole).isEmpty, "no block takes the transposed Winograd path")
        XCTAssertTrue(transposed(whole).allSatisfy { $0.chunk == $0.frames }, "the default plan should run these small blocks whole")
        XCTAssertTrue(transposed(chunked).contains { $0.chunk > 1 && $0.frames % $0.chunk != 0 }, "no block runs in chunks with a shorter last one")
        XCTAssertLessThan(chunked.arenaBytes, whole.arenaBytes)
        let x = movingSquares(config, seed: 6)
        let (a, c) = x.withUnsafeBufferPointer { (whole.forwardAndBackward($0.baseAddress!), chunked.forwardAndBackward($0.baseAddress!)) }
        XCTAssertEqual(a.mse, c.mse, accuracy: 1e-6 * a.mse)
        XCTAssertEqual(a.kld, c.kld, accuracy: 1e-6 * a.kld)
        let zero = zeroGradientTensors(whole.network)
        var worst = 0.0
        for e in whole.layout.entries where e.spec.trainable && !zero.contains(e.spec.name) {
            let err = relativeNormError(chunked.gradient(e.spec.name), whole.gradient(e.spec.name))
            worst = max(worst, err)
            XCTAssertLessThanOrEqual(err, 1e-5, "transposed Winograd chunks: \(e.spec.name): relative error \(err) in norm")
        }
        print("transposed Winograd chunks: worst relative gradient error \(worst)")
    }

    /// F(2×2, 3×3) in chunks of frames with each chunk's transformed input rebuilt in the backward gives the
    /// step of one chunk with it kept: the same losses to 1e-6 relative, and gradients to 1e-3 relative in
    /// norm. The chunks' GEMMs have a different N, so their results differ in the last bits, and at batch 4
    /// BatchNorm's backward amplifies that: the conv and BatchNorm gradients below it are small differences of
    /// large terms (measured: up to 2.8e-4 relative; the direct path's seven-frame chunks above happen to stay
    /// under 1e-5). A misplaced chunk or a stale transform is off by O(1), in the losses or the gradients.
    func testWinograd3x3ChunksGiveTheSameStep() throws {
        let config = smallConfig {
            $0.backbone = .vgg64; $0.groups = 2; $0.alignerLevels = [1]; $0.batch = 4
        }
        let kept = try Trainer(config: config, seed: 5, memory: MemoryBudget(), convolution: .winogradWhereShapeAllows)
        let chunked = try Trainer(
            config: config, seed: 5, memory: MemoryBudget(cachedColumns: 0, columnWorkspace: 1 << 20), convolution: .winogradWhereShapeAllows)
        // (geometry, kept) of every F(2×2, 3×3) block; the encoder's first (the plan keeps no decoder columns).
        func blocks(_ t: Trainer, encoderOnly: Bool = false) -> [(Winograd3x3Geometry, Bool)] {
            let layers = encoderOnly ? t.plan.encoder.layers.compactMap { if case .conv(let l) = $0 { l } else { nil } } : t.plan.convLayers
            return layers.compactMap { if case .winograd3x3(let g) = $0.conv.kernel { (g, $0.conv.cache.count > 0) } else { nil } }
        }
        XCTAssertFalse(blocks(kept, encoderOnly: true).isEmpty, "no encoder layer takes the F(2×2, 3×3) path")
        XCTAssertTrue(blocks(kept).allSatisfy { $0.0.chunkCount == 1 }, "the unbounded plan should run one whole chunk")
        XCTAssertTrue(blocks(kept, encoderOnly: true).allSatisfy(\.1), "the unbounded plan should keep the encoder's transformed inputs")
        XCTAssertTrue(blocks(chunked, encoderOnly: true).contains { $0.0.chunkCount > 1 && $0.0.chunkFrames > 1 && !$0.1 }, "no encoder layer runs in chunks")
        XCTAssertTrue(blocks(chunked).contains { $0.0.chunkCount > 1 && $0.0.chunkFrames > 1 }, "no layer runs in chunks")
        let x = movingSquares(config, seed: 6)
        let (a, c) = x.withUnsafeBufferPointer { (kept.forwardAndBackward($0.baseAddress!), chunked.forwardAndBackward($0.baseAddress!)) }
        XCTAssertEqual(a.mse, c.mse, accuracy: 1e-6 * a.mse)
        XCTAssertEqual(a.kld, c.kld, accuracy: 1e-6 * a.kld)
        let zero = zeroGradientTensors(kept.network)
        for e in kept.layout.entries where e.spec.trainable && !zero.contains(e.spec.name) {
            let err = relativeNormError(chunked.gradient(e.spec.name), kept.gradient(e.spec.name))
            XCTAssertLessThanOrEqual(err, 1e-3, "F(2×2, 3×3) chunks: \(e.spec.name): relative error \(err) in norm")
        }
    }

    /// The arena's breakdown by planning site (svgnet-bench --only memory) accounts for every float of the
    /// float block, and names the lines that plan the largest buffers.
    func testArenaBreakdownAccountsForTheFloatBlock() throws {
        let trainer = try Trainer(
            config: smallConfig {
                $0.alignerLevels = [0, 1]; $0.groups = 2
            }, seed: 1)
        XCTAssertEqual(trainer.arenaBySite.reduce(0) { $0 + $1.bytes }, 4 * trainer.arena.floatCount)
        XCTAssertEqual(trainer.arenaBySite.map(\.bytes), trainer.arenaBySite.map(\.bytes).sorted(by: >))
        XCTAssertTrue(trainer.arenaBySite.allSatisfy { $0.site.hasSuffix(".swift:\($0.site.split(separator: ":").last!)") && !$0.site.contains("/") })
        XCTAssertTrue(trainer.arenaBySite.contains { $0.site.hasPrefix("ConvLayer.swift:") }, "\(trainer.arenaBySite.map(\.site))")
    }

    func testInvalidConfigurationsAreRejected() {
        func message(_ edit: (inout ModelConfiguration) -> Void) -> String? {
            do { _ = try Network(smallConfig(edit)); return nil } catch { return "\(error)" }
        }
        XCTAssertEqual(message { $0.groups = 3 }, "groups G = 3 does not divide zDim = 4")
        XCTAssertEqual(message { $0.nPast = 1 }, "nPast must be at least 2 (the skip source is frame nPast−2), got 1")
        XCTAssertEqual(message { $0.batch = 0 }, "batch must be at least 1, got 0")
        XCTAssertEqual(message { $0.alignerLevels = [4] }, "aligner level 4 does not exist (levels are 0, 1, 2, 3)")
        XCTAssertEqual(message { $0.channels = 2 }, "channels must be 1 or 3, got 2")
        XCTAssertNil(message { $0.groups = 4 })
    }

    /// The parameter table carries the MODEL.md "Checkpoints" names with PyTorch shapes, and the paper's default widths
    /// give the expected parameter count for the encoder's first layer and the aligners.
    func testParameterNamesAndShapes() throws {
        var c = ModelConfiguration()
        c.alignerLevels = [0, 1, 2, 3]; c.groups = 2
        let net = try Network(c)
        let shapes = Dictionary(uniqueKeysWithValues: net.tensors.map { ($0.name, $0.shape) })
        XCTAssertEqual(shapes["encoder.c1.main.0.weight"], [64, 1, 4, 4])
        XCTAssertEqual(shapes["encoder.c1.main.1.running_var"], [64])
        XCTAssertEqual(shapes["encoder.c5.0.weight"], [128, 512, 4, 4])
        XCTAssertEqual(shapes["decoder.upc1.0.weight"], [128, 512, 4, 4])
        XCTAssertEqual(shapes["decoder.upc2.main.0.weight"], [1536, 256, 4, 4]) // 3·512 inputs with the aligner
        XCTAssertEqual(shapes["decoder.upc5.0.weight"], [192, 1, 4, 4])
        XCTAssertEqual(shapes["decoder.al.0.q.weight"], [64, 512, 1, 1])
        XCTAssertEqual(shapes["decoder.al.3.k.weight"], [8, 64, 1, 1])
        XCTAssertEqual(shapes["decoder.al.3.v.weight"], [64, 64, 1, 1])
        XCTAssertEqual(shapes["frame_predictor.embed.weight"], [256, 128 + 16])
        XCTAssertEqual(shapes["frame_predictor.lstm.1.weight_hh"], [1024, 256])
        XCTAssertEqual(shapes["frame_predictor.output.0.weight"], [128, 256])
        XCTAssertEqual(shapes["posterior.groups.1.embed.weight"], [256, 128 + 8])
        XCTAssertEqual(shapes["prior.groups.0.mu_net.weight"], [8, 256])
        var v = ModelConfiguration(); v.backbone = .vgg64; v.channels = 3
        let vgg = Dictionary(uniqueKeysWithValues: try Network(v).tensors.map { ($0.name, $0.shape) })
        XCTAssertEqual(vgg["encoder.c1.0.main.0.weight"], [64, 3, 3, 3])
        XCTAssertEqual(vgg["decoder.upc2.0.main.0.weight"], [512, 1024, 3, 3])
        XCTAssertEqual(vgg["decoder.upc5.1.weight"], [64, 3, 3, 3])
    }
}

/// The per-op profile the benchmark prints: with a profile installed, one step reports its convolutions
/// with their FLOPs, and the recorded time never exceeds the step's.
final class StepProfileTests: XCTestCase {
    func testOneStepIsBrokenDownByOp() throws {
        let config = smallConfig { $0.alignerLevels = [1] }
        let trainer = try Trainer(config: config, seed: 1)
        let x = movingSquares(config, seed: 2)
        let profile = StepProfile()
        activeProfile = profile
        defer { activeProfile = nil }
        let start = Date()
        x.withUnsafeBufferPointer { _ = trainer.step($0.baseAddress!) }
        let total = Date().timeIntervalSince(start)
        activeProfile = nil
        let c1 = try XCTUnwrap(profile.entries["encoder.c1.main.0 conv fwd"])
        XCTAssertEqual(c1.calls, 1)
        // c1: 2 · Cout · (Cin·4·4) · (T·B·32·32)
        XCTAssertEqual(c1.flops, 2 * Double(config.nf) * 16 * Double(config.frameCount * config.batch * 1024))
        XCTAssertNotNil(profile.entries["decoder.upc3.main.0 skip-block bwd"])
        XCTAssertNotNil(profile.entries["decoder.al.1 attention fwd"])
        XCTAssertEqual(profile.entries["frame_predictor step"]?.calls, config.frameCount - 1)
        XCTAssertLessThanOrEqual(profile.entries.values.reduce(0) { $0 + $1.seconds }, total)
    }
}
