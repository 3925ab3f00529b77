#!/usr/bin/env bash
# Data-parallel scaling on this machine (Docs/SCALING.md): one training step at the same global batch as
#   (a) one process with 2 OpenBLAS/engine threads,
#   (b) mpirun -np 2, one thread per rank,
#   (c) one process with 1 thread at half the batch: one rank's compute, without communication,
# in interleaved rounds (order rotated), the median step of each run after its warm-up steps.
# Then, for the cost model: one process, 1 thread, at the per-rank batches of 4 and 8 ranks (B/4, B/8), and
# the seconds per step each rank of (b) spends inside MPI_Allreduce (SVGNET_ALLREDUCE_TIMES).
# Env: ROUNDS (default 3), STEPS per run (default 6, the first 2 not counted), MODELS (default "svg hafsvg4"),
#      BATCH (default 16), OUT (default results/scaling), PART=all|ratio|model.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
ROUNDS=${ROUNDS:-3}; STEPS=${STEPS:-6}; BATCH=${BATCH:-16}; OUT=${OUT:-results/scaling}
MODELS=${MODELS:-"svg hafsvg4"}
SVGNET=.build/release/svgnet
swift build -c release --product svgnet > /dev/null   # never measure a stale binary
mkdir -p "$OUT"
flags() { case $1 in svg) echo "--model svg";; hafsvg4) echo "--model hafsvg --groups 4";; hsvg4) echo "--model hsvg --groups 4";; esac; }

# Median of the step times in a run's log after the first two steps.
median_step() {
  sed -nE 's/.*"step":([0-9]+).*"seconds":([0-9.e-]+).*/\1 \2/p' "$1/log.jsonl" | awk '$1 > 2 { print $2 }' | sort -g |
    awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

run() {  # kind model round
  local kind=$1 model=$2 dir="$OUT/runs/$1-$2-$3"
  local common="--preset mmnist $(flags "$model") --steps $STEPS --checkpoint-every 1000 --sample-every 0 --quiet --seed 1"
  rm -rf "$dir"
  case $kind in
    threads2) $SVGNET train $common --threads 2 --batch "$BATCH" --out "$dir" ;;
    ranks2) SVGNET_ALLREDUCE_TIMES=1 mpirun --allow-run-as-root --oversubscribe --bind-to core -np 2 \
              $SVGNET train $common --threads 1 --batch "$BATCH" --out "$dir" 2>> "$OUT/allreduce.txt" ;;
    half1) $SVGNET train $common --threads 1 --batch $((BATCH / 2)) --out "$dir" ;;
    quarter1) $SVGNET train $common --threads 1 --batch $((BATCH / 4)) --out "$dir" ;;
    eighth1) $SVGNET train $common --threads 1 --batch $((BATCH / 8)) --out "$dir" ;;
  esac
  echo "$kind $model $3 $(median_step "$dir")" | tee -a "$OUT/steps.txt"
}

PART=${PART:-all}
kinds=(threads2 ranks2 half1)
if [ "$PART" != model ]; then
  : > "$OUT/steps.txt"; : > "$OUT/allreduce.txt"
  for round in $(seq 1 "$ROUNDS"); do
    for model in $MODELS; do
      for i in 0 1 2; do run "${kinds[$(( (i + round) % 3 ))]}" "$model" "$round"; done
    done
  done
fi
if [ "$PART" != ratio ]; then
  : > "$OUT/model-steps.txt"
  for model in $MODELS; do
    for kind in quarter1 eighth1; do run "$kind" "$model" 1 | tee -a "$OUT/model-steps.txt"; done
    SVGNET_ALLREDUCE_TIMES=1 mpirun --allow-run-as-root --oversubscribe --bind-to core -np 2 $SVGNET train --preset mmnist $(flags "$model") \
      --steps "$STEPS" --checkpoint-every 1000 --sample-every 0 --quiet --seed 1 --threads 1 --batch "$BATCH" --out "$OUT/runs/timed-$model" \
      2>&1 | sed "s/^/$model /" | tee -a "$OUT/allreduce-$model.txt"
  done
fi
echo; echo "median step (s) over rounds, and the spread (min–max):"
for model in $MODELS; do
  for kind in "${kinds[@]}" quarter1 eighth1; do
    grep -q "^$kind $model " "$OUT/steps.txt" "$OUT/model-steps.txt" 2>/dev/null || continue
    cat "$OUT/steps.txt" "$OUT/model-steps.txt" 2>/dev/null | awk -v k="$kind" -v m="$model" '$1 == k && $2 == m { print $4 }' | sort -g |
      awk -v k="$kind" -v m="$model" '{ a[NR] = $1 } END { printf "%s %s %.3f (%.3f–%.3f)\n", m, k, a[int((NR + 1) / 2)], a[1], a[NR] }'
  done
done | tee "$OUT/summary.txt"
