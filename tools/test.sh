#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it.
#   1. a warnings-as-errors build and ctest
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build and ctest
#   3. the libFuzzer targets (clang) for a bounded time each (LOOM_FUZZ_SECONDS, default 30)
# Set LOOM_QUICK=1 to run only step 1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
jobs=$(nproc)

echo "== build (warnings are errors) =="
cmake -S . -B build -DLOOM_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
[ "${LOOM_QUICK:-0}" = 1 ] && exit 0

echo "== AddressSanitizer + UBSan =="
cmake -S . -B build-asan -DLOOM_SANITIZE=ON -DLOOM_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j"$jobs" -LE no_sanitize)

echo "== fuzzing (libFuzzer) =="
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DLOOM_FUZZ=ON -DLOOM_TESTS=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$jobs" --target loom_fuzzers
secs=${LOOM_FUZZ_SECONDS:-30}
for f in build-fuzz/bin/fuzz_*; do
  name=$(basename "$f")
  corpus=build-fuzz/corpus/$name
  mkdir -p "$corpus"
  case "$name" in
    fuzz_workflow) seeds=../shared/workflows/comfyui ;;
    *)             seeds=tests/fuzz/seeds/$name ;;
  esac
  echo "-- $name for ${secs}s"
  ASAN_OPTIONS=detect_leaks=1 "$f" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=0 "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) \
    > "build-fuzz/$name.log" 2>&1 || { tail -50 "build-fuzz/$name.log"; echo "$name FAILED"; exit 1; }
  grep -E '^(#[0-9]+.*DONE|Done)' "build-fuzz/$name.log" | tail -1 || true
done
echo "fuzz: all targets ran ${secs}s without a crash or leak"
