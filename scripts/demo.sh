#!/usr/bin/env bash
# Builds 402flow and runs `402flow demo` end to end on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" --target 402flow
exec ./build/402flow demo "$@"
