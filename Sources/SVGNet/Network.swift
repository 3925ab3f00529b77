// The network a configuration describes (MODEL.md "Backbones" through "Feature aligner"): every conv
// layer of the encoder and decoder, every aligner, every LSTM module, and the table of named parameters
// (MODEL.md "Checkpoints" names, PyTorch layouts).
// Nothing here holds numbers: it is the static description the schedule is planned from.
import Kernels

/// The activation after a conv layer: LeakyReLU (slope 0.2), Tanh (c5) or Sigmoid (the decoder's output).
public enum Activation: Sendable { case leakyReLU, tanh, sigmoid }

/// One conv (or transposed conv) → optional BatchNorm → activation.
public struct ConvLayerSpec: Sendable {
    /// State-dict prefix of the conv's weight and bias.
    public var convName: String // e.g. "encoder.c1.main.0"
    /// State-dict prefix of the BatchNorm after it, or nil when the layer has none.
    public var bnName: String? // e.g. "encoder.c1.main.1"
    /// Whether the layer is a ConvTranspose2d rather than a Conv2d.
    public var transposed: Bool
    /// Input channels.
    public var inChannels: Int
    /// Output channels.
    public var outChannels: Int
    /// Side of the square kernel.
    public var kernel: Int
    /// Stride along both axes.
    public var stride: Int
    /// Padding on every side.
    public var padding: Int
    /// Side of the square input map.
    public var inSize: Int // input map is inSize × inSize
    /// The activation applied after the conv (and BatchNorm).
    public var activation: Activation
    /// Direct or Winograd (ConvBlock.swift's winogradGeometry); an execution choice, not a model property.
    public var algorithm: ConvolutionAlgorithm = .automatic

    /// Side of the square output map, by the Conv2d or ConvTranspose2d size rule.
    public var outSize: Int {
        transposed ? (inSize - 1) * stride - 2 * padding + kernel : (inSize + 2 * padding - kernel) / stride + 1
    }
    /// Floats of the output over `frames` frames: outChannels × frames × outSize².
    func outputCount(frames: Int) -> Int { outChannels * frames * outSize * outSize }
    /// The PyTorch weight shape: (out, in, k, k), or (in, out, k, k) for a transposed conv.
    public var weightShape: [Int] {
        transposed ? [inChannels, outChannels, kernel, kernel] : [outChannels, inChannels, kernel, kernel]
    }
}

/// Encoder stage: optional 2×2 max-pool, then conv layers. Stages 0–3 produce skips h1…h4, stage 4 the vector h.
public struct EncoderStage: Sendable {
    /// Whether a 2×2 max-pool precedes the layers (VGG-64's stages 1–4).
    public var pool: Bool
    /// The stage's conv layers, in order.
    public var layers: [ConvLayerSpec]
    /// Channels of the stage's output (its last layer's).
    public var outChannels: Int { layers.last!.outChannels }
    /// Side of the stage's output map.
    public var outSize: Int { layers.last!.outSize }
}

/// Decoder stage: optional nearest ×2 upsampling, then conv layers. Stage 0 (upc1) reads h_pred; stages 1–4
/// read the concatenation with skip level 0–3 (the first layer's input channels are split into blocks).
public struct DecoderStage: Sendable {
    /// Whether a nearest-neighbour ×2 upsampling precedes the layers (VGG-64).
    public var upsample: Bool
    /// The stage's conv layers, in order.
    public var layers: [ConvLayerSpec]
    /// The skip level concatenated to the stage's input (nil for upc1, which reads the predictor's output).
    public var skipLevel: Int? // nil for upc1
    /// Channels of the stage's output (its last layer's).
    public var outChannels: Int { layers.last!.outChannels }
    /// Side of the stage's output map.
    public var outSize: Int { layers.last!.outSize }
}

/// One recurrent module (MODEL.md "Recurrent modules"): an embed Linear, stacked LSTMCells, then a head.
public struct LSTMModuleSpec: Sendable {
    /// The head: the frame predictor's Linear + Tanh, or a Gaussian's `mu_net` and `logvar_net`, of `outputs`
    /// features each.
    public enum Head: Sendable { case predictor(outputs: Int), gaussian(outputs: Int) }
    /// State-dict prefix of the module's tensors.
    public var prefix: String // "frame_predictor", "posterior.groups.0", "prior.groups.1"
    /// Width of one input row.
    public var inFeatures: Int
    /// Hidden size H of the embed and every LSTMCell.
    public var hidden: Int
    /// Stacked LSTMCell layers.
    public var layers: Int
    /// What the module outputs.
    public var head: Head
    /// Width of the head's output: gDim for the predictor, the group size d for a Gaussian.
    public var outputs: Int {
        switch head {
        case .predictor(let n), .gaussian(let n): return n
        }
    }
}

