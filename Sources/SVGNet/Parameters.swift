// Where each named tensor lives. Trainable parameters are one contiguous block so that zeroing the
// gradients and the Adam step are one call each; gradients and both Adam moments are blocks of the same
// layout (same offset inside their block). BatchNorm running statistics are a block of their own.
import Kernels

/// Where each named tensor lives in an arena: trainable tensors in `params`, with `grads`, `adamM` and
/// `adamV` parallel to it (same offset in each block), and running statistics in `statistics`.
public struct ParameterLayout: Sendable {
    /// A tensor and its place in its block.
    public struct Entry: Sendable {
        /// The tensor.
        public var spec: TensorSpec
        /// Offset of the tensor inside its block.
        public var offset: Int // inside `params` (trainable) or `statistics` (running stats)
    }
    /// Every tensor, in the network's table order.
    public let entries: [Entry]
    /// Position in `entries` of each tensor name.
    public let index: [String: Int]
    /// All trainable parameters, one block.
    public let params: Slice
    /// Their gradients (empty without an optimiser).
    public let grads: Slice
    /// Adam's first moments (empty without an optimiser).
    public let adamM: Slice
    /// Adam's second moments (empty without an optimiser).
    public let adamV: Slice
    /// BatchNorm running means and variances, one block.
    public let statistics: Slice

    /// `withOptimizer: false` (generation) plans no gradients or Adam moments.
    init(_ network: Network, planner: inout ArenaPlanner, withOptimizer: Bool = true) {
        var entries: [Entry] = []
        var p = 0, s = 0
        for t in network.tensors {
            if t.trainable { entries.append(Entry(spec: t, offset: p)); p += t.count } else { entries.append(Entry(spec: t, offset: s)); s += t.count }
        }
        self.entries = entries
        var idx: [String: Int] = [:]
        for (i, e) in entries.enumerated() { idx[e.spec.name] = i }
        index = idx
        params = planner.floats(p)
        grads = withOptimizer ? planner.floats(p) : .empty
        adamM = withOptimizer ? planner.floats(p) : .empty
        adamV = withOptimizer ? planner.floats(p) : .empty
        statistics = planner.floats(s)
    }

    /// The slice holding tensor `name` (parameters or running statistics).
    public func slice(_ name: String) -> Slice {
        guard let i = index[name] else { preconditionFailure("no tensor named \(name)") }
        let e = entries[i]
        let base = e.spec.trainable ? params.offset : statistics.offset
        return Slice(offset: base + e.offset, count: e.spec.count)
    }

    /// The gradient of trainable tensor `name`.
    public func gradient(_ name: String) -> Slice {
        let s = slice(name)
        return Slice(offset: s.offset - params.offset + grads.offset, count: s.count)
    }

    /// Whether the model has a tensor named `name`.
    public func has(_ name: String) -> Bool { index[name] != nil }
}

/// The initialisation of MODEL.md "Training step": conv, transposed conv and linear weights N(0, 0.02),
/// biases 0, BatchNorm weight N(1, 0.02) and bias 0, LSTMCell weights and biases U(−1/√H, 1/√H);
/// running mean 0, var 1.
func initializeParameters(_ layout: ParameterLayout, arena: Arena, hidden: Int, rng: inout RandomGenerator) {
    let bound = 1 / Float(hidden).squareRoot()
    for e in layout.entries {
        let p = arena[layout.slice(e.spec.name)], n = e.spec.count
        switch e.spec.kind {
        case .convWeight, .linearWeight: rng.fillNormal(p, count: n, mean: 0, std: 0.02)
        case .bias, .bnBias, .runningMean: p.update(repeating: 0, count: n)
        case .bnWeight: rng.fillNormal(p, count: n, mean: 1, std: 0.02)
        case .lstm: rng.fillUniform(p, count: n, low: -bound, high: bound)
        case .runningVar: p.update(repeating: 1, count: n)
        }
    }
}
