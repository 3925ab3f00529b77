// KTH actions, from the files the KTH site serves to the PNG layout KTHDataset reads:
//   <action>.zip (or the personNN_<action>_dK_uncomp.avi files extracted from it), 160 × 120 gray video, 25 fps
//   → <action>/personNN_<action>_dK/image-001_64x64.png, image-002_64x64.png, … one PNG per decoded frame.
// This is what SVG's data/convert_kth.lua writes by running `ffmpeg -i VIDEO -r 25 -f image2 -s 64x64
// image-%03d_64x64.png`: the same folder and file names, frames numbered from 1, the 4:3 frame squashed to
// 64 × 64 with the same (bicubic) filter. The frames are stored as gray PNGs; the reference's ffmpeg chose RGB
// PNGs with equal channels, of which SVG reads the first. Frames are written in decoding order, one per
// decoded frame (KTH is 25 fps, so `-r 25` neither dropped nor repeated frames). Every person is converted:
// KTHDataset splits by person (1–20 train, 21–25 test).
// The input folder is searched up to three levels deep, so DIR, DIR/<action>/ and DIR/raw/<action>/ (the layout
// of SVG's download_kth.sh) all work. A zip entry is extracted to a hidden folder inside `destination`, decoded
// and deleted; a video found both extracted and in its zip is read from the extracted file.
import Foundation
import ZIPFoundation

/// Converts the KTH action videos to SVG's PNG layout.
public enum KTHConversion {
    /// KTH's six actions, the names of its zips and of the output folders.
    public static let actions = ["boxing", "handclapping", "handwaving", "jogging", "running", "walking"]
    /// KTH's subjects.
    public static let persons = 1...25
    /// KTH's frame rate, and convert_kth.lua's `-r 25`.
    public static let framesPerSecond = 25

    /// What a KTH video's file name says: "person01_boxing_d1_uncomp.avi" → person 1, boxing, scenario 1,
    /// output folder "person01_boxing_d1".
    public struct VideoName: Equatable, Sendable {
        public let folder: String
        public let person: Int
        public let action: String
        public let scenario: Int
    }

    /// Parses personNN_<action>_dK[_uncomp].avi (case-insensitive extension); nil for any other name.
    public static func videoName(_ fileName: String) -> VideoName? {
        guard fileName.lowercased().hasSuffix(".avi") else { return nil }
        var base = String(fileName.dropLast(4))
        if base.hasSuffix("_uncomp") { base = String(base.dropLast("_uncomp".count)) }
        let parts = base.split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        func number(_ text: Substring) -> Int? { text.allSatisfy { $0.isASCII && $0.isNumber } ? Int(text) : nil }
        guard parts.count == 3, parts[0].hasPrefix("person"), parts[2].hasPrefix("d"),
            let person = number(parts[0].dropFirst("person".count)), let scenario = number(parts[2].dropFirst()),
            actions.contains(parts[1])
        else { return nil }
        return VideoName(folder: base, person: person, action: parts[1], scenario: scenario)
    }

    /// Frame `number` (from 1)'s file name, as convert_kth.lua names it: "image-001_64x64.png".
    public static func frameFileName(_ number: Int) -> String {
        String(format: "image-%03d_%dx%d.png", number, frameSide, frameSide)
    }

    /// What a conversion wrote.
    public struct Summary: Equatable, Sendable {
        /// Videos per split (persons 1–20 train, 21–25 test).
        public var videos: [DataSplit: Int] = [:]
        /// Frames per split.
        public var frames: [DataSplit: Int] = [:]
        /// Videos per action.
        public var videosPerAction: [String: Int] = [:]
    }

    /// Where one video comes from.
    enum Origin: Equatable {
        case file(String)
        case zipEntry(archive: String, entry: String)

        /// How messages name it: the file, or "ARCHIVE: ENTRY".
        var label: String {
            switch self {
            case .file(let path): return path
            case .zipEntry(let archive, let entry): return "\(archive): \(entry)"
            }
        }
    }

