// An LSTM module of MODEL.md "Recurrent modules" unrolled over a fixed number of steps: embed (Linear) →
// stacked LSTMCells → head (Linear → Tanh for the frame predictor; mu and logvar Linears for a Gaussian LSTM).
// Rows are time-major: step i occupies rows i·batch ..< (i+1)·batch of every buffer.
//   input:  rows × inFeatures       embed: rows × H       per layer: gates rows × 4H, c and h rows × H
//   predictor head: out rows × n (after Tanh)        Gaussian head: mu, logvar rows × n
// The states start at zero for every sequence. Forward runs one step at a time (the recurrence is
// sequential); the heads' backward and the embed's backward run over all rows at once.
import Kernels

struct LSTMPlan {
    struct Layer {
        var weightIH, weightHH, biasIH, biasHH: Slice
        var gradWeightIH, gradWeightHH, gradBiasIH, gradBiasHH: Slice
        var gates, c, h: Slice
        var gradH: Slice
    }
    let spec: LSTMModuleSpec
    let steps: Int
    let batch: Int
    let embedWeight, embedBias, gradEmbedWeight, gradEmbedBias: Slice
    let headWeights: [Slice] // predictor: [output]; Gaussian: [mu, logvar]
    let headBiases: [Slice]
    let gradHeadWeights: [Slice]
    let gradHeadBiases: [Slice]
    let input, gradInput, embed, gradEmbed: Slice
    let layers: [Layer]
    let heads: [Slice] // predictor: [out]; Gaussian: [mu, logvar]
    let gradHeads: [Slice]
    /// The heads by name: the predictor's output, a Gaussian LSTM's mean and log-variance (rows × outputs).
    var output: Slice { heads[0] }
    var gradOutput: Slice { gradHeads[0] }
    var mu: Slice { heads[0] }
    var logvar: Slice { heads[1] }
    var gradMu: Slice { gradHeads[0] }
    var gradLogvar: Slice { gradHeads[1] }
    let zeroState: Slice // batch × H of zeros (initial h and c)
    let carryH, carryC, nextH, nextC, gateGrad: Slice

