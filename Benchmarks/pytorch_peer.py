#!/usr/bin/env python3
"""PyTorch peer of svgnet-bench's end-to-end rows (train.*, sample.*): same configurations, 2 threads,
float32, using the reference model in Tests/Fixtures/make_fixtures.py at full width
(nf 64, g_dim 128, rnn_size 256, 2 predictor layers, 1 gaussian layer).

  python3 Benchmarks/pytorch_peer.py [--json FILE] [--quick] [--runs N] [--only train|sample] [--models svglp,...]
                                     [--train-mode MODES] [--sample-mode MODES] [--encode-twice]
                                     [--check-only] [--no-check] [--compare SWIFT.json]

Training rows, one per --train-mode variant (comma-separated, or `all`; `both` = once,twice; default once, plus
twice with --encode-twice). The variants are written in Benchmarks/peer_steps.py; all compute the same loss and
gradients (forward, backward and an Adam step are timed):
  train.svglp step           once: SVG-LP, DCGAN-64, 1 channel, B 16, 5+10, zDim 10; each frame encoded once,
                             each network called once per time step (make_fixtures.training_step)
  train.hafsvg4 step         the same for HAF-SVG-4 (zDim 16, groups 4, aligner on levels 0-3)
  train.vgg64.svglp step     the same for SVG-LP at the kth preset: VGG-64, B 8, 10+10, zDim 24
  train.vgg64.hafsvg1 step   HAF-SVG-1 at the kth preset (aligner on levels 0-2), B 8
  train.*.encode-twice step  twice: the public SVG code's loop, every frame encoded as input and again as target
                             (28 encoder calls per sequence instead of 15)
  train.*.batched step       the encoder over all T·B frames and the decoder over all (T-1)·B frames in one call
                             each, BatchNorm still with per-time-step statistics; the LSTMs sequential
  train.*.batched-skip-once step   batched, each decoder layer's skip half computed once per distinct skip frame
  train.*.sdpa step          batched-skip-once with the aligner through F.scaled_dot_product_attention
  train.*.channels-last step sdpa with weights and activations in torch.channels_last
  train.*.compile step       torch.compile of the sdpa step. The first call (compilation) is timed apart and given
                             in the note with inductor's on-disk cache hits and misses (a warm cache compiles in
                             seconds). If torch.compile fails, one line says why and the row is skipped.
Before timing, each variant other than twice is checked once per configuration, on 1 thread, at a small width
(nf 8, g_dim 16, rnn_size 16, B 4, 5+3 frames) in float64, same weights and inputs, against the public loop
(make_fixtures.training_step with encode_twice=True): loss, mse, kld and every parameter's gradient to a relative
error <= 1e-9 (max |difference| / max |reference| per tensor), one line per variant with the worst. Gradients that
are zero in exact arithmetic (the bias of a convolution followed by BatchNorm, the aligner's key bias) are rounding
noise, ~1e-14 of the largest gradient; for them the variant's gradient must stay below 1e-10 of the largest.
A failure prints one line and exits 1 before anything is timed.
  --check-only   only the checks: all variants and every configuration unless --train-mode/--models narrow it
  --no-check     skip the checks (interleave.py runs --check-only once, then its timed rounds with --no-check)

Sampling rows, one per --sample-mode (comma-separated, or `all`; `both` = public,batched, the default):
  sample.svglp / sample.hafsvg4 generate   public: 100 samples of 1 sequence, 5+10 frames, one sample at a time
                             as the reference loop does
  sample.*.batched generate  the 100 samples as one batch (the conditioning frames are then encoded 100 times)
  sample.hafsvg4.batched-sdpa generate   batched with the aligner through F.scaled_dot_product_attention (no row for
                             models without an aligner); checked against batched's output like the training variants
All under torch.no_grad(). BatchNorm runs on RUNNING statistics (eval mode): with one sequence per sample, c5's
BatchNorm sees one value per channel and PyTorch refuses batch statistics ("Expected more than 1 value per channel").

Every row records the peak resident set (VmHWM, reset before the row; for compile, after the compilation).
"""
import argparse, json, os, statistics, sys, time

