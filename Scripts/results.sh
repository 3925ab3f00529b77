#!/usr/bin/env bash
# make results: the Stochastic Moving MNIST study of Docs/RESULTS.md, end to end and resumable.
# Trains SVG-LP, HAF-SVG-1, HAF-SVG-4 and H-SVG-4 the same way (same data stream, seed, batch, lr,
# steps), evaluates them on one seeded test set under both protocols with the two trivial baselines,
# draws the figures and writes Docs/RESULTS.md's tables. Rerunning skips what is done; a cut-off
# training resumes from its last checkpoint.
#   QUICK=1   a minutes-long smoke run of every stage at toy size (CI), into results-quick/
#   STAGE=train|timing|curves|attention|evaluate|report   run one stage only; ONLY=name,… trains (or draws the
#             learning curves of) only those models
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"

if [ "${QUICK:-0}" = 1 ]; then
  OUT=${OUT:-results-quick}
  WIDTH="--nf 8 --g-dim 16 --rnn-size 16"
  STEPS=30; CKPT=10; SNAP=10; BATCH=4
  EVAL_SEQ=8; EVAL_BATCH=4; SAMPLES=1,2,4; FIG_SEQ=4; CURVE_SEQ=4; CURVE_SAMPLES=2
  MODELS_DIR=$OUT/Models; DOC=$OUT/RESULTS.md; FIGURES=$OUT/figures
else
  OUT=${OUT:-results}
  WIDTH="--nf 16 --g-dim 64 --rnn-size 128"
  STEPS=${STEPS:-4000}; CKPT=250; SNAP=1000; BATCH=16
  EVAL_SEQ=${EVAL_SEQ:-64}; EVAL_BATCH=16; SAMPLES=5,50,100; FIG_SEQ=4; CURVE_SEQ=32; CURVE_SAMPLES=10
  MODELS_DIR=Models; DOC=Docs/RESULTS.md; FIGURES=Docs/results
fi
LANES=${LANES:-$(( $(nproc) >= 2 ? 2 : 1 ))}
SVGNET=.build/release/svgnet
COMMON="--preset mmnist $WIDTH --batch $BATCH --seed 1 --threads 1 --steps $STEPS --checkpoint-every $CKPT --snapshot-every $SNAP --sample-every $SNAP"

# name | label | model flags (the study's four models; the aligner sits at levels 0–2: see Docs/RESULTS.md)
MODELS=(
  "svg-lp|SVG-LP|--model svg"
  "hafsvg-1|HAF-SVG-1|--model hafsvg --groups 1 --aligner-levels 0,1,2"
  "hafsvg-4|HAF-SVG-4|--model hafsvg --groups 4 --aligner-levels 0,1,2"
  "hsvg-4|H-SVG-4|--model hsvg --groups 4"
)

[ -x "$SVGNET" ] || swift build -c release --product svgnet
mkdir -p "$OUT/runs" "$OUT/logs"

# The last step in a run's log (0 when there is none).
last_step() {
  [ -f "$1/log.jsonl" ] && tail -n 1 "$1/log.jsonl" | sed -nE 's/.*"step":([0-9]+).*/\1/p' | grep . || echo 0
}

train_one() {  # name flags
  local name=$1 flags=$2 dir="$OUT/runs/$1"
  if [ -f "$dir/model.safetensors" ] && [ "$(last_step "$dir")" -ge "$STEPS" ]; then
    echo "  $name: done ($STEPS steps)"; return 0
  fi
  if ls "$dir"/checkpoints/step-*.safetensors > /dev/null 2>&1; then
    $SVGNET train $COMMON $flags --resume "$dir"
  else
    $SVGNET train $COMMON $flags --out "$dir"
  fi > "$OUT/logs/train-$name.txt" 2>&1 || { echo "training $name failed: see $OUT/logs/train-$name.txt" >&2; return 1; }
  echo "  $name: $(tail -1 "$OUT/logs/train-$name.txt")"
}

