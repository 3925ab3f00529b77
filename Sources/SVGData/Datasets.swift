// The common face of every video dataset, and the batcher.
//   sequence(i): T × C × 64 × 64 Float in [0, 1]
//   batch(indices:): T × B × C × 64 × 64 (time-major), the layout `Trainer.step` takes.
import Foundation

/// A set of fixed-length videos of 64 × 64 frames in [0, 1], read one sequence at a time as T × C × 64 × 64
/// Floats; `batch(indices:)` lays several out time-major for `Trainer.step`.
public protocol VideoDataset {
    /// Number of sequences.
    var count: Int { get }
    /// Channels per frame: 1 (Moving MNIST, KTH) or 3 (BAIR).
    var channels: Int { get }
    /// Frames per sequence, T.
    var length: Int { get }
    /// Sequence `index` (0 ..< count), T × C × 64 × 64.
    func sequence(_ index: Int) throws -> [Float]
}

/// Side in pixels of every dataset frame: the models read 64 × 64 frames.
public let frameSide = 64

extension VideoDataset {
    /// The sequences at `indices`, laid out T × B × C × 64 × 64 with B = indices.count.
    public func batch(indices: [Int]) throws -> [Float] {
        let frameSize = channels * frameSide * frameSide
        let sequences = try indices.map { try sequence($0) }
        return timeMajor(sequences, length: length, frameSize: frameSize)
    }
}

func checkIndex(_ index: Int, count: Int, _ path: String) throws {
    guard index >= 0 && index < count else { throw DataError(path, "sequence \(index) asked for, the dataset has \(count)") }
}

/// Reads one 64 × 64 frame and appends its first `channels` channels to `out`.
func appendFrame(_ path: String, channels: Int, to out: inout [Float]) throws {
    let image = try readPNG(path)
    guard image.width == frameSide, image.height == frameSide else {
        throw DataError(path, "frame is \(image.width)×\(image.height) pixels, expected \(frameSide)×\(frameSide)")
    }
    guard image.channels >= channels else {
        throw DataError(path, "frame has \(image.channels) channel(s), expected \(channels) (RGB)")
    }
    out.append(contentsOf: image.pixels[0..<channels * frameSide * frameSide])
}

// MARK: - KTH

/// KTH actions as the SVG preprocessing writes them: DIR/<action>/<personNN_action_dK>/<frame>.png, 64 × 64.
/// Persons 1–20 train, 21–25 test. A sequence is a clip of T contiguous frames (frames in numeric order of
/// their file names); every start position of every video is one index, videos in folder order.
/// Only the first channel is kept (the frames are gray, possibly stored as RGB).
public struct KTHDataset: VideoDataset, Sendable {
    /// One video folder of the split.
    public struct Video: Sendable {
        /// The video's folder.
        public let path: String
        /// The subject number, from the folder name (personNN_…).
        public let person: Int
        /// Frame files in order.
        public let frames: [String]
    }

    /// The root folder the dataset was read from.
    public let directory: String
    /// Which persons the dataset holds.
    public let split: DataSplit
    /// Frames per sequence, T.
    public let length: Int
    /// The split's videos, in folder order.
    public let videos: [Video]
    /// clipStarts[v] = index of the first clip of video v; last element = count.
    private let clipStarts: [Int]

    /// Always 1: only the first channel of each frame is kept.
    public var channels: Int { 1 }
    /// Sequences: every start position of every video.
    public var count: Int { clipStarts.last! }

    /// The subjects of a split: persons 1–20 train, 21–25 test.
    public static func persons(_ split: DataSplit) -> ClosedRange<Int> { split == .train ? 1...20 : 21...25 }

    /// Scans `directory` for the split's videos. Throws `DataError` when a folder is missing, a video folder
    /// name carries no person number, or a video has no frames or fewer than `length`.
    public init(directory: String, split: DataSplit, length: Int) throws {
        guard length > 0 else { throw DataError(directory, "sequence length \(length) must be positive") }
        self.directory = directory
        self.split = split
        self.length = length
        let persons = Self.persons(split)
        var videos: [Video] = []
        for action in try listDirectory(directory, what: "KTH directory") where isDirectory(directory + "/" + action) {
            let actionPath = directory + "/" + action
            for name in try listDirectory(actionPath, what: "action directory") where isDirectory(actionPath + "/" + name) {
                let videoPath = actionPath + "/" + name
                guard let person = Self.person(fromFolder: name) else {
                    throw DataError(videoPath, "cannot tell the person from the folder name (expected personNN_…)")
                }
                guard persons.contains(person) else { continue }
                let frames = try listDirectory(videoPath, what: "video directory")
                    .filter { $0.lowercased().hasSuffix(".png") }.map { videoPath + "/" + $0 }
                guard !frames.isEmpty else { throw DataError(videoPath, "video directory without frames (no .png files)") }
                guard frames.count >= length else {
                    throw DataError(videoPath, "video has \(frames.count) frames, too short for sequences of \(length)")
                }
                videos.append(Video(path: videoPath, person: person, frames: frames))
            }
        }
        guard !videos.isEmpty else {
            throw DataError(directory, "no KTH videos of persons \(persons.lowerBound)–\(persons.upperBound) (expected <action>/personNN_…/<frame>.png)")
        }
        self.videos = videos
        var starts = [0]
        for video in videos { starts.append(starts.last! + video.frames.count - length + 1) }
        clipStarts = starts
    }