try:
    import torch
except ImportError:
    print("pytorch_peer: torch is not importable; nothing to compare (pip install torch)")
    sys.exit(0)

from peer_steps import VARIANTS, STEPS, prepare, ref, use_sdpa_aligners  # noqa: E402

FULL = dict(nf=64, g_dim=128, rnn_size=256, predictor_layers=2, gaussian_layers=1, channels=1, beta=1e-4, lr=0.002,
            aligner_value="encoder")
CASES = {
    "train.svglp": dict(FULL, backbone="dcgan64", batch=16, n_past=5, n_future=10, z_dim=10, groups=1, aligner_levels=[]),
    "train.hafsvg4": dict(FULL, backbone="dcgan64", batch=16, n_past=5, n_future=10, z_dim=16, groups=4, aligner_levels=[0, 1, 2, 3]),
    "train.vgg64.svglp": dict(FULL, backbone="vgg64", batch=8, n_past=10, n_future=10, z_dim=24, groups=1, aligner_levels=[],
                              beta=1e-6),
    "train.vgg64.hafsvg1": dict(FULL, backbone="vgg64", batch=8, n_past=10, n_future=10, z_dim=24, groups=1,
                                aligner_levels=[0, 1, 2], beta=1e-6),
}
SAMPLE_CASES = {"sample.svglp": "train.svglp", "sample.hafsvg4": "train.hafsvg4"}
CHECK_WIDTH = dict(nf=8, g_dim=16, rnn_size=16, batch=4, n_past=5, n_future=3)
TOLERANCE = 1e-9     # relative error of a variant against the public loop, in float64
ZERO = 1e-10         # a gradient below this fraction of the largest one is zero in exact arithmetic

TRAIN_MODES = {"all": VARIANTS, "both": ["once", "twice"]}
SAMPLE_VARIANTS = ["public", "batched", "batched-sdpa"]
SAMPLE_MODES = {"all": SAMPLE_VARIANTS, "both": ["public", "batched"]}
TRAIN_NOTES = {
    "once": "encodes each frame once (like the engine)",
    "twice": "encodes every frame twice (public SVG code)",
    "batched": "encoder and decoder batched over time steps, per-step BatchNorm",
    "batched-skip-once": "batched, skip half of each decoder layer once per skip frame",
    "sdpa": "batched, skip once, aligner through scaled_dot_product_attention",
    "channels-last": "sdpa in channels_last",
    "compile": "torch.compile of sdpa",
}


def train_name(key, variant):
    return key + {"once": "", "twice": ".encode-twice"}.get(variant, "." + variant) + " step"


def sample_name(key, variant):
    return key + ("" if variant == "public" else "." + variant) + " generate"


def build(cfg, seed=1):
    gen = torch.Generator().manual_seed(seed)
    model = ref.Model(cfg)
    ref.init_weights(model, gen)
    return model, gen


def train_inputs(cfg, gen):
    T = cfg["n_past"] + cfg["n_future"]; B = cfg["batch"]; G = cfg["groups"]; d = cfg["z_dim"] // G
    return torch.rand(T, B, cfg["channels"], 64, 64, generator=gen), torch.randn(G, T - 1, B, d, generator=gen)


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


def row(section, key, name, variant, shape, times, note):
    return dict(section=section, key=key, name=name, variant=variant, shape=shape, median_s=statistics.median(times),
                min_s=times[0], max_s=times[-1], runs=len(times), times_s=times, peak_rss_bytes=peak_rss(), note=note)


def describe(c):
    s = f"{c['backbone']} B{c['batch']} {c['n_past']}+{c['n_future']} z{c['z_dim']} G{c['groups']}"
    return s + (" al" + "".join(map(str, c["aligner_levels"])) if c["aligner_levels"] else "")


def one_line(e):
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"


def loss_and_grads(step, model, x, eps):
    for p in model.parameters(): p.grad = None
    loss, mse, kld = step(model, x, eps)
    loss.backward()
    # A parameter the variant never reaches has no gradient: zero, so that the check fails on it.
    return torch.stack([loss, mse, kld]).detach(), {k: (torch.zeros_like(p) if p.grad is None else p.grad.detach().clone())
                                                    for k, p in model.named_parameters()}