# Every minute, one line: each running training's step and ETA, from its progress lines.
progress_monitor() {
  while sleep "${PROGRESS_EVERY:-60}"; do
    local line="" f
    for f in "$OUT"/logs/train-*.txt; do
      [ -f "$f" ] || continue
      local last; last=$(grep -E '^step [0-9]+/' "$f" | tail -n 1)
      [ -n "$last" ] || continue
      case "$last" in *"/$STEPS "*) ;; *) continue ;; esac
      local name=${f##*/train-}; name=${name%.txt}
      line+="  $name $(echo "$last" | awk '{ print $2 }') ETA $(echo "$last" | sed -E 's/.*ETA //')"
    done
    [ -n "$line" ] && echo "$(date +%H:%M)$line"
  done
}

# Waits for one of the trainings in pids (not the progress monitor) and drops it from the list.
wait_for_one() {
  local status=0 done_pid
  wait -n -p done_pid "${pids[@]}" || status=$?
  local keep=() p
  for p in "${pids[@]}"; do [ "$p" = "$done_pid" ] || keep+=("$p"); done
  pids=("${keep[@]}")
  return "$status"
}

stage_train() {
  echo "training ${#MODELS[@]} models, $STEPS steps each, $LANES at a time (progress: tail -f $OUT/logs/train-*.txt)"
  progress_monitor & local monitor=$!
  trap 'kill $monitor 2>/dev/null' RETURN
  local failed=0 pids=()
  for entry in "${MODELS[@]}"; do
    if [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *",${entry%%|*},"* ]]; then continue; fi
    if [ "${#pids[@]}" -ge "$LANES" ]; then wait_for_one || failed=1; fi
    IFS='|' read -r name _ flags <<< "$entry"
    train_one "$name" "$flags" &
    pids+=($!)
  done
  while [ "${#pids[@]}" -gt 0 ]; do wait_for_one || failed=1; done
  [ "$failed" = 0 ] || { echo "a training failed; rerun make results to resume" >&2; exit 1; }
}

# The final evaluation: every trained model and both baselines on one seeded test set, one samples draw:
# the paper's protocol (5 → 25, per-step best of N by SSIM and by PSNR), the SRVP/SLAMP table's (5 → 20,
# mean over the predicted frames) from the same samples, and the samples ablation (5, 50, 100).
# Every model's scores go to $OUT/eval-cache, so ONLY=name,… scores models as they finish (into
# $OUT/eval-partial) and the full evaluation afterwards generates only the rest.
stage_evaluate() {
  local args=() name label target="$OUT/eval"
  [ -n "${ONLY:-}" ] && target="$OUT/eval-partial"
  for entry in "${MODELS[@]}"; do
    IFS='|' read -r name label _ <<< "$entry"
    if [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *",$name,"* ]]; then continue; fi
    [ -f "$OUT/runs/$name/model.safetensors" ] || { echo "no model for $name: run the train stage first" >&2; exit 1; }
    args+=(--checkpoint "$OUT/runs/$name/model.safetensors" --label "$label")
  done
  echo "evaluating $(( ${#args[@]} / 4 )) model(s) and 2 baselines: $EVAL_SEQ test sequences × up to ${SAMPLES##*,} samples, 5 → 25 frames"
  $SVGNET evaluate "${args[@]}" --sequences "$EVAL_SEQ" --batch "$EVAL_BATCH" --samples "$SAMPLES" --n-future 25 --horizons 20 \
    --figure-sequences "$FIG_SEQ" --seed 1 --threads "${EVAL_THREADS:-$LANES}" --cache "$OUT/eval-cache" --out "$target" > "$OUT/logs/evaluate.txt"
}

