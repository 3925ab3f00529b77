// gunzip (zlib inflate with a gzip wrapper), which MNIST .gz files go through.
import Foundation
import FuzzSupport
import SVGData

func check(_ data: Data) {
    _ = try? gunzip(data)
}

@main struct Target { static func main() { fuzzTargetMain(check) } }