    init(_ spec: LSTMModuleSpec, steps: Int, batch: Int, layout: ParameterLayout, planner: inout ArenaPlanner, needsGrad: Bool) {
        self.spec = spec; self.steps = steps; self.batch = batch
        let p = spec.prefix, H = spec.hidden, rows = steps * batch, n = spec.outputs
        func grad(_ count: Int, line: UInt = #line) -> Slice { needsGrad ? planner.floats(count, line: line) : .empty }
        embedWeight = layout.slice("\(p).embed.weight"); embedBias = layout.slice("\(p).embed.bias")
        gradEmbedWeight = layout.gradient("\(p).embed.weight"); gradEmbedBias = layout.gradient("\(p).embed.bias")
        let headNames: [String]
        switch spec.head {
        case .predictor: headNames = ["\(p).output.0"]
        case .gaussian: headNames = ["\(p).mu_net", "\(p).logvar_net"]
        }
        headWeights = headNames.map { layout.slice("\($0).weight") }
        headBiases = headNames.map { layout.slice("\($0).bias") }
        gradHeadWeights = headNames.map { layout.gradient("\($0).weight") }
        gradHeadBiases = headNames.map { layout.gradient("\($0).bias") }
        input = planner.floats(rows * spec.inFeatures); gradInput = grad(rows * spec.inFeatures)
        embed = planner.floats(rows * H); gradEmbed = grad(rows * H)
        layers = (0..<spec.layers).map { l in
            let q = "\(p).lstm.\(l)"
            return Layer(
                weightIH: layout.slice("\(q).weight_ih"), weightHH: layout.slice("\(q).weight_hh"),
                biasIH: layout.slice("\(q).bias_ih"), biasHH: layout.slice("\(q).bias_hh"),
                gradWeightIH: layout.gradient("\(q).weight_ih"), gradWeightHH: layout.gradient("\(q).weight_hh"),
                gradBiasIH: layout.gradient("\(q).bias_ih"), gradBiasHH: layout.gradient("\(q).bias_hh"),
                gates: planner.floats(rows * 4 * H), c: planner.floats(rows * H), h: planner.floats(rows * H),
                gradH: grad(rows * H))
        }
        heads = headNames.map { _ in planner.floats(rows * n) }
        gradHeads = headNames.map { _ in grad(rows * n) }
        zeroState = planner.floats(batch * H)
        carryH = grad(batch * H); carryC = grad(batch * H); nextH = grad(batch * H); nextC = grad(batch * H)
        gateGrad = grad(batch * 4 * H)
    }

    private func rowOffset(_ s: Slice, step: Int, width: Int) -> Int { s.offset + step * batch * width }
    private func at(_ arena: Arena, _ s: Slice, step: Int, width: Int) -> UnsafeMutablePointer<Float> {
        arena.floats + rowOffset(s, step: step, width: width)
    }

    /// One step of the recurrence: reads input rows of `step`, writes its embed, states and heads.
    func forwardStep(_ step: Int, arena: Arena) {
        profiled("\(spec.prefix) step") { forwardStepBody(step, arena: arena) }
    }

    private func forwardStepBody(_ step: Int, arena: Arena) {
        let H = spec.hidden, n = spec.outputs
        linearForward(
            x: at(arena, input, step: step, width: spec.inFeatures), weight: arena[embedWeight], bias: arena[embedBias],
            y: at(arena, embed, step: step, width: H), batch: batch, inFeatures: spec.inFeatures, outFeatures: H)
        var x = UnsafePointer(at(arena, embed, step: step, width: H))
        for l in layers {
            let hPrev = step == 0 ? arena[zeroState] : at(arena, l.h, step: step - 1, width: H)
            let cPrev = step == 0 ? arena[zeroState] : at(arena, l.c, step: step - 1, width: H)
            lstmCellForward(
                x: x, hPrev: hPrev, cPrev: cPrev, weightIH: arena[l.weightIH], weightHH: arena[l.weightHH],
                biasIH: arena[l.biasIH], biasHH: arena[l.biasHH], gates: at(arena, l.gates, step: step, width: 4 * H),
                c: at(arena, l.c, step: step, width: H), h: at(arena, l.h, step: step, width: H),
                batch: batch, inFeatures: H, hidden: H)
            x = UnsafePointer(at(arena, l.h, step: step, width: H))
        }
        for (i, head) in heads.enumerated() {
            let y = at(arena, head, step: step, width: n)
            linearForward(x: x, weight: arena[headWeights[i]], bias: arena[headBiases[i]], y: y, batch: batch, inFeatures: H, outFeatures: n)
            if case .predictor = spec.head { tanhForward(x: y, y: y, count: batch * n) }
        }
    }

    /// Backward through all steps. On entry `gradHeads` hold dL/d head outputs for every row (after Tanh
    /// for the predictor). Leaves dL/d input in `gradInput`; parameter gradients accumulate.
    func backward(arena: Arena) {
        profiled("\(spec.prefix) bptt") { backwardBody(arena: arena) }
    }

    private func backwardBody(arena: Arena) {
        let H = spec.hidden, n = spec.outputs, rows = steps * batch
        let top = layers.last!
        for (i, head) in heads.enumerated() {
            let g = arena[gradHeads[i]]
            if case .predictor = spec.head { tanhBackward(gradY: g, y: arena[head], gradX: g, count: rows * n) }
            linearBackward(
                gradY: g, x: arena[top.h], weight: arena[headWeights[i]], gradX: arena[top.gradH],
                gradWeight: arena[gradHeadWeights[i]], gradBias: arena[gradHeadBiases[i]], batch: rows, inFeatures: H, outFeatures: n,
                accumulateParams: true, accumulateGradX: i > 0)
        }
        for l in layers.dropLast() { arena.zero(l.gradH) }
        for li in stride(from: layers.count - 1, through: 0, by: -1) {
            let l = layers[li]
            arena.zero(carryH); arena.zero(carryC)
            for step in stride(from: steps - 1, through: 0, by: -1) {
                let gradH = at(arena, l.gradH, step: step, width: H)
                let ch = arena[carryH]
                for j in 0..<(batch * H) { gradH[j] += ch[j] }
                let x = li == 0 ? at(arena, embed, step: step, width: H) : at(arena, layers[li - 1].h, step: step, width: H)
                let gradX = li == 0 ? at(arena, gradEmbed, step: step, width: H) : at(arena, layers[li - 1].gradH, step: step, width: H)
                let hPrev = step == 0 ? arena[zeroState] : at(arena, l.h, step: step - 1, width: H)
                let cPrev = step == 0 ? arena[zeroState] : at(arena, l.c, step: step - 1, width: H)
                lstmCellBackward(
                    gradH: gradH, gradCNext: arena[carryC], x: x, hPrev: hPrev, cPrev: cPrev,
                    gates: at(arena, l.gates, step: step, width: 4 * H), c: at(arena, l.c, step: step, width: H),
                    weightIH: arena[l.weightIH], weightHH: arena[l.weightHH],
                    gradX: gradX, gradHPrev: arena[nextH], gradCPrev: arena[nextC],
                    gradWeightIH: arena[l.gradWeightIH], gradWeightHH: arena[l.gradWeightHH],
                    gradBiasIH: arena[l.gradBiasIH], gradBiasHH: arena[l.gradBiasHH], gateGrad: arena[gateGrad],
                    batch: batch, inFeatures: H, hidden: H, accumulateParams: true)
                // The layer below receives gradX in its own gradH rows: they started at zero, so writing
                // is the same as adding.
                arena[carryH].update(from: arena[nextH], count: batch * H)
                arena[carryC].update(from: arena[nextC], count: batch * H)
            }
        }
        linearBackward(
            gradY: arena[gradEmbed], x: arena[input], weight: arena[embedWeight], gradX: arena[gradInput],
            gradWeight: arena[gradEmbedWeight], gradBias: arena[gradEmbedBias], batch: rows, inFeatures: spec.inFeatures, outFeatures: H,
            accumulateParams: true, accumulateGradX: false)
    }
}

// MARK: the inputs and samples of the recurrent modules, shared by the training and generation schedules

/// Input rows `rows` of `m` as [h; z]: row r is `hWidth` values of h, then the first inFeatures − hWidth
/// values of z's row (row stride `zStride`): a Gaussian LSTM of group j reads z^1 … z^{j−1}, the frame
/// predictor all of z. `h` and `z` point at the rows for `rows.lowerBound`.
func lstmInputForward(_ m: LSTMPlan, arena: Arena, rows: Range<Int>, h: UnsafePointer<Float>, hWidth: Int, z: UnsafePointer<Float>, zStride: Int) {
    let width = m.spec.inFeatures, zWidth = width - hWidth
    for (k, r) in rows.enumerated() {
        let dst = arena[m.input] + r * width
        dst.update(from: h + k * hWidth, count: hWidth)
        if zWidth > 0 { (dst + hWidth).update(from: z + k * zStride, count: zWidth) }
    }
}

/// Backward of lstmInputForward: adds each input row's gradient into gradH and gradZ.
func lstmInputBackward(
    _ m: LSTMPlan, arena: Arena, rows: Range<Int>, gradH: UnsafeMutablePointer<Float>, hWidth: Int,
    gradZ: UnsafeMutablePointer<Float>, zStride: Int
) {
    let width = m.spec.inFeatures, zWidth = width - hWidth
    for (k, r) in rows.enumerated() {
        let g = UnsafePointer(arena[m.gradInput] + r * width)
        addInto(gradH + k * hWidth, g, hWidth)
        if zWidth > 0 { addInto(gradZ + k * zStride, g + hWidth, zWidth) }
    }
}

/// z = mu + exp(logvar / 2)·ε for head rows `rows` of a Gaussian LSTM; `eps` and `z` point at the rows for
/// `rows.lowerBound` (z's row stride `zStride`: one group's columns of the z matrix).
func sampleLatent(_ m: LSTMPlan, arena: Arena, rows: Range<Int>, eps: UnsafePointer<Float>, z: UnsafeMutablePointer<Float>, zStride: Int) {
    let d = m.spec.outputs
    for (k, r) in rows.enumerated() {
        reparameterizeForward(mu: arena[m.mu] + r * d, logvar: arena[m.logvar] + r * d, eps: eps + k * d, z: z + k * zStride, count: d)
    }
}

/// Backward of sampleLatent over the same rows: writes dL/d mu and dL/d logvar from dL/d z.
func sampleLatentBackward(_ m: LSTMPlan, arena: Arena, rows: Range<Int>, eps: UnsafePointer<Float>, gradZ: UnsafePointer<Float>, zStride: Int) {
    let d = m.spec.outputs
    for (k, r) in rows.enumerated() {
        reparameterizeBackward(
            gradZ: gradZ + k * zStride, logvar: arena[m.logvar] + r * d, eps: eps + k * d,
            gradMu: arena[m.gradMu] + r * d, gradLogvar: arena[m.gradLogvar] + r * d, count: d)
    }
}

@inline(__always)
func addInto(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { dst[i] += src[i] }
}
