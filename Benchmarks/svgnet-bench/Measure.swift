// Timing, buffers, peak-memory probes and the result row shared by every section.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Kernels

/// Seconds on the monotonic clock.
func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Runs `body` `warmup` times untimed, then `reps` times timed; `setup` runs before every call, untimed
/// (e.g. to restore a workspace the previous call overwrote). Returns the timed seconds, sorted.
func measure(reps: Int, warmup: Int = 1, setup: () -> Void = {}, _ body: () -> Void) -> [Double] {
    for _ in 0..<warmup { setup(); body() }
    var times: [Double] = []
    for _ in 0..<reps {
        setup()
        let t0 = now()
        body()
        times.append(now() - t0)
    }
    return times.sorted()
}

/// A kernel and the bare GEMM(s) it is built on, timed call by call in turn (after `warmup` untimed
/// pairs), so the shared machine's drift falls on both alike and each pair gives its own ratio. `setup`
/// runs, untimed, before every call of either.
func measurePair(
    reps: Int, warmup: Int = 1, setup: () -> Void = {}, _ kernel: () -> Void,
    reference: () -> Void
) -> [(kernel: Double, reference: Double)] {
    for _ in 0..<warmup { setup(); kernel(); setup(); reference() }
    var pairs: [(kernel: Double, reference: Double)] = []
    for _ in 0..<reps {
        setup()
        let t0 = now()
        kernel()
        let t1 = now()
        setup()
        let t2 = now()
        reference()
        pairs.append((t1 - t0, now() - t2))
    }
    return pairs
}

func median(_ sorted: [Double]) -> Double {
    precondition(!sorted.isEmpty)
    let n = sorted.count
    return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
}

/// A float buffer filled with reproducible values uniform in [−scale, scale] (xorshift; cheap enough
/// for the 10⁸-float im2col workspaces). Random rather than zero so no kernel takes a shortcut.
final class Buffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    init(_ count: Int, scale: Float = 1, seed: UInt64 = 0x9E3779B97F4A7C15) {
        self.count = max(count, 1)
        pointer = allocateFloats(self.count) // the arena's kind of memory, so kernels run as in the model
        fill(scale: scale, seed: seed)
    }
    func fill(scale: Float, seed: UInt64) {
        var s = seed | 1
        for i in 0..<count {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            pointer[i] = (Float(s >> 40) * (1 / Float(1 << 24)) * 2 - 1) * scale
        }
    }
    /// Values in [0, 1): inputs that must be valid images or probabilities.
    func fillUnit(seed: UInt64) {
        fill(scale: 1, seed: seed)
        for i in 0..<count { pointer[i] = 0.5 * (pointer[i] + 1) }
    }
    var p: UnsafeMutablePointer<Float> { pointer }
    deinit { pointer.deallocate() }
}

/// VmHWM (peak resident set) of this process in bytes, from /proc/self/status.
func peakRSSBytes() -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, Int32(line.count), f) != nil {
        let s = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if s.hasPrefix("VmHWM:") {
            let kb = s.split(separator: " ", omittingEmptySubsequences: true).compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
    }
    return 0
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0, "5" in clear_refs), so each end-to-end row reports its
/// own peak rather than the largest of everything measured before it. Returns false if refused.
@discardableResult
func resetPeakRSS() -> Bool {
    guard let f = fopen("/proc/self/clear_refs", "w") else { return false }
    let ok = fputs("5", f) >= 0
    return fclose(f) == 0 && ok
}

/// One result line. Optional fields are what a row has: compute-bound rows carry FLOPs and the
/// reference GEMM's rate, memory-bound rows carry bytes, end-to-end rows carry arena and RSS.
struct Row {
    var section: String
    var name: String
    var shape: String
    var times: [Double]
    var flops: Double? = nil // useful floating-point operations per call
    var bytes: Double? = nil // compulsory memory traffic per call
    var referenceSeconds: Double? = nil // median of the bare OpenBLAS GEMM(s) the kernel is built on, same shapes
    /// ÷GEMM of each (kernel, reference) pair timed in turn (measurePair), sorted.
    var pairRatios: [Double]? = nil
    var arenaBytes: Int? = nil
    var peakRSS: Int? = nil
    /// End-to-end rows: each run's rate over the sgemm ceiling measured right after it, sorted.
    var peakRatios: [Double]? = nil
    var note: String = ""

    var seconds: Double { median(times) }
    /// Share of the sgemm ceiling: the median of the per-run ratios when there are any, else against the
    /// ceiling measured at the start.
    func ratioToPeak(_ ceilings: Ceilings) -> Double? {
        if let r = peakRatios, !r.isEmpty { return median(r) }
        return gflops.map { $0 / ceilings.sgemmGflops }
    }
    var gflops: Double? { flops.map { $0 / seconds / 1e9 } }
    var gbps: Double? { bytes.map { $0 / seconds / 1e9 } }
    var referenceGflops: Double? {
        guard let s = referenceSeconds, let f = flops else { return nil }
        return f / s / 1e9
    }
    /// Kernel rate over the rate of its own GEMMs alone (1.0: im2col/col2im/bias/softmax cost nothing),
    /// the median over the pairs timed in turn.
    var ratioToReference: Double? { pairRatios.map(median) }
}

extension Row {
    /// A compute-bound kernel row from measurePair's pairs (the kernel and its GEMMs do the same useful
    /// FLOPs, so each pair's ÷GEMM is reference time ÷ kernel time).
    init(section: String, name: String, shape: String, pairs: [(kernel: Double, reference: Double)], flops: Double, note: String = "") {
        self.init(
            section: section, name: name, shape: shape, times: pairs.map(\.kernel).sorted(), flops: flops,
            referenceSeconds: median(pairs.map(\.reference).sorted()),
            pairRatios: pairs.map { $0.reference / $0.kernel }.sorted(), note: note)
    }
}

/// The machine ceilings measured in this run, used for the "of peak" columns.
struct Ceilings {
    var sgemmGflops: Double = 0 // large square sgemm
    var copyGBps: Double = 0 // large memory copy (read + write bytes)
}
