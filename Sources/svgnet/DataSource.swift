// Where sequences come from: built-in Moving MNIST (generated on the fly, seeded per sequence so any
// batch can be regenerated exactly, which is what makes --resume exact), KTH and BAIR folders, or an
// .npy file. Every batch is time-major (T, B, C, 64, 64), the layout Trainer.step reads.
import ArgumentParser
import Foundation
import Kernels
import SVGData
import SVGNet

enum Split { case train, test }
enum Order: String, ExpressibleByArgument, CaseIterable { case shuffled, sequential }

struct VideoSource {
    let description: String
    let channels: Int
    let length: Int
    private let kind: Kind
    private enum Kind {
        case movingMNIST(train: MovingMNIST, test: MovingMNIST)
        case dataset(train: any VideoDataset, test: any VideoDataset)
    }

    init(_ options: DataOptions, length: Int, needTrain: Bool = true) throws {
        self.length = length
        let spec = options.data
        if spec == "mmnist" {
            guard (1...3).contains(options.digits) else { throw CLIError("--digits must be 1, 2 or 3, got \(options.digits)") }
            let mnist: MNIST
            do { mnist = try MNIST.load(directory: options.mnist) } catch { throw CLIError("\(error)") }
            let train = MovingMNIST(digits: mnist.digits(.train), numDigits: options.digits, length: length)
            let test = MovingMNIST(digits: mnist.digits(.test), numDigits: options.digits, length: length)
            kind = .movingMNIST(train: train, test: test)
            channels = 1
            description = "Moving MNIST, \(options.digits) digit\(options.digits == 1 ? "" : "s") (\(options.mnist ?? "built-in MNIST test digits"))"
            return
        }
        guard let colon = spec.firstIndex(of: ":") else {
            throw CLIError("--data '\(spec)' is not one of mmnist, kth:DIR, bair:DIR, npy:FILE")
        }
        let scheme = String(spec[..<colon]), path = String(spec[spec.index(after: colon)...])
        guard !path.isEmpty else { throw CLIError("--data \(scheme): needs a path after the colon") }
        do {
            switch scheme {
            case "kth":
                kind = .dataset(
                    train: needTrain
                        ? try KTHDataset(directory: path, split: .train, length: length) : try KTHDataset(directory: path, split: .test, length: length),
                    test: try KTHDataset(directory: path, split: .test, length: length))
                channels = 1; description = "KTH at \(path)"
            case "bair":
                kind = .dataset(
                    train: needTrain
                        ? try BAIRDataset(directory: path, split: .train, length: length) : try BAIRDataset(directory: path, split: .test, length: length),
                    test: try BAIRDataset(directory: path, split: .test, length: length))
                channels = 3; description = "BAIR at \(path)"
            case "npy":
                let d = try NPYDataset(path: path, layout: options.layout, length: length)
                kind = .dataset(train: d, test: d)
                channels = d.channels; description = "\(path) (\(d.count) sequences)"
            default:
                throw CLIError("--data '\(spec)': unknown source '\(scheme)' (mmnist, kth:DIR, bair:DIR, npy:FILE)")
            }
        } catch let e as CLIError { throw e } catch { throw CLIError("\(error)") }
    }

    /// Sequences available for a split (nil: unlimited, generated).
    func count(_ split: Split) -> Int? {
        switch kind {
        case .movingMNIST: return nil
        case .dataset(let train, let test): return split == .train ? train.count : test.count
        }
    }

    /// Training batch number `step` (0-based): a pure function of (seed, step), so a resumed run sees the
    /// same batches as an uninterrupted one. `rows` (default: all) picks a data-parallel rank's rows of it;
    /// a dataset reads only those sequences.
    func trainingBatch(step: Int, batch: Int, rows: Range<Int>? = nil, seed: UInt64, order: Order) throws -> [Float] {
        let rows = rows ?? 0..<batch
        switch kind {
        case .movingMNIST(var train, _):
            // One generator draws the whole batch in order; a rank keeps its rows of it.
            var rng = RandomGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(step) &+ 0x5851_F42D)
            let all = train.batch(size: batch, rng: &rng)
            return rows.count == batch ? all : selectRows(all, batch: batch, rows: rows)
        case .dataset(let train, _):
            let n = train.count
            guard n >= batch else { throw CLIError("\(description): \(n) training sequences, fewer than --batch \(batch)") }
            let perEpoch = n / batch, epoch = step / perEpoch, k = step % perEpoch
            var indices: [Int]
            switch order {
            case .sequential:
                indices = Array((k * batch)..<((k + 1) * batch))
            case .shuffled:
                var rng = RandomGenerator(seed: seed ^ (UInt64(epoch) &* 0xD1B5_4A32_D192_ED03))
                var perm = Array(0..<n)
                for i in stride(from: n - 1, to: 0, by: -1) { perm.swapAt(i, rng.uniformInt(0...i)) }
                indices = Array(perm[(k * batch)..<((k + 1) * batch)])
            }
            do { return try train.batch(indices: Array(indices[rows])) } catch { throw CLIError("\(error)") }
        }
    }

    /// Rows `rows` of a time-major batch (T, B, C, 64, 64) of `batch` sequences.
    private func selectRows(_ x: [Float], batch: Int, rows: Range<Int>) -> [Float] {
        let frame = channels * framePixels
        var out: [Float] = []
        out.reserveCapacity(length * rows.count * frame)
        for t in 0..<length { out += x[((t * batch + rows.lowerBound) * frame)..<((t * batch + rows.upperBound) * frame)] }
        return out
    }

    /// Test sequences `first ..< first + count`, time-major. Moving MNIST test sequence i is generated
    /// from the held-out digits with a generator seeded by (seed, i): a fixed test set for a seed.
    func testBatch(first: Int, count: Int, seed: UInt64) throws -> [Float] {
        switch kind {
        case .movingMNIST(_, var test):
            var seqs: [[Float]] = []
            for i in first..<(first + count) {
                var rng = RandomGenerator(seed: seed &* 0xA24B_AED4_963E_E407 &+ UInt64(i))
                seqs.append(test.sequence(rng: &rng))
            }
            return interleave(seqs)
        case .dataset(_, let test):
            guard first + count <= test.count else {
                throw CLIError("\(description): asked for test sequences \(first)…\(first + count - 1), only \(test.count) available")
            }
            do { return try test.batch(indices: Array(first..<(first + count))) } catch { throw CLIError("\(error)") }
        }
    }

    /// [sequence][t][C·64·64] → (T, B, C, 64, 64)
    private func interleave(_ seqs: [[Float]]) -> [Float] {
        let frame = channels * framePixels, B = seqs.count
        var out = [Float](repeating: 0, count: length * B * frame)
        for (b, s) in seqs.enumerated() {
            for t in 0..<length { out.replaceSubrange(((t * B + b) * frame)..<((t * B + b + 1) * frame), with: s[(t * frame)..<((t + 1) * frame)]) }
        }
        return out
    }
}
