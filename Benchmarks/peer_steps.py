"""Training-step variants for the PyTorch peer (Benchmarks/pytorch_peer.py): the math of
make_fixtures.training_step (SPEC.md §6), written the ways a PyTorch user who wants it fast could write it.
Each step is a function (model, x, eps) -> (loss, mse, kld); x: (T, B, C, 64, 64), eps: (G, T-1, B, d).

  once               make_fixtures.training_step: each frame encoded once, each network called once per time step
  twice              the public SVG code's loop: the encoder on x[i-1] and again on x[i] at every step
  batched            the encoder once over all T·B frames, the decoder once over all (T-1)·B frames; BatchNorm
                     still uses each time step's statistics (per_step_batch_norm); the LSTMs stay sequential
  batched-skip-once  batched, and each decoder layer's skip half computed once per distinct skip frame
                     (nPast-1 per sequence instead of T-1): conv([d; s]) = conv(d, W_d) + conv(s, W_s)
  sdpa               batched-skip-once with the aligner's attention through F.scaled_dot_product_attention
                     (differs from batched-skip-once only with aligner levels, i.e. HAF-SVG)
  channels-last      sdpa with the model's weights and the activations in torch.channels_last
  compile            torch.compile of the sdpa step (forward and loss; backward and Adam run as usual)

Frames are ordered sequence-major (row b·T + t), so that the (B·T, C, H, W) activations of a contiguous
tensor are, without a copy, the (B, T·C, H, W) tensor whose channel t·C + c holds time step t's channel c:
one F.batch_norm call over it (weight and bias repeated T times) has exactly the per-time-step statistics of
the reference. (Time-major rows would need a permute and a copy each way; channels-last needs them anyway.)
"""
import functools, os, sys, types

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures"))
try:
    import safetensors  # noqa: F401
except ImportError:
    # make_fixtures imports safetensors only to read and write fixture files, which the peer never does: a stand-in
    # keeps the peer runnable with torch alone.
    stand_in, stand_in_torch = types.ModuleType("safetensors"), types.ModuleType("safetensors.torch")
    stand_in.safe_open = stand_in_torch.save_file = stand_in_torch.load_file = None
    sys.modules.update({"safetensors": stand_in, "safetensors.torch": stand_in_torch})
import make_fixtures as ref  # noqa: E402


def per_step_batch_norm(x, bn, steps):
    """bn over frames ordered sequence-major, normalising each time step's B frames with their own statistics,
    as the reference's one call per time step does. Running statistics are not updated (None is passed): the
    reference updates them once per time step, which one call cannot reproduce; only the loss and the gradients
    are compared, and those use batch statistics only."""
    N, C, H, W = x.shape
    B = N // steps
    weight, bias = bn.weight.repeat(steps), bn.bias.repeat(steps)
    if x.is_contiguous():
        return F.batch_norm(x.view(B, steps * C, H, W), None, None, weight, bias, True, 0.0, bn.eps).view(N, C, H, W)
    # channels-last: memory (B, t, H, W, c) must become (B, H, W, t, c) to be one channels-last tensor of t·c
    # channels, a copy each way
    y = x.permute(0, 2, 3, 1).reshape(B, steps, H, W, C).permute(0, 2, 3, 1, 4).reshape(B, H, W, steps * C)
    y = F.batch_norm(y.permute(0, 3, 1, 2), None, None, weight, bias, True, 0.0, bn.eps)
    y = y.permute(0, 2, 3, 1).reshape(B, H, W, steps, C).permute(0, 3, 1, 2, 4).reshape(N, H, W, C)
    return y.permute(0, 3, 1, 2)


def run(module, x, steps):
    """module's forward over frames of `steps` time steps, with its BatchNorms per time step."""
    if isinstance(module, nn.BatchNorm2d):
        return per_step_batch_norm(x, module, steps)
    if isinstance(module, nn.Sequential):
        for m in module:
            x = run(m, x, steps)
        return x
    if isinstance(module, (ref.dcgan_conv, ref.dcgan_upconv, ref.vgg_layer)):
        return run(module.main, x, steps)
    return module(x)


