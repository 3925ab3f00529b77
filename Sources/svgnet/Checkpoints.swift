// Loading a checkpoint for sampling: its configuration comes from __metadata__, with the generation
// shape (nPast, nFuture, sequences at a time) given by the command.
import ArgumentParser
import Foundation
import Kernels
import SVGData
import SVGNet

struct LoadedCheckpoint {
    let path: String
    let file: SafetensorsFile
    let config: ModelConfiguration

    init(_ path: String) throws {
        do { file = try SafetensorsFile.read(from: path).withoutOptimizerState } catch { throw CLIError("\(error)") }
        guard file.metadata["backbone"] != nil else {
            throw CLIError("\(path): has no model configuration in its metadata (train with svgnet, or pass the flags to `svgnet train --init`)")
        }
        do { config = try ModelConfiguration(metadata: file.metadata) } catch { throw CLIError("\(path): \(error)") }
        self.path = path
    }

    /// A generator for this model with the given generation shape, weights loaded; `keepsAttentionMaps` for
    /// reading the aligners' maps (`generate --attention`).
    func generator(
        nPast: Int?, nFuture: Int?, batch: Int, samples: Int, seed: UInt64, keepsAttentionMaps: Bool = false
    ) throws -> Generator {
        var c = config
        if let n = nPast { c.nPast = n }
        if let n = nFuture { c.nFuture = n }
        c.batch = batch
        do {
            try c.validate()
            let g = try Generator(config: c, samples: samples, seed: seed, keepsAttentionMaps: keepsAttentionMaps)
            try g.loadModel(file, path: path)
            return g
        } catch let e as CLIError { throw e } catch { throw CLIError("\(error)") }
    }
}

/// Runs `generator` over test sequences 0 ..< sequences in chunks of its batch; for each chunk calls
/// `body(truth (T, B, C, 64, 64), predictions (B, N, nFuture, C, 64, 64), first index, count)`. Under
/// mpirun each rank generates a contiguous block of the chunks (`ownedSequences`) and skips the noise of
/// the chunks before it, so every chunk is generated exactly as one process would generate it.
func generateOverTestSet(
    _ generator: Generator, data: VideoSource, sequences: Int, seed: UInt64, world: MPIWorld? = nil,
    body: (_ truth: [Float], _ predictions: UnsafePointer<Float>, _ first: Int, _ count: Int) throws -> Void
) throws {
    let B = generator.config.batch
    try requireTestSequences(data, sequences: sequences, batch: B)
    let chunks = ownedChunks(sequences: sequences, batch: B, world: world)
    for k in 0..<chunks.upperBound {
        guard k >= chunks.lowerBound else { generator.skipNoise(); continue }
        let first = k * B
        let truth = try data.testBatch(first: first, count: B, seed: seed)
        let out = truth.withUnsafeBufferPointer { generator.generate($0.baseAddress!) }
        try body(truth, out, first, min(B, sequences - first))
    }
}

/// The chunks of `batch` sequences this rank generates: all of them without MPI.
func ownedChunks(sequences: Int, batch: Int, world: MPIWorld?, rank: Int? = nil) -> Range<Int> {
    let chunks = (sequences + batch - 1) / batch
    return world.map { replicaRows(batch: chunks, rank: rank ?? $0.rank, count: $0.count) } ?? 0..<chunks
}

/// The test sequences of this rank's chunks (or of rank `rank`'s).
func ownedSequences(sequences: Int, batch: Int, world: MPIWorld?, rank: Int? = nil) -> Range<Int> {
    let c = ownedChunks(sequences: sequences, batch: batch, world: world, rank: rank)
    return min(c.lowerBound * batch, sequences)..<min(c.upperBound * batch, sequences)
}

/// Sequences are read in whole batches: a finite test set must hold `sequences` rounded up to a multiple of `batch`.
func requireTestSequences(_ data: VideoSource, sequences: Int, batch B: Int) throws {
    let needed = (sequences + B - 1) / B * B
    if let available = data.count(.test), needed > available {
        throw CLIError(
            "\(data.description): --sequences \(sequences) in batches of \(B) reads \(needed) test sequences, only \(available) available"
                + (sequences <= available ? "; pick a --batch that divides --sequences" : ""))
    }
}

/// Future frames of `truth` (T, B, C, 64, 64) rearranged as (B, nFuture, C, 64, 64) for the metrics.
func futureTruth(_ truth: [Float], config c: ModelConfiguration, count: Int) -> [Float] {
    let B = c.batch, frame = c.channels * framePixels
    var out = [Float](repeating: 0, count: count * c.nFuture * frame)
    for b in 0..<count {
        for t in 0..<c.nFuture {
            let src = ((c.nPast + t) * B + b) * frame, dst = (b * c.nFuture + t) * frame
            out.replaceSubrange(dst..<(dst + frame), with: truth[src..<(src + frame)])
        }
    }
    return out
}

/// The options `generate` and `evaluate` share: which model, and the generation shape.
struct SamplingOptions: ParsableArguments {
    @Option(help: "Sequences generated at a time (BatchNorm statistics are taken over them).") var batch: Int = 8
    @Option(name: .customLong("n-past"), help: "Conditioning frames (default: as trained).") var nPast: Int?
    @Option(name: .customLong("n-future"), help: "Predicted frames (default: as trained; the paper evaluates 25 on Moving MNIST, 20 on KTH, 28 on BAIR).")
    var nFuture: Int?
    @Option(help: "BatchNorm statistics while generating: batch (default, as the reference) or running.") var bn: BatchNormMode = .batchStatistics

    /// A generator for `sequencesAtATime` sequences × `samples`, weights loaded, and the test data it reads,
    /// after every check that can fail before anything is written.
    func prepare(
        _ checkpoint: LoadedCheckpoint, sequencesAtATime b: Int, samples: Int, data dataOptions: DataOptions,
        seed: UInt64, keepsAttentionMaps: Bool = false
    ) throws -> (Generator, VideoSource) {
        if b == 1 && bn == .batchStatistics {
            throw CLIError("--batch 1 with --bn batch: BatchNorm over one sequence is undefined; use --batch ≥ 2 or --bn running")
        }
        let generator = try checkpoint.generator(
            nPast: nPast, nFuture: nFuture, batch: b, samples: samples, seed: seed, keepsAttentionMaps: keepsAttentionMaps)
        generator.batchNorm = bn
        let c = generator.config
        let data = try VideoSource(dataOptions, length: c.frameCount, needTrain: false)
        guard data.channels == c.channels else { throw CLIError("\(data.description) has \(data.channels) channel(s); the model has \(c.channels)") }
        return (generator, data)
    }
}
