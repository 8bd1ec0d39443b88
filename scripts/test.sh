#!/usr/bin/env bash
# Builds tlsrelay twice (optimised, and with AddressSanitizer + UndefinedBehaviorSanitizer)
# and runs every test in both: unit tests, end-to-end tests against the misbehaving test
# peer, and (as root) the network-namespace, DNS and clock tests. A third build with
# ThreadSanitizer runs the relay's end-to-end tests ([proxy] threads). Also checks
# formatting.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== clang-format check ($(date +%T))"
files=$(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find common tls proxy config milter tests -name '*.[ch]pp')
clang-format --dry-run -Werror $files

# The benchmark tools (bench/) are no test: bench/run builds its own optimised copy.
# Both builds are unity builds (cmake/unity_build.cmake): about half the compile time.
unity=(-DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=16)
echo "== build (RelWithDebInfo) ($(date +%T))"
bash scripts/build.sh build -DTLSRELAY_BENCH=OFF "${unity[@]}"

# The sanitizer build compiles while the optimised tests run (they mostly wait on sockets,
# Postfix and time-outs), at the lowest priority so that the tests keep the CPU they need:
# the two together fit CI's 30 minutes on 2 cores, one after the other they would not.
# -O1 -g1: sanitizer reports keep function names and lines; the build is much cheaper.
# The rig's tests (soak, faults by phase, delivery, the two-instance fleet) are not built
# here: they run in the optimised build only (below).
asan_log=$(mktemp /tmp/tlsrelay-asan-build.XXXXXX)
nice -n 19 bash scripts/build.sh build-asan -DTLSRELAY_SANITIZE=ON -DTLSRELAY_BENCH=OFF \
  -DTLSRELAY_RIG_TESTS=OFF "${unity[@]}" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" >"$asan_log" 2>&1 &
asan_build=$!

echo "== tests (RelWithDebInfo) ($(date +%T))"
status=0
ctest --test-dir build --output-on-failure -j2 || status=$?

echo "== build (ASan + UBSan) ($(date +%T))"
if ! wait "$asan_build"; then
  tail -n 60 "$asan_log"
  echo "the ASan + UBSan build failed"
  exit 1
fi
tail -n 1 "$asan_log"
[ "$status" -eq 0 ] || { echo "the optimised tests failed (above)"; exit "$status"; }

# The fuzz targets (clang, their own build) and the ThreadSanitizer build compile side by
# side while the sanitizer tests run, likewise. The TSan build holds only what the relay's
# end-to-end tests need: the daemon, the test peer and those tests.
fuzz_log=$(mktemp /tmp/tlsrelay-fuzz-build.XXXXXX)
tsan_log=$(mktemp /tmp/tlsrelay-tsan-build.XXXXXX)
(nice -n 19 cmake -S fuzz -B "${FUZZ_BUILD:-build-fuzz}" -G Ninja -DCMAKE_CXX_COMPILER=clang++ &&
  nice -n 19 ninja -C "${FUZZ_BUILD:-build-fuzz}") >"$fuzz_log" 2>&1 &
fuzz_build=$!
(cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTLSRELAY_TSAN=ON \
  -DTLSRELAY_BENCH=OFF -DTLSRELAY_RIG_TESTS=OFF -DTLSRELAY_MILTER=OFF "${unity[@]}" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" >/dev/null &&
  nice -n 19 ninja -C build-tsan tlsrelay tlsrelay-testpeer e2e_relay_tests) >"$tsan_log" 2>&1 &
tsan_build=$!

echo "== tests (ASan + UBSan) ($(date +%T))"
# The rig's runs (soak, faults by phase, delivery, the two-instance fleet; not built here),
# explain's live rig, the package install and the browser test run in the optimised build
# only: under the sanitizers they would take most of the CI budget and exercise the same
# code paths as the tests that do run here (e2e_explain runs explain on every real log
# under the sanitizers).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:verify_asan_link_order=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j2 -E '^(explain-rig|deploy-.*|e2e_status_page)$' ||
  status=$?
[ "$status" -eq 0 ] || { echo "the ASan + UBSan tests failed (above)"; exit "$status"; }

echo "== tests (TSan: the relay end to end, [proxy] threads; beside the fuzz runs) ($(date +%T))"
if ! wait "$tsan_build"; then
  tail -n 60 "$tsan_log"
  echo "the ThreadSanitizer build failed"
  exit 1
fi
# Two shards at once, while the fuzz targets run: the tests mostly wait on sockets. Every
# process writes its reports to a file of its own (the daemon's stderr is the test's
# business): any report at all fails the run, whether or not a test noticed. The browser
# test (e2e_status_page) runs in the optimised build only.
tsan_reports=$(mktemp -d /tmp/tlsrelay-tsan.XXXXXX)
tsan_shards=('[smuggling],[prometheus],[policy],[route-checks],[threads]'
  '~[status-page]~[smuggling]~[prometheus]~[policy]~[route-checks]~[threads]')
tsan_pids=()
for i in 0 1; do
  TSAN_OPTIONS="suppressions=$PWD/scripts/tsan.supp log_path=$tsan_reports/report second_deadlock_stack=1" \
    build-tsan/tests/e2e/e2e_relay_tests "${tsan_shards[$i]}" >"$tsan_reports.shard$i" 2>&1 &
  tsan_pids+=($!)
done

if ! wait "$fuzz_build"; then
  tail -n 60 "$fuzz_log"
  echo "the fuzz targets' build failed"
  status=1
else
  echo "== fuzz (libFuzzer + ASan + UBSan, bounded) ($(date +%T))"
  bash scripts/fuzz.sh 10 || status=$?
fi

for i in 0 1; do
  if wait "${tsan_pids[$i]}"; then
    echo "TSan shard ${tsan_shards[$i]}: $(tail -n 2 "$tsan_reports.shard$i" | tr -s '\n' ' ')"
  else
    cat "$tsan_reports.shard$i"
    echo "the TSan tests failed (shard ${tsan_shards[$i]}, above)"
    status=1
  fi
done
if [ -n "$(ls -A "$tsan_reports")" ]; then
  for f in "$tsan_reports"/*; do head -n 80 "$f"; done
  echo "ThreadSanitizer reported (above)"
  status=1
fi
echo "== done ($(date +%T))"
exit "$status"