def encode(enc, frames, steps):
    pool = enc.mp if isinstance(enc, ref.VGGEncoder) else (lambda h: h)
    h, skips = frames, []
    for block in (enc.c1, enc.c2, enc.c3, enc.c4):
        h = run(block, pool(h) if skips else h, steps)
        skips.append(h)
    return run(enc.c5, pool(h), steps).view(-1, enc.dim), skips


class Plan:
    """Row indices for T frames of B sequences, sequence-major. Decoder frame b·(T-1) + i-1 predicts x[i] with
    the skip connections of frame min(i-1, nPast-2) (SPEC.md §6)."""
    def __init__(self, T, B, n_past, memory_format):
        source = [min(i - 1, n_past - 2) for i in range(1, T)]
        self.steps = T - 1
        self.skip_rows = torch.tensor([b * T + k for b in range(B) for k in source])
        self.source_rows = torch.tensor([b * T + k for b in range(B) for k in range(n_past - 1)])
        self.source_of = torch.tensor([b * (n_past - 1) + k for b in range(B) for k in source])
        self.memory_format = memory_format

    def rows(self, t, index):
        return t.index_select(0, index).contiguous(memory_format=self.memory_format)


def first_conv(block):
    """The block's first (transposed) convolution, the one whose input is [d; s] or [d; s; Z], and the modules after it."""
    if isinstance(block, (nn.Conv2d, nn.ConvTranspose2d)):
        return block, []
    if hasattr(block, "main"):
        return first_conv(block.main)
    conv, rest = first_conv(block[0])
    return conv, rest + list(block[1:])


def attention(al, d, src, plan, sdpa):
    """The aligner's Z for every decoder frame. K, and V when it comes from the encoder, depend only on the skip
    frame: they are computed once per source frame and gathered."""
    N, C, H, W = d.shape
    q = al.q(d).flatten(2).transpose(1, 2)                                   # Qᵀ: (frames, H·W, e)
    k = plan.rows(al.k(src), plan.source_of).flatten(2).transpose(1, 2)      # Kᵀ
    v = al.v(d) if al.value_from_decoder else plan.rows(al.v(src), plan.source_of)
    v = v.flatten(2).transpose(1, 2)                                         # Vᵀ: (frames, H·W, C)
    if sdpa:
        z = F.scaled_dot_product_attention(q, k, v, scale=1.0)              # the model has no 1/√e scaling
    else:
        z = torch.bmm(torch.softmax(torch.bmm(q, k.transpose(1, 2)), -1), v)
    return z.transpose(1, 2).reshape(N, C, H, W).contiguous(memory_format=plan.memory_format)   # Z = V Aᵀ


def skip_once_block(dec, level, block, d, s, plan, sdpa):
    """block(join(d, s)) with the skip half of its first convolution computed on the distinct skip frames only:
    a convolution is linear in its input channels, so conv([d; s; Z], W) = conv(d, W_d) + conv(s, W_s) + conv(Z, W_z)
    with W split along its input channels, and the bias added once."""
    conv, rest = first_conv(block)
    transposed = isinstance(conv, nn.ConvTranspose2d)
    w = conv.weight.split(d.shape[1], 0 if transposed else 1)   # ConvTranspose2d (in, out, kH, kW); Conv2d (out, in, kH, kW)

    def apply(inp, weight, bias=None):
        if transposed:
            return F.conv_transpose2d(inp, weight, bias, conv.stride, conv.padding, conv.output_padding)
        return F.conv2d(inp, weight, bias, conv.stride, conv.padding)

    src = plan.rows(s, plan.source_rows)
    y = apply(d, w[0], conv.bias) + plan.rows(apply(src, w[1]), plan.source_of)
    if str(level) in dec.al:
        y = y + apply(attention(dec.al[str(level)], d, src, plan, sdpa), w[2])
    for m in rest:
        y = run(m, y, plan.steps)
    return y