    /// "person07_walking_d1" → 7.
    static func person(fromFolder name: String) -> Int? {
        guard name.lowercased().hasPrefix("person") else { return nil }
        let digits = name.dropFirst(6).prefix { $0.isASCII && $0.isNumber }
        return Int(digits)
    }

    /// The video and first frame of clip `index`.
    public func clip(_ index: Int) throws -> (video: Int, start: Int) {
        try checkIndex(index, count: count, directory)
        // Largest v with clipStarts[v] <= index.
        var low = 0, high = videos.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if clipStarts[mid] <= index { low = mid } else { high = mid - 1 }
        }
        return (low, index - clipStarts[low])
    }

    /// Clip `index` as T × 1 × 64 × 64. Throws `DataError` for an index out of range or a frame that cannot be
    /// read or is not 64 × 64.
    public func sequence(_ index: Int) throws -> [Float] {
        let (v, start) = try clip(index)
        var out: [Float] = []
        out.reserveCapacity(length * frameSide * frameSide)
        for path in videos[v].frames[start..<start + length] { try appendFrame(path, channels: 1, to: &out) }
        return out
    }
}

// MARK: - BAIR

/// BAIR robot pushing as the SVG preprocessing writes it: DIR/processed_data/{train,test}/<trajectory dir>/<n>/<i>.png,
/// 64 × 64 RGB, frames 0.png … T−1.png of each <n> folder form one sequence (folders in natural order).
public struct BAIRDataset: VideoDataset, Sendable {
    /// The root folder the dataset was read from (it holds processed_data/).
    public let directory: String
    /// Which part of processed_data/ the sequences come from.
    public let split: DataSplit
    /// Frames per sequence, T.
    public let length: Int
    /// One folder per sequence.
    public let sequenceFolders: [String]

    /// Always 3: the frames are RGB.
    public var channels: Int { 3 }
    /// Sequences: one per sequence folder.
    public var count: Int { sequenceFolders.count }

    /// Lists the split's sequence folders. Throws `DataError` when the folders are missing or empty, or a
    /// sequence lacks 0.png or its frame T−1.
    public init(directory: String, split: DataSplit, length: Int) throws {
        guard length > 0 else { throw DataError(directory, "sequence length \(length) must be positive") }
        self.directory = directory
        self.split = split
        self.length = length
        guard isDirectory(directory) else { throw DataError(directory, "no such BAIR directory") }
        let splitPath = directory + "/processed_data/" + split.rawValue
        var folders: [String] = []
        for trajectory in try listDirectory(splitPath, what: "BAIR split directory") where isDirectory(splitPath + "/" + trajectory) {
            let trajectoryPath = splitPath + "/" + trajectory
            for n in try listDirectory(trajectoryPath, what: "BAIR trajectory directory") where isDirectory(trajectoryPath + "/" + n) {
                let folder = trajectoryPath + "/" + n
                guard FileManager.default.fileExists(atPath: folder + "/0.png") else {
                    throw DataError(folder, "sequence directory without frames (no 0.png)")
                }
                guard FileManager.default.fileExists(atPath: folder + "/\(length - 1).png") else {
                    let available = (try? listDirectory(folder, what: "directory").filter { $0.hasSuffix(".png") }.count) ?? 0
                    throw DataError(folder, "sequence has \(available) frames, too short for sequences of \(length) (no \(length - 1).png)")
                }
                folders.append(folder)
            }
        }
        guard !folders.isEmpty else { throw DataError(splitPath, "no BAIR sequences (expected <trajectory>/<n>/<i>.png)") }
        sequenceFolders = folders
    }

    /// Sequence `index` as T × 3 × 64 × 64. Throws `DataError` for an index out of range or a frame that cannot
    /// be read, is not 64 × 64 or is not RGB.
    public func sequence(_ index: Int) throws -> [Float] {
        try checkIndex(index, count: count, splitPath)
        var out: [Float] = []
        out.reserveCapacity(length * 3 * frameSide * frameSide)
        for t in 0..<length { try appendFrame(sequenceFolders[index] + "/\(t).png", channels: 3, to: &out) }
        return out
    }

    private var splitPath: String { directory + "/processed_data/" + split.rawValue }
}

