#!/usr/bin/env python3
"""Same-run ratios on a shared machine: alternate SVGNet and PyTorch, one timed run each per round.

The 2-core machines are shared, and their sgemm rate drifts by ±20% over minutes; timing all of
SVGNet's runs and then all of PyTorch's lets that drift into the ratio. Here every round times one
SVGNet run (svgnet-bench --runs 1, after its own warm-up) and then one PyTorch run (pytorch_peer.py
--runs 1, after its warm-up) of the same rows, and the ratio is taken per round; the report gives the
median and the range of the per-round ratios.

  python3 Benchmarks/interleave.py [--rounds 5] [--section train|sample] [--models svglp,hafsvg4]
                                   [--peer-mode twice|once|batched|public] [--json FILE]

  train:  SVGNet's step vs PyTorch's step (--peer-mode twice: the public code's encode-twice loop, the
          default; once: encoding each frame once, like the engine)
  sample: SVGNet's 100-sample generation vs PyTorch's (--peer-mode batched: the 100 samples as one batch,
          the default; public: one sample at a time, as the public code loops)
Needs a release build (swift build -c release) and torch.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"interleave: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")


def rows(path):
    with open(path) as f:
        return {r["name"]: r for r in json.load(f)["rows"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--section", choices=["train", "sample"], default="train")
    ap.add_argument("--models", default="svglp,hafsvg4")
    ap.add_argument("--peer-mode", choices=["twice", "once", "batched", "public"])
    ap.add_argument("--json")
    args = ap.parse_args()
    bench = os.path.join(ROOT, ".build", "release", "svgnet-bench")
    if not os.path.exists(bench):
        sys.exit("interleave: build first: swift build -c release")
    mode = args.peer_mode or ("twice" if args.section == "train" else "batched")
    if (args.section == "train") != (mode in ("twice", "once")):
        sys.exit(f"interleave: --peer-mode {mode} does not apply to --section {args.section}")
    suffix = {"twice": ".encode-twice", "once": "", "batched": ".batched", "public": ""}[mode]
    verb = "step" if args.section == "train" else "generate"
    peer_flags = ["--train-mode", mode] if args.section == "train" else ["--sample-mode", mode]
    tmp = tempfile.mkdtemp(prefix="interleave-")
    per = {}   # model key -> list of (ours, theirs, ratio)
    for i in range(args.rounds):
        ours_json, peer_json = os.path.join(tmp, f"ours{i}.json"), os.path.join(tmp, f"peer{i}.json")
        run([bench, "--only", args.section, "--runs", "1", "--models", args.models, "--json", ours_json])
        run([sys.executable, os.path.join(HERE, "pytorch_peer.py"), "--only", args.section, "--runs", "1",
             "--models", args.models, *peer_flags, "--json", peer_json])
        ours, theirs = rows(ours_json), rows(peer_json)
        for name, r in ours.items():
            base = name[: -len(" " + verb)]
            peer = theirs.get(f"{base}{suffix} {verb}")
            if peer is None: continue
            per.setdefault(base, []).append((r["median_s"], peer["median_s"], r["median_s"] / peer["median_s"]))
        line = "  ".join(f"{k} {v[-1][0]:.2f}/{v[-1][1]:.2f}={v[-1][2]:.2f}" for k, v in per.items())
        print(f"round {i + 1}: {line}", flush=True)
    print(f"\n{args.section}, SVGNet ÷ PyTorch ({mode}), {args.rounds} interleaved rounds:")
    report = []
    for k, v in per.items():
        ratios = sorted(x[2] for x in v)
        ours = sorted(x[0] for x in v); theirs = sorted(x[1] for x in v)
        print(f"  {k:18} SVGNet {statistics.median(ours):.3f} s [{ours[0]:.2f}–{ours[-1]:.2f}]   "
              f"PyTorch {statistics.median(theirs):.3f} s [{theirs[0]:.2f}–{theirs[-1]:.2f}]   "
              f"ratio {statistics.median(ratios):.2f} [{ratios[0]:.2f}–{ratios[-1]:.2f}]")
        report.append(dict(row=k, peer_mode=mode, svgnet_s=ours, pytorch_s=theirs, ratios=ratios,
                           median_ratio=statistics.median(ratios)))
    if args.json:
        with open(args.json, "w") as f: json.dump(dict(section=args.section, rounds=args.rounds, rows=report), f, indent=1)


if __name__ == "__main__":
    main()
