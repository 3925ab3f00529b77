// PNG frames (readPNG over libpng's simplified API), as KTH and BAIR folders hold them.
import Foundation
import FuzzSupport
import SVGData

func check(_ data: Data) {
    _ = try? readPNG(scratchFile("input.png", data))
}

@main struct Target { static func main() { fuzzTargetMain(check) } }
