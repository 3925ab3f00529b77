// safetensors header and tensors (SafetensorsFile.parse), then the model configuration in its metadata.
import Foundation
import FuzzSupport
import SVGNet

func check(_ data: Data) {
    guard let file = try? SafetensorsFile.parse(data, path: "input") else { return }
    _ = try? ModelConfiguration(metadata: file.metadata)
}

@main struct Target { static func main() { fuzzTargetMain(check) } }
