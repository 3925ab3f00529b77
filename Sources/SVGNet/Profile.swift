// Per-op timing of a step, for the benchmark's breakdown. Off unless a profile is installed in
// `activeProfile`; then every instrumented op adds its wall time and useful FLOPs under its name.
// The names and FLOP counts are autoclosures, so with no profile installed nothing is built or allocated.
import Dispatch

/// Wall time, FLOPs and call counts per instrumented op name, for the benchmark's breakdown; collects only
/// while installed in `activeProfile`.
public final class StepProfile {
    /// Totals for one op name.
    public struct Entry: Sendable {
        /// Wall time, in seconds.
        public var seconds: Double = 0
        /// Useful floating-point operations, as the op counts them.
        public var flops: Double = 0
        /// Times the op ran.
        public var calls = 0
    }
    /// Totals by op name.
    public private(set) var entries: [String: Entry] = [:]
    /// Names in the order they first ran.
    public private(set) var order: [String] = []

    /// An empty profile.
    public init() {}

    func add(_ name: String, seconds: Double, flops: Double) {
        if entries[name] == nil { order.append(name) }
        entries[name, default: Entry()].seconds += seconds
        entries[name, default: Entry()].flops += flops
        entries[name, default: Entry()].calls += 1
    }

    /// Clears every total and the order.
    public func reset() { entries = [:]; order = [] }
}

/// The profile the instrumented ops report to (the benchmark sets it around one step; nil otherwise).
nonisolated(unsafe) public var activeProfile: StepProfile? = nil

@inline(__always)
func profiled<T>(_ name: @autoclosure () -> String, flops: @autoclosure () -> Double = 0, _ body: () -> T) -> T {
    guard let p = activeProfile else { return body() }
    let start = DispatchTime.now().uptimeNanoseconds
    let result = body()
    p.add(name(), seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, flops: flops())
    return result
}
