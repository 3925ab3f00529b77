#!/usr/bin/env python3
"""Ten training steps of the PyTorch reference (make_fixtures.py's modules, Docs/MODEL.md), for
TrajectoryTests: the engine must follow the loss trajectory and end near the same weights, the way
llm.c's test_gpt2 checks ten losses.

The same batch x is used at every step (as in llm.c's test), with new posterior noise each step. The run
is made twice from the same float32 initial values: in float64 (the exact answer, rounded once to float32)
and in float32 (PyTorch's own rounding), so a test can compare the engine's distance from the exact answer
with PyTorch float32's.

  init.<name>      weights and running statistics before step 1
  x                the batch (T, B, C, 64, 64)
  eps              posterior noise (steps, G, T-1, B, d)
  loss64, mse64, kld64   per-step losses of the float64 run (shape [steps])
  loss32           per-step losses of the float32 run
  after64.<name>   weights and running statistics after the last step, float64 run
  after32.<name>   the same, float32 run

Usage:  python3 Tests/Fixtures/make_trajectory.py      (writes Tests/Fixtures/trajectory_*.safetensors)
        python3 Tests/Fixtures/make_trajectory.py --full-width DIR
            (the same two models at the paper's width, nf 64, g-dim 128, rnn 256, batch 16, 5 + 10 frames, into
            DIR: 150-250 MB each, not committed; TrajectoryTests reads them when SVGNET_FULL_WIDTH_TRAJECTORY=DIR)
        python3 Tests/Fixtures/make_trajectory.py --full-width DIR --model hafsvg2_dcgan   (one of the two)
"""
import argparse
import os
import torch
from safetensors.torch import save_file

from make_fixtures import COMMON, CONFIGS, HERE, Model, init_weights, metadata, moving_blobs, state, training_step

STEPS = 10
NAMES = ["svg_dcgan", "hafsvg2_dcgan"]


def run(cfg, init, x, eps, dtype):
    model = Model(cfg).to(dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in init.items()}, strict=False)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8)
    losses = []
    for s in range(STEPS):
        opt.zero_grad()
        loss, mse, kld = training_step(model, x.to(dtype), eps[s].to(dtype))
        loss.backward()
        opt.step()
        losses.append((loss.item(), mse.item(), kld.item()))
    return losses, state(model)


FULL_WIDTH = dict(nf=64, g_dim=128, rnn_size=256, n_past=5, n_future=10, batch=16, beta=1e-4)
FULL_WIDTH_GROUPS = {"svg_dcgan": dict(z_dim=16), "hafsvg2_dcgan": dict(groups=4, z_dim=16)}


def make(name, seed, full_width_dir=None):
    cfg = dict(COMMON, **CONFIGS[name])
    if full_width_dir: cfg.update(FULL_WIDTH, **FULL_WIDTH_GROUPS[name])
    gen = torch.Generator().manual_seed(seed)
    model = Model(cfg); init_weights(model, gen)
    T = cfg["n_past"] + cfg["n_future"]; B = cfg["batch"]; G = cfg["groups"]; d = cfg["z_dim"] // G; C = cfg["channels"]
    x = moving_blobs(gen, T, B, C)
    eps = torch.randn(STEPS, G, T - 1, B, d, generator=gen)
    init = state(model)
    losses64, after64 = run(cfg, init, x, eps, torch.float64)
    losses32, after32 = run(cfg, init, x, eps, torch.float32)
    tensors = {f"init.{k}": v for k, v in init.items()}
    tensors.update({f"after64.{k}": v for k, v in after64.items()})
    tensors.update({f"after32.{k}": v for k, v in after32.items()})
    tensors.update({"x": x, "eps": eps,
                    "loss64": torch.tensor([l[0] for l in losses64]), "mse64": torch.tensor([l[1] for l in losses64]),
                    "kld64": torch.tensor([l[2] for l in losses64]), "loss32": torch.tensor([l[0] for l in losses32])})
    meta = metadata(cfg); meta["steps"] = str(STEPS)
    path = os.path.join(full_width_dir or HERE, f"trajectory_{name}.safetensors")
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, path, metadata=meta)
    worst = max(abs(a[0] - b[0]) / abs(a[0]) for a, b in zip(losses32, losses64))
    print(f"{name}: losses {losses64[0][0]:.5f} → {losses64[-1][0]:.5f} over {STEPS} steps; "
          f"PyTorch float32 off the float64 losses by ≤ {worst:.2e} relative -> {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full-width", metavar="DIR", help="write full-width trajectories into DIR instead of the fixtures")
    parser.add_argument("--model", choices=NAMES, action="append", help="only this model (repeatable; default: both)")
    args = parser.parse_args()
    if args.full_width: os.makedirs(args.full_width, exist_ok=True)
    torch.manual_seed(0)
    for i, name in enumerate(NAMES):
        # The seed stays tied to the model's place in NAMES, so one model alone gives the same file.
        if args.model is None or name in args.model: make(name, 2000 + i, args.full_width)
