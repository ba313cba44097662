#!/bin/bash
# train_device.sh — `dlmrun train --device cpu|cuda` on a tiny MDLM: --device cpu trains with the
# cpu backend and the host optimizer (the same checkpoint as --backend cpu, byte for byte);
# without a GPU --device cuda exits 1 with "no CUDA device: <reason>" (with a GPU it trains,
# the optimizer on the device, and the loss is finite); a device name that does not exist, or one
# that contradicts --backend, is a usage error (2). Env: DLMC, BUILD_DIR, SRC_DIR.
NEED_BUILD_DIR=1
. "$(dirname "$0")/lib/common.sh"

art=$tmp/m.dlmc
"$DLMC" compile "$SRC_DIR/models/mdlm.dsl" -D seq_len=8 -D layers=1 -D dim=16 -D heads=2 -D cond_dim=8 -o "$art" >/dev/null ||
  { echo "FAIL: dlmc compile"; exit 1; }
printf 'abcd abcd abce abcd abcf abcd %.0s' $(seq 40) >"$tmp/text.txt"
common=(--data "$tmp/text.txt" --batch 2 --steps 2 --lr 1e-3)

expect 0 "$DLMRUN" "$art" train "${common[@]}" --out "$tmp/a" --device cpu
has "$tmp/err" "cpu backend,"
expect 0 "$DLMRUN" "$art" train "${common[@]}" --out "$tmp/b" --backend cpu
cmp -s "$tmp/a/checkpoint.safetensors" "$tmp/b/checkpoint.safetensors" || fail "--device cpu and --backend cpu checkpoints differ"

"$DLMRUN" "$art" train "${common[@]}" --out "$tmp/c" --device cuda >"$tmp/out" 2>"$tmp/err"
st=$?
if grep -q "no CUDA device: " "$tmp/err"; then
  [ "$st" -eq 1 ] || fail "--device cuda without a GPU exited $st, expected 1"
else
  [ "$st" -eq 0 ] || fail "--device cuda exited $st: $(head -c 400 "$tmp/err")"
  has "$tmp/err" "optimizer on the device"
  grep -q '"loss": [0-9]' "$tmp/c/metrics.jsonl" || fail "--device cuda: no finite loss in metrics.jsonl"
fi

expect 2 "$DLMRUN" "$art" train "${common[@]}" --out "$tmp/d" --device tpu
has "$tmp/err" "--device wants cpu or cuda"
expect 2 "$DLMRUN" "$art" train "${common[@]}" --out "$tmp/e" --device cpu --backend interp
has "$tmp/err" "contradicts --backend"
finish train_device
