// svgnet-bench: kernel table, end-to-end training step and sampling, at the sizes SVGNet trains
// (`svgnet-bench --help` lists the flags).
// See Docs/PERFORMANCE.md for what every column means and the results on the reference machine.
import ArgumentParser
#if canImport(Glibc)
    import Glibc
#endif
import Kernels
import SVGNet

/// A comma-separated list of names from a fixed set, as one argument ("train,sample").
struct NameList: ExpressibleByArgument {
    let names: Set<String>
    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !parts.isEmpty, !parts.contains("") else { return nil }
        names = Set(parts)
    }
}

extension ConvolutionAlgorithm: ExpressibleByArgument {}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "svgnet-bench",
        abstract: "Kernel table, end-to-end training step and sampling, and the per-op profile, at the sizes SVGNet trains (Docs/PERFORMANCE.md).")

    static let sections: Set<String> = ["kernels", "train", "sample", "profile", "memory"]
    /// `--models` names, in the rows' order: svglp, hafsvg4, vgg64, vgg64-hafsvg1 (ModelBench.swift's trainingCases).
    static let modelNames = trainingCases().map { modelName($0.key) }

    @Option(help: "Also write every row to this JSON file.") var json: String?
    @Flag(help: "Fewer repetitions (3 per kernel, 1 run per model).") var quick = false
    @Option(help: "Sections to run, comma-separated: kernels, train, sample, profile, memory (default: all).") var only: NameList?
    @Option(help: "OpenBLAS and engine threads (default: all cores).") var threads: Int?
    @Option(help: "Runs per end-to-end row (default 3, 1 with --quick).") var runs: Int?
    @Option(help: "End-to-end, profile and memory rows, comma-separated: \(Bench.modelNames.joined(separator: ", ")) (default: all).")
    var models: NameList?
    @Option(help: "Kernel-table sections, comma-separated (default: all).") var kernels: NameList?
    @Option(help: "The model rows' convolution path (direct: the A/B baseline in one build).") var convolution: ConvolutionAlgorithm = .automatic

    func validate() throws {
        if let only, !only.names.isSubset(of: Self.sections) {
            throw ValidationError("--only: expected kernels, train, sample, profile or memory, got \(only.names.sorted().joined(separator: ","))")
        }
        if let models, !models.names.isSubset(of: Set(Self.modelNames)) {
            throw ValidationError(
                "--models: expected some of \(Self.modelNames.joined(separator: ", ")), got \(models.names.sorted().joined(separator: ","))")
        }
        if let kernels, !kernels.names.isSubset(of: kernelSectionNames) {
            throw ValidationError(
                "--kernels: expected some of \(kernelSectionNames.joined(separator: ", ")), got \(kernels.names.sorted().joined(separator: ","))")
        }
        if let n = threads, n < 1 { throw ValidationError("--threads: expected a positive integer, got \(n)") }
        if let n = runs, n < 1 { throw ValidationError("--runs: expected a positive integer, got \(n)") }
        // A path that cannot be written should fail now, not after the whole run.
        if let path = json {
            let slash = path.lastIndex(of: "/")
            let dir = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
            if access(dir, W_OK) != 0 { throw ValidationError("--json: cannot write into \(dir) (\(String(cString: strerror(errno))))") }
        }
    }

    func run() throws {
        runBenchmark(self)
    }
}

/// An error after the run started (an unwritable --json): one line on stderr, exit status 2.
func fail(_ problem: String) -> Never {
    let line = "svgnet-bench: \(problem)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

func progress(_ s: String) {
    // Progress goes to stderr so stdout stays the table.
    // Written to fd 2 directly: the C `stderr` global is not concurrency-safe in Swift 6.
    let line = "… \(s)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

/// The machine is shared: the load average says how much of it this run had.
func loadAverage() -> String {
    guard let f = fopen("/proc/loadavg", "r") else { return "?" }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 128)
    guard fgets(&line, Int32(line.count), f) != nil else { return "?" }
    return line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.split(separator: " ").prefix(3).joined(separator: " ")
}

func runBenchmark(_ options: Bench) {
    if let n = options.threads { setBLASThreadCount(n); setKernelThreadCount(n) }
    let threads = blasThreadCount()
    let kernelReps = options.quick ? 3 : 7
    let modelRuns = options.runs ?? (options.quick ? 1 : 3)

    print("svgnet-bench \(SVGNetVersion.string) — OpenBLAS threads \(threads)\(options.quick ? ", quick" : "") — load average at start \(loadAverage())")
    progress("ceilings")
    var (ceilings, allRows) = machineCeilings(reps: kernelReps)
    print("sgemm 2048³: \(fixed(ceilings.sgemmGflops, 1)) GFLOP/s   memory copy: \(fixed(ceilings.copyGBps, 1)) GB/s (read + write)")
    print("")

    if (options.only?.names ?? Bench.sections).contains("kernels") {
        let rows = runKernelSection(reps: kernelReps, ceilings: ceilings, sections: options.kernels?.names, log: progress)
        print("## kernels (F = \(encoderFrames), D = \(decoderFrames), S = \(sourceFrames) frames; median of \(kernelReps) after 1 warm-up)")
        printKernelTable(allRows + rows, ceilings)
        print("")
        allRows += rows
    }

    do {
        var modelRows: [Row] = []
        if (options.only?.names ?? Bench.sections).contains("train") {
            modelRows += try runTrainSection(
                runs: modelRuns, models: options.models?.names, convolution: options.convolution, ceilings: ceilings, log: progress)
        }
        if (options.only?.names ?? Bench.sections).contains("sample") {
            modelRows += try runSampleSection(
                runs: modelRuns, models: options.models?.names, convolution: options.convolution, ceilings: ceilings, log: progress)
        }
        if (options.only?.names ?? Bench.sections).contains("profile") {
            try runProfileSection(models: options.models?.names, convolution: options.convolution, ceilings: ceilings, log: progress)
        }
        if (options.only?.names ?? Bench.sections).contains("memory") {
            try runMemorySection(models: options.models?.names, convolution: options.convolution, log: progress)
        }
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
    if let path = options.json {
        // Written beside the target and renamed over it, so a failed write leaves no half-written file.
        let text = jsonDocument(allRows, ceilings, threads: threads), temporary = "\(path).tmp-\(getpid())"
        guard let f = fopen(temporary, "w") else { fail("--json: cannot write \(temporary) (\(String(cString: strerror(errno))))") }
        let written = fputs(text, f) >= 0
        if fclose(f) != 0 || !written || rename(temporary, path) != 0 {
            unlink(temporary)
            fail("--json: writing \(path) failed (\(String(cString: strerror(errno))))")
        }
        print("wrote \(path)")
    }
}

Bench.main()
