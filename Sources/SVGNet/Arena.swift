// One allocation owns every float of a plan: parameters, gradients, Adam moments, activations and
// workspaces. Planning hands out `Slice`s (offsets); nothing is allocated after `Arena.init`.
import Kernels

/// A run of floats inside an arena, fixed at plan time.
public struct Slice: Sendable, Equatable {
    public var offset: Int
    public var count: Int
    public static let empty = Slice(offset: 0, count: 0)
}

/// A run of Int32 inside an arena (max-pool arg-max, frame mappings).
public struct IntSlice: Sendable, Equatable {
    public var offset: Int
    public var count: Int
}

/// Hands out offsets rounded up to 16 elements (64 bytes), so every float buffer starts on a cache line
/// (the float block itself is allocated 2 MiB aligned, on huge pages where Linux allows: Memory.swift).
public struct ArenaPlanner {
    public private(set) var floatCount = 0
    public private(set) var intCount = 0
    public init() {}

    public mutating func floats(_ n: Int) -> Slice {
        precondition(n >= 0)
        let s = Slice(offset: floatCount, count: n)
        floatCount += (n + 15) / 16 * 16
        return s
    }

    public mutating func ints(_ n: Int) -> IntSlice {
        let s = IntSlice(offset: intCount, count: n)
        intCount += (n + 15) / 16 * 16
        return s
    }
}

public final class Arena: @unchecked Sendable {
    public let floats: UnsafeMutablePointer<Float>
    public let ints: UnsafeMutablePointer<Int32>
    public let floatCount: Int
    public let intCount: Int

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

    public var byteCount: Int { floatCount * 4 + intCount * 4 }

    @inline(__always) public subscript(_ s: Slice) -> UnsafeMutablePointer<Float> { floats + s.offset }
    @inline(__always) public subscript(_ s: IntSlice) -> UnsafeMutablePointer<Int32> { ints + s.offset }

    public func zero(_ s: Slice) { (floats + s.offset).update(repeating: 0, count: s.count) }
    public func array(_ s: Slice) -> [Float] { Array(UnsafeBufferPointer(start: floats + s.offset, count: s.count)) }
    public func copy(from values: [Float], to s: Slice) {
        precondition(values.count == s.count, "copy: \(values.count) values into a slice of \(s.count)")
        values.withUnsafeBufferPointer { (floats + s.offset).update(from: $0.baseAddress!, count: s.count) }
    }
}
