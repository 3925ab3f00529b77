// .npy header and data (NPY.read), and the .npy video dataset's checks and first batch (NPYDataset).
import Foundation
import FuzzSupport
import SVGData

func check(_ data: Data) {
    let path = scratchFile("input.npy", data)
    _ = try? NPY.read(path)
    if let dataset = try? NPYDataset(path: path), dataset.count > 0 { _ = try? dataset.batch(indices: [0]) }
}

@main struct Target { static func main() { fuzzTargetMain(check) } }