# Learning curves: each trained model's snapshots on a smaller protocol (5 → 20, best of $CURVE_SAMPLES,
# another seed's test set), for the comparison at equal steps and at equal training time.
stage_curves() {
  local name label
  for entry in "${MODELS[@]}"; do
    IFS='|' read -r name label _ <<< "$entry"
    if [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *",$name,"* ]]; then continue; fi
    local dir="$OUT/curves/$name"
    if [ -f "$dir/metrics.md" ] && [ "$dir/metrics.md" -nt "$OUT/runs/$name/snapshots" ] && [ -z "${FORCE:-}" ]; then continue; fi
    local snaps=()
    for f in "$OUT/runs/$name"/snapshots/model-step-*.safetensors; do
      [ -f "$f" ] || continue
      local step=${f##*-step-}; step=$((10#${step%.safetensors}))
      snaps+=(--checkpoint "$f" --label "$step")
    done
    [ ${#snaps[@]} -gt 0 ] || continue
    echo "learning curve of $name: $(( ${#snaps[@]} / 4 )) snapshots"
    mkdir -p "$dir"
    $SVGNET evaluate "${snaps[@]}" --sequences "$CURVE_SEQ" --batch "$EVAL_BATCH" --samples "$CURVE_SAMPLES" --n-future 20 \
      --figure-sequences 0 --seed 2 --threads "${CURVE_THREADS:-$LANES}" --out "$dir" > "$OUT/logs/curve-$name.txt" 2>&1
  done
}

# Step time of each model on a quiet machine: ROUNDS interleaved rounds (the models in rotated order), each
# a fresh 12-step run at one thread; per round the median of steps 3–12. Nothing else may run meanwhile.
stage_timing() {
  local rounds=${ROUNDS:-3} dir="$OUT/timing" r k name label flags
  if [ -f "$dir/timing.md" ] && [ -z "${FORCE:-}" ]; then echo "timing: done ($dir/timing.md)"; return; fi
  mkdir -p "$dir"; : > "$dir/rounds.txt"
  echo "timing the ${#MODELS[@]} models' training steps: $rounds interleaved rounds"
  for r in $(seq 1 "$rounds"); do
    for k in $(seq 0 $(( ${#MODELS[@]} - 1 ))); do
      IFS='|' read -r name label flags <<< "${MODELS[$(( (k + r) % ${#MODELS[@]} ))]}"
      $SVGNET train ${COMMON/--steps $STEPS/--steps 12} $flags --sample-every 0 --snapshot-every 0 --quiet --out "$dir/$name" > /dev/null
      echo "$name $(sed -n '3,12p' "$dir/$name/log.jsonl" | sed -E 's/.*"seconds":([0-9.e-]+).*/\1/' | sort -g | sed -n '5p')" >> "$dir/rounds.txt"
    done
  done
  {
    echo "| model | seconds per step, median of rounds [min, max] | ÷ SVG-LP |"
    echo "| --- | --- | ---: |"
    local base=""
    for entry in "${MODELS[@]}"; do
      IFS='|' read -r name label _ <<< "$entry"
      local v; v=$(awk -v n="$name" '$1 == n { print $2 }' "$dir/rounds.txt" | sort -g | tr '\n' ' ')
      local med; med=$(echo "$v" | awk '{ print $(int((NF + 1) / 2)) }')
      [ -n "$base" ] || base=$med
      echo "| $label | $(printf '%.3f' "$med") [$(echo "$v" | awk '{ printf "%.3f, %.3f", $1, $NF }')] | $(awk -v a="$med" -v b="$base" 'BEGIN { printf "%.2f", a / b }') |"
    done
  } > "$dir/timing.md"
  cat "$dir/timing.md"
}

# The median quiet step time of a model from the timing stage (empty when it has not run).
quiet_step_seconds() {
  [ -f "$OUT/timing/rounds.txt" ] || return 0
  awk -v n="$1" '$1 == n { print $2 }' "$OUT/timing/rounds.txt" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

# What the aligners attend to: for each HAF-SVG model's snapshots, the attention rows' entropy (÷ a uniform
# row's) and largest weight per level over 8 test sequences × 2 samples, 5 → 10; and the final model's
# attention.png.
stage_attention() {
  local name label dir
  for entry in "${MODELS[@]}"; do
    IFS='|' read -r name label _ <<< "$entry"
    [[ "$name" == hafsvg* ]] || continue
    if [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *",$name,"* ]]; then continue; fi
    dir="$OUT/attention/$name"
    if [ -f "$dir/attention.md" ] && [ "$dir/attention.md" -nt "$OUT/runs/$name/snapshots" ] && [ -z "${FORCE:-}" ]; then continue; fi
    mkdir -p "$dir"; : > "$dir/attention.md.tmp"
    for f in "$OUT/runs/$name"/snapshots/model-step-*.safetensors; do
      [ -f "$f" ] || continue
      local step=${f##*-step-}; step=$((10#${step%.safetensors}))
      $SVGNET generate --checkpoint "$f" --batch "$FIG_SEQ" --sequences "$FIG_SEQ" --samples 2 --n-future 10 --attention --seed 3 \
        --threads "${CURVE_THREADS:-$LANES}" --out "$dir/step-$step" > "$dir/step-$step.txt"
      grep '^aligner level' "$dir/step-$step.txt" | sed -E "s/^/$label $step /" >> "$dir/attention.md.tmp"
    done
    mv "$dir/attention.md.tmp" "$dir/attention.md"
    echo "attention of $name: $(wc -l < "$dir/attention.md") rows"
  done
}

# Seconds of training in a run's log, up to step $2 (all when omitted).
train_seconds() {
  awk -v upto="${2:-0}" -F'"seconds":' '{ split($1, a, "\"step\":"); split(a[2], b, ","); if (upto == 0 || b[1] + 0 <= upto) { split($2, c, "}"); s += c[1] } } END { printf "%.0f", s }' "$1"
}

# The shipped models (float16, with a card each), the figures, and the generated parts of RESULTS.md.
stage_report() {
  mkdir -p "$MODELS_DIR" "$FIGURES"
  cp "$OUT/eval/metrics.png" "$FIGURES/metrics.png"
  [ -f "$OUT/eval/figure.png" ] && cp "$OUT/eval/figure.png" "$OUT/eval/figure.gif" "$FIGURES/"
  local name label flags
  for entry in "${MODELS[@]}"; do
    IFS='|' read -r name label flags <<< "$entry"
    local run="$OUT/runs/$name" model="$MODELS_DIR/$name.safetensors"
    $SVGNET export --checkpoint "$run/model.safetensors" --dtype f16 --out "$model" > /dev/null
    local steps seconds sha
    steps=$(last_step "$run")
    seconds=$(train_seconds "$run/log.jsonl")
    sha=$(sha256sum "$model" | cut -d' ' -f1)
    {
      echo "# $label ($name.safetensors)"
      echo
      echo "Trained by \`make results\` (Scripts/results.sh) on built-in Stochastic Moving MNIST, 2 digits (drawn from the"
      echo "first 8,000 of the shipped MNIST test-set digits; test sequences use the last 2,000). Float16 safetensors; every"
      echo "\`svgnet\` command that takes a checkpoint reads it (converted to float32 on load)."
      echo
      echo "- SHA-256: \`$sha\`"
      echo "- training: $steps steps at batch $BATCH (5 → 10 frames), Adam lr 0.002, β 1e-4, seed 1, one thread;"
      echo "  $((seconds / 60)) min of training steps on the machine of Docs/RESULTS.md"
      echo "- command: \`svgnet train $COMMON $flags --out $run\`"
      echo
      echo '```'
      $SVGNET info "$model" | sed '1d'
      echo '```'
      echo
      echo "Measured on the float32 model this file was exported from ($(grep -m1 'test sequences' "$OUT/eval/metrics.md" | sed 's/:$//')):"
      echo
      echo "| model | N | SSIM | PSNR (dB) |"
      echo "| --- | ---: | --- | --- |"
      awk '/^5 → 25 /{ on = 1; next } /^5 → /{ on = 0 } on' "$OUT/eval/metrics.md" | grep -E "^\| (black frames|last frame repeated|$label) \|"
      echo
      echo "Sample: \`svgnet generate --checkpoint $model --n-future 25 --samples 10 --out samples\`"
    } > "$MODELS_DIR/$name.md"
    echo "  $model: $(stat -c %s "$model") bytes, sha256 ${sha:0:16}…"
  done
  # Generated sections of RESULTS.md, between <!-- generated:NAME --> and <!-- /generated:NAME -->.
  [ -f "$DOC" ] || printf '# Results\n\n<!-- generated:eval -->\n<!-- /generated:eval -->\n\n<!-- generated:curves -->\n<!-- /generated:curves -->\n\n<!-- generated:budget -->\n<!-- /generated:budget -->\n' > "$DOC"
  { sed -n '/^[0-9]/,$p' "$OUT/eval/metrics.md"; } > "$OUT/section-eval.md"
  {
    echo "| model | steps | training time in the run | at the quiet step time | SSIM 5 → 20, best of $CURVE_SAMPLES, $CURVE_SEQ sequences | PSNR (dB) |"
    echo "| --- | ---: | ---: | ---: | --- | --- |"
    for entry in "${MODELS[@]}"; do
      IFS='|' read -r name label _ <<< "$entry"
      [ -f "$OUT/curves/$name/metrics.md" ] || continue
      local quiet; quiet=$(quiet_step_seconds "$name")
      grep -E '^\| [0-9]+ \|' "$OUT/curves/$name/metrics.md" | awk '!seen[$2]++' | while IFS='|' read -r _ step n ssim psnr _; do
        step=$(echo $step)
        local at="–"; [ -n "$quiet" ] && at="$(awk -v s="$step" -v q="$quiet" 'BEGIN { printf "%.0f min", s * q / 60 }')"
        echo "| $label | $step | $(( $(train_seconds "$OUT/runs/$name/log.jsonl" "$step") / 60 )) min | $at | $(echo $ssim) | $(echo $psnr) |"
      done
    done
    local first; first=$(ls "$OUT"/curves/*/metrics.md 2>/dev/null | head -n 1)
    [ -n "$first" ] && grep -E '^\| (black frames|last frame repeated) \|' "$first" | awk '!seen[$2 $3 $4]++' | head -n 2 |
      while IFS='|' read -r _ label n ssim psnr _; do echo "| $(echo $label) (baseline) | | | | $(echo $ssim) | $(echo $psnr) |"; done
  } > "$OUT/section-curves.md"
  {
    echo "| model | steps | batch | sequences seen | fraction of the reference's 180,000 × 100 | training time |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    for entry in "${MODELS[@]}"; do
      IFS='|' read -r name label _ <<< "$entry"
      local steps; steps=$(last_step "$OUT/runs/$name")
      echo "| $label | $steps | $BATCH | $((steps * BATCH)) | $(awk -v s=$((steps * BATCH)) 'BEGIN { printf "%.2f%%", 100 * s / 18000000 }') | $(( $(train_seconds "$OUT/runs/$name/log.jsonl") / 60 )) min |"
    done
  } > "$OUT/section-budget.md"
  [ -f "$OUT/timing/timing.md" ] && cp "$OUT/timing/timing.md" "$OUT/section-timing.md"
  {
    echo "| model | steps | level | grid | entropy ÷ a uniform row's | mean largest weight | a uniform row's |"
    echo "| --- | ---: | ---: | --- | ---: | ---: | ---: |"
    cat "$OUT"/attention/*/attention.md 2>/dev/null |
      sed -E 's/^(.*) ([0-9]+) aligner level ([0-9]) \(([0-9]+×[0-9]+)\): attention entropy ([0-9.]+) of a uniform row.s; mean largest weight ([0-9.]+) \(uniform: ([0-9.]+)\)$/| \1 | \2 | \3 | \4 | \5 | \6 | \7 |/'
  } > "$OUT/section-attention.md"
  local last; last=$(ls -d "$OUT"/attention/hafsvg-1/step-*/ 2>/dev/null | sed -E 's/.*step-([0-9]+)\/$/\1/' | sort -n | tail -n 1)
  [ -n "$last" ] && cp "$OUT/attention/hafsvg-1/step-$last/attention.png" "$FIGURES/attention-hafsvg-1.png"
  grep -q "generated:attention" "$DOC" || printf '\n<!-- generated:attention -->\n<!-- /generated:attention -->\n' >> "$DOC"
  grep -q "generated:timing" "$DOC" || printf '\n<!-- generated:timing -->\n<!-- /generated:timing -->\n' >> "$DOC"
  for part in eval curves budget timing attention; do
    awk -v part="$part" -v file="$OUT/section-$part.md" '
      $0 == "<!-- generated:" part " -->" { print; while ((getline line < file) > 0) print line; skip = 1; next }
      $0 == "<!-- /generated:" part " -->" { skip = 0 }
      !skip { print }' "$DOC" > "$DOC.tmp" && mv "$DOC.tmp" "$DOC"
  done
  echo "wrote $DOC, $MODELS_DIR/, $FIGURES/"
}

case "${STAGE:-all}" in
  train) stage_train ;;
  curves) stage_curves ;;
  evaluate) stage_evaluate ;;
  report) stage_report ;;
  timing) stage_timing ;;
  attention) stage_attention ;;
  all) stage_train; stage_timing; stage_curves; stage_attention; stage_evaluate; stage_report ;;
  *) echo "STAGE must be train, timing, curves, attention, evaluate, report or all" >&2; exit 2 ;;
esac
