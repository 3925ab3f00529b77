// Where the activation gradients of the encoder's and the decoder's layer chains live (MODEL.md "Training
// step"). Along a chain each link's dL/d output is written by the link after it (the loss or the LSTMs for
// the last) and read by its own backward, which writes the link before's and is then done with it. So only
// two consecutive links are ever live, and the links can take turns in two buffers: link i in buffer
// (i + start) mod 2. The decoder's backward ends before the LSTMs' and the encoder's begin, so both chains
// share the same two buffers; each chain's start is the one that leaves the two buffers smallest.
// Gradients that several parts of the step write at other times (the skip sources', the aligner's) are not
// links: they keep buffers of their own.
//   link i of a chain that starts at s (0 or 1) lives in buffer (i + s) mod 2; each buffer is as large as
//   the largest link any chain puts in it.
// Planning runs twice: once `measuring` each chain's links, then `shared` handing out slices of the two.

struct GradientChain {
    private enum Mode {
        case measuring
        /// Each link in a buffer of its own (`MemoryBudget.sharesGradients` false: the reference plan).
        case separate
        case shared(buffers: [Slice], starts: [Int])
    }
    private var mode: Mode
    /// Every chain's link sizes, in order (recorded by the measuring pass only).
    private(set) var links: [[Int]] = []
    /// The chain being planned (−1 before the first beginChain) and its next link's position.
    private var chain = -1, position = 0

    /// A pass that records the links' sizes.
    static func measuring() -> GradientChain { GradientChain(mode: .measuring) }
    /// Every link in a buffer of its own.
    static func separate() -> GradientChain { GradientChain(mode: .separate) }

    /// The two buffers for the chains `measured` recorded, planned from `planner`.
    static func shared(_ measured: GradientChain, planner: inout ArenaPlanner) -> GradientChain {
        let chains = measured.links
        // The start of each chain (0 or 1) that makes the two buffers' sizes smallest in sum; two chains here.
        func sizes(_ starts: [Int]) -> [Int] {
            var largest = [0, 0]
            for (links, start) in zip(chains, starts) {
                for (i, n) in links.enumerated() { largest[(i + start) % 2] = max(largest[(i + start) % 2], n) }
            }
            return largest
        }
        var best = [Int](repeating: 0, count: chains.count)
        for combination in 0..<(1 << chains.count) {
            let starts = chains.indices.map { (combination >> $0) & 1 }
            if sizes(starts).reduce(0, +) < sizes(best).reduce(0, +) { best = starts }
        }
        let largest = sizes(best)
        return GradientChain(mode: .shared(buffers: [planner.floats(largest[0]), planner.floats(largest[1])], starts: best))
    }

    private init(mode: Mode) { self.mode = mode }

    /// Starts the next chain (the encoder's, then the decoder's, in the same order in both passes).
    mutating func beginChain() {
        chain += 1; position = 0
        if case .measuring = mode { links.append([]) }
    }

    /// The next link's gradient, `n` floats.
    mutating func next(_ n: Int, planner: inout ArenaPlanner, file: StaticString = #fileID, line: UInt = #line) -> Slice {
        defer { position += 1 }
        switch mode {
        case .measuring:
            // A buffer of the measuring pass's own planner, which is thrown away: the layers are planned as
            // in the real pass.
            links[chain].append(n)
            return planner.floats(n, file: file, line: line)
        case .separate:
            return planner.floats(n, file: file, line: line)
        case .shared(let buffers, let starts):
            let buffer = buffers[(position + starts[chain]) % 2]
            precondition(n <= buffer.count, "GradientChain: link \(position) of chain \(chain) has \(n) floats, its buffer \(buffer.count)")
            return Slice(offset: buffer.offset, count: n)
        }
    }
}
