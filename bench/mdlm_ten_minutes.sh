#!/usr/bin/env bash
# bench/mdlm_ten_minutes.sh — the MDLM issue's "larger config within 10 minutes" run: compiles
# models/mdlm.dsl at a stated configuration, trains it on the CPU under a hard 10-minute wall-clock
# limit (`timeout -s INT 600` around `dlmrun train`; the checkpoint written at the interruption is
# the one evaluated), then prints the held-out NELBO (nats/byte), the training-loss curve from
# metrics.jsonl and a few samples. Nothing here is asserted: it is a measurement for the README.
#
# Usage: bash bench/mdlm_ten_minutes.sh [DATA]   (default ../shared/data/tinyshakespeare.txt)
# Environment (defaults): LAYERS=3 DIM=128 HEADS=4 SEQ_LEN=128 COND_DIM=64 BATCH=32 LR=2e-3
# WARMUP=100 STEPS=3300 (the cosine schedule's length: pick it so the run ends near 600 s at the
# measured ms/step) SEED=1 LIMIT=600 BUILD_DIR=build-rel OUT=(a temporary directory).
set -euo pipefail
BUILD_DIR=${BUILD_DIR:-build-rel}
DATA=${1:-../shared/data/tinyshakespeare.txt}
LAYERS=${LAYERS:-3} DIM=${DIM:-128} HEADS=${HEADS:-4} SEQ_LEN=${SEQ_LEN:-128} COND_DIM=${COND_DIM:-64}
BATCH=${BATCH:-32} LR=${LR:-2e-3} WARMUP=${WARMUP:-100} STEPS=${STEPS:-3300} SEED=${SEED:-1}
LIMIT=${LIMIT:-600}
for tool in dlmc dlmrun; do
  [ -x "$BUILD_DIR/$tool" ] || { echo "mdlm_ten_minutes: $BUILD_DIR/$tool not found (build it, or set BUILD_DIR)" >&2; exit 2; }
done
[ -r "$DATA" ] || { echo "mdlm_ten_minutes: cannot read the data file $DATA" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
config="-D vocab=256 -D seq_len=$SEQ_LEN -D layers=$LAYERS -D dim=$DIM -D heads=$HEADS -D cond_dim=$COND_DIM"
echo "== MDLM, ${LIMIT} s of training: $(date -u '+%Y-%m-%d %H:%M UTC'), dlmc $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "config: $config; batch $BATCH, lr $LR, warmup $WARMUP, cosine over $STEPS steps, seed $SEED, byte tokenizer"
echo "data:   $DATA (held-out: last 10%)"
echo "machine: $(nproc) cores online, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
"$BUILD_DIR/dlmc" compile models/mdlm.dsl $config -o "$OUT/m.dlmc"
start=$(date +%s.%N)
rc=0
timeout -s INT "$LIMIT" "$BUILD_DIR/dlmrun" "$OUT/m.dlmc" train --data "$DATA" --tokenizer byte --batch "$BATCH" \
  --steps "$STEPS" --lr "$LR" --warmup "$WARMUP" --schedule cosine --seed "$SEED" --log-every 50 \
  --out "$OUT/run" 2>"$OUT/train.log" || rc=$?
end=$(date +%s.%N)
last=$(tail -1 "$OUT/run/metrics.jsonl")
steps_done=$(echo "$last" | grep -o '"step": [0-9]*' | sed 's/.*: //')
printf 'trained: %s of %s steps in %.0f s wall (dlmrun exit status %s; 130 = stopped by the limit)\n' \
  "$steps_done" "$STEPS" "$(echo "$end - $start" | bc)" "$rc"
echo "training loss (one batch, every 150 steps):"
awk -F'[:,]' 'NR % 3 == 0 { printf "  step %5d  loss %.3f\n", $2, $4 }' "$OUT/run/metrics.jsonl"
"$BUILD_DIR/dlmrun" "$OUT/m.dlmc" eval --ckpt "$OUT/run" --data "$DATA" --tokenizer byte --json >"$OUT/eval.json"
echo "held-out: $(cat "$OUT/eval.json")"
echo "samples (sample --steps 256 --n 3 --seed 1):"
"$BUILD_DIR/dlmrun" "$OUT/m.dlmc" sample --ckpt "$OUT/run" --steps 256 --n 3 --seed 1 2>/dev/null
echo "run directory: $OUT"
