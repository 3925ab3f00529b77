#!/usr/bin/env python3
"""PyTorch reference for SVGNet's parity tests, written from the model description in Docs/MODEL.md
("Backbones" through "Checkpoints").

Builds SVG-LP / H-SVG / HAF-SVG at reduced widths, runs one training step (MODEL.md "Training step",
each frame encoded once, BatchNorm per time step) and one generation rollout (MODEL.md "Generation")
with injected noise, and writes
safetensors fixtures that the Swift tests compare against:

  init.<name>      weights and running statistics before the step (MODEL.md "Checkpoints" names)
  x                input sequence (T, B, C, 64, 64)
  eps              posterior noise (G, T-1, B, d)
  loss, mse, kld   scalars (shape [1])
  grad.<name>      gradient of every trainable parameter
  after.<name>     weights and running statistics after one Adam step
  gen.eps          noise (T-1, G, N*B, d), row n*B + b for sample n of sequence b
  gen.out          predictions (B, N, nFuture, C, 64, 64) from x[:nPast]
  gen.out_running  the same with BatchNorm on running statistics (svg_dcgan only)

Usage:  python3 Tests/Fixtures/make_fixtures.py            (writes Tests/Fixtures/*.safetensors)
        python3 Tests/Fixtures/make_fixtures.py --check-swift Tests/Fixtures/swift-checkpoint.safetensors
The second form loads a checkpoint written by the Swift engine into these modules and checks that the
generation outputs the engine recorded in it agree (the format proven both ways).
"""
import argparse, json, os, sys
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file, load_file
from safetensors import safe_open

torch.set_default_dtype(torch.float32)
HERE = os.path.dirname(os.path.abspath(__file__))


# ---- backbones (MODEL.md "Backbones"), names as the public SVG code ------------------------------

class dcgan_conv(nn.Module):
    def __init__(self, nin, nout):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(nin, nout, 4, 2, 1), nn.BatchNorm2d(nout), nn.LeakyReLU(0.2))
    def forward(self, x): return self.main(x)

class dcgan_upconv(nn.Module):
    def __init__(self, nin, nout):
        super().__init__()
        self.main = nn.Sequential(nn.ConvTranspose2d(nin, nout, 4, 2, 1), nn.BatchNorm2d(nout), nn.LeakyReLU(0.2))
    def forward(self, x): return self.main(x)

class vgg_layer(nn.Module):
    def __init__(self, nin, nout):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(nin, nout, 3, 1, 1), nn.BatchNorm2d(nout), nn.LeakyReLU(0.2))
    def forward(self, x): return self.main(x)

