#!/usr/bin/env bash
# Builds 402flow and runs every test (unit and integration) with CTest, then (release build
# only) the interoperability test against the official x402 SDK, over HTTP and HTTPS
# (tests/interop/run.sh).
#   scripts/test.sh             release build in build/
#   scripts/test.sh --sanitize  ASan+UBSan build in build-asan/ (no interop run)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dir=build
flags=()
sanitize=0
if [ "${1:-}" = "--sanitize" ]; then
  sanitize=1
  dir=build-asan
  flags=(-DFLOW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi
cmake -S . -B "$dir" -DFLOW_TESTS=ON -DFLOW_TEST_HOOKS=ON "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$dir" --output-on-failure --no-tests=error -j2 --timeout 600
if [ "$sanitize" = 0 ]; then
  bash tests/interop/run.sh "$dir"
fi
