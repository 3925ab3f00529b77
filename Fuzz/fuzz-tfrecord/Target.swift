// BAIR's TFRecord files: the record framing with both checksums (TFRecord.records), each record's
// tf.train.Example (decodeExample) and its 30 frames (BAIRConversion.frames).
import Foundation
import FuzzSupport
import SVGData

func check(_ data: Data) {
    // The input is tried both as a whole file and, so that the fuzzer reaches the decoder without forging
    // CRC-32Cs, as one record's bytes.
    for record in ((try? TFRecord.records(in: data, path: "input")) ?? []) + [data] {
        guard let example = try? decodeExample(record) else { continue }
        _ = try? BAIRConversion.frames(of: example, path: "input", record: 1)
    }
}

@main struct Target { static func main() { fuzzTargetMain(check) } }
