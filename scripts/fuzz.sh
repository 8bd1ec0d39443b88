#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang + ASan + UBSan) and runs each for a bounded
# time, starting from the seed corpus in fuzz/corpus/ (never written to: new inputs go to a
# temporary directory). Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] (default 20).
# The longer run of the README: scripts/fuzz.sh 0 with FUZZ_RUNS=10000000 (executions each).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
dir="${FUZZ_BUILD:-build-fuzz}"
cmake -S fuzz -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
ninja -C "$dir"
work=$(mktemp -d /tmp/tlsrelay-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
status=0
for t in command reply data config classifier explain; do
  mkdir -p "$work/$t"
  limit=(-max_total_time="$seconds")
  if [ "$seconds" = 0 ]; then limit=(-runs="${FUZZ_RUNS:-10000000}"); fi
  if "$dir/${t}_fuzz" "${limit[@]}" -print_final_stats=1 -artifact_prefix="$work/$t-" \
      "$work/$t" "fuzz/corpus/$t" >"$work/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
    echo "fuzz: ${t}_fuzz ok, $runs executions"
  else
    echo "fuzz: ${t}_fuzz FAILED"; tail -40 "$work/$t.log"
    ls "$work/$t-"* 2>/dev/null && cp "$work/$t-"* . 2>/dev/null || true
    status=1
  fi
done
exit $status
