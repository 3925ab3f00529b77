// One allocation owns every float of a plan: parameters, gradients, Adam moments, activations and
// workspaces. Planning hands out `Slice`s (offsets); nothing is allocated after `Arena.init`.
import Kernels

/// A run of floats inside an arena, fixed at plan time.
public struct Slice: Sendable, Equatable {
    /// First float of the run, counted from the start of the arena's float block.
    public var offset: Int
    /// Floats in the run.
    public var count: Int
    /// The zero-length slice, for buffers a plan does not need (a generator's gradients).
    public static let empty = Slice(offset: 0, count: 0)
}

/// A run of Int32 inside an arena (max-pool arg-max, frame mappings).
public struct IntSlice: Sendable, Equatable {
    /// First Int32 of the run, counted from the start of the arena's integer block.
    public var offset: Int
    /// Int32 values in the run.
    public var count: Int
}

/// Hands out offsets rounded up to 16 elements (64 bytes), so every float buffer starts on a cache line
/// (the float block itself is allocated 2 MiB aligned, on huge pages where Linux allows: Memory.swift).
public struct ArenaPlanner {
    /// Floats planned so far, padding included: the size of the arena's float block.
    public private(set) var floatCount = 0
    /// Int32 values planned so far, padding included: the size of the arena's integer block.
    public private(set) var intCount = 0
    /// Floats planned from each call site ("File.swift:line" of the request), padding included: where the
    /// float block goes (svgnet-bench --only memory). Planning time only; a step never touches it.
    public private(set) var floatsBySite: [String: Int] = [:]
    /// An empty plan.
    public init() {}

    /// Reserves `n` floats (n ≥ 0) and returns their slice; the next request starts on the next 64-byte
    /// boundary. `file` and `line` name the request in `floatsBySite`.
    public mutating func floats(_ n: Int, file: StaticString = #fileID, line: UInt = #line) -> Slice {
        precondition(n >= 0)
        let s = Slice(offset: floatCount, count: n), padded = (n + 15) / 16 * 16
        floatCount += padded
        floatsBySite["\(file):\(line)".split(separator: "/").last.map(String.init)!, default: 0] += padded
        return s
    }

    /// Reserves `n` Int32 values and returns their slice; the next request starts on the next 64-byte boundary.
    public mutating func ints(_ n: Int) -> IntSlice {
        let s = IntSlice(offset: intCount, count: n)
        intCount += (n + 15) / 16 * 16
        return s
    }
}

/// The memory of one plan: a float block and an Int32 block, allocated and zero-filled once from an
/// `ArenaPlanner`, and addressed by the slices it handed out. Never resized.
public final class Arena: @unchecked Sendable {
    /// Start of the float block (2 MiB-aligned; huge pages where Linux allows).
    public let floats: UnsafeMutablePointer<Float>
    /// Start of the Int32 block.
    public let ints: UnsafeMutablePointer<Int32>
    /// Floats in the float block.
    public let floatCount: Int
    /// Int32 values in the integer block.
    public let intCount: Int

    /// Allocates the blocks `planner` sized and fills them with zeros: the only allocations of a plan.
    public init(_ planner: ArenaPlanner) {
        floatCount = planner.floatCount
        intCount = planner.intCount
        floats = allocateFloats(floatCount)
        floats.initialize(repeating: 0, count: max(floatCount, 1))
        ints = UnsafeMutablePointer<Int32>.allocate(capacity: max(intCount, 1))
        ints.initialize(repeating: 0, count: max(intCount, 1))
    }

    deinit {
        floats.deallocate()
        ints.deallocate()
    }

    /// Bytes of both blocks together.
    public var byteCount: Int { floatCount * 4 + intCount * 4 }

    /// The first float of slice `s`.
    @inline(__always) public subscript(_ s: Slice) -> UnsafeMutablePointer<Float> { floats + s.offset }
    /// The first Int32 of slice `s`.
    @inline(__always) public subscript(_ s: IntSlice) -> UnsafeMutablePointer<Int32> { ints + s.offset }

    /// Sets every float of `s` to zero.
    public func zero(_ s: Slice) { (floats + s.offset).update(repeating: 0, count: s.count) }
    /// A copy of the floats of `s` (allocates; not for use inside a step).
    public func array(_ s: Slice) -> [Float] { Array(UnsafeBufferPointer(start: floats + s.offset, count: s.count)) }
    /// Copies `values` into `s`; the counts must match (precondition).
    public func copy(from values: [Float], to s: Slice) {
        precondition(values.count == s.count, "copy: \(values.count) values into a slice of \(s.count)")
        values.withUnsafeBufferPointer { (floats + s.offset).update(from: $0.baseAddress!, count: s.count) }
    }
}
