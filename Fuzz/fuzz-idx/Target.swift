// MNIST IDX images, plain or gzip (the reader tells them apart by the gzip magic), through MNIST.load.
import Foundation
import FuzzSupport
import SVGData

func check(_ data: Data) {
    _ = scratchFile("t10k-images-idx3-ubyte", data)
    if let mnist = try? MNIST.load(directory: scratchFolder), mnist.count > 0 { _ = mnist.image(0) }
}

@main struct Target { static func main() { fuzzTargetMain(check) } }
