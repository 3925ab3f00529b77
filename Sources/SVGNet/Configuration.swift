// The model configuration (MODEL.md "Backbones" through "Training step", and "Presets"): which
// backbone, how wide, how many latent groups, where the feature aligner sits, and the training shape.
// Validated once; the schedule is planned from it.

/// The encoder and decoder architecture (MODEL.md "Backbones"); the raw value is the metadata spelling.
public enum Backbone: String, Sendable, Codable, CaseIterable {
    /// DCGAN-64: stride-2 4×4 convolutions (Moving MNIST).
    case dcgan64 = "dcgan64"
    /// VGG-64: 3×3 convolutions with max-pooling and ×2 upsampling (KTH, BAIR).
    case vgg64 = "vgg64"
}

/// Where the aligner's values come from (MODEL.md "Feature aligner"): the encoder map by default; the
/// decoder map is the paper's literal text, kept for ablation.
public enum AlignerValueSource: String, Sendable, Codable, CaseIterable {
    /// `encoder`: V = W_v F^e, from the skip-source frame (the default); `decoder`: V = W_v F^d.
    case encoder, decoder
}

/// A configuration or request the engine refuses; `description` says which constraint failed.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    /// The constraint that failed, with the offending value.
    public let description: String
    /// Creates an error with the given message.
    public init(_ description: String) { self.description = description }
}

/// Everything that defines a model and its training shape (MODEL.md "Backbones" through "Training step",
/// "Presets"). `Network` and the schedules are planned from it after `validate()`.
public struct ModelConfiguration: Sendable, Equatable {
    /// The encoder/decoder architecture.
    public var backbone: Backbone = .dcgan64
    /// Image channels C: 1 (Moving MNIST, KTH) or 3 (BAIR).
    public var channels: Int = 1
    /// Size of the encoder's vector h and of the predictor's output.
    public var gDim: Int = 128
    /// Hidden size H of every LSTM.
    public var rnnSize: Int = 256
    /// Total latent size per step, split into `groups` groups of `groupDim`.
    public var zDim: Int = 16
    /// Latent groups G (MODEL.md "Hierarchical latent"); must divide zDim. 1 without aligners is SVG-LP.
    public var groups: Int = 1
    /// Skip levels that carry an aligner: 0 is the smallest map (4×4 DCGAN, 8×8 VGG), 3 the largest.
    public var alignerLevels: [Int] = []
    /// Where the aligners' values V come from.
    public var alignerValue: AlignerValueSource = .encoder
    /// Conditioning frames per sequence; at least 2.
    public var nPast: Int = 5
    /// Predicted frames per sequence; at least 1.
    public var nFuture: Int = 10
    /// Sequences B per batch; training needs at least 2 (BatchNorm statistics per time step).
    public var batch: Int = 16
    /// Weight β of the KL term: loss = mse + β·kld.
    public var beta: Float = 1e-4
    /// Adam's learning rate.
    public var learningRate: Float = 0.002
    /// Base width of the backbone (64 in the paper; MODEL.md "Backbones"). Reduced only for tests and fixtures.
    public var nf: Int = 64
    /// Frame predictor LSTM layers (2) and Gaussian LSTM layers (1), as in MODEL.md "Recurrent modules".
    public var predictorLayers: Int = 2
    /// LSTM layers of each posterior and prior group.
    public var gaussianLayers: Int = 1

    /// The defaults: SVG-LP on DCGAN-64 with the shape of the `mmnist` preset.
    public init() {}

    /// Frames per sequence, T = nPast + nFuture.
    public var frameCount: Int { nPast + nFuture }
    /// Dimensions per latent group, d = zDim / groups.
    public var groupDim: Int { zDim / groups }
    /// Side of every frame: both backbones read and write 64 × 64.
    public var imageSize: Int { 64 }

    /// The name the paper gives this configuration.
    public var modelName: String {
        if !alignerLevels.isEmpty { return "HAF-SVG-\(groups)" }
        return groups == 1 ? "SVG-LP" : "H-SVG-\(groups)"
    }

    /// Channel widths of the four skip levels, level 0 (smallest) first.
    public var skipChannels: [Int] { [nf * 8, nf * 4, nf * 2, nf] }