/// The feature aligner at one skip level (MODEL.md "Feature aligner").
public struct AlignerSpec: Sendable {
    /// Skip level, 0 (smallest map) to 3.
    public var level: Int
    /// Channels C of the decoder and encoder maps it reads.
    public var channels: Int // C of F^d and F^e
    /// Channels e = max(C/8, 1) of the queries and keys.
    public var keyChannels: Int { max(channels / 8, 1) }
    /// Side of the level's square map.
    public var size: Int // H = W of the level
    /// State-dict prefix of its q, k and v convolutions.
    public var name: String { "decoder.al.\(level)" }
}

/// One named tensor of the model: state-dict name, PyTorch shape and kind.
public struct TensorSpec: Sendable, Equatable {
    /// What the tensor is, which sets its initialisation and whether Adam updates it.
    public enum Kind: Sendable, Equatable { case convWeight, bias, bnWeight, bnBias, linearWeight, lstm, runningMean, runningVar }
    /// The state-dict name (MODEL.md "Checkpoints").
    public var name: String
    /// The PyTorch shape.
    public var shape: [Int]
    /// What the tensor is.
    public var kind: Kind
    /// Elements: the product of the shape.
    public var count: Int { shape.reduce(1, *) }
    /// Whether Adam updates it: everything except BatchNorm running statistics.
    public var trainable: Bool { kind != .runningMean && kind != .runningVar }
}

/// The static description of the model a configuration defines: conv stages, aligners, LSTM modules and the
/// table of named tensors. It holds no numbers; the schedules are planned from it.
public struct Network: Sendable {
    /// The validated configuration.
    public let config: ModelConfiguration
    /// Encoder stages c1…c5.
    public let encoder: [EncoderStage]
    /// Decoder stages upc1…upc5.
    public let decoder: [DecoderStage]
    /// The aligners, by increasing level.
    public let aligners: [AlignerSpec]
    /// The frame predictor LSTM.
    public let predictor: LSTMModuleSpec
    /// The posterior LSTM of each latent group, in group order.
    public let posterior: [LSTMModuleSpec]
    /// The prior LSTM of each latent group, in group order.
    public let prior: [LSTMModuleSpec]
    /// Every named tensor, trainable ones first, in a fixed order (the order of the parameter arena).
    public let tensors: [TensorSpec]