def decode(dec, vec, skips, plan, skip_once, sdpa):
    up = dec.up if isinstance(dec, ref.VGGDecoder) else (lambda h: h)
    d = run(dec.upc1, vec.view(-1, dec.dim, 1, 1), plan.steps)
    for level, block in enumerate((dec.upc2, dec.upc3, dec.upc4, dec.upc5)):
        d, s = up(d), skips[3 - level]
        if skip_once:
            d = skip_once_block(dec, level, block, d, s, plan, sdpa)
        else:
            d = run(block, dec.join(level, d, plan.rows(s, plan.skip_rows)), plan.steps)
    return d


def batched_step(model, x, eps, skip_once=False, sdpa=False, memory_format=torch.contiguous_format):
    cfg = model.cfg
    T, B = x.shape[:2]
    G = cfg["groups"]
    plan = Plan(T, B, cfg["n_past"], memory_format)
    frames = x.transpose(0, 1).reshape(T * B, *x.shape[2:]).contiguous(memory_format=memory_format)
    h_all, skips = encode(model.encoder, frames, T)
    h_all = h_all.view(B, T, -1)
    model.init_hidden(B)
    post, prior, preds = [], [], []
    for i in range(1, T):
        h, h_target = h_all[:, i - 1], h_all[:, i]
        zs = []
        for j in range(G):
            mu, lv = model.posterior.groups[j](torch.cat([h_target] + zs, 1))
            zs.append(mu + torch.exp(0.5 * lv) * eps[j, i - 1])
            post.append((mu, lv))
        for j in range(G):
            prior.append(model.prior.groups[j](torch.cat([h] + zs[:j], 1)))
        preds.append(model.frame_predictor(torch.cat([h] + zs, 1)))
    kld = ref.kl_criterion(*(torch.cat(t) for t in zip(*post)), *(torch.cat(t) for t in zip(*prior)), B)
    x_hat = decode(model.decoder, torch.stack(preds, 1).view(B * (T - 1), -1), skips, plan, skip_once, sdpa)
    # The reference sums T-1 per-step means over B·C·H·W values each.
    mse = F.mse_loss(x_hat.view(B, T - 1, *x.shape[2:]), x[1:].transpose(0, 1), reduction="sum") / x[1].numel()
    return mse + cfg["beta"] * kld, mse, kld


STEPS = {
    "once": ref.training_step,
    "twice": functools.partial(ref.training_step, encode_twice=True),
    "batched": batched_step,
    "batched-skip-once": functools.partial(batched_step, skip_once=True),
    "sdpa": functools.partial(batched_step, skip_once=True, sdpa=True),
    "channels-last": functools.partial(batched_step, skip_once=True, sdpa=True, memory_format=torch.channels_last),
}
VARIANTS = list(STEPS) + ["compile"]


def prepare(variant, model):
    """The step function of `variant` for `model`. channels-last converts the model's weights in place."""
    if variant == "channels-last":
        model.to(memory_format=torch.channels_last)
    if variant == "compile":
        torch._dynamo.reset()   # so that the first call's time is a full compilation, not a cached one
        return torch.compile(STEPS["sdpa"])
    return STEPS[variant]


def sdpa_aligner_forward(al, fd, fe):
    """Aligner.forward with F.scaled_dot_product_attention (for the batched sampling row)."""
    B, C, H, W = fd.shape
    q = al.q(fd).flatten(2).transpose(1, 2)
    k = al.k(fe).flatten(2).transpose(1, 2)
    v = al.v(fd if al.value_from_decoder else fe).flatten(2).transpose(1, 2)
    z = F.scaled_dot_product_attention(q, k, v, scale=1.0).transpose(1, 2).reshape(B, C, H, W)
    return torch.cat([fd, fe, z], 1)


def use_sdpa_aligners(model):
    for al in model.decoder.al.values():
        al.forward = functools.partial(sdpa_aligner_forward, al)
