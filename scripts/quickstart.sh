#!/usr/bin/env bash
# quickstart.sh — the README's first command. Installs what is needed, builds dlmc, compiles every
# model in models/ (printing a summary of each), then trains a small MDLM on real English text for a
# few minutes on the CPU (the `fortunes` Debian package: ~2.5 MB of quotations), evaluates it on
# the held-out 10% and prints samples. Override the training length with STEPS=N.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ ! -d /usr/share/games/fortunes ]; then
  echo "quickstart: installing the 'fortunes' text package (training data)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fortunes >/dev/null
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"

echo "== compiling every model"
for model in models/*.dsl; do
  ./build/dlmc compile "$model"
done

work=runs/quickstart
rm -rf "$work/run"   # a new run each time (dlmrun train refuses to overwrite a run without --resume)
mkdir -p "$work"
data="$work/fortunes.txt"
# every plain-text fortune file (the .dat indexes and .u8 links are skipped)
find /usr/share/games/fortunes -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' -print0 | sort -z | xargs -0 cat > "$data"
echo "== training data: $data ($(wc -c < "$data") bytes; the last 10% is held out)"

config="-D vocab=256 -D seq_len=128 -D layers=2 -D dim=128 -D heads=4 -D cond_dim=64"
./build/dlmc compile models/mdlm.dsl $config -o "$work/mdlm.dlmc"
echo "== training MDLM ($config, batch 32, ${STEPS:-1500} steps, byte tokenizer)"
./build/dlmrun "$work/mdlm.dlmc" train --data "$data" --tokenizer byte --batch 32 --steps "${STEPS:-1500}" \
  --lr 2e-3 --warmup 100 --schedule cosine --seed 1 --out "$work/run"
echo "== held-out evaluation"
./build/dlmrun "$work/mdlm.dlmc" eval --ckpt "$work/run" --data "$data"
echo "== samples (ancestral sampler, 128 steps)"
./build/dlmrun "$work/mdlm.dlmc" sample --ckpt "$work/run" --steps 128 --n 2 --seed 1
