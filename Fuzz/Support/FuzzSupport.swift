// What every fuzz target shares. A target is built two ways:
//   - for fuzzing (`make fuzz`): with -DFUZZING -parse-as-library -sanitize=fuzzer,address, libFuzzer's main
//     calls the target's LLVMFuzzerTestOneInput with each input;
//   - normally (swift build): its main replays the files or folders given as arguments through the same
//     check, so a corpus (and any input that once crashed) can be rerun without the sanitizers.
import Foundation

/// Runs `check` on every file named in `arguments` (folders: every file inside), then prints how many.
public func replay(_ arguments: [String], _ check: (Data) -> Void) {
    var count = 0
    for path in arguments.dropFirst() {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            FileHandle.standardError.write(Data("\(path): no such file\n".utf8)); exit(1)
        }
        let files =
            isDirectory.boolValue
            ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" } : [path]
        for file in files { if let data = FileManager.default.contents(atPath: file) { check(data); count += 1 } }
    }
    print("\(count) inputs replayed")
}

/// A scratch folder of this process (in /dev/shm where it exists), for parsers that read files.
public let scratchFolder: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = "\(base)/svgnet-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()

/// Writes `data` to `name` in the scratch folder and returns its path.
public func scratchFile(_ name: String, _ data: Data) -> String {
    let path = "\(scratchFolder)/\(name)"
    _ = FileManager.default.createFile(atPath: path, contents: data)
    return path
}

#if FUZZING
    @_silgen_name("LLVMFuzzerRunDriver")
    private func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    nonisolated(unsafe) private var target: ((Data) -> Void)?

    /// Hands the process to libFuzzer (its command-line flags are the process's), which calls `check` with
    /// every input it tries. SwiftPM links the target's own `main` as the program's, so libFuzzer's driver is
    /// entered from there rather than from libFuzzer's main.
    public func runFuzzer(_ check: @escaping (Data) -> Void) -> Never {
        target = check
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { bytes, size in LLVMFuzzerTestOneInput(bytes, size) })
    }

    /// libFuzzer's runtime names this symbol (its own main, unused here, calls it); it runs the target's check.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func LLVMFuzzerTestOneInput(_ bytes: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        target!(size == 0 ? Data() : Data(bytes: bytes!, count: size))
        return 0
    }
#endif

/// The entry of every fuzz target: libFuzzer in a fuzzing build, a replay of the argument files otherwise.
public func fuzzTargetMain(_ check: @escaping (Data) -> Void) -> Never {
    #if FUZZING
        runFuzzer(check)
    #else
        replay(CommandLine.arguments, check)
        exit(0)
    #endif
}