class Aligner(nn.Module):
    """MODEL.md "Feature aligner": Q = W_q F^d, K = W_k F^e, V = W_v F^e (or F^d), A = softmax_rows(QᵀK), Z = V Aᵀ."""
    def __init__(self, C, value_from_decoder):
        super().__init__()
        e = max(C // 8, 1)
        self.q = nn.Conv2d(C, e, 1); self.k = nn.Conv2d(C, e, 1); self.v = nn.Conv2d(C, C, 1)
        self.value_from_decoder = value_from_decoder
    def forward(self, fd, fe):
        B, C, H, W = fd.shape
        N = H * W
        Q = self.q(fd).view(B, -1, N); K = self.k(fe).view(B, -1, N)
        V = self.v(fd if self.value_from_decoder else fe).view(B, C, N)
        A = torch.softmax(torch.bmm(Q.transpose(1, 2), K), dim=-1)
        Z = torch.bmm(V, A.transpose(1, 2)).view(B, C, H, W)
        return torch.cat([fd, fe, Z], 1)

class DCGANEncoder(nn.Module):
    def __init__(self, dim, nc, nf):
        super().__init__()
        self.c1 = dcgan_conv(nc, nf); self.c2 = dcgan_conv(nf, nf * 2)
        self.c3 = dcgan_conv(nf * 2, nf * 4); self.c4 = dcgan_conv(nf * 4, nf * 8)
        self.c5 = nn.Sequential(nn.Conv2d(nf * 8, dim, 4, 1, 0), nn.BatchNorm2d(dim), nn.Tanh())
        self.dim = dim
    def forward(self, x):
        h1 = self.c1(x); h2 = self.c2(h1); h3 = self.c3(h2); h4 = self.c4(h3); h5 = self.c5(h4)
        return h5.view(-1, self.dim), [h1, h2, h3, h4]

class DCGANDecoder(nn.Module):
    def __init__(self, dim, nc, nf, levels, value_from_decoder):
        super().__init__()
        f = lambda l: 3 if l in levels else 2
        self.upc1 = nn.Sequential(nn.ConvTranspose2d(dim, nf * 8, 4, 1, 0), nn.BatchNorm2d(nf * 8), nn.LeakyReLU(0.2))
        self.upc2 = dcgan_upconv(nf * 8 * f(0), nf * 4)
        self.upc3 = dcgan_upconv(nf * 4 * f(1), nf * 2)
        self.upc4 = dcgan_upconv(nf * 2 * f(2), nf)
        self.upc5 = nn.Sequential(nn.ConvTranspose2d(nf * f(3), nc, 4, 2, 1), nn.Sigmoid())
        widths = [nf * 8, nf * 4, nf * 2, nf]
        self.al = nn.ModuleDict({str(l): Aligner(widths[l], value_from_decoder) for l in sorted(levels)})
        self.dim = dim
    def join(self, level, d, s):
        return self.al[str(level)](d, s) if str(level) in self.al else torch.cat([d, s], 1)
    def forward(self, vec, skip):
        d1 = self.upc1(vec.view(-1, self.dim, 1, 1))
        d2 = self.upc2(self.join(0, d1, skip[3]))
        d3 = self.upc3(self.join(1, d2, skip[2]))
        d4 = self.upc4(self.join(2, d3, skip[1]))
        return self.upc5(self.join(3, d4, skip[0]))

class VGGEncoder(nn.Module):
    def __init__(self, dim, nc, nf):
        super().__init__()
        self.c1 = nn.Sequential(vgg_layer(nc, nf), vgg_layer(nf, nf))
        self.c2 = nn.Sequential(vgg_layer(nf, nf * 2), vgg_layer(nf * 2, nf * 2))
        self.c3 = nn.Sequential(vgg_layer(nf * 2, nf * 4), vgg_layer(nf * 4, nf * 4), vgg_layer(nf * 4, nf * 4))
        self.c4 = nn.Sequential(vgg_layer(nf * 4, nf * 8), vgg_layer(nf * 8, nf * 8), vgg_layer(nf * 8, nf * 8))
        self.c5 = nn.Sequential(nn.Conv2d(nf * 8, dim, 4, 1, 0), nn.BatchNorm2d(dim), nn.Tanh())
        self.mp = nn.MaxPool2d(kernel_size=2, stride=2)
        self.dim = dim
    def forward(self, x):
        h1 = self.c1(x); h2 = self.c2(self.mp(h1)); h3 = self.c3(self.mp(h2)); h4 = self.c4(self.mp(h3))
        h5 = self.c5(self.mp(h4))
        return h5.view(-1, self.dim), [h1, h2, h3, h4]

class VGGDecoder(nn.Module):
    def __init__(self, dim, nc, nf, levels, value_from_decoder):
        super().__init__()
        f = lambda l: 3 if l in levels else 2
        self.upc1 = nn.Sequential(nn.ConvTranspose2d(dim, nf * 8, 4, 1, 0), nn.BatchNorm2d(nf * 8), nn.LeakyReLU(0.2))
        self.upc2 = nn.Sequential(vgg_layer(nf * 8 * f(0), nf * 8), vgg_layer(nf * 8, nf * 8), vgg_layer(nf * 8, nf * 4))
        self.upc3 = nn.Sequential(vgg_layer(nf * 4 * f(1), nf * 4), vgg_layer(nf * 4, nf * 4), vgg_layer(nf * 4, nf * 2))
        self.upc4 = nn.Sequential(vgg_layer(nf * 2 * f(2), nf * 2), vgg_layer(nf * 2, nf))
        self.upc5 = nn.Sequential(vgg_layer(nf * f(3), nf), nn.ConvTranspose2d(nf, nc, 3, 1, 1), nn.Sigmoid())
        self.up = nn.UpsamplingNearest2d(scale_factor=2)
        widths = [nf * 8, nf * 4, nf * 2, nf]
        self.al = nn.ModuleDict({str(l): Aligner(widths[l], value_from_decoder) for l in sorted(levels)})
        self.dim = dim
    def join(self, level, d, s):
        return self.al[str(level)](d, s) if str(level) in self.al else torch.cat([d, s], 1)
    def forward(self, vec, skip):
        d1 = self.upc1(vec.view(-1, self.dim, 1, 1))
        d2 = self.upc2(self.join(0, self.up(d1), skip[3]))
        d3 = self.upc3(self.join(1, self.up(d2), skip[2]))
        d4 = self.upc4(self.join(2, self.up(d3), skip[1]))
        return self.upc5(self.join(3, self.up(d4), skip[0]))


# ---- recurrent modules (MODEL.md "Recurrent modules", "Hierarchical latent") ----------------------

class lstm(nn.Module):
    def __init__(self, input_size, output_size, hidden_size, n_layers):
        super().__init__()
        self.embed = nn.Linear(input_size, hidden_size)
        self.lstm = nn.ModuleList([nn.LSTMCell(hidden_size, hidden_size) for _ in range(n_layers)])
        self.output = nn.Sequential(nn.Linear(hidden_size, output_size), nn.Tanh())
        self.hidden_size = hidden_size
    def init_hidden(self, batch):
        dt = self.embed.weight.dtype
        self.hidden = [(torch.zeros(batch, self.hidden_size, dtype=dt), torch.zeros(batch, self.hidden_size, dtype=dt)) for _ in self.lstm]
    def forward(self, x):
        h_in = self.embed(x)
        for i, cell in enumerate(self.lstm):
            self.hidden[i] = cell(h_in, self.hidden[i]); h_in = self.hidden[i][0]
        return self.output(h_in)

class gaussian_lstm(nn.Module):
    def __init__(self, input_size, output_size, hidden_size, n_layers):
        super().__init__()
        self.embed = nn.Linear(input_size, hidden_size)
        self.lstm = nn.ModuleList([nn.LSTMCell(hidden_size, hidden_size) for _ in range(n_layers)])
        self.mu_net = nn.Linear(hidden_size, output_size)
        self.logvar_net = nn.Linear(hidden_size, output_size)
        self.hidden_size = hidden_size
    def init_hidden(self, batch):
        dt = self.embed.weight.dtype
        self.hidden = [(torch.zeros(batch, self.hidden_size, dtype=dt), torch.zeros(batch, self.hidden_size, dtype=dt)) for _ in self.lstm]
    def forward(self, x):
        h_in = self.embed(x)
        for i, cell in enumerate(self.lstm):
            self.hidden[i] = cell(h_in, self.hidden[i]); h_in = self.hidden[i][0]
        return self.mu_net(h_in), self.logvar_net(h_in)

class Groups(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["z_dim"] // cfg["groups"]
        self.groups = nn.ModuleList([gaussian_lstm(cfg["g_dim"] + j * d, d, cfg["rnn_size"], cfg["gaussian_layers"])
                                     for j in range(cfg["groups"])])

class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        levels = cfg["aligner_levels"]; vd = cfg["aligner_value"] == "decoder"
        if cfg["backbone"] == "dcgan64":
            self.encoder = DCGANEncoder(cfg["g_dim"], cfg["channels"], cfg["nf"])
            self.decoder = DCGANDecoder(cfg["g_dim"], cfg["channels"], cfg["nf"], levels, vd)
        else:
            self.encoder = VGGEncoder(cfg["g_dim"], cfg["channels"], cfg["nf"])
            self.decoder = VGGDecoder(cfg["g_dim"], cfg["channels"], cfg["nf"], levels, vd)
        self.frame_predictor = lstm(cfg["g_dim"] + cfg["z_dim"], cfg["g_dim"], cfg["rnn_size"], cfg["predictor_layers"])
        self.posterior = Groups(cfg)
        self.prior = Groups(cfg)
        self.cfg = cfg

    def init_hidden(self, batch):
        self.frame_predictor.init_hidden(batch)
        for m in list(self.posterior.groups) + list(self.prior.groups): m.init_hidden(batch)


def init_weights(model, gen):
    """The initialisation of MODEL.md "Training step"."""
    rnn = model.cfg["rnn_size"]; bound = 1 / rnn ** 0.5
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            m.weight.data.normal_(0, 0.02, generator=gen); m.bias.data.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.normal_(1, 0.02, generator=gen); m.bias.data.zero_()
        elif isinstance(m, nn.LSTMCell):
            for p in m.parameters(): p.data.uniform_(-bound, bound, generator=gen)
    # Random running statistics, so that a checkpoint round trip or running-statistics mode is a real test.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1, generator=gen); m.running_var.uniform_(0.5, 1.5, generator=gen)


def kl_criterion(mu1, logvar1, mu2, logvar2, batch):
    sigma1 = logvar1.mul(0.5).exp(); sigma2 = logvar2.mul(0.5).exp()
    kld = torch.log(sigma2 / sigma1) + (torch.exp(logvar1) + (mu1 - mu2) ** 2) / (2 * torch.exp(logvar2)) - 0.5
    return kld.sum() / batch


def training_step(model, x, eps, encode_twice=False):
    """The step of MODEL.md "Training step", each frame encoded once. x: (T, B, C, 64, 64); eps: (G, T-1, B, d).
    encode_twice=True is the public SVG code's loop (the encoder runs on x[i-1] and again on x[i] at every
    step); the benchmark peer times it. The fixtures use the default."""
    cfg = model.cfg; T = x.shape[0]; B = x.shape[1]; G = cfg["groups"]
    model.init_hidden(B)
    if not encode_twice:
        enc = [model.encoder(x[t]) for t in range(T)]     # BatchNorm statistics per time step
    mse = 0; kld = 0
    for i in range(1, T):
        h, skips = model.encoder(x[i - 1]) if encode_twice else enc[i - 1]
        if i < cfg["n_past"]: skip = skips
        h_target = model.encoder(x[i])[0] if encode_twice else enc[i][0]
        zs, post = [], []
        for j in range(G):
            mu, lv = model.posterior.groups[j](torch.cat([h_target] + zs, 1))
            zs.append(mu + torch.exp(0.5 * lv) * eps[j, i - 1]); post.append((mu, lv))
        for j in range(G):
            mu_p, lv_p = model.prior.groups[j](torch.cat([h] + zs[:j], 1))
            kld = kld + kl_criterion(post[j][0], post[j][1], mu_p, lv_p, B)
        h_pred = model.frame_predictor(torch.cat([h] + zs, 1))
        x_hat = model.decoder(h_pred, skip)
        mse = mse + F.mse_loss(x_hat, x[i])
    loss = mse + cfg["beta"] * kld
    return loss, mse, kld


@torch.no_grad()
def generate(model, x, eps, n_future, samples):
    """MODEL.md "Generation", one sample of the B sequences at a time (BatchNorm statistics per sample).
    x: (nPast, B, C, 64, 64); eps: (T-1, G, N*B, d). Returns (B, N, nFuture, C, 64, 64)."""
    cfg = model.cfg; n_past = x.shape[0]; B = x.shape[1]; G = cfg["groups"]; T = n_past + n_future
    out = torch.zeros(B, samples, n_future, *x.shape[2:], dtype=x.dtype)
    for n in range(samples):
        model.init_hidden(B)
        x_in = x[0]
        for i in range(1, T):
            h, skips = model.encoder(x_in)
            if i < n_past: skip = skips
            e = eps[i - 1, :, n * B:(n + 1) * B]
            zs = []
            if i < n_past:
                h_target = model.encoder(x[i])[0]
                for j in range(G):
                    mu, lv = model.posterior.groups[j](torch.cat([h_target] + zs, 1))
                    zs.append(mu + torch.exp(0.5 * lv) * e[j])
                for j in range(G):
                    model.prior.groups[j](torch.cat([h] + zs[:j], 1))
                model.frame_predictor(torch.cat([h] + zs, 1))
                x_in = x[i]
            else:
                for j in range(G):
                    mu, lv = model.prior.groups[j](torch.cat([h] + zs, 1))
                    zs.append(mu + torch.exp(0.5 * lv) * e[j])
                x_in = model.decoder(model.frame_predictor(torch.cat([h] + zs, 1)), skip)
                out[:, n, i - n_past] = x_in
    return out


def state(model):
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def metadata(cfg):
    m = {"format": "svgnet-1", "backbone": cfg["backbone"], "channels": str(cfg["channels"]), "g_dim": str(cfg["g_dim"]),
         "rnn_size": str(cfg["rnn_size"]), "z_dim": str(cfg["z_dim"]), "groups": str(cfg["groups"]),
         "aligner_levels": ",".join(str(l) for l in sorted(cfg["aligner_levels"])), "aligner_value": cfg["aligner_value"],
         "n_past": str(cfg["n_past"]), "n_future": str(cfg["n_future"]), "batch": str(cfg["batch"]), "beta": repr(cfg["beta"]),
         "lr": repr(cfg["lr"]), "nf": str(cfg["nf"]), "predictor_layers": str(cfg["predictor_layers"]),
         "gaussian_layers": str(cfg["gaussian_layers"])}
    return m


def moving_blobs(gen, T, B, C):
    """Smooth moving squares in [0, 1]: inputs with structure, so the gradients are not noise."""
    x = torch.zeros(T, B, C, 64, 64)
    for b in range(B):
        pos = torch.randint(8, 40, (2,), generator=gen); vel = torch.randint(-3, 4, (2,), generator=gen)
        for t in range(T):
            p = (pos + vel * t).clamp(0, 48)
            for c in range(C):
                x[t, b, c, p[0]:p[0] + 16, p[1]:p[1] + 16] = 0.5 + 0.5 * (c + 1) / C
    return (x + 0.05 * torch.rand(x.shape, generator=gen)).clamp(0, 1)


CONFIGS = {
    "svg_dcgan": dict(backbone="dcgan64", channels=1, groups=1, z_dim=4, aligner_levels=[], aligner_value="encoder"),
    "hafsvg2_dcgan": dict(backbone="dcgan64", channels=1, groups=2, z_dim=4, aligner_levels=[0, 1, 2, 3], aligner_value="encoder"),
    "hsvg2_vgg_c3": dict(backbone="vgg64", channels=3, groups=2, z_dim=4, aligner_levels=[], aligner_value="encoder"),
    "hafsvg1_dcgan_decvalue": dict(backbone="dcgan64", channels=1, groups=1, z_dim=2, aligner_levels=[1, 3], aligner_value="decoder"),
}
COMMON = dict(g_dim=16, rnn_size=24, nf=4, n_past=3, n_future=2, batch=3, beta=0.5, lr=0.002, predictor_layers=2, gaussian_layers=1)


def make(name, seed):
    """The reference runs in float64 from float32 values (weights, inputs, noise), so the fixtures hold the
    exact answer for the float32 inputs, rounded once to float32: what the engine is compared with is the
    truth, not PyTorch's own float32 rounding."""
    cfg = dict(COMMON, **CONFIGS[name])
    gen = torch.Generator().manual_seed(seed)
    model = Model(cfg); init_weights(model, gen)
    T = cfg["n_past"] + cfg["n_future"]; B = cfg["batch"]; G = cfg["groups"]; d = cfg["z_dim"] // G; C = cfg["channels"]
    x = moving_blobs(gen, T, B, C)
    eps = torch.randn(G, T - 1, B, d, generator=gen)
    init = state(model)                     # float32
    model = model.double(); model.train()
    x, eps = x.double(), eps.double()

    # Generation first (it must not touch the weights; running statistics are not updated in no_grad train mode? they are:
    # BatchNorm in train mode updates running stats even under no_grad, so generate from a copy).
    N = 2
    gen_model = Model(cfg).double(); gen_model.load_state_dict(model.state_dict()); gen_model.train()
    gen_eps = torch.randn(T - 1, G, N * B, d, generator=gen).double()
    gen_out = generate(gen_model, x[:cfg["n_past"]], gen_eps, cfg["n_future"], N)
    run_model = Model(cfg).double(); run_model.load_state_dict(model.state_dict()); run_model.eval()
    gen_out_running = generate(run_model, x[:cfg["n_past"]], gen_eps, cfg["n_future"], N)

    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8)
    opt.zero_grad()
    loss, mse, kld = training_step(model, x, eps)
    loss.backward()
    grads = {f"grad.{k}": p.grad.detach().clone() for k, p in model.named_parameters()}
    opt.step()
    after = state(model)

    tensors = {f"init.{k}": v for k, v in init.items()}
    tensors.update(grads)
    tensors.update({f"after.{k}": v for k, v in after.items()})
    tensors.update({"x": x, "eps": eps, "loss": loss.detach().reshape(1), "mse": mse.detach().reshape(1), "kld": kld.detach().reshape(1),
                    "gen.eps": gen_eps, "gen.out": gen_out})
    if name == "svg_dcgan":
        tensors["gen.out_running"] = gen_out_running
    meta = metadata(cfg); meta["gen_samples"] = str(N)
    path = os.path.join(HERE, f"{name}.safetensors")
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, path, metadata=meta)
    print(f"{name}: loss {loss.item():.6f} mse {mse.item():.6f} kld {kld.item():.6f} -> {path} ({os.path.getsize(path)} bytes)")