def check_train(key, cfg, variants):
    """Checks each variant against the public loop in float64 at CHECK_WIDTH; prints one line per variant and
    returns the variants to time (compile is dropped, with a line, when torch.compile fails). Exits 1 on a failure."""
    small = dict(cfg, **CHECK_WIDTH)
    model, gen = build(small)
    x, eps = (t.double() for t in train_inputs(small, gen))
    model.double().train()
    weights = model.state_dict()
    ref_values, ref_grads = loss_and_grads(STEPS["twice"], model, x, eps)
    largest = max(g.abs().max().item() for g in ref_grads.values())
    zero = {k for k, g in ref_grads.items() if g.abs().max().item() <= ZERO * largest}
    passed = []
    for variant in variants:
        if variant == "twice":      # the reference itself
            passed.append(variant); continue
        m = ref.Model(small).double().train()
        m.load_state_dict(weights)
        try:
            values, grads = loss_and_grads(prepare(variant, m), m, x, eps)
        except Exception as e:
            if variant != "compile": raise
            print(f"check {key:18} compile            torch.compile failed ({one_line(e)}); not timed", flush=True)
            continue
        errors = {name: ((values[i] - ref_values[i]).abs() / ref_values[i].abs()).item()
                  for i, name in enumerate(["loss", "mse", "kld"])}
        errors.update({k: ((grads[k] - g).abs().max() / g.abs().max()).item() for k, g in ref_grads.items() if k not in zero})
        worst = max(errors, key=errors.get)
        zero_worst = max((grads[k].abs().max().item() / largest for k in zero), default=0.0)
        print(f"check {key:18} {variant:18} worst relative error {errors[worst]:.1e} ({worst}; loss, mse, kld, "
              f"{len(errors) - 3} gradients); {len(zero)} gradients zero in exact arithmetic, <= {zero_worst:.0e} "
              f"of the largest", flush=True)
        if not errors[worst] <= TOLERANCE or not zero_worst <= ZERO:
            bad = f"{worst} off by {errors[worst]:.1e}" if not errors[worst] <= TOLERANCE else \
                f"a gradient zero in exact arithmetic is {zero_worst:.1e} of the largest"
            sys.exit(f"pytorch_peer: FAIL: {key} {variant} disagrees with the public loop in float64 ({bad}; "
                     f"tolerance {TOLERANCE:g}); nothing timed")
        passed.append(variant)
    return passed


def check_sample_sdpa(key, cfg):
    """batched-sdpa sampling against the module's own aligner, float64 at CHECK_WIDTH (eval mode, as timed)."""
    small = dict(cfg, **CHECK_WIDTH)
    model, gen = build(small)
    model.double().eval()
    T = small["n_past"] + small["n_future"]; B = small["batch"]; G = small["groups"]; d = small["z_dim"] // G
    x = torch.rand(small["n_past"], B, small["channels"], 64, 64, generator=gen).double()
    eps = torch.randn(T - 1, G, B, d, generator=gen).double()
    with torch.no_grad():
        want = ref.generate(model, x, eps, small["n_future"], 1)
        use_sdpa_aligners(model)
        got = ref.generate(model, x, eps, small["n_future"], 1)
    err = ((got - want).abs().max() / want.abs().max()).item()
    print(f"check {key:18} batched-sdpa       worst relative error {err:.1e} (generated frames against batched)", flush=True)
    if not err <= TOLERANCE:
        sys.exit(f"pytorch_peer: FAIL: {key} batched-sdpa generation disagrees with batched ({err:.1e}); nothing timed")


def inductor_cache():
    """Inductor's FX-graph cache hits and misses so far. Looked up anew each time: inductor replaces its counters
    object when it first compiles in a process."""
    counters = torch._dynamo.utils.counters["inductor"]
    return counters["fxgraph_cache_hit"], counters["fxgraph_cache_miss"]


