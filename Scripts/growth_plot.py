#!/usr/bin/env python3
"""Draw Scripts/growth.sh's step times (Docs/PERFORMANCE.md, "Cost growth") as an SVG, with no dependencies.

Left: seconds per step against the batch at 5 + 10 frames, on log-log axes, with the line that linear growth
from batch 8 would follow; a model grows no faster than linearly where its points stay on or below that line.
Right: seconds per step against the frames per sequence at batch 16, with the same kind of line from 15 frames.

Usage: python3 Scripts/growth_plot.py [results/growth/steps.txt] [Docs/results/growth.svg]
"""
import math
import sys
from collections import defaultdict

NAMES = {"svg": "SVG-LP", "hafsvg4": "HAF-SVG-4"}
COLOURS = {"svg": "#1f77b4", "hafsvg4": "#d62728"}


def read(path):
    """{model: {(batch, frames): seconds}} from lines `NAME batch B frames T SECONDS`."""
    rows = defaultdict(dict)
    try:
        f = open(path)
    except OSError as error:
        raise SystemExit(f"{path}: {error.strerror} (run Scripts/growth.sh first)")
    with f:
        for line in f:
            parts = line.split()
            if len(parts) != 6 or parts[1] != "batch" or parts[3] != "frames":
                raise SystemExit(f"{path}: not a growth.sh line: {line.strip()!r}")
            rows[parts[0]][(int(parts[2]), int(parts[4]))] = float(parts[5])
    return rows


def panel(x0, title, xlabel, xs, series, log_x):
    """One plot 300×220 at x offset x0: series is {model: [(x, seconds)]}; returns SVG elements."""
    w, h, left, top = 300, 220, x0 + 60, 40
    ys = [s for pts in series.values() for _, s in pts]
    lo, hi = 10 ** math.floor(math.log10(min(ys) * 0.9)), 10 ** math.ceil(math.log10(max(ys) * 1.1))

    def px(x):
        if log_x:
            return left + w * (math.log(x) - math.log(xs[0])) / (math.log(xs[-1]) - math.log(xs[0]))
        return left + w * (x - xs[0]) / (xs[-1] - xs[0])

    def py(y): return top + h - h * (math.log10(y) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    out = [f'<text x="{left + w / 2}" y="{top - 14}" text-anchor="middle" font-weight="bold">{title}</text>',
           f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#444"/>']
    for x in xs:
        out.append(f'<line x1="{px(x):.1f}" y1="{top + h}" x2="{px(x):.1f}" y2="{top + h + 5}" stroke="#444"/>')
        out.append(f'<text x="{px(x):.1f}" y="{top + h + 18}" text-anchor="middle">{x}</text>')
    decade = lo
    while decade <= hi * 1.0001:
        for m in (1, 2, 5):
            y = decade * m
            if lo <= y <= hi * 1.0001:
                out.append(f'<line x1="{left}" y1="{py(y):.1f}" x2="{left + w}" y2="{py(y):.1f}" stroke="#ddd"/>')
                out.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
        decade *= 10
    out.append(f'<text x="{left + w / 2}" y="{top + h + 38}" text-anchor="middle">{xlabel}</text>')
    out.append(f'<text x="{left - 44}" y="{top + h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 {left - 44} {top + h / 2})">seconds per step</text>')
    for model, pts in series.items():
        c = COLOURS.get(model, "#000")
        x_first, s_first = pts[0]
        # Linear growth from the first point: time proportional to the work.
        out.append(f'<line x1="{px(x_first):.1f}" y1="{py(s_first):.1f}" x2="{px(pts[-1][0]):.1f}" '
                   f'y2="{py(s_first * pts[-1][0] / x_first):.1f}" stroke="{c}" stroke-dasharray="5,4" opacity="0.6"/>')
        path = " ".join(f"{'M' if i == 0 else 'L'}{px(x):.1f},{py(s):.1f}" for i, (x, s) in enumerate(pts))
        out.append(f'<path d="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, s in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(s):.1f}" r="3.5" fill="{c}"/>')
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "results/growth/steps.txt"
    dst = sys.argv[2] if len(sys.argv) > 2 else "Docs/results/growth.svg"
    rows = read(src)
    models = [m for m in NAMES if m in rows]
    batches = sorted({b for m in models for (b, t) in rows[m] if t == 15})
    frames = sorted({t for m in models for (b, t) in rows[m] if b == 16})
    by_batch = {m: [(b, rows[m][(b, 15)]) for b in batches if (b, 15) in rows[m]] for m in models}
    by_frames = {m: [(t, rows[m][(16, t)]) for t in frames if (16, t) in rows[m]] for m in models}
    body = panel(0, "batch (5 + 10 frames)", "batch", batches, by_batch, True)
    body += panel(400, "frames (batch 16)", "frames per sequence", frames, by_frames, False)
    legend_y = 320
    for i, m in enumerate(models):
        c = COLOURS[m]
        body.append(f'<line x1="{80 + 170 * i}" y1="{legend_y}" x2="{110 + 170 * i}" y2="{legend_y}" stroke="{c}" stroke-width="2"/>')
        body.append(f'<text x="{116 + 170 * i}" y="{legend_y + 4}">{NAMES[m]}</text>')
    body.append(f'<line x1="{430}" y1="{legend_y}" x2="{460}" y2="{legend_y}" stroke="#444" stroke-dasharray="5,4"/>')
    body.append(f'<text x="{466}" y="{legend_y + 4}">linear growth from the smallest point</text>')
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="780" height="340" font-family="sans-serif" font-size="12">'
           '<rect width="100%" height="100%" fill="white"/>' + "".join(body) + "</svg>\n")
    with open(dst, "w") as f:
        f.write(svg)
    print(f"{dst}: {len(models)} models, batches {batches}, frames {frames}")


if __name__ == "__main__":
    main()