def check_swift(path):
    """Load a Swift-written checkpoint (weights + gen.x, gen.eps, gen.out recorded by the Swift engine) and
    compare PyTorch's generation with the engine's."""
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    t = load_file(path)
    cfg = dict(COMMON)
    for k in ["backbone", "aligner_value"]: cfg[k] = meta[k]
    for k in ["channels", "g_dim", "rnn_size", "z_dim", "groups", "n_past", "n_future", "batch", "nf", "predictor_layers", "gaussian_layers"]:
        cfg[k] = int(meta[k])
    cfg["aligner_levels"] = [int(s) for s in meta["aligner_levels"].split(",") if s]
    cfg["beta"] = float(meta["beta"]); cfg["lr"] = float(meta["lr"])
    model = Model(cfg).double()
    weights = {k: v.double() for k, v in t.items() if not k.startswith("gen.")}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    assert not missing and not unexpected, (missing, unexpected)
    model.train()
    N = int(meta["gen_samples"])
    out = generate(model, t["gen.x"].double(), t["gen.eps"].double(), t["gen.out"].shape[2], N).float()
    err = (out - t["gen.out"]).abs().max().item()
    print(f"{path}: PyTorch generation vs the Swift engine's: max abs difference {err:.3e}")
    if err > 1e-4:
        sys.exit(f"FAIL: difference {err} exceeds 1e-4")
    print("OK: the Swift-written checkpoint loads into PyTorch and reproduces the engine's rollout")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-swift", metavar="FILE")
    args = ap.parse_args()
    if args.check_swift:
        check_swift(args.check_swift)
    else:
        torch.manual_seed(0)
        for i, name in enumerate(CONFIGS):
            make(name, 1000 + i)
