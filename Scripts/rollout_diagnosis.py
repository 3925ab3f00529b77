#!/usr/bin/env python3
"""One-step predictions against the free-running rollout (Docs/RESULTS.md, "Where the predictions fail").

For every frame t of a 25-frame test sequence from frame 6 on, the model predicts frame t twice:
- in the rollout, from frames 1–5 and its own earlier predictions (`svgnet generate --n-past 5`);
- one step ahead, from the true frames 1 … t−1 (`svgnet generate --n-past t−1`).
Every run generates 25 frames in all, so every run sees the same test sequences (Moving MNIST draws its
second digit after the first digit's bounces, so the sequence length changes the sequences). Each frame
is scored by `svgnet score`, best of the samples by SSIM for that frame alone (one-step), or for the
whole rollout (the evaluation protocol). Writes a Markdown table and a PNG: per test sequence the truth,
the rollout's best sample and the one-step predictions' best samples. Rerunning into the same --out reuses
the generations already there (checked to be of the same model and protocol).

Usage: python3 Scripts/rollout_diagnosis.py --checkpoint Models/svg-lp-long.safetensors [--out results/rollout]
       [--sequences 32] [--samples 10] [--seed 2] [--threads 1] [--figure-sequences 4]
Needs numpy and a release build (swift build -c release).
"""
import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SVGNET = os.path.join(ROOT, ".build", "release", "svgnet")
LENGTH, PAST = 25, 5
HAZE = 0.05  # predicted pixels below this are set to black for the haze row