def bench_train(key, cfg, runs, variant):
    reset_peak_rss()
    model, gen = build(cfg)
    model.train()
    step_fn = prepare(variant, model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8)
    x, eps = train_inputs(cfg, gen)

    def step():
        opt.zero_grad()
        loss, _, _ = step_fn(model, x, eps)
        loss.backward()
        opt.step()

    note = TRAIN_NOTES[variant]
    if variant == "compile":
        hits, misses = inductor_cache()
        t0 = time.perf_counter()
        try:
            step()
        except Exception as e:
            print(f"{train_name(key, variant)}: torch.compile failed ({one_line(e)}); row skipped", flush=True)
            return None
        seconds = time.perf_counter() - t0
        hits, misses = (n - m for n, m in zip(inductor_cache(), (hits, misses)))
        note += f"; compile + first step {seconds:.1f} s (inductor cache: {hits} hits, {misses} misses)"
        reset_peak_rss()
    times, timing = timed_runs(step, runs)
    return row("train", key, train_name(key, variant), variant, describe(cfg), times, f"{timing}; {note}")


def bench_sample(key, cfg, runs, variant, samples=100):
    """Under torch.no_grad() (no autograd graph). public: the public code's loop, one sample at a time.
    batched: what a PyTorch user would write to match the engine, the sequence repeated 100 times and
    all samples run as one batch of 100 (the conditioning frames are then encoded 100 times).
    batched-sdpa: batched with the aligner's attention through F.scaled_dot_product_attention."""
    reset_peak_rss()
    cfg = dict(cfg, batch=1)
    model, gen = build(cfg)
    model.eval()   # see the module docstring: batch statistics are undefined for one sequence
    if variant == "batched-sdpa": use_sdpa_aligners(model)
    T = cfg["n_past"] + cfg["n_future"]; G = cfg["groups"]; d = cfg["z_dim"] // G
    x = torch.rand(cfg["n_past"], 1, cfg["channels"], 64, 64, generator=gen)
    eps = torch.randn(T - 1, G, samples, d, generator=gen)
    if variant == "public":
        run = lambda: ref.generate(model, x, eps, cfg["n_future"], samples)
    else:
        xb = x.expand(-1, samples, -1, -1, -1).contiguous()
        run = lambda: ref.generate(model, xb, eps, cfg["n_future"], 1)
    with torch.no_grad():
        times, note = timed_runs(run, runs)
    how = {"public": "one sample at a time (public code)", "batched": "all samples as one batch of 100",
           "batched-sdpa": "all samples as one batch of 100, aligner through scaled_dot_product_attention"}[variant]
    return row("sample", key, sample_name(key, variant), variant, describe(cfg) + f" x{samples} samples", times,
               note + f"; {how}, no_grad, BatchNorm on running statistics (eval)")


def compare(ours, peer_rows):
    with open(ours) as f: swift = {r["name"]: r for r in json.load(f)["rows"]}
    print(f"\n{'row':40} {'svgnet s':>10} {'pytorch s':>10} {'svgnet/pytorch':>15}")
    for r in peer_rows:
        s = swift.get(train_name(r["key"], "once") if r["section"] == "train" else sample_name(r["key"], "public"))
        if s is None: continue
        print(f"{r['name']:40} {s['median_s']:10.3f} {r['median_s']:10.3f} {s['median_s'] / r['median_s']:15.2f}")


def parse_modes(ap, flag, value, groups, known):
    names = groups.get(value, value.split(","))
    unknown = [n for n in names if n not in known]
    if unknown:
        ap.error(f"{flag}: unknown {', '.join(unknown)} (known: {', '.join(known)}, {', '.join(groups)})")
    return names


def print_row(r):
    print(f"{r['name']:40} {r['median_s']:8.3f} s  [{r['min_s']:.2f}-{r['max_s']:.2f}] n={r['runs']}  "
          f"peak {(r['peak_rss_bytes'] or 0) / 2**30:.2f} GiB  {r['note']}", flush=True)


