#!/usr/bin/env bash
# Builds tlsrelay twice (optimised, and with AddressSanitizer + UndefinedBehaviorSanitizer)
# and runs every test in both: unit tests, end-to-end tests against the misbehaving test
# peer, and (as root) the network-namespace, DNS and clock tests. Also checks formatting.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== clang-format check"
files=$(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find common tls proxy config milter tests -name '*.[ch]pp')
clang-format --dry-run -Werror $files

# The benchmark tools (bench/) are no test: bench/run builds its own optimised copy.
echo "== build (RelWithDebInfo)"
bash scripts/build.sh build -DTLSRELAY_BENCH=OFF
echo "== tests (RelWithDebInfo)"
ctest --test-dir build --output-on-failure -j2

echo "== build (ASan + UBSan)"
# -O1 -g1: sanitizer reports keep function names and lines; the build is much cheaper.
bash scripts/build.sh build-asan -DTLSRELAY_SANITIZE=ON -DTLSRELAY_BENCH=OFF -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
echo "== tests (ASan + UBSan)"
# The rig's long runs (soak, faults by phase, explain's live rig), the package install and
# the browser test run in the optimised build only: under the sanitizers they would take
# most of the CI budget and exercise the same code paths as the tests that do run here
# (e2e_explain runs explain on every real log under the sanitizers).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:verify_asan_link_order=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j2 -E '^(soak|faults_by_phase|explain-rig|deploy-.*|e2e_status_page)$'

echo "== fuzz (libFuzzer + ASan + UBSan, bounded)"
bash scripts/fuzz.sh 10
