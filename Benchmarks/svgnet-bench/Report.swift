// The aligned stdout table and the JSON file. JSON is written by hand (a flat list of rows) so the
// benchmark needs nothing beyond the standard library; the keys match Benchmarks/pytorch_peer.py.

func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let n = s.count
    if n >= width { return s }
    let fill = String(repeating: " ", count: width - n)
    return right ? fill + s : s + fill
}

func fixed(_ x: Double, _ digits: Int) -> String {
    // String(format:) needs Foundation; round by hand.
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (x * scale).rounded() / scale
    var s = String(r)
    if s.contains("e") { return s }
    if !s.contains(".") { s += "." }
    let parts = s.split(separator: ".", omittingEmptySubsequences: false)
    var frac = String(parts.count > 1 ? parts[1] : "")
    if frac.count > digits { frac = String(frac.prefix(digits)) }
    while frac.count < digits { frac += "0" }
    return digits == 0 ? String(parts[0]) : "\(parts[0]).\(frac)"
}

func formatSeconds(_ s: Double) -> String {
    if s >= 1 { return fixed(s, 3) + " s" }
    if s >= 1e-3 { return fixed(s * 1e3, 3) + " ms" }
    return fixed(s * 1e6, 1) + " µs"
}

func formatBytes(_ b: Int) -> String {
    let g = Double(b) / 1073741824.0
    return g >= 1 ? fixed(g, 2) + " GiB" : fixed(Double(b) / 1048576.0, 1) + " MiB"
}

/// Kernel rows: time, FLOP rate, rate of the bare GEMM(s), their ratio, share of the sgemm ceiling,
/// or GB/s and share of the copy bandwidth for memory-bound rows.
func printKernelTable(_ rows: [Row], _ ceilings: Ceilings) {
    let header = [
        pad("kernel", 30), pad("shape", 44), pad("median", 12, right: true), pad("spread", 8, right: true),
        pad("GFLOP", 9, right: true), pad("GFLOP/s", 8, right: true), pad("GEMM GF/s", 10, right: true),
        pad("÷GEMM", 6, right: true), pad("range", 9, right: true), pad("÷peak", 6, right: true), pad("GB/s", 7, right: true), pad("÷copy", 6, right: true)
    ]
    print(header.joined(separator: " "))
    for r in rows {
        let spread = r.times.count > 1 ? fixed((r.times.last! - r.times.first!) / r.seconds * 100, 0) + "%" : "-"
        let cols = [
            pad(r.name, 30), pad(r.shape, 44), pad(formatSeconds(r.seconds), 12, right: true), pad(spread, 8, right: true),
            pad(r.flops.map { fixed($0 / 1e9, 3) } ?? "", 9, right: true),
            pad(r.gflops.map { fixed($0, 1) } ?? "", 8, right: true),
            pad(r.referenceGflops.map { fixed($0, 1) } ?? "", 10, right: true),
            pad(r.ratioToReference.map { fixed($0, 2) } ?? "", 6, right: true),
            pad(r.pairRatios.map { $0.isEmpty ? "" : fixed($0.first!, 2) + "–" + fixed($0.last!, 2) } ?? "", 9, right: true),
            pad(r.gflops.map { fixed($0 / ceilings.sgemmGflops, 2) } ?? "", 6, right: true),
            pad(r.gbps.map { fixed($0, 1) } ?? "", 7, right: true),
            pad(r.gbps.map { fixed($0 / ceilings.copyGBps, 2) } ?? "", 6, right: true)
        ]
        print(cols.joined(separator: " ") + (r.note.isEmpty ? "" : "  " + r.note))
    }
}

/// End-to-end rows: seconds, spread, arena, peak RSS, useful FLOPs and rate.
func printModelTable(_ rows: [Row], _ ceilings: Ceilings) {
    let header = [
        pad("run", 34), pad("shape", 40), pad("median", 10, right: true), pad("min–max", 17, right: true), pad("n", 2, right: true),
        pad("arena", 10, right: true), pad("peak RSS", 10, right: true), pad("GFLOP", 8, right: true),
        pad("GFLOP/s", 8, right: true), pad("÷peak", 6, right: true), pad("per run", 10, right: true)
    ]
    print(header.joined(separator: " "))
    for r in rows {
        let cols = [
            pad(r.name, 34), pad(r.shape, 40), pad(fixed(r.seconds, 3) + " s", 10, right: true),
            pad(fixed(r.times.first!, 2) + "–" + fixed(r.times.last!, 2) + " s", 17, right: true), pad(String(r.times.count), 2, right: true),
            pad(r.arenaBytes.map(formatBytes) ?? "", 10, right: true), pad(r.peakRSS.map(formatBytes) ?? "", 10, right: true),
            pad(r.flops.map { fixed($0 / 1e9, 1) } ?? "", 8, right: true),
            pad(r.gflops.map { fixed($0, 1) } ?? "", 8, right: true),
            pad(r.ratioToPeak(ceilings).map { fixed($0, 2) } ?? "", 6, right: true),
            pad(r.peakRatios.map { $0.isEmpty ? "" : fixed($0.first!, 2) + "–" + fixed($0.last!, 2) } ?? "", 10, right: true)
        ]
        print(cols.joined(separator: " ") + (r.note.isEmpty ? "" : "  " + r.note))
    }
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(ch)
        }
    }
    return out + "\""
}

func jsonNumber(_ x: Double?) -> String {
    guard let x, x.isFinite else { return "null" }
    return String(x)
}

func jsonDocument(_ rows: [Row], _ ceilings: Ceilings, threads: Int) -> String {
    var lines: [String] = []
    for r in rows {
        var fields = [
            "\"section\": \(jsonString(r.section))", "\"name\": \(jsonString(r.name))", "\"shape\": \(jsonString(r.shape))",
            "\"median_s\": \(jsonNumber(r.seconds))", "\"min_s\": \(jsonNumber(r.times.first))", "\"max_s\": \(jsonNumber(r.times.last))",
            "\"runs\": \(r.times.count)", "\"times_s\": [\(r.times.map { String($0) }.joined(separator: ", "))]",
            "\"flop\": \(jsonNumber(r.flops))", "\"gflops\": \(jsonNumber(r.gflops))",
            "\"bytes\": \(jsonNumber(r.bytes))", "\"gbps\": \(jsonNumber(r.gbps))",
            "\"gemm_ref_gflops\": \(jsonNumber(r.referenceGflops))", "\"ratio_to_gemm\": \(jsonNumber(r.ratioToReference))",
            "\"ratio_to_peak\": \(jsonNumber(r.ratioToPeak(ceilings)))"
        ]
        if let p = r.pairRatios { fields.append("\"ratio_to_gemm_pairs\": [\(p.map { String($0) }.joined(separator: ", "))]") }
        if let p = r.peakRatios { fields.append("\"ratio_to_peak_runs\": [\(p.map { String($0) }.joined(separator: ", "))]") }
        if let a = r.arenaBytes { fields.append("\"arena_bytes\": \(a)") }
        if let p = r.peakRSS { fields.append("\"peak_rss_bytes\": \(p)") }
        if !r.note.isEmpty { fields.append("\"note\": \(jsonString(r.note))") }
        lines.append("    {" + fields.joined(separator: ", ") + "}")
    }
    return """
        {
          "tool": "svgnet-bench",
          "threads": \(threads),
          "sgemm_peak_gflops": \(jsonNumber(ceilings.sgemmGflops)),
          "copy_gbps": \(jsonNumber(ceilings.copyGBps)),
          "rows": [
        \(lines.joined(separator: ",\n"))
          ]
        }

        """
}
