#!/usr/bin/env bash
# Step time against batch (8, 16, 32, 64 at 5 + 10 frames) and frames (15, 30 at batch 16) for SVG-LP and
# HAF-SVG-4 at the paper's width, both cores (Docs/PERFORMANCE.md, "Cost growth"): each a fresh run of
# STEPS steps (default 5), the median of the steps after the first two. Nothing else may run meanwhile.
# EXTRA="--attention-cache 4096" runs every cell with those flags too.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
STEPS=${STEPS:-5}; OUT=${OUT:-results/growth}; EXTRA=${EXTRA:-}   # EXTRA: more `svgnet train` flags for every cell
swift build -c release --product svgnet > /dev/null
mkdir -p "$OUT"; : > "$OUT/steps.txt"
for model in "svg|--model svg" "hafsvg4|--model hafsvg --groups 4"; do
  IFS='|' read -r name flags <<< "$model"
  for shape in "8 10" "16 10" "32 10" "64 10" "16 25"; do
    read -r batch future <<< "$shape"
    dir="$OUT/runs/$name-$batch-$future"; rm -rf "$dir"
    .build/release/svgnet train --preset mmnist $flags --batch "$batch" --n-future "$future" --steps "$STEPS" --threads 2 \
      --checkpoint-every 1000 --sample-every 0 --quiet --out "$dir" $EXTRA
    median=$(sed -nE 's/.*"step":([0-9]+).*"seconds":([0-9.e-]+).*/\1 \2/p' "$dir/log.jsonl" | awk '$1 > 2 { print $2 }' | sort -g |
      awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
    echo "$name batch $batch frames $((5 + future)) $median" | tee -a "$OUT/steps.txt"
    rm -rf "$dir"
  done
done