def run(*args):
    result = subprocess.run([SVGNET, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"rollout_diagnosis: svgnet {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def score(truth, pred):
    """svgnet score's per-frame SSIM and PSNR means (best sample by SSIM), with their 95% CIs."""
    with tempfile.TemporaryDirectory() as folder:
        truth_file, pred_file = os.path.join(folder, "truth.npy"), os.path.join(folder, "pred.npy")
        np.save(truth_file, truth)
        np.save(pred_file, pred)
        report = json.loads(run("score", "--truth", truth_file, "--pred", pred_file))
    return report["ssimBestSSIM"], report["psnrBestSSIM"], report["bestSSIMSample"]


def write_png(path, image):
    """An 8-bit gray PNG from a float array in [0, 1]: the format needs only zlib."""
    pixels = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", pixels.shape[1], pixels.shape[0], 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", default="results/rollout")
    ap.add_argument("--sequences", type=int, default=32)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--figure-sequences", type=int, default=4)
    args = ap.parse_args()
    if min(args.sequences, args.samples, args.figure_sequences) < 1:
        ap.error("--sequences, --samples and --figure-sequences must be at least 1")
    if not os.path.isfile(args.checkpoint):
        sys.exit(f"rollout_diagnosis: --checkpoint {args.checkpoint}: no such file")
    if not os.path.exists(SVGNET):
        sys.exit("rollout_diagnosis: build first: swift build -c release")
    os.makedirs(args.out, exist_ok=True)
    # Predictions already in --out are reused (a rerun skips the generations that are done), so they must
    # come from the same model and protocol.
    with open(args.checkpoint, "rb") as f:
        stamp = dict(checkpoint_sha256=hashlib.sha256(f.read()).hexdigest(), sequences=args.sequences,
                     samples=args.samples, seed=args.seed)
    stamp_file = os.path.join(args.out, "configuration.json")
    if os.path.exists(stamp_file):
        with open(stamp_file) as f:
            if json.load(f) != stamp:
                sys.exit(f"rollout_diagnosis: {args.out} holds predictions of another model or protocol; use another --out")
    else:
        with open(stamp_file, "w") as f:
            json.dump(stamp, f)
    common = ["--checkpoint", args.checkpoint, "--batch", "16", "--sequences", str(args.sequences), "--samples",
              str(args.samples), "--seed", str(args.seed), "--threads", str(args.threads)]
    truth_file = os.path.join(args.out, "sequences.npy")
    run("data", "mmnist", "--sequences", str(args.sequences), "--length", str(LENGTH), "--seed", str(args.seed),
        "--out", truth_file)
    truth = np.load(truth_file).astype(np.float32).transpose(1, 0, 2, 3) / 255  # (N, T, 64, 64)
    predictions = {}
    for past in range(PAST, LENGTH):
        folder = os.path.join(args.out, f"past-{past:02d}")
        if not os.path.exists(os.path.join(folder, "predictions.npy")):
            print(f"generating from {past} true frames", file=sys.stderr, flush=True)
            run("generate", *common, "--n-past", str(past), "--n-future", str(LENGTH - past), "--out", folder)
        predictions[past] = np.load(os.path.join(folder, "predictions.npy"))[:, :, :, 0]  # (N, S, F, 64, 64)

    rollout_ssim, rollout_psnr, rollout_best = score(truth[:, PAST:], predictions[PAST])
    one_step = [score(truth[:, past:past + 1], predictions[past][:, :, :1]) for past in range(PAST, LENGTH)]
    black_ssim, black_psnr, _ = score(truth[:, PAST:], np.zeros_like(truth[:, PAST:]))
    last = np.repeat(truth[:, PAST - 1:PAST], LENGTH - PAST, axis=1)
    last_ssim, last_psnr, _ = score(truth[:, PAST:], last)
    haze_ssim, haze_psnr, _ = score(truth[:, PAST:], np.where(predictions[PAST] < HAZE, 0, predictions[PAST]))

    def cell(series, i):
        return f"{series['mean'][i]:.3f} [{series['ciLow'][i]:.3f}, {series['ciHigh'][i]:.3f}]"

    frames = [0, 1, 2, 3, 4, 9, 14, 19]
    lines = [f"SSIM per predicted frame, {args.sequences} test sequences of seed {args.seed}, best of {args.samples} "
             "samples by SSIM (rollout: over its 20 frames; one step: over that frame), mean [95% CI]:", "",
             "| prediction | " + " | ".join(f"frame {PAST + 1 + i}" for i in frames) + " |",
             "| --- |" + " --- |" * len(frames)]
    lines.append("| rollout from frames 1–5 | " + " | ".join(cell(rollout_ssim, i) for i in frames) + " |")
    lines.append("| one step from the true frames before it | " +
                 " | ".join(cell(one_step[i][0], 0) for i in frames) + " |")
    lines.append("| black frames | " + " | ".join(cell(black_ssim, i) for i in frames) + " |")
    lines.append("| last observed frame repeated | " + " | ".join(cell(last_ssim, i) for i in frames) + " |")
    means = [("rollout from frames 1–5", np.mean(rollout_ssim["mean"]), np.mean(rollout_psnr["mean"])),
             (f"rollout, predicted pixels below {HAZE} set to 0", np.mean(haze_ssim["mean"]), np.mean(haze_psnr["mean"])),
             ("one step", np.mean([s[0]["mean"][0] for s in one_step]), np.mean([s[1]["mean"][0] for s in one_step])),
             ("black frames", np.mean(black_ssim["mean"]), np.mean(black_psnr["mean"])),
             ("last observed frame repeated", np.mean(last_ssim["mean"]), np.mean(last_psnr["mean"]))]
    lines += ["", f"Mean over frames {PAST + 1}–{LENGTH}:", "", "| prediction | SSIM | PSNR (dB) |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {ssim:.3f} | {psnr:.2f} |" for name, ssim, psnr in means]
    # Frames where the one-step prediction's interval lies above both baselines' intervals.
    above = sum(one_step[i][0]["ciLow"][0] > max(black_ssim["ciHigh"][i], last_ssim["ciHigh"][i]) for i in range(LENGTH - PAST))
    lines += ["", f"One step ahead, the SSIM interval lies above both baselines' at {above} of {LENGTH - PAST} frames."]
    with open(os.path.join(args.out, "rollout.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))

    # Figure: per sequence three rows (truth, rollout's best sample, one-step best samples), frames 6–25.
    gap, rows = 2, []
    for n in range(min(args.figure_sequences, args.sequences)):
        rollout = predictions[PAST][n, rollout_best[n]]
        step = np.stack([predictions[past][n, one_step[past - PAST][2][n], 0] for past in range(PAST, LENGTH)])
        for frames_row in (truth[n, PAST:], rollout, step):
            row = np.ones((64, (64 + gap) * (LENGTH - PAST) - gap), np.float32)
            for t, frame in enumerate(frames_row):
                row[:, t * (64 + gap):t * (64 + gap) + 64] = frame
            rows += [row, np.ones((gap, row.shape[1]), np.float32)]
        rows.append(np.ones((3 * gap, rows[-1].shape[1]), np.float32))
    write_png(os.path.join(args.out, "rollout.png"), np.concatenate(rows[:-2]))
    print(f"wrote {args.out}/rollout.md and {args.out}/rollout.png")


if __name__ == "__main__":
    main()
