#!/usr/bin/env python3
"""scikit-image reference values for SVGNet's metrics tests (MODEL.md "Evaluation").

The input images are not stored: they come from fixed formulas that MetricsTests.swift reproduces
exactly (an integer hash and sin/cos patterns computed in float64, then rounded to float32). This writes
Tests/Fixtures/metrics_skimage.json with, per case, skimage's SSIM

    structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                          data_range=1.0, channel_axis=-1 for C > 1)

(an 11-tap window, truncate 3.5, mean over the image cropped by (11-1)//2 = 5 on each border: exactly the
valid region) and peak_signal_noise_ratio(b, a, data_range=1.0).

Usage:  pip install scikit-image && python3 Tests/Fixtures/make_metrics_fixtures.py
"""
import json, math, os
import numpy as np
import skimage
from skimage.metrics import structural_similarity, peak_signal_noise_ratio

M32 = 0xFFFFFFFF


def hash01(c, i, j, seed):
    """lowbias32 of a linear mix; 24 bits, so the value is exact in float32."""
    v = (i * 7919 + j * 104729 + c * 1299709 + seed * 15485863) & M32
    v ^= v >> 16
    v = (v * 0x7FEB352D) & M32
    v ^= v >> 15
    v = (v * 0x846CA68B) & M32
    v ^= v >> 16
    return (v >> 8) / 16777216.0


def pattern(kind, which, c, i, j):
    """Keep in sync with `pattern` in MetricsTests.swift."""
    if kind == "smooth":
        a = 0.5 + 0.4 * math.sin(0.37 * i + 0.23 * j + 1.1 * c)
        if which == 0:
            return a
        return min(1.0, max(0.0, 0.5 + 0.35 * math.sin(0.37 * i + 0.23 * j + 1.1 * c + 0.3) + 0.1 * math.cos(0.71 * j - 0.53 * i)))
    if kind == "hash":
        a = hash01(c, i, j, 1)
        if which == 0:
            return a
        return 0.7 * a + 0.3 * hash01(c, i, j, 2)
    if kind == "offset":
        a = 0.5 + 0.3 * math.sin(0.41 * i - 0.19 * j + 0.7 * c)
        return a if which == 0 else a + 0.1
    if kind == "mixed":
        a = 0.5 + 0.4 * math.sin(0.37 * i + 0.23 * j + 1.1 * c)
        return a if which == 0 else hash01(c, i, j, 3)
    raise ValueError(kind)


def image(kind, which, C, H, W):
    x = np.empty((C, H, W), dtype=np.float64)
    for c in range(C):
        for i in range(H):
            for j in range(W):
                x[c, i, j] = pattern(kind, which, c, i, j)
    return x.astype(np.float32).astype(np.float64)


CASES = [("smooth", 1, 23, 17), ("hash", 3, 17, 23), ("hash", 1, 64, 64), ("mixed", 3, 11, 11),
         ("offset", 1, 19, 13), ("smooth", 3, 64, 64)]


def main():
    out = {"skimage": skimage.__version__, "cases": []}
    for kind, C, H, W in CASES:
        truth, pred = image(kind, 0, C, H, W), image(kind, 1, C, H, W)
        kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
        if C == 1:
            s = structural_similarity(pred[0], truth[0], **kw)
        else:
            s = structural_similarity(np.moveaxis(pred, 0, -1), np.moveaxis(truth, 0, -1), channel_axis=-1, **kw)
        p = peak_signal_noise_ratio(truth, pred, data_range=1.0)
        out["cases"].append({"kind": kind, "channels": C, "height": H, "width": W, "ssim": float(s), "psnr": float(p)})
        print(kind, C, H, W, s, p)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics_skimage.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
