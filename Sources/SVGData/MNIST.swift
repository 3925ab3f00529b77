// MNIST digits from IDX files, plain or gzipped:
//   <dir>/t10k-images-idx3-ubyte[.gz]   (test set)  or  <dir>/train-images-idx3-ubyte[.gz]   (training set)
//     big-endian int32 magic 2051, count N, rows, columns, then N·rows·columns bytes
//   <dir>/t10k-labels-idx1-ubyte[.gz] / train-labels-idx1-ubyte[.gz]   (optional)
//     big-endian int32 magic 2049, count N, then N bytes
// The 10,000-digit test set ships in Resources/mnist (see its README for source and licence).
// `digits(.train)` / `digits(.test)` split whatever was loaded into disjoint parts for Moving MNIST:
// the first 80 % (8,000 of the shipped 10,000) train, the last 20 % (2,000) test.
import Foundation
import Kernels

/// The training or the test part of a dataset.
public enum DataSplit: String, Sendable {
    /// `train`: the part models are trained on; `test`: the held-out part they are evaluated on.
    case train, test
}

/// MNIST digits read from IDX files, plain or gzipped, kept as the file's bytes.
public struct MNIST: Sendable {
    /// Which IDX files to read.
    public enum Part: String, Sendable {
        /// t10k-*: 10,000 digits, the files shipped with this package.
        case test
        /// train-*: 60,000 digits, not shipped; pass their folder.
        case train
        var filePrefix: String { self == .test ? "t10k" : "train" }
    }

    /// Digits in the file.
    public let count: Int
    /// Rows per digit.
    public let rows: Int
    /// Columns per digit.
    public let columns: Int
    /// count × rows × columns bytes, as in the file.
    public let pixels: [UInt8]
    /// The digit classes when the labels file sits beside the images, else nil.
    public let labels: [UInt8]?
    /// The images file that was read.
    public let imagesPath: String

    /// The folder holding the shipped MNIST test set, inside the package's resource bundle.
    public static var builtInDirectory: String {
        Bundle.module.resourceURL!.appendingPathComponent("mnist").path
    }

    /// Loads from `directory`, or from `builtInDirectory` when nil (the override path is `directory`).
    public static func load(directory: String? = nil, part: Part = .test) throws -> MNIST {
        let folder = directory ?? builtInDirectory
        guard isDirectory(folder) else { throw DataError(folder, "no such MNIST directory") }
        let imagesName = "\(part.filePrefix)-images-idx3-ubyte"
        guard let imagesPath = existingIDXFile(folder, imagesName) else {
            throw DataError(folder + "/" + imagesName, "MNIST images not found (neither the file nor \(imagesName).gz exists)")
        }
        let images = try readIDX(imagesPath, magic: 2051, rank: 3)
        let count = images.dims[0], rows = images.dims[1], columns = images.dims[2]
        guard count > 0, rows > 0, columns > 0 else { throw DataError(imagesPath, "empty MNIST images file (\(images.dims))") }

        var labels: [UInt8]? = nil
        if let labelsPath = existingIDXFile(folder, "\(part.filePrefix)-labels-idx1-ubyte") {
            let read = try readIDX(labelsPath, magic: 2049, rank: 1)
            guard read.dims[0] == count else {
                throw DataError(labelsPath, "\(read.dims[0]) labels for \(count) images")
            }
            labels = read.bytes
        }
        return MNIST(count: count, rows: rows, columns: columns, pixels: images.bytes, labels: labels, imagesPath: imagesPath)
    }

    /// Digit `index` as a 1 × rows × columns image, values byte/255.
    public func image(_ index: Int) -> Image {
        precondition(index >= 0 && index < count, "MNIST image \(index) of \(count)")
        let size = rows * columns, start = index * size
        return Image(channels: 1, height: rows, width: columns, pixels: pixels[start..<start + size].map { Float($0) / 255 })
    }

    /// Index range of a split: the first 80 % train, the last 20 % test (8,000 / 2,000 of 10,000).
    public func indices(_ split: DataSplit) -> Range<Int> {
        let boundary = count * 4 / 5
        return split == .train ? 0..<boundary : boundary..<count
    }

    /// The digits of a split, for `MovingMNIST(digits:)`.
    public func digits(_ split: DataSplit) -> [Image] {
        indices(split).map(image)
    }
}

private func existingIDXFile(_ folder: String, _ name: String) -> String? {
    for candidate in [folder + "/" + name, folder + "/" + name + ".gz"] where FileManager.default.fileExists(atPath: candidate) {
        return candidate
    }
    return nil
}

/// An IDX file of unsigned bytes: checks the magic, the rank and that the payload is exactly the product of the dims.
func readIDX(_ path: String, magic: Int, rank: Int) throws -> (dims: [Int], bytes: [UInt8]) {
    var data = try readFile(path)
    if data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B {
        // MNIST's largest file, the training images, is 47 MB unpacked.
        data = try gunzip(data, source: path, limit: 256 << 20)
    }
    let bytes = [UInt8](data)
    func bigEndianInt(at offset: Int) -> Int {
        Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
    }
    let headerSize = 4 + 4 * rank
    guard bytes.count >= headerSize else {
        throw DataError(path, "truncated IDX file: \(bytes.count) bytes, the header alone needs \(headerSize)")
    }
    let found = bigEndianInt(at: 0)
    guard found == magic else {
        throw DataError(path, "not an IDX file of the expected kind: magic \(found), expected \(magic)")
    }
    let dims = (0..<rank).map { bigEndianInt(at: 4 + 4 * $0) }
    guard let payload = checkedProduct(dims) else { throw DataError(path, "IDX dims \(dims) multiply past any file size") }
    guard bytes.count - headerSize == payload else {
        throw DataError(
            path,
            "IDX dims \(dims) need \(payload) data bytes, the file has \(bytes.count - headerSize)"
                + (bytes.count - headerSize < payload ? " (truncated)" : ""))
    }
    return (dims, Array(bytes[headerSize...]))
}
