#!/usr/bin/env python3
"""PyTorch peer of svgnet-bench's end-to-end rows (train.*, sample.*): same configurations, 2 threads,
eager, float32, using the reference model in Tests/Fixtures/make_fixtures.py at full width
(nf 64, g_dim 128, rnn_size 256, 2 predictor layers, 1 gaussian layer).

  python3 Benchmarks/pytorch_peer.py [--json FILE] [--quick] [--runs N] [--only train|sample] [--encode-twice]
                                     [--compare SWIFT.json]

Rows (JSON keys as svgnet-bench):
  train.svglp step           SVG-LP, DCGAN-64, 1 channel, B 16, 5+10, zDim 10: forward, backward, Adam step
  train.hafsvg4 step         HAF-SVG-4 (zDim 16, groups 4, aligner on levels 0-3)
  train.vgg64.svglp step     SVG-LP on VGG-64, B 8, 10+10
  train.*.encode-twice step  (--encode-twice) the public SVG code's schedule: every frame encoded as input
                             and again as target, 28 encoder calls per sequence instead of 15
  sample.svglp / sample.hafsvg4 generate   100 samples of 1 sequence, 5+10 frames, one sample at a time
                             as the reference loop does; sample.*.batched: the 100 samples as one batch.
                             Both under torch.no_grad(). BatchNorm runs on RUNNING statistics (eval mode):
                             with one sequence per sample, c5's BatchNorm sees one value per channel and
                             PyTorch refuses batch statistics ("Expected more than 1 value per channel").
Our training_step encodes each frame once (MODEL.md "Training step"), like the engine; that is the like-for-like row.
"""
import argparse, json, os, statistics, sys, time

try:
    import torch
except ImportError:
    print("pytorch_peer: torch is not importable; nothing to compare (pip install torch)")
    sys.exit(0)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "Fixtures"))
import make_fixtures as ref  # noqa: E402

FULL = dict(nf=64, g_dim=128, rnn_size=256, predictor_layers=2, gaussian_layers=1, channels=1, beta=1e-4, lr=0.002,
            aligner_value="encoder")
CASES = {
    "train.svglp": dict(FULL, backbone="dcgan64", batch=16, n_past=5, n_future=10, z_dim=10, groups=1, aligner_levels=[]),
    "train.hafsvg4": dict(FULL, backbone="dcgan64", batch=16, n_past=5, n_future=10, z_dim=16, groups=4, aligner_levels=[0, 1, 2, 3]),
    "train.vgg64.svglp": dict(FULL, backbone="vgg64", batch=8, n_past=10, n_future=10, z_dim=10, groups=1, aligner_levels=[]),
}
SAMPLE_CASES = {"sample.svglp": "train.svglp", "sample.hafsvg4": "train.hafsvg4"}


def build(cfg, seed=1):
    gen = torch.Generator().manual_seed(seed)
    model = ref.Model(cfg)
    ref.init_weights(model, gen)
    return model, gen


def timed_runs(fn, runs, long_run=30.0):
    """One warm-up, then up to `runs` timed runs; a single run when one takes longer than `long_run` s."""
    t0 = time.perf_counter(); fn(); warm = time.perf_counter() - t0
    times = []
    for i in range(runs):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
        if i == 0 and max(warm, times[0]) > long_run and runs > 1:
            return sorted(times), f"1 run only: a run takes > {int(long_run)} s (warm-up {warm:.1f} s)"
    return sorted(times), f"warm-up {warm:.2f} s"


def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"): return int(line.split()[1]) * 1024
    return None


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f: f.write("5")
        return True
    except OSError:
        return False


def row(section, name, shape, times, note):
    return dict(section=section, name=name, shape=shape, median_s=statistics.median(times), min_s=times[0], max_s=times[-1],
                runs=len(times), times_s=times, peak_rss_bytes=peak_rss(), note=note)


def describe(c):
    s = f"{c['backbone']} B{c['batch']} {c['n_past']}+{c['n_future']} z{c['z_dim']} G{c['groups']}"
    return s + (" al" + "".join(map(str, c["aligner_levels"])) if c["aligner_levels"] else "")


def bench_train(key, cfg, runs, encode_twice):
    reset_peak_rss()
    model, gen = build(cfg)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8)
    T = cfg["n_past"] + cfg["n_future"]; B = cfg["batch"]; G = cfg["groups"]; d = cfg["z_dim"] // G
    x = torch.rand(T, B, cfg["channels"], 64, 64, generator=gen)
    eps = torch.randn(G, T - 1, B, d, generator=gen)
    step_fn = (lambda m, x, e: ref.training_step(m, x, e, encode_twice=True)) if encode_twice else ref.training_step

    def step():
        opt.zero_grad()
        loss, _, _ = step_fn(model, x, eps)
        loss.backward()
        opt.step()

    times, note = timed_runs(step, runs)
    name = key + (".encode-twice" if encode_twice else "") + " step"
    note += "; encodes every frame twice (public SVG code)" if encode_twice else "; encodes each frame once (like the engine)"
    return row("train", name, describe(cfg), times, note)


