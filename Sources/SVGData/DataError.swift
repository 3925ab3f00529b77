// Errors and file helpers shared by every reader and writer in SVGData.
//   DataError: one message naming the path and the problem ("<path>: <problem>").
//   writeAtomically: writes go to a temporary file in the destination folder, then rename(2) over the
//   destination, so a reader never sees a half-written file and a failed write leaves the old file intact.
//   writeFolderAtomically: the same for a whole folder (the converters' output), built under a hidden name
//   beside it and renamed into place at the end.
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// An error of a data reader or writer: the file or folder concerned and what is wrong with it.
public struct DataError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The file or folder concerned.
    public let path: String
    /// What is wrong, in words.
    public let problem: String

    /// Creates an error for `path` with the given problem.
    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    /// The message "<path>: <problem>".
    public var description: String { "\(path): \(problem)" }
    /// The same message, for Foundation's `localizedDescription`.
    public var errorDescription: String? { description }
}

/// Calls `write` with a temporary path beside `path`, then renames it over `path`.
/// The temporary file is removed when `write` throws or the rename fails.
func writeAtomically(to path: String, _ write: (_ temporaryPath: String) throws -> Void) throws {
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw DataError(path, "cannot write: the folder \(folder) does not exist")
    }
    // The temporary name only has to be unique among concurrent writers, so system randomness is fine here.
    let temporary = folder + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    do {
        try write(temporary)
    } catch {
        unlink(temporary)
        throw error
    }
    if rename(temporary, path) != 0 {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw DataError(path, "cannot move the written file into place: \(reason)")
    }
}

/// Builds a folder at `path`: `build` fills a hidden temporary folder beside it (in the same parent, so the
/// final rename(2) cannot cross file systems), which is then renamed to `path`. So `path` either ends up
/// complete or is left as it was. Refuses, before building, when `path` exists and is not an empty folder;
/// creates the parent folders when they are missing. The temporary folder is removed when `build` throws or
/// the rename fails. Throws `DataError`, or what `build` throws.
public func writeFolderAtomically<Result>(to path: String, _ build: (_ temporaryPath: String) throws -> Result) throws -> Result {
    let url = URL(fileURLWithPath: path).standardized
    let parent = url.deletingLastPathComponent().path
    try checkNewFolder(path)
    do {
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
    } catch {
        throw DataError(parent, "cannot create the folder: \(error.localizedDescription)")
    }
    // Unique among concurrent runs, like writeAtomically's temporary names.
    let temporary = parent + "/." + url.lastPathComponent + ".partial-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
    guard mkdir(temporary, 0o755) == 0 else {
        throw DataError(temporary, "cannot create the temporary folder: \(String(cString: strerror(errno)))")
    }
    let result: Result
    do {
        result = try build(temporary)
        // rename(2) replaces an empty folder at `path` and fails on a non-empty one.
        if rename(temporary, url.path) != 0 {
            throw DataError(path, "cannot move the finished folder into place: \(String(cString: strerror(errno)))")
        }
    } catch {
        try? FileManager.default.removeItem(atPath: temporary)
        throw error
    }
    return result
}

/// Throws unless `path` is missing or an empty folder.
private func checkNewFolder(_ path: String) throws {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
    guard isDirectory.boolValue else { throw DataError(path, "exists and is a file; give a new or empty folder") }
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    guard entries.isEmpty else { throw DataError(path, "exists and is not empty; give a new or empty folder") }
}

/// Writes bytes atomically (see `writeAtomically`).
func writeDataAtomically(_ data: Data, to path: String) throws {
    try writeAtomically(to: path) { temporary in
        do {
            try data.write(to: URL(fileURLWithPath: temporary))
        } catch {
            throw DataError(path, "cannot write: \(error.localizedDescription)")
        }
    }
}

/// Reads a whole file, memory-mapped when possible (the public Moving MNIST .npy is 800 MB).
func readFile(_ path: String, mapped: Bool = false) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DataError(path, "no such file")
    }
    if isDirectory.boolValue { throw DataError(path, "is a directory, expected a file") }
    do {
        return try Data(contentsOf: URL(fileURLWithPath: path), options: mapped ? [.alwaysMapped] : [])
    } catch {
        throw DataError(path, "cannot read: \(error.localizedDescription)")
    }
}

func isDirectory(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
}

/// The entries of a folder (hidden ones skipped), in natural order: "2" before "10", "traj_2" before "traj_10".
func listDirectory(_ path: String, what: String) throws -> [String] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DataError(path, "no such \(what)")
    }
    guard isDirectory.boolValue else { throw DataError(path, "is a file, expected a \(what)") }
    let names: [String]
    do {
        names = try FileManager.default.contentsOfDirectory(atPath: path)
    } catch {
        throw DataError(path, "cannot list the \(what): \(error.localizedDescription)")
    }
    return names.filter { !$0.hasPrefix(".") }.sorted(by: naturalOrder)
}

/// Orders names by their runs of digits as numbers and the rest as text, so frame 10 follows frame 9.
func naturalOrder(_ a: String, _ b: String) -> Bool {
    let ka = naturalKey(a), kb = naturalKey(b)
    for (x, y) in zip(ka, kb) where x != y {
        switch (x, y) {
        case let (.number(p), .number(q)): return p < q
        case let (.text(p), .text(q)): return p < q
        case (.number, .text): return true
        case (.text, .number): return false
        }
    }
    return ka.count != kb.count ? ka.count < kb.count : a < b
}

private enum NaturalPiece: Equatable {
    case text(String)
    case number(Int)
}

private func naturalKey(_ s: String) -> [NaturalPiece] {
    var pieces: [NaturalPiece] = []
    var current = ""
    var inDigits = false
    func flush() {
        guard !current.isEmpty else { return }
        // Digit runs too long for Int keep their text form; they still sort consistently.
        pieces.append(inDigits ? (Int(current).map(NaturalPiece.number) ?? .text(current)) : .text(current))
        current = ""
    }
    for ch in s {
        let digit = ch.isASCII && ch.isNumber
        if digit != inDigits { flush(); inDigits = digit }
        current.append(ch)
    }
    flush()
    return pieces
}

/// The first run of decimal digits in a name ("image-007_64x64.png" → 7), nil when there is none.
func firstInteger(in name: String) -> Int? {
    var digits = ""
    for ch in name {
        if ch.isASCII && ch.isNumber { digits.append(ch) } else if !digits.isEmpty { break }
    }
    return Int(digits)
}
