// Large float blocks (the schedule's arena, the benchmark's buffers) on 2 MiB pages where Linux allows it.
//   allocateFloats(count) -> pointer to count floats, 2 MiB aligned, uninitialised; free with deallocate().
// Why: the convolutions stream through col matrices of 100–250 MB. On 4 KiB pages every row of a
// row-major operand sits on its own page, so im2col, col2im and OpenBLAS's packing walk the TLB at each
// row. Debian's default transparent-huge-page mode is "madvise": a block gets 2 MiB pages only if it
// asks, and malloc never asks.
#if canImport(Glibc)
    import Glibc
#endif

/// The size of a Linux transparent huge page, 2 MiB; allocateFloats aligns to it.
public let hugePageBytes = 2 << 20

/// Allocates `count` uninitialised floats, 2 MiB-aligned and advised onto huge pages on Linux; the caller
/// frees it with deallocate().
public func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    let byteCount = max(count, 1) * 4
    let raw = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: hugePageBytes)
    #if os(Linux)
        // Advice only: where the kernel refuses (THP "never", no free huge pages) the block keeps 4 KiB pages.
        let whole = byteCount / hugePageBytes * hugePageBytes
        if whole > 0 { _ = madvise(raw, whole, MADV_HUGEPAGE) }
    #endif
    return raw.bindMemory(to: Float.self, capacity: max(count, 1))
}
