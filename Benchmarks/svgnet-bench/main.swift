// svgnet-bench: kernel table, end-to-end training step and sampling, at the sizes SVGNet trains.
//   svgnet-bench [--json FILE] [--quick] [--only kernels|train|sample|profile] [--threads N] [--runs N] [--models …] [--kernels …]
//                [--convolution automatic|direct|winogradWhereShapeAllows]
// See Docs/PERFORMANCE.md for what every column means and the results on the reference machine.
#if canImport(Glibc)
import Glibc
#endif
import Kernels
import SVGNet

struct Options {
    var jsonPath: String? = nil
    var quick = false
    var only: Set<String> = ["kernels", "train", "sample", "profile"]
    var threads: Int? = nil
    var runs: Int? = nil
    var models: Set<String>? = nil     // end-to-end and profile rows to run: svglp, hafsvg4, vgg64 (default all)
    var kernels: Set<String>? = nil    // kernel-table sections to run (c1 … c5, upc1 … upc5, BatchNorm, …; default all)
    var convolution: ConvolutionAlgorithm = .automatic   // the model rows' conv path (direct: the A/B baseline in one build)
}

/// A bad flag or an unwritable output: one line on stderr naming it, exit status 2.
func fail(_ problem: String, flagsHint: Bool = true) -> Never {
    let line = "svgnet-bench: \(problem)" + (flagsHint ? " (--help lists the flags)" : "") + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

func printUsageAndExit() -> Never {
    print("usage: svgnet-bench [--json FILE] [--quick] [--only kernels|train|sample|profile[,…]] [--threads N] [--runs N] [--models svglp,hafsvg4,vgg64] [--kernels \(kernelSectionNames.joined(separator: ","))] [--convolution automatic|direct|winogradWhereShapeAllows]")
    exit(0)
}

func parseOptions(_ args: [String]) -> Options {
    var o = Options()
    var i = 0
    func value() -> String {
        i += 1
        guard i < args.count else { fail("\(args[i - 1]) needs a value") }
        return args[i]
    }
    while i < args.count {
        switch args[i] {
        case "--json": o.jsonPath = value()
        case "--quick": o.quick = true
        case "--only":
            let sections = Set(value().split(separator: ",").map(String.init))
            guard sections.isSubset(of: ["kernels", "train", "sample", "profile"]), !sections.isEmpty else {
                fail("--only: expected kernels, train, sample or profile, got \(args[i])")
            }
            o.only = sections
        case "--runs":
            guard let n = Int(value()), n >= 1 else { fail("--runs: expected a positive integer, got \(args[i])") }
            o.runs = n
        case "--models":
            let models = Set(value().split(separator: ",").map(String.init))
            guard models.isSubset(of: ["svglp", "hafsvg4", "vgg64"]), !models.isEmpty else {
                fail("--models: expected svglp, hafsvg4 or vgg64, got \(args[i])")
            }
            o.models = models
        case "--kernels":
            let names = Set(value().split(separator: ",").map(String.init))
            guard names.isSubset(of: kernelSectionNames), !names.isEmpty else {
                fail("--kernels: expected some of \(kernelSectionNames.joined(separator: ", ")), got \(args[i])")
            }
            o.kernels = names
        case "--threads":
            guard let n = Int(value()), n >= 1 else { fail("--threads: expected a positive integer, got \(args[i])") }
            o.threads = n
        case "--convolution":
            guard let a = ConvolutionAlgorithm(rawValue: value()) else {
                fail("--convolution: expected \(ConvolutionAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")), got \(args[i])")
            }
            o.convolution = a
        case "-h", "--help": printUsageAndExit()
        default:
            fail("unknown argument \(args[i])")
        }
        i += 1
    }
    // A path that cannot be written should fail now, not after the whole run.
    if let path = o.jsonPath {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        if access(dir, W_OK) != 0 { fail("--json: cannot write into \(dir) (\(String(cString: strerror(errno))))", flagsHint: false) }
    }
    return o
}

func progress(_ s: String) {
    // Progress goes to stderr so stdout stays the table.
    // Written to fd 2 directly: the C `stderr` global is not concurrency-safe in Swift 6.
    let line = "… \(s)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

let options = parseOptions(Array(CommandLine.arguments.dropFirst()))
if let n = options.threads { setBLASThreadCount(n); setKernelThreadCount(n) }
let threads = blasThreadCount()
let kernelReps = options.quick ? 3 : 7
let modelRuns = options.runs ?? (options.quick ? 1 : 3)

/// The machine is shared: the load average says how much of it this run had.
func loadAverage() -> String {
    guard let f = fopen("/proc/loadavg", "r") else { return "?" }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 128)
    guard fgets(&line, Int32(line.count), f) != nil else { return "?" }
    return line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.split(separator: " ").prefix(3).joined(separator: " ")
}

print("svgnet-bench \(SVGNetVersion.string) — OpenBLAS threads \(threads)\(options.quick ? ", quick" : "") — load average at start \(loadAverage())")
progress("ceilings")
var (ceilings, allRows) = machineCeilings(reps: kernelReps)
print("sgemm 2048³: \(fixed(ceilings.sgemmGflops, 1)) GFLOP/s   memory copy: \(fixed(ceilings.copyGBps, 1)) GB/s (read + write)")
print("")

if options.only.contains("kernels") {
    let rows = runKernelSection(reps: kernelReps, ceilings: ceilings, sections: options.kernels, log: progress)
    print("## kernels (F = \(encoderFrames), D = \(decoderFrames), S = \(sourceFrames) frames; median of \(kernelReps) after 1 warm-up)")
    printKernelTable(allRows + rows, ceilings)
    print("")
    allRows += rows
}

do {
    var modelRows: [Row] = []
    if options.only.contains("train") { modelRows += try runTrainSection(runs: modelRuns, models: options.models, convolution: options.convolution, ceilings: ceilings, log: progress) }
    if options.only.contains("sample") { modelRows += try runSampleSection(runs: modelRuns, models: options.models, convolution: options.convolution, ceilings: ceilings, log: progress) }
    if options.only.contains("profile") { try runProfileSection(models: options.models, convolution: options.convolution, ceilings: ceilings, log: progress) }
    if !modelRows.isEmpty {
        print("## end to end (median of up to \(modelRuns) runs after 1 warm-up)")
        printModelTable(modelRows, ceilings)
        print("")
    }
    allRows += modelRows
} catch {
    print("error: \(error)")
    exit(1)
}

print("load average at end \(loadAverage())")
if let path = options.jsonPath {
    // Written beside the target and renamed over it, so a failed write leaves no half-written file.
    let text = jsonDocument(allRows, ceilings, threads: threads), temporary = "\(path).tmp-\(getpid())"
    guard let f = fopen(temporary, "w") else { fail("--json: cannot write \(temporary) (\(String(cString: strerror(errno))))", flagsHint: false) }
    let written = fputs(text, f) >= 0
    if fclose(f) != 0 || !written || rename(temporary, path) != 0 {
        unlink(temporary)
        fail("--json: writing \(path) failed (\(String(cString: strerror(errno))))", flagsHint: false)
    }
    print("wrote \(path)")
}
