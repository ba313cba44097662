#!/usr/bin/env bash
# quickstart.sh — the README's first command: installs dependencies, builds dlmc, and runs the main
# job. At this stage the main job compiles every model in models/ and prints a summary of each.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
for model in models/*.dsl; do
  echo "== $model"
  ./build/dlmc compile "$model" --stats
done