    /// Checks every constraint (channels 1 or 3, G divides zDim, nPast ≥ 2, aligner levels in 0…3 without
    /// repeats, positive sizes, finite β and learning rate); throws `ConfigurationError` at the first violated.
    public func validate() throws {
        func check(_ ok: Bool, _ message: @autoclosure () -> String) throws {
            if !ok { throw ConfigurationError(message()) }
        }
        try check(channels == 1 || channels == 3, "channels must be 1 or 3, got \(channels)")
        try check(gDim >= 1, "gDim must be at least 1, got \(gDim)")
        try check(rnnSize >= 1, "rnn size must be at least 1, got \(rnnSize)")
        try check(zDim >= 1, "zDim must be at least 1, got \(zDim)")
        try check(groups >= 1, "groups G must be at least 1, got \(groups)")
        try check(zDim % groups == 0, "groups G = \(groups) does not divide zDim = \(zDim)")
        try check(nPast >= 2, "nPast must be at least 2 (the skip source is frame nPast−2), got \(nPast)")
        try check(nFuture >= 1, "nFuture must be at least 1, got \(nFuture)")
        try check(batch >= 1, "batch must be at least 1, got \(batch)")
        try check(nf >= 1, "nf must be at least 1, got \(nf)")
        try check(beta >= 0 && beta.isFinite, "beta must be a finite non-negative number, got \(beta)")
        try check(learningRate > 0 && learningRate.isFinite, "learning rate must be positive, got \(learningRate)")
        try check(predictorLayers >= 1 && gaussianLayers >= 1, "LSTM layer counts must be at least 1")
        for level in alignerLevels {
            try check((0...3).contains(level), "aligner level \(level) does not exist (levels are 0, 1, 2, 3)")
        }
        try check(Set(alignerLevels).count == alignerLevels.count, "aligner levels repeat: \(alignerLevels)")
    }

    /// Whether skip level `level` (0 smallest … 3 largest) carries an aligner.
    public func hasAligner(level: Int) -> Bool { alignerLevels.contains(level) }

    // MARK: metadata (safetensors __metadata__ holds strings only)

    /// The `format` tag of a model file's metadata (a training checkpoint's is `Trainer.checkpointFormat`).
    public static let modelFormat = "svgnet-1"

    /// The configuration as safetensors metadata (string values, MODEL.md "Checkpoints" keys, `format` svgnet-1).
    public var metadata: [String: String] {
        [
            "format": ModelConfiguration.modelFormat,
            "model": modelName,
            "backbone": backbone.rawValue,
            "channels": String(channels),
            "g_dim": String(gDim),
            "rnn_size": String(rnnSize),
            "z_dim": String(zDim),
            "groups": String(groups),
            "aligner_levels": alignerLevels.sorted().map(String.init).joined(separator: ","),
            "aligner_value": alignerValue.rawValue,
            "n_past": String(nPast),
            "n_future": String(nFuture),
            "batch": String(batch),
            "beta": String(beta),
            "lr": String(learningRate),
            "nf": String(nf),
            "predictor_layers": String(predictorLayers),
            "gaussian_layers": String(gaussianLayers)
        ]
    }

    /// Reads a configuration from checkpoint metadata; a missing key keeps its default. Throws
    /// `ConfigurationError` when a value does not parse or the result fails `validate()`.
    public init(metadata m: [String: String]) throws {
        func int(_ key: String, _ fallback: Int) throws -> Int {
            guard let s = m[key] else { return fallback }
            guard let v = Int(s) else { throw ConfigurationError("metadata \(key) = '\(s)' is not an integer") }
            return v
        }
        func float(_ key: String, _ fallback: Float) throws -> Float {
            guard let s = m[key] else { return fallback }
            guard let v = Float(s) else { throw ConfigurationError("metadata \(key) = '\(s)' is not a number") }
            return v
        }
        self.init()
        if let b = m["backbone"] {
            guard let v = Backbone(rawValue: b) else { throw ConfigurationError("metadata backbone = '\(b)' is unknown (dcgan64, vgg64)") }
            backbone = v
        }
        channels = try int("channels", channels)
        gDim = try int("g_dim", gDim)
        rnnSize = try int("rnn_size", rnnSize)
        zDim = try int("z_dim", zDim)
        groups = try int("groups", groups)
        if let s = m["aligner_levels"], !s.isEmpty {
            alignerLevels = try s.split(separator: ",").map {
                guard let v = Int($0) else { throw ConfigurationError("metadata aligner_levels = '\(s)' is not a list of integers") }
                return v
            }
        }
        if let s = m["aligner_value"] {
            guard let v = AlignerValueSource(rawValue: s) else { throw ConfigurationError("metadata aligner_value = '\(s)' is unknown") }
            alignerValue = v
        }
        nPast = try int("n_past", nPast)
        nFuture = try int("n_future", nFuture)
        batch = try int("batch", batch)
        beta = try float("beta", beta)
        learningRate = try float("lr", learningRate)
        nf = try int("nf", nf)
        predictorLayers = try int("predictor_layers", predictorLayers)
        gaussianLayers = try int("gaussian_layers", gaussianLayers)
        try validate()
    }
}

/// Pixels of one frame plane: every backbone reads and writes 64 × 64 frames.
public let framePixels = 64 * 64