def bench_sample(key, cfg, runs, samples=100, batched=False):
    """Under torch.no_grad() (no autograd graph). batched=False: the public code's loop, one sample at a time.
    batched=True: what a PyTorch user would write to match the engine, the sequence repeated 100 times and
    all samples run as one batch of 100 (the conditioning frames are then encoded 100 times)."""
    reset_peak_rss()
    cfg = dict(cfg, batch=1)
    model, gen = build(cfg)
    model.eval()   # see the module docstring: batch statistics are undefined for one sequence
    T = cfg["n_past"] + cfg["n_future"]; G = cfg["groups"]; d = cfg["z_dim"] // G
    x = torch.rand(cfg["n_past"], 1, cfg["channels"], 64, 64, generator=gen)
    eps = torch.randn(T - 1, G, samples, d, generator=gen)
    if batched:
        xb = x.expand(-1, samples, -1, -1, -1).contiguous()
        run = lambda: ref.generate(model, xb, eps, cfg["n_future"], 1)
    else:
        run = lambda: ref.generate(model, x, eps, cfg["n_future"], samples)
    with torch.no_grad():
        times, note = timed_runs(run, runs)
    how = "all samples as one batch of 100" if batched else "one sample at a time (public code)"
    return row("sample", key + (".batched" if batched else "") + " generate", describe(cfg) + f" x{samples} samples", times,
               note + f"; {how}, no_grad, BatchNorm on running statistics (eval)")


def compare(ours, peer_rows):
    with open(ours) as f: swift = {r["name"]: r for r in json.load(f)["rows"]}
    print(f"\n{'row':40} {'svgnet s':>10} {'pytorch s':>10} {'svgnet/pytorch':>15}")
    for r in peer_rows:
        base = r["name"].replace(".encode-twice", "").replace(".batched", "")
        s = swift.get(base)
        if s is None: continue
        print(f"{r['name']:40} {s['median_s']:10.3f} {r['median_s']:10.3f} {s['median_s'] / r['median_s']:15.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json"); ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, help="timed runs after the warm-up (default 3; 1 with --quick)")
    ap.add_argument("--only", choices=["train", "sample"]); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--encode-twice", action="store_true", help="also time the public code's encode-twice training step")
    ap.add_argument("--compare", help="svgnet-bench JSON to print speed ratios against")
    ap.add_argument("--models", help="comma-separated subset of svglp,hafsvg4,vgg64 (default all)")
    ap.add_argument("--sample-mode", choices=["both", "public", "batched"], default="both",
                    help="sampling rows: the public code's one-at-a-time loop, the batched one, or both")
    ap.add_argument("--train-mode", choices=["both", "once", "twice"], default=None,
                    help="training rows: encode once, the public code's encode-twice, or both (default: once, plus twice with --encode-twice)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float32)
    runs = args.runs if args.runs else (1 if args.quick else 3)
    print(f"pytorch_peer: torch {torch.__version__}, {torch.get_num_threads()} threads, eager float32")
    known = {"svglp", "hafsvg4", "vgg64"}
    models = set(args.models.split(",")) if args.models else known
    if not models <= known:
        ap.error(f"--models: unknown {', '.join(sorted(models - known))} (known: svglp, hafsvg4, vgg64)")
    def wanted(key): return key.split(".")[1] in models     # train.svglp, train.vgg64.svglp -> svglp, vgg64
    train_mode = args.train_mode or ("both" if args.encode_twice else "once")
    rows = []
    if args.only in (None, "train"):
        for key, cfg in CASES.items():
            if not wanted(key): continue
            for twice in (False, True):
                if (twice and train_mode == "once") or (not twice and train_mode == "twice"): continue
                rows.append(bench_train(key, cfg, runs, encode_twice=twice))
                print(f"{rows[-1]['name']:40} {rows[-1]['median_s']:8.3f} s  [{rows[-1]['min_s']:.2f}-{rows[-1]['max_s']:.2f}] n={rows[-1]['runs']}  {rows[-1]['note']}", flush=True)
    if args.only in (None, "sample"):
        for key, train_key in SAMPLE_CASES.items():
            if not wanted(key): continue
            for batched in (False, True):
                if (batched and args.sample_mode == "public") or (not batched and args.sample_mode == "batched"): continue
                rows.append(bench_sample(key, CASES[train_key], runs, batched=batched))
                print(f"{rows[-1]['name']:40} {rows[-1]['median_s']:8.3f} s  [{rows[-1]['min_s']:.2f}-{rows[-1]['max_s']:.2f}] n={rows[-1]['runs']}  {rows[-1]['note']}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(tool="pytorch_peer", torch=torch.__version__, threads=torch.get_num_threads(), rows=rows), f, indent=1)
        print(f"wrote {args.json}")
    if args.compare: compare(args.compare, rows)


if __name__ == "__main__":
    main()
