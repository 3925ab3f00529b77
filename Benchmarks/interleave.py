#!/usr/bin/env python3
"""Same-run ratios on a shared machine: alternate SVGNet and PyTorch, one timed run each per round.

The 2-core machines are shared, and their sgemm rate drifts by ±20% over minutes; timing all of
SVGNet's runs and then all of PyTorch's lets that drift into the ratio. Here every round times one
SVGNet run (svgnet-bench --runs 1, after its own warm-up) and one PyTorch run of each peer variant
(pytorch_peer.py --runs 1, after its warm-up) of the same rows, and the ratio is taken per round; the
report gives the median and the range of the per-round ratios. Which side runs first alternates from
round to round.

  python3 Benchmarks/interleave.py [--rounds 5] [--section train|sample] [--models svglp,hafsvg4]
                                   [--peer-modes MODES] [--jemalloc [both]] [--json FILE]

  --peer-modes   comma-separated peer variants, all timed in every round (one peer invocation per round
                 runs them all); --peer-mode is the same option.
      train:  once, twice, batched, batched-skip-once, sdpa, channels-last, compile, or all (see
              pytorch_peer.py; default twice, the public code's encode-twice loop)
      sample: public, batched, batched-sdpa, or all (default batched, the 100 samples as one batch)
  --jemalloc     run the peer with LD_PRELOAD of libjemalloc.so.2 and PyTorch's CPU tuning guide's
                 MALLOC_CONF (apt-get install libjemalloc2); `--jemalloc both` runs each round's peer
                 twice, with glibc's malloc and with jemalloc, and reports the jemalloc rows as
                 `<variant>+jemalloc`.
The peer's variants are checked once against the public loop (pytorch_peer.py --check-only) before the
first round; the rounds then run with --no-check.

The summary gives, per model, SVGNet's and every peer variant's median and range over the rounds, and
SVGNet ÷ the fastest peer variant of each round (median and range), with how often each variant was
the fastest; and each side's peak resident set (the largest over the rounds), with SVGNet's ÷ that of the
variant fastest most often and ÷ that of the variant needing least. Needs a release build (swift build -c release) and torch.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER = os.path.join(HERE, "pytorch_peer.py")
MALLOC_CONF = "oversize_threshold:1,background_thread:true,metadata_thp:auto,dirty_decay_ms:9000000000,muzzy_decay_ms:9000000000"


def run(cmd, env=None):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"interleave: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def rows(path):
    with open(path) as f:
        return json.load(f)["rows"]


def jemalloc_path():
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("libjemalloc.so.2") and "=>" in line:
            return line.split("=>")[1].strip()
    debian = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
    if os.path.exists(debian):
        return debian
    sys.exit("interleave: --jemalloc: libjemalloc.so.2 not found (apt-get install -y libjemalloc2)")


def spread(values):
    v = sorted(values)
    return f"{statistics.median(v):.3f} s [{v[0]:.2f}–{v[-1]:.2f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--section", choices=["train", "sample"], default="train")
    ap.add_argument("--models", default="svglp,hafsvg4")
    ap.add_argument("--peer-modes", "--peer-mode", dest="peer_modes",
                    help="comma-separated peer variants (default twice for train, batched for sample)")
    ap.add_argument("--jemalloc", nargs="?", const="on", choices=["on", "both"],
                    help="run the peer under jemalloc; `both`: with and without it, every round")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        ap.error(f"--json {args.json}: its folder does not exist")   # before the rounds, not after them
    bench = os.path.join(ROOT, ".build", "release", "svgnet-bench")
    if not os.path.exists(bench):
        sys.exit("interleave: build first: swift build -c release")
    modes = args.peer_modes or ("twice" if args.section == "train" else "batched")
    mode_flag = "--train-mode" if args.section == "train" else "--sample-mode"
    # The peer names an unknown variant, or one of the other section, in one line.
    print(run([sys.executable, PEER, "--check-only", "--only", args.section, "--models", args.models, mode_flag, modes]),
          end="", flush=True)

    envs = {"": None}     # label suffix -> environment of the peer's run
    if args.jemalloc:
        jemalloc = dict(os.environ, LD_PRELOAD=jemalloc_path(), MALLOC_CONF=MALLOC_CONF)
        envs = {"": None, "+jemalloc": jemalloc} if args.jemalloc == "both" else {"+jemalloc": jemalloc}
    verb = "step" if args.section == "train" else "generate"
    tmp = tempfile.mkdtemp(prefix="interleave-")
    ours, peer = {}, {}   # model key -> [SVGNet s per round]; model key -> {variant label: [s per round]}
    rounds = []           # per round: model key -> (SVGNet s, {variant label: s})
    rss = {}              # model key -> {side label: [peak resident set in bytes, per round]}

    for i in range(args.rounds):
        ours_json = os.path.join(tmp, f"ours{i}.json")
        svgnet = lambda: run([bench, "--only", args.section, "--runs", "1", "--models", args.models, "--json", ours_json])
        peers = []
        for suffix, env in envs.items():
            peer_json = os.path.join(tmp, f"peer{i}{suffix}.json")
            peers.append((suffix, peer_json, lambda p=peer_json, e=env: run(
                [sys.executable, PEER, "--only", args.section, "--runs", "1", "--no-check", "--models", args.models,
                 mode_flag, modes, "--json", p], env=e)))
        # Alternate which side runs first, so that neither always meets the machine in the same state.
        order = [svgnet] + [p[2] for p in peers] if i % 2 == 0 else [p[2] for p in peers] + [svgnet]
        for fn in order: fn()
        this = {}
        for r in rows(ours_json):
            key = r["name"][: -len(" " + verb)]
            this[key] = (r["median_s"], {})
            if r.get("peak_rss_bytes"): rss.setdefault(key, {}).setdefault("SVGNet", []).append(r["peak_rss_bytes"])
        for suffix, peer_json, _ in peers:
            for r in rows(peer_json):
                if r["key"] not in this: continue
                this[r["key"]][1][r["variant"] + suffix] = r["median_s"]
                if r.get("peak_rss_bytes"):
                    rss.setdefault(r["key"], {}).setdefault(r["variant"] + suffix, []).append(r["peak_rss_bytes"])
        parts = []
        for key, (s, variants) in this.items():
            if not variants: continue
            ours.setdefault(key, []).append(s)
            for label, t in variants.items(): peer.setdefault(key, {}).setdefault(label, []).append(t)
            fastest = min(variants, key=variants.get)
            parts.append(f"{key} SVGNet {s:.2f} | " + " ".join(f"{k} {t:.2f}" for k, t in variants.items())
                         + f" | ÷ {fastest} {s / variants[fastest]:.2f}")
        rounds.append({k: v for k, v in this.items() if v[1]})
        print(f"round {i + 1}{' (PyTorch first)' if i % 2 else ''}: " + "   ".join(parts), flush=True)

    print(f"\n{args.section}, {args.rounds} interleaved rounds, SVGNet ÷ the fastest PyTorch variant of each round:")
    report = []
    for key in ours:
        ratios, fastest = [], []
        for r in rounds:
            if key not in r: continue
            s, variants = r[key]
            f = min(variants, key=variants.get)
            fastest.append(f); ratios.append(s / variants[f])
        print(f"  {key}")
        print(f"    {'SVGNet':28} {spread(ours[key])}")
        for label, times in peer[key].items():
            print(f"    {'PyTorch ' + label:28} {spread(times)}")
        # The variants fastest in some round, most often first, ties to the lower median time (not a set's order).
        winners = sorted(set(fastest), key=lambda f: (-fastest.count(f), statistics.median(peer[key][f])))
        counts = ", ".join(f"{f} {fastest.count(f)}/{len(fastest)}" for f in winners)
        r = sorted(ratios)
        print(f"    ratio {statistics.median(r):.2f} [{r[0]:.2f}–{r[-1]:.2f}]; fastest PyTorch variant: {counts}")
        memory, top = None, winners[0]
        if "SVGNet" in rss.get(key, {}) and top in rss[key]:
            # The largest peak of each side over the rounds: a step's memory does not vary with the machine's load.
            peaks = {label: max(v) for label, v in rss[key].items()}
            ours_peak = peaks.pop("SVGNet")
            least = min(peaks, key=peaks.get)
            print(f"    peak RSS SVGNet {ours_peak / 2**30:.2f} GiB; " + " ".join(
                f"{k} {v / 2**30:.2f}" for k, v in peaks.items())
                + f"; ÷ fastest ({top}) {ours_peak / peaks[top]:.2f}, ÷ least ({least}) {ours_peak / peaks[least]:.2f}")
            memory = dict(peak_rss_bytes=dict(peaks, SVGNet=ours_peak), ratio_to_fastest=ours_peak / peaks[top],
                          ratio_to_least=ours_peak / peaks[least])
        report.append(dict(row=key, svgnet_s=ours[key], pytorch_s=peer[key], fastest=fastest, ratios=ratios,
                           median_ratio=statistics.median(r), memory=memory))
    if args.json:   # written whole or not at all
        with open(args.json + ".tmp", "w") as f:
            json.dump(dict(section=args.section, rounds=args.rounds, peer_modes=modes.split(","),
                           jemalloc=args.jemalloc, rows=report), f, indent=1)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
