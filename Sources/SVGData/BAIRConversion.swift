// BAIR robot pushing, from the files of bair_robot_pushing_dataset_v0.tar to the PNG layout BAIRDataset reads:
//   softmotion30_44k/{train,test}/<name>.tfrecords, each record a tf.train.Example of one trajectory
//   → processed_data/{train,test}/<name>/<k>/<i>.png, k = 1, 2, … the record's position in its file and
//     i = 0 … 29 the frame: feature "<i>/image_aux1/encoded", 64 × 64 × 3 raw bytes, RGB, row-major.
// This is what SVG's data/convert_bair.py writes (its k also counts from 1), without TensorFlow. The other
// features of a record (image_main, action, endeffector_pos) are decoded and not used, as there.
import Foundation

/// Converts the BAIR TFRecord files to SVG's PNG layout.
public enum BAIRConversion {
    /// Frames per trajectory, features 0 … 29.
    public static let framesPerRecord = 30
    /// Bytes of one frame: 64 × 64 RGB.
    public static let frameBytes = frameSide * frameSide * 3
    /// The splits, in the order they are converted (the small test split first, as in convert_bair.py).
    public static let splits: [DataSplit] = [.test, .train]

    /// The name of frame `i`'s feature.
    public static func frameFeature(_ i: Int) -> String { "\(i)/image_aux1/encoded" }

    /// What a conversion wrote.
    public struct Summary: Equatable, Sendable {
        /// TFRecord files read per split.
        public var files: [DataSplit: Int] = [:]
        /// Records (sequences) written per split.
        public var records: [DataSplit: Int] = [:]
        /// Frames written per split: 30 per record.
        public func frames(_ split: DataSplit) -> Int { (records[split] ?? 0) * framesPerRecord }
    }

    /// The 30 frames of one decoded record, each `frameBytes` bytes (slices of the record). Throws
    /// `DataError(path, "record k: …")` when a frame's feature is missing, not a list of one byte string, or
    /// not 64 × 64 × 3 bytes.
    public static func frames(of example: TFExample, path: String, record: Int) throws -> [Data] {
        try (0..<framesPerRecord).map { i in
            let name = frameFeature(i)
            guard let feature = example.features[name] else {
                throw DataError(path, "record \(record): no feature '\(name)' (frame \(i) of \(framesPerRecord); not a BAIR softmotion30_44k record?)")
            }
            guard case .bytesList(let values) = feature else {
                throw DataError(path, "record \(record): feature '\(name)' is \(kind(feature)), expected one byte string")
            }
            guard values.count == 1 else {
                throw DataError(path, "record \(record): feature '\(name)' holds \(values.count) byte strings, expected one")
            }
            guard values[0].count == frameBytes else {
                throw DataError(path, "record \(record): feature '\(name)' holds \(values[0].count) bytes, expected \(frameBytes) (64×64 RGB)")
            }
            return values[0]
        }
    }

    /// The folder holding train/ and test/: `directory`/softmotion30_44k, or `directory` itself when it is
    /// that folder. Throws `DataError` when neither holds both.
    public static func sourceRoot(_ directory: String) throws -> String {
        guard isDirectory(directory) else { throw DataError(directory, "no such BAIR folder") }
        let nested = directory + "/softmotion30_44k"
        for candidate in [nested, directory] where splits.allSatisfy({ isDirectory(candidate + "/" + $0.rawValue) }) {
            return candidate
        }
        throw DataError(
            directory,
            "no softmotion30_44k/train and softmotion30_44k/test folders (extract bair_robot_pushing_dataset_v0.tar here, or give its softmotion30_44k folder)")
    }

    /// Converts every record of `directory` (see `sourceRoot`) into `destination`, which must exist:
    /// destination/processed_data/{train,test}/<file>/<k>/<i>.png. Calls `progress` with one line per file
    /// and checks `isCancelled` between records. Throws `DataError` for the first bad file or record (its
    /// checksums, its Example, its frames), or `ConversionInterrupted`; what was written stays in
    /// `destination` for the caller to remove (`writeFolderAtomically` does).
    public static func convert(
        from directory: String, into destination: String,
        progress: (String) -> Void = { _ in }, isCancelled: () -> Bool = { false }
    ) throws -> Summary {
        let root = try sourceRoot(directory)
        var work: [(DataSplit, String)] = []
        for split in splits {
            let splitPath = root + "/" + split.rawValue
            let files = try listDirectory(splitPath, what: "BAIR split folder").filter { $0.hasSuffix(".tfrecords") }
            guard !files.isEmpty else { throw DataError(splitPath, "no .tfrecords files") }
            work += files.map { (split, splitPath + "/" + $0) }
        }
        var summary = Summary()
        for (number, (split, file)) in work.enumerated() {
            let data = try readFile(file, mapped: true)
            let records = try TFRecord.records(in: data, path: file)
            let name = String((file as NSString).lastPathComponent.dropLast(".tfrecords".count))
            let folder = destination + "/processed_data/" + split.rawValue + "/" + name
            for (index, record) in records.enumerated() {
                if isCancelled() { throw ConversionInterrupted() }
                let k = index + 1
                let example: TFExample
                do { example = try decodeExample(record) } catch let error as WireFormatError {
                    throw DataError(file, "record \(k): not a tf.train.Example: \(error)")
                }
                let frames = try frames(of: example, path: file, record: k)
                let sequence = folder + "/\(k)"
                try makeFolder(sequence)
                for (i, frame) in frames.enumerated() {
                    try frame.withUnsafeBytes { try writePNG(sequence + "/\(i).png", width: frameSide, height: frameSide, channels: 3, bytes: $0) }
                }
            }
            summary.files[split, default: 0] += 1
            summary.records[split, default: 0] += records.count
            progress("[\(number + 1)/\(work.count)] \(split.rawValue)/\(name).tfrecords: \(records.count) record\(records.count == 1 ? "" : "s")")
        }
        return summary
    }

    private static func kind(_ feature: TFFeature) -> String {
        switch feature {
        case .bytesList: return "a byte-string list"
        case .floatList: return "a float list"
        case .int64List: return "an int64 list"
        case .empty: return "empty"
        }
    }
}

/// A conversion stopped because the user asked it to (Ctrl-C).
public struct ConversionInterrupted: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "interrupted" }
}

/// Creates a folder and its parents, or throws `DataError`.
func makeFolder(_ path: String) throws {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
        throw DataError(path, "cannot create the folder: \(error.localizedDescription)")
    }
}
