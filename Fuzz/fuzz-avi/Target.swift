// KTH's AVI files through libavformat and libavcodec (decodeGrayVideo): the container, the codec and the
// frame checks that turn FFmpeg's logged damage into errors.
import Foundation
import FuzzSupport
import SVGData

func check(_ data: Data) {
    _ = try? decodeGrayVideo(at: scratchFile("input.avi", data), name: "input.avi", width: 64, height: 64, framesPerSecond: 25) { _, _ in }
}

@main struct Target { static func main() { fuzzTargetMain(check) } }