def model_name(key):
    """--models' name of a row, as svgnet-bench's: train.svglp -> svglp, train.vgg64.svglp -> vgg64,
    train.vgg64.hafsvg1 -> vgg64-hafsvg1."""
    parts = key.split(".")
    return f"{parts[1]}-{parts[2]}" if len(parts) > 2 and parts[2] != "svglp" else parts[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json"); ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, help="timed runs after the warm-up (default 3; 1 with --quick)")
    ap.add_argument("--only", choices=["train", "sample"]); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--encode-twice", action="store_true", help="also time the public code's encode-twice training step")
    ap.add_argument("--compare", help="svgnet-bench JSON to print speed ratios against")
    ap.add_argument("--models", help=f"comma-separated subset of {','.join(model_name(k) for k in CASES)} (default all)")
    ap.add_argument("--sample-mode", help=f"sampling rows: comma-separated {','.join(SAMPLE_VARIANTS)}, or all, or both "
                                          "(public,batched; the default)")
    ap.add_argument("--train-mode", help=f"training rows: comma-separated {','.join(VARIANTS)}, or all, or both "
                                         "(once,twice); default once, plus twice with --encode-twice")
    ap.add_argument("--check-only", action="store_true", help="only check the variants against the public loop (float64)")
    ap.add_argument("--no-check", action="store_true", help="time without checking the variants first")
    args = ap.parse_args()
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        ap.error(f"--json {args.json}: its folder does not exist")   # before the runs, not after them
    torch.set_default_dtype(torch.float32)
    runs = args.runs if args.runs else (1 if args.quick else 3)
    known = {model_name(key) for key in CASES}
    models = set(args.models.split(",")) if args.models else known
    if not models <= known:
        ap.error(f"--models: unknown {', '.join(sorted(models - known))} (known: {', '.join(sorted(known))})")
    def wanted(key): return model_name(key) in models
    default_train = "all" if args.check_only else ("both" if args.encode_twice else "once")
    train_modes = parse_modes(ap, "--train-mode", args.train_mode or default_train, TRAIN_MODES, VARIANTS)
    default_sample = "all" if args.check_only else "both"
    sample_modes = parse_modes(ap, "--sample-mode", args.sample_mode or default_sample, SAMPLE_MODES, SAMPLE_VARIANTS)
    do_train, do_sample = args.only in (None, "train"), args.only in (None, "sample")
    print(f"pytorch_peer: torch {torch.__version__}; timings in float32 on {args.threads} threads, checks in float64 on "
          "1 thread", flush=True)

    checked = {}
    # The checks' small tensors gain nothing from a second thread, and with the other core busy (a shared
    # machine) two threads run them about ten times slower.
    torch.set_num_threads(1)
    if not args.no_check:
        if do_train:
            for key, cfg in CASES.items():
                if wanted(key): checked[key] = check_train(key, cfg, train_modes)
        if do_sample and "batched-sdpa" in sample_modes:
            for key, train_key in SAMPLE_CASES.items():
                if wanted(key) and CASES[train_key]["aligner_levels"]: check_sample_sdpa(key, CASES[train_key])
    if args.check_only:
        print("pytorch_peer: all checks passed")
        return
    torch.set_num_threads(args.threads)

    rows = []
    if do_train:
        for key, cfg in CASES.items():
            if not wanted(key): continue
            for variant in checked.get(key, train_modes):
                r = bench_train(key, cfg, runs, variant)
                if r is None: continue
                rows.append(r); print_row(r)
    if do_sample:
        for key, train_key in SAMPLE_CASES.items():
            if not wanted(key): continue
            for variant in sample_modes:
                if variant == "batched-sdpa" and not CASES[train_key]["aligner_levels"]: continue
                r = bench_sample(key, CASES[train_key], runs, variant)
                rows.append(r); print_row(r)
    if args.json:   # written whole or not at all
        with open(args.json + ".tmp", "w") as f:
            json.dump(dict(tool="pytorch_peer", torch=torch.__version__, threads=torch.get_num_threads(), rows=rows), f, indent=1)
        os.replace(args.json + ".tmp", args.json)
        print(f"wrote {args.json}")
    if args.compare: compare(args.compare, rows)


if __name__ == "__main__":
    main()