    /// Converts every KTH video under `directory` into `destination`, which must exist. Calls `progress` with
    /// one line per video and checks `isCancelled` between frames. Throws `DataError` for a name that is not
    /// a KTH video's, a video found twice, a zip that cannot be read or fails its checks, or a video FFmpeg
    /// cannot decode (naming the frame); or `ConversionInterrupted`. What was written stays in `destination`
    /// for the caller to remove (`writeFolderAtomically` does).
    public static func convert(
        from directory: String, into destination: String,
        progress: (String) -> Void = { _ in }, isCancelled: () -> Bool = { false }
    ) throws -> Summary {
        guard isDirectory(directory) else { throw DataError(directory, "no such KTH folder") }
        var videoFiles: [String] = [], zipFiles: [String] = [], sequenceLists: [String] = []
        try scan(directory, depth: 0, videos: &videoFiles, zips: &zipFiles, sequenceLists: &sequenceLists)

        // Extracted files first, so they take precedence over the same video in a zip.
        var videos: [String: (name: VideoName, origin: Origin)] = [:]
        for path in videoFiles {
            let fileName = (path as NSString).lastPathComponent
            guard let name = videoName(fileName) else { throw DataError(path, notAKTHVideo) }
            try checkPerson(name, path)
            if let other = videos[name.folder] { throw DataError(path, "the video \(name.folder) is also at \(other.origin.label); keep one") }
            videos[name.folder] = (name, .file(path))
        }
        var archives: [String: Archive] = [:]
        for zip in zipFiles {
            let archive = try openZip(zip)
            archives[zip] = archive
            for entry in archive where entry.type == .file {
                let components = entry.path.split(separator: "/").map(String.init)
                guard let fileName = components.last, fileName.lowercased().hasSuffix(".avi"),
                    !fileName.hasPrefix("."), !components.contains("__MACOSX")
                else { continue }
                guard let name = videoName(fileName) else { throw DataError(zip, "\(entry.path): \(notAKTHVideo)") }
                try checkPerson(name, "\(zip): \(entry.path)")
                if let other = videos[name.folder] {
                    if case .file = other.origin { continue }
                    throw DataError(zip, "\(entry.path): the video \(name.folder) is also at \(other.origin.label); keep one")
                }
                videos[name.folder] = (name, .zipEntry(archive: zip, entry: entry.path))
            }
        }
        guard !videos.isEmpty else {
            throw DataError(directory, "no KTH videos (expected <action>.zip files or personNN_<action>_dK_uncomp.avi files)")
        }

        let ordered = videos.values.sorted {
            $0.name.action != $1.name.action ? $0.name.action < $1.name.action : naturalOrder($0.name.folder, $1.name.folder)
        }
        let extractFolder = destination + "/.extract"
        defer { try? FileManager.default.removeItem(atPath: extractFolder) }
        var summary = Summary()
        for (number, video) in ordered.enumerated() {
            if isCancelled() { throw ConversionInterrupted() }
            let path: String
            switch video.origin {
            case .file(let file): path = file
            case .zipEntry(let zip, let entryPath):
                try makeFolder(extractFolder)
                path = extractFolder + "/" + video.name.folder + ".avi"
                try extract(entryPath, from: archives[zip]!, zip: zip, to: path)
            }
            let folder = destination + "/" + video.name.action + "/" + video.name.folder
            try makeFolder(folder)
            let frames = try decodeGrayVideo(
                at: path, name: video.origin.label, width: frameSide, height: frameSide,
                framesPerSecond: framesPerSecond
            ) { index, pixels in
                if isCancelled() { throw ConversionInterrupted() }
                try writePNG(folder + "/" + frameFileName(index + 1), width: frameSide, height: frameSide, channels: 1, bytes: pixels)
            }
            if case .zipEntry = video.origin { try? FileManager.default.removeItem(atPath: path) }
            let split: DataSplit = KTHDataset.persons(.train).contains(video.name.person) ? .train : .test
            summary.videos[split, default: 0] += 1
            summary.frames[split, default: 0] += frames
            summary.videosPerAction[video.name.action, default: 0] += 1
            let source: String
            switch video.origin {
            case .file: source = ""
            case .zipEntry(let zip, _): source = " (from \((zip as NSString).lastPathComponent))"
            }
            progress("[\(number + 1)/\(ordered.count)] \(video.name.action)/\(video.name.folder): \(frames) frame\(frames == 1 ? "" : "s")\(source)")
        }
        // KTH's segment list (00sequences.txt, a separate download) is kept beside the videos, unread.
        if let list = sequenceLists.first {
            do { try FileManager.default.copyItem(atPath: list, toPath: destination + "/00sequences.txt") } catch {
                throw DataError(list, "cannot copy: \(error.localizedDescription)")
            }
        }
        return summary
    }

