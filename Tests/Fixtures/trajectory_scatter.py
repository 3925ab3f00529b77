#!/usr/bin/env python3
"""How far float32 runs of the same ten full-width steps scatter from the float64 answer: PyTorch float32 on 1 and
2 threads, and from initial weights moved by one float32 ulp (random sign), each against the fixture's float64 run.

Usage: python3 Tests/Fixtures/trajectory_scatter.py hafsvg2_dcgan DIR/trajectory_hafsvg2_dcgan.safetensors
(DIR from make_trajectory.py --full-width DIR; about 4 minutes of one core per float32 run at full width)."""
import sys, os, torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors.torch import load_file
from make_fixtures import COMMON, CONFIGS
from make_trajectory import run, FULL_WIDTH, FULL_WIDTH_GROUPS
name = sys.argv[1]; path = sys.argv[2]
f = load_file(path)
cfg = dict(COMMON, **CONFIGS[name]); cfg.update(FULL_WIDTH, **FULL_WIDTH_GROUPS[name])
init = {k[5:]: v for k, v in f.items() if k.startswith("init.")}
x, eps, l64 = f["x"], f["eps"], f["loss64"].double()
after64 = {k[8:]: v.double() for k, v in f.items() if k.startswith("after64.")}
def report(label, losses, after):
    errs = [abs(l[0] - l64[i].item()) / abs(l64[i].item()) for i, l in enumerate(losses)]
    num = den = 0.0
    for k, w in after64.items():
        if k.endswith("running_mean") or k.endswith("running_var"): continue
        num += ((after[k].double() - w) ** 2).sum().item(); den += (w ** 2).sum().item()
    print(f"{label}: loss error per step " + " ".join(f"{e:.1e}" for e in errs) + f"; worst {max(errs):.2e}; weights {(num/den)**0.5:.3e} from exact", flush=True)
for threads in (1, 2):
    torch.set_num_threads(threads)
    losses, after = run(cfg, init, x, eps, torch.float32)
    report(f"float32, {threads} thread(s)", losses, after)
torch.set_num_threads(1)
for seed in (1, 2):
    g = torch.Generator().manual_seed(seed)
    moved = {}
    for k, v in init.items():
        if v.is_floating_point() and not (k.endswith("running_mean") or k.endswith("running_var")):
            sign = torch.randint(0, 2, v.shape, generator=g).float() * 2 - 1
            moved[k] = torch.nextafter(v, v + sign)  # one ulp up or down
        else: moved[k] = v
    losses, after = run(cfg, moved, x, eps, torch.float32)
    report(f"float32, init moved one ulp (seed {seed})", losses, after)