// MARK: - .npy

/// How the axes of a video .npy are ordered.
public enum NPYLayout: String, Sendable {
    /// 4-D (T, N, H, W): the public mnist_test_seq.npy. Default for 4-D files.
    case tnhw
    /// 4-D (N, T, H, W).
    case nthw
    /// 5-D (N, T, H, W, C). Default for 5-D files.
    case nthwc
    /// 5-D (N, T, C, H, W).
    case ntchw
}

/// Videos stored in one .npy (uint8 /255 or float32 in [0, 1]), frames 64 × 64, C = 1 or 3.
/// A sequence is the first `length` frames of a video (all of them when `length` is nil).
/// The file is memory-mapped: the 20 × 10,000 × 64 × 64 public file is 800 MB as bytes, 3.2 GB as Float.
public struct NPYDataset: VideoDataset, @unchecked Sendable {
    // @unchecked: the mapped Data is never mutated after init.
    /// The .npy file.
    public let path: String
    /// How the file's axes are ordered.
    public let layout: NPYLayout
    /// The file's parsed header.
    public let header: NPYHeader
    /// Frames per sequence, T (at most `storedLength`).
    public let length: Int
    /// Videos in the file.
    public let count: Int
    /// Channels per frame, 1 or 3.
    public let channels: Int
    /// Frames stored per video.
    public let storedLength: Int
    private let data: Data

    /// Maps the file and checks its shape against `layout` (default: tnhw for 4-D, nthwc for 5-D): 64 × 64
    /// frames, 1 or 3 channels, at least `length` frames per video. Throws `DataError`.
    public init(path: String, layout: NPYLayout? = nil, length: Int? = nil) throws {
        let data = try readFile(path, mapped: true)
        let header = try NPY.parseHeader(data, path: path)
        let shape = header.shape
        let layout = layout ?? (shape.count == 5 ? .nthwc : .tnhw)
        let rank = (layout == .tnhw || layout == .nthw) ? 4 : 5
        guard shape.count == rank else {
            throw DataError(path, "array of rank \(shape.count) \(shape), layout \(layout.rawValue) needs rank \(rank)")
        }
        let (n, t, c, h, w): (Int, Int, Int, Int, Int)
        switch layout {
        case .tnhw: (t, n, h, w, c) = (shape[0], shape[1], shape[2], shape[3], 1)
        case .nthw: (n, t, h, w, c) = (shape[0], shape[1], shape[2], shape[3], 1)
        case .nthwc: (n, t, h, w, c) = (shape[0], shape[1], shape[2], shape[3], shape[4])
        case .ntchw: (n, t, c, h, w) = (shape[0], shape[1], shape[2], shape[3], shape[4])
        }
        guard h == frameSide, w == frameSide else {
            throw DataError(path, "frames are \(h)×\(w) (shape \(shape), layout \(layout.rawValue)), expected \(frameSide)×\(frameSide)")
        }
        guard c == 1 || c == 3 else { throw DataError(path, "\(c) channels (shape \(shape), layout \(layout.rawValue)), expected 1 or 3") }
        guard n > 0 else { throw DataError(path, "no videos (shape \(shape))") }
        let length = length ?? t
        guard length > 0 && length <= t else {
            throw DataError(path, "videos have \(t) frames, too short for sequences of \(length)")
        }
        self.path = path
        self.layout = layout
        self.header = header
        self.data = data
        self.length = length
        self.count = n
        self.channels = c
        self.storedLength = t
    }

    /// The first `length` frames of video `index` as T × C × 64 × 64. Throws `DataError` for an index out of
    /// range or a float32 value outside [0, 1].
    public func sequence(_ index: Int) throws -> [Float] {
        try checkIndex(index, count: count, path)
        let plane = frameSide * frameSide, frame = channels * plane
        var out = [Float](repeating: 0, count: length * frame)
        data.withUnsafeBytes { raw in
            switch layout {
            case .tnhw:
                for t in 0..<length {
                    NPY.decode(raw, header: header, elementOffset: (t * count + index) * plane, into: &out[t * plane..<(t + 1) * plane])
                }
            case .nthw, .ntchw:
                NPY.decode(raw, header: header, elementOffset: index * storedLength * frame, into: &out[...])
            case .nthwc:
                var stored = [Float](repeating: 0, count: length * frame)
                NPY.decode(raw, header: header, elementOffset: index * storedLength * frame, into: &stored[...])
                for t in 0..<length {
                    for p in 0..<plane {
                        for c in 0..<channels {
                            out[t * frame + c * plane + p] = stored[t * frame + p * channels + c]
                        }
                    }
                }
            }
        }
        if header.dtype == .float32, let bad = out.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
            throw DataError(path, "sequence \(index) holds the value \(out[bad]), outside [0, 1]")
        }
        return out
    }
}