    private static let notAKTHVideo = "not a KTH video name (expected personNN_<action>_dK_uncomp.avi, action one of \(actions.joined(separator: ", ")))"

    private static func checkPerson(_ name: VideoName, _ label: String) throws {
        guard persons.contains(name.person) else {
            throw DataError(label, "person \(name.person) is not one of KTH's persons \(persons.lowerBound)–\(persons.upperBound)")
        }
    }

    /// Finds .avi and .zip files and 00sequences.txt in `folder` and up to three levels below it.
    private static func scan(_ folder: String, depth: Int, videos: inout [String], zips: inout [String], sequenceLists: inout [String]) throws {
        for entry in try listDirectory(folder, what: "folder") {
            let path = folder + "/" + entry
            if isDirectory(path) {
                if depth < 3 { try scan(path, depth: depth + 1, videos: &videos, zips: &zips, sequenceLists: &sequenceLists) }
            } else if entry.lowercased().hasSuffix(".avi") {
                videos.append(path)
            } else if entry.lowercased().hasSuffix(".zip") {
                zips.append(path)
            } else if entry == "00sequences.txt" {
                sequenceLists.append(path)
            }
        }
    }

    /// Opens a zip and checks that every entry its central directory announces can be read: ZIPFoundation's
    /// iterator stops quietly at a damaged directory record, which would drop videos without a word.
    private static func openZip(_ path: String) throws -> Archive {
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw DataError(path, "not a readable zip archive (\(zipProblem(error)))")
        }
        let data = try readFile(path, mapped: true)
        if let announced = zipEntryCount(data) {
            let readable = archive.reduce(0) { count, _ in count + 1 }
            guard readable == announced else {
                throw DataError(path, "corrupt zip archive: its directory announces \(announced) entries, \(readable) can be read")
            }
        }
        return archive
    }

    private static func extract(_ entryPath: String, from archive: Archive, zip: String, to path: String) throws {
        guard let entry = archive[entryPath] else { throw DataError(zip, "\(entryPath): the entry disappeared from the archive") }
        try? FileManager.default.removeItem(atPath: path)
        let checksum: CRC32
        do { checksum = try archive.extract(entry, to: URL(fileURLWithPath: path), skipCRC32: false) } catch {
            throw DataError(zip, "\(entryPath): cannot extract (\(zipProblem(error))); corrupt zip archive")
        }
        // ZIPFoundation computes the CRC-32 of what it extracted and returns it without comparing.
        guard checksum == entry.checksum else {
            throw DataError(zip, "\(entryPath): cannot extract (\(zipProblem(Archive.ArchiveError.invalidCRC32))); corrupt zip archive")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value
        guard size == entry.uncompressedSize else {
            throw DataError(
                zip, "\(entryPath): extracted \(size.map(String.init) ?? "?") bytes, the archive says \(entry.uncompressedSize); corrupt zip archive")
        }
    }

    private static func zipProblem(_ error: Error) -> String {
        switch error {
        case Archive.ArchiveError.invalidCRC32: return "the data fails its CRC-32 check"
        case Archive.ArchiveError.unreadableArchive: return "unreadable"
        case Archive.ArchiveError.missingEndOfCentralDirectoryRecord: return "no end-of-central-directory record; truncated?"
        default:
            // ZIPFoundation's inflate error type is internal; its case name is all that can be matched.
            return "\(error)" == "corruptedData" ? "the compressed data is corrupt" : "\(error)"
        }
    }
}

/// The entry count a zip's end-of-central-directory record announces, or nil when there is no such record or
/// the count is ZIP64's (0xFFFF, the real count elsewhere). The record is the last 22 bytes plus a comment of
/// up to 65535 bytes; its signature is PK\u{5}\u{6} and the total entry count is the UInt16 at offset 10.
func zipEntryCount(_ data: Data) -> Int? {
    data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Int? in
        guard bytes.count >= 22 else { return nil }
        let lowest = max(0, bytes.count - 22 - 65535)
        for start in stride(from: bytes.count - 22, through: lowest, by: -1)
        where bytes[start] == 0x50 && bytes[start + 1] == 0x4B && bytes[start + 2] == 5 && bytes[start + 3] == 6 {
            let count = Int(bytes[start + 10]) | Int(bytes[start + 11]) << 8
            return count == 0xFFFF ? nil : count
        }
        return nil
    }
}
