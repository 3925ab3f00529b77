#!/usr/bin/env bash
# make fuzz: builds every fuzz target with libFuzzer and AddressSanitizer and runs each for FUZZ_TIME
# seconds (default 60) from its committed seed corpus (Fuzz/corpus/<target>), one after the other.
# New inputs go to results/fuzz/<target>, crashes, timeouts and out-of-memory inputs to
# results/fuzz/artifacts/; the run fails if any target found one.
#   FUZZ_TIME=600 make fuzz        longer;   TARGETS="fuzz-npy fuzz-png" make fuzz   some only
set -uo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
TIME=${FUZZ_TIME:-60}
TARGETS=${TARGETS:-$(ls -d Fuzz/fuzz-* | xargs -n 1 basename)}
OUT=results/fuzz
mkdir -p "$OUT/artifacts"
# Foundation's file reading leaves allocations LeakSanitizer reports at exit; leaks are not what is hunted here.
export ASAN_OPTIONS=detect_leaks=0
status=0
for t in $TARGETS; do
  swift build --scratch-path .build-fuzz --product "$t" -Xswiftc -sanitize=fuzzer,address -Xswiftc -D -Xswiftc FUZZING \
    -Xswiftc -use-ld=lld 2>&1 | grep -E "error|warning: unre" && { echo "$t: build failed"; status=1; continue; }
  mkdir -p "$OUT/$t"
  log="$OUT/$t.log"
  # 2 GiB per allocation and 4 GiB in all: a header claiming 10^12 elements must be refused, not allocated.
  .build-fuzz/debug/"$t" "$OUT/$t" "Fuzz/corpus/$t" -max_total_time="$TIME" -max_len=65536 -timeout=10 \
    -rss_limit_mb=4096 -malloc_limit_mb=2048 -artifact_prefix="$OUT/artifacts/$t-" -print_final_stats=1 > "$log" 2>&1
  code=$?
  rm -rf /dev/shm/svgnet-fuzz-* "${TMPDIR:-/tmp}"/svgnet-fuzz-*   # the targets' scratch files
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -1)
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1)
  if [ $code -eq 0 ]; then echo "$t: ${runs:-?} inputs in ${TIME} s, $cov, no defect"
  else echo "$t: defect found (exit $code), see $log and $OUT/artifacts/"; grep -E "ERROR|SUMMARY|Fatal" "$log" | head -3; status=1; fi
done
exit $status
