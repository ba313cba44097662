#!/usr/bin/env bash
# test.sh — installs dependencies, builds (normal and ASan+UBSan configurations) and runs the whole
# test suite in both. This is the README's test command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDLM_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
echo "== tests (release build)"
ctest --test-dir build --output-on-failure -j "$jobs"
echo "== tests (AddressSanitizer + UBSan build)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 DLM_SANITIZED=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"