    /// `convolution` chooses how every conv layer is computed (the default: Winograd where it is faster).
    public init(_ c: ModelConfiguration, convolution: ConvolutionAlgorithm = .automatic) throws {
        try c.validate()
        config = c
        let nf = c.nf, C = c.channels
        func conv(
            _ name: String, bn: String?, _ cin: Int, _ cout: Int, _ k: Int, _ s: Int, _ p: Int, _ size: Int,
            _ act: Activation = .leakyReLU, transposed: Bool = false
        ) -> ConvLayerSpec {
            ConvLayerSpec(
                convName: name, bnName: bn, transposed: transposed, inChannels: cin, outChannels: cout,
                kernel: k, stride: s, padding: p, inSize: size, activation: act, algorithm: convolution)
        }
        var enc: [EncoderStage] = []
        var dec: [DecoderStage] = []
        switch c.backbone {
        case .dcgan64:
            let widths = [C, nf, nf * 2, nf * 4, nf * 8]
            var size = 64
            for i in 0..<4 {
                let p = "encoder.c\(i + 1).main"
                enc.append(EncoderStage(pool: false, layers: [conv("\(p).0", bn: "\(p).1", widths[i], widths[i + 1], 4, 2, 1, size)]))
                size /= 2
            }
            enc.append(EncoderStage(pool: false, layers: [conv("encoder.c5.0", bn: "encoder.c5.1", nf * 8, c.gDim, 4, 1, 0, 4, .tanh)]))
            dec.append(
                DecoderStage(
                    upsample: false, layers: [conv("decoder.upc1.0", bn: "decoder.upc1.1", c.gDim, nf * 8, 4, 1, 0, 1, transposed: true)], skipLevel: nil))
            let dw = [nf * 8, nf * 4, nf * 2, nf]
            for level in 0..<4 {
                let factor = c.hasAligner(level: level) ? 3 : 2
                let size = 4 << level
                if level < 3 {
                    let p = "decoder.upc\(level + 2).main"
                    dec.append(
                        DecoderStage(
                            upsample: false, layers: [conv("\(p).0", bn: "\(p).1", dw[level] * factor, dw[level + 1], 4, 2, 1, size, transposed: true)],
                            skipLevel: level))
                } else {
                    dec.append(
                        DecoderStage(
                            upsample: false, layers: [conv("decoder.upc5.0", bn: nil, nf * factor, C, 4, 2, 1, size, .sigmoid, transposed: true)],
                            skipLevel: level))
                }
            }
        case .vgg64:
            func vgg(_ prefix: String, _ cin: Int, _ cout: Int, _ size: Int) -> ConvLayerSpec {
                conv("\(prefix).main.0", bn: "\(prefix).main.1", cin, cout, 3, 1, 1, size)
            }
            enc.append(EncoderStage(pool: false, layers: [vgg("encoder.c1.0", C, nf, 64), vgg("encoder.c1.1", nf, nf, 64)]))
            enc.append(EncoderStage(pool: true, layers: [vgg("encoder.c2.0", nf, nf * 2, 32), vgg("encoder.c2.1", nf * 2, nf * 2, 32)]))
            enc.append(
                EncoderStage(
                    pool: true,
                    layers: [vgg("encoder.c3.0", nf * 2, nf * 4, 16), vgg("encoder.c3.1", nf * 4, nf * 4, 16), vgg("encoder.c3.2", nf * 4, nf * 4, 16)]))
            enc.append(
                EncoderStage(
                    pool: true, layers: [vgg("encoder.c4.0", nf * 4, nf * 8, 8), vgg("encoder.c4.1", nf * 8, nf * 8, 8), vgg("encoder.c4.2", nf * 8, nf * 8, 8)]
                ))
            enc.append(EncoderStage(pool: true, layers: [conv("encoder.c5.0", bn: "encoder.c5.1", nf * 8, c.gDim, 4, 1, 0, 4, .tanh)]))
            dec.append(
                DecoderStage(
                    upsample: false, layers: [conv("decoder.upc1.0", bn: "decoder.upc1.1", c.gDim, nf * 8, 4, 1, 0, 1, transposed: true)], skipLevel: nil))
            func f(_ level: Int) -> Int { c.hasAligner(level: level) ? 3 : 2 }
            dec.append(
                DecoderStage(
                    upsample: true,
                    layers: [
                        vgg("decoder.upc2.0", nf * 8 * f(0), nf * 8, 8), vgg("decoder.upc2.1", nf * 8, nf * 8, 8), vgg("decoder.upc2.2", nf * 8, nf * 4, 8)
                    ], skipLevel: 0))
            dec.append(
                DecoderStage(
                    upsample: true,
                    layers: [
                        vgg("decoder.upc3.0", nf * 4 * f(1), nf * 4, 16), vgg("decoder.upc3.1", nf * 4, nf * 4, 16), vgg("decoder.upc3.2", nf * 4, nf * 2, 16)
                    ], skipLevel: 1))
            dec.append(
                DecoderStage(upsample: true, layers: [vgg("decoder.upc4.0", nf * 2 * f(2), nf * 2, 32), vgg("decoder.upc4.1", nf * 2, nf, 32)], skipLevel: 2))
            dec.append(
                DecoderStage(
                    upsample: true,
                    layers: [
                        vgg("decoder.upc5.0", nf * f(3), nf, 64),
                        conv("decoder.upc5.1", bn: nil, nf, C, 3, 1, 1, 64, .sigmoid, transposed: true)
                    ], skipLevel: 3))
        }
        encoder = enc
        decoder = dec
        let skipSizes = (0..<4).map { enc[3 - $0].outSize }
        aligners = c.alignerLevels.sorted().map { AlignerSpec(level: $0, channels: c.skipChannels[$0], size: skipSizes[$0]) }

        let H = c.rnnSize, d = c.groupDim
        predictor = LSTMModuleSpec(
            prefix: "frame_predictor", inFeatures: c.gDim + c.zDim, hidden: H, layers: c.predictorLayers, head: .predictor(outputs: c.gDim))
        posterior = (0..<c.groups).map {
            LSTMModuleSpec(prefix: "posterior.groups.\($0)", inFeatures: c.gDim + $0 * d, hidden: H, layers: c.gaussianLayers, head: .gaussian(outputs: d))
        }
        prior = (0..<c.groups).map {
            LSTMModuleSpec(prefix: "prior.groups.\($0)", inFeatures: c.gDim + $0 * d, hidden: H, layers: c.gaussianLayers, head: .gaussian(outputs: d))
        }

        // The tensor table: trainable parameters in module order, then the BatchNorm running statistics.
        var params: [TensorSpec] = []
        var stats: [TensorSpec] = []
        func addConv(_ l: ConvLayerSpec) {
            params.append(TensorSpec(name: "\(l.convName).weight", shape: l.weightShape, kind: .convWeight))
            params.append(TensorSpec(name: "\(l.convName).bias", shape: [l.outChannels], kind: .bias))
            if let bn = l.bnName {
                params.append(TensorSpec(name: "\(bn).weight", shape: [l.outChannels], kind: .bnWeight))
                params.append(TensorSpec(name: "\(bn).bias", shape: [l.outChannels], kind: .bnBias))
                stats.append(TensorSpec(name: "\(bn).running_mean", shape: [l.outChannels], kind: .runningMean))
                stats.append(TensorSpec(name: "\(bn).running_var", shape: [l.outChannels], kind: .runningVar))
            }
        }
        for s in enc { s.layers.forEach(addConv) }
        for s in dec { s.layers.forEach(addConv) }
        for a in aligners {
            let C = a.channels, e = a.keyChannels
            for (part, out) in [("q", e), ("k", e), ("v", C)] {
                params.append(TensorSpec(name: "\(a.name).\(part).weight", shape: [out, C, 1, 1], kind: .convWeight))
                params.append(TensorSpec(name: "\(a.name).\(part).bias", shape: [out], kind: .bias))
            }
        }
        func addLSTM(_ m: LSTMModuleSpec) {
            params.append(TensorSpec(name: "\(m.prefix).embed.weight", shape: [m.hidden, m.inFeatures], kind: .linearWeight))
            params.append(TensorSpec(name: "\(m.prefix).embed.bias", shape: [m.hidden], kind: .bias))
            for l in 0..<m.layers {
                params.append(TensorSpec(name: "\(m.prefix).lstm.\(l).weight_ih", shape: [4 * m.hidden, m.hidden], kind: .lstm))
                params.append(TensorSpec(name: "\(m.prefix).lstm.\(l).weight_hh", shape: [4 * m.hidden, m.hidden], kind: .lstm))
                params.append(TensorSpec(name: "\(m.prefix).lstm.\(l).bias_ih", shape: [4 * m.hidden], kind: .lstm))
                params.append(TensorSpec(name: "\(m.prefix).lstm.\(l).bias_hh", shape: [4 * m.hidden], kind: .lstm))
            }
            switch m.head {
            case .predictor(let n):
                params.append(TensorSpec(name: "\(m.prefix).output.0.weight", shape: [n, m.hidden], kind: .linearWeight))
                params.append(TensorSpec(name: "\(m.prefix).output.0.bias", shape: [n], kind: .bias))
            case .gaussian(let n):
                for head in ["mu_net", "logvar_net"] {
                    params.append(TensorSpec(name: "\(m.prefix).\(head).weight", shape: [n, m.hidden], kind: .linearWeight))
                    params.append(TensorSpec(name: "\(m.prefix).\(head).bias", shape: [n], kind: .bias))
                }
            }
        }
        addLSTM(predictor)
        posterior.forEach(addLSTM)
        prior.forEach(addLSTM)
        tensors = params + stats
    }

    /// Floats of all trainable tensors.
    public var trainableCount: Int { tensors.filter(\.trainable).reduce(0) { $0 + $1.count } }
    /// Floats of all BatchNorm running statistics.
    public var statisticsCount: Int { tensors.filter { !$0.trainable }.reduce(0) { $0 + $1.count } }
}
