#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for a bounded time.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
FLOW_SETUP_FUZZ=1 bash scripts/setup.sh
seconds=${1:-60}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DFLOW_FUZZ=ON -DFLOW_WERROR=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target codec_fuzz exchange_fuzz challenge_fuzz \
  client_hello_fuzz tls_record_fuzz
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
for target in codec exchange challenge client_hello tls_record; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/$target/* "$work/"
  echo "fuzz: $target for ${seconds}s"
  ./build-fuzz/tests/fuzz/${target}_fuzz -max_total_time="$seconds" -max_len=8192 \
    -timeout=10 -print_final_stats=1 "$work" 2>&1 | tail -n 12
  rm -rf "$work"
done
echo "fuzz: no crash found"
