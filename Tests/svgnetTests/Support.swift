// Test support for the command-line tool: find the built `svgnet` binary, run it as a child process in a
// fresh temporary folder, and build tiny synthetic datasets (KTH and BAIR folders, .npy files) there.
import Foundation
import SVGData
import SVGNet
import XCTest

/// The `svgnet` executable SwiftPM built next to the test bundle (the test target depends on it).
/// SVGNET_BINARY overrides the search.
let svgnetBinary: String? = {
    if let p = ProcessInfo.processInfo.environment["SVGNET_BINARY"] { return p }
    var candidates: [URL] = []
    let bundle = Bundle.main.bundleURL
    candidates.append(bundle.appendingPathComponent("svgnet"))
    candidates.append(bundle.deletingLastPathComponent().appendingPathComponent("svgnet"))
    for b in Bundle.allBundles { candidates.append(b.bundleURL.deletingLastPathComponent().appendingPathComponent("svgnet")) }
    // Walk up from the running test binary (…/.build*/debug/SVGNetPackageTests.xctest) as a last resort.
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 { candidates.append(dir.appendingPathComponent("svgnet")); dir = dir.deletingLastPathComponent() }
    for c in candidates {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: c.path, isDirectory: &isDir), !isDir.boolValue,
            FileManager.default.isExecutableFile(atPath: c.path)
        {
            return c.path
        }
    }
    return nil
}()

struct RunResult {
    let status: Int32
    let stdout: String
    let stderr: String
    /// stderr without trailing blank lines, split into lines.
    var errorLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
}

/// The smallest useful model: every run of a few steps takes well under a second.
let tiny = [
    "--nf", "4", "--g-dim", "8", "--rnn-size", "8", "--z-dim", "2", "--batch", "2", "--n-past", "2", "--n-future", "1",
    "--sample-every", "0", "--threads", "1"
]

class CLITestCase: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        guard svgnetBinary != nil else { throw XCTSkip("the svgnet binary was not found next to the test bundle; set SVGNET_BINARY") }
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("svgnet-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if !folder.isEmpty { try? FileManager.default.removeItem(atPath: folder) }
    }

    func path(_ relative: String) -> String { folder + "/" + relative }

    func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: path(relative)) }

    /// Starts `svgnet args…` (or `executable args…`) in the test folder with stdout and stderr going to files.
    func start(_ args: [String], executable: String? = nil) throws -> (Process, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable ?? svgnetBinary!)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: folder)
        let id = UUID().uuidString
        let out = folder + "/.stdout-\(id)", err = folder + "/.stderr-\(id)"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: out)
        p.standardError = FileHandle(forWritingAtPath: err)
        try p.run()
        return (p, out, err)
    }

    func finish(_ p: Process, _ out: String, _ err: String) -> RunResult {
        p.waitUntilExit()
        let o = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let e = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: out)
        try? FileManager.default.removeItem(atPath: err)
        return RunResult(status: p.terminationStatus, stdout: o, stderr: e)
    }

    @discardableResult
    func run(_ args: [String]) throws -> RunResult {
        let (p, o, e) = try start(args)
        return finish(p, o, e)
    }

    /// Runs a command that must succeed; fails the test with its stderr otherwise.
    @discardableResult
    func succeed(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        let r = try run(args)
        XCTAssertEqual(r.status, 0, "svgnet \(args.joined(separator: " ")) failed:\n\(r.stderr)", file: file, line: line)
        return r
    }

    /// Runs a command that must fail with one line on stderr naming the problem: `Error: …` containing every
    /// string of `mentions`. `absent` are paths (relative to the folder) that must not exist afterwards.
    @discardableResult
    func fail(
        _ args: [String], _ mentions: [String], absent: [String] = [], oneLine: Bool = true,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> RunResult {
        let r = try run(args)
        let cmd = "svgnet " + args.joined(separator: " ")
        XCTAssertNotEqual(r.status, 0, "\(cmd) succeeded", file: file, line: line)
        let lines = r.errorLines
        XCTAssertFalse(lines.isEmpty, "\(cmd): nothing on stderr", file: file, line: line)
        if oneLine { XCTAssertEqual(lines.count, 1, "\(cmd): stderr is not one line:\n\(r.stderr)", file: file, line: line) }
        let first = lines.first ?? ""
        XCTAssertTrue(first.hasPrefix("Error: "), "\(cmd): \(first)", file: file, line: line)
        for m in mentions {
            XCTAssertTrue(first.contains(m), "\(cmd): '\(first)' does not mention '\(m)'", file: file, line: line)
        }
        XCTAssertFalse(r.stderr.contains("Fatal error"), "\(cmd) crashed:\n\(r.stderr)", file: file, line: line)
        for a in absent { XCTAssertFalse(exists(a), "\(cmd) left \(a) behind", file: file, line: line) }
        return r
    }

    func bytes(_ relative: String) -> Data? { FileManager.default.contents(atPath: path(relative)) }

    func write(_ relative: String, _ data: Data) {
        let p = path(relative)
        try? FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: p, contents: data)
    }

    /// log.jsonl as parsed lines.
    func logLines(_ dir: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path("\(dir)/log.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], "not a JSON object: \($0)")
        }
    }

    // MARK: synthetic data

    /// A deterministic frame: a bright square whose position depends on `seed`, on a dim background.
    func frame(channels: Int, seed: Int, side: Int = 64) -> Image {
        var img = Image(channels: channels, height: side, width: side)
        let x0 = (seed * 7) % (side - 12), y0 = (seed * 13) % (side - 12)
        for c in 0..<channels {
            for y in 0..<side {
                for x in 0..<side {
                    let inside = (x0..<x0 + 12).contains(x) && (y0..<y0 + 12).contains(y)
                    img[c, y, x] = inside ? Float(200 + 20 * c) / 255 : Float((x + y + seed) % 40) / 255
                }
            }
        }
        return img
    }

    /// KTH as the SVG preprocessing writes it: DIR/<action>/personNN_<action>_d1/<i>.png. Persons 1–2 train,
    /// 21 tests; each video has `frames` frames.
    func makeKTH(_ relative: String, frames: Int = 4) throws {
        for (person, action) in [(1, "walking"), (2, "boxing"), (21, "walking")] {
            let dir = path(String(format: "%@/%@/person%02d_%@_d1", relative, action, person, action))
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for i in 1...frames { try writePNG("\(dir)/\(i).png", frame(channels: 1, seed: person * 10 + i)) }
        }
    }

    /// BAIR as the SVG preprocessing writes it: DIR/processed_data/{train,test}/<traj>/<n>/<i>.png, RGB.
    func makeBAIR(_ relative: String, frames: Int = 3) throws {
        for split in ["train", "test"] {
            for n in 0..<2 {
                let dir = path("\(relative)/processed_data/\(split)/traj_0_to_255/\(n)")
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                for i in 0..<frames { try writePNG("\(dir)/\(i).png", frame(channels: 3, seed: n * 10 + i + (split == "test" ? 50 : 0))) }
            }
        }
    }

    /// `count` sequences of `length` 64×64 gray frames, sequence i built from frame seeds i·100 + t.
    func sequences(_ ids: [Int], length: Int) -> [[Float]] {
        ids.map { i in (0..<length).flatMap { frame(channels: 1, seed: i * 100 + $0).pixels } }
    }

    /// Writes sequences as float32 (N, T, 64, 64).
    func writeNTHW(_ relative: String, _ seqs: [[Float]], length: Int) throws {
        try NPY.write(path(relative), shape: [seqs.count, length, 64, 64], values: seqs.flatMap { $0 })
    }
}
