#!/bin/bash
# bd3_table_small.sh — bench/bd3_table.sh (the README's BD3-LM / Eso-LM table) at a toy size on the
# interpreter: two training steps per model on a small text, one evaluation batch, one sample; the
# table must have a row with a finite positive NELBO and a sample for MDLM, BD3-LM (blocks 16 and
# 4) and Eso-LM (and AR when models/ar.dsl exists). Env: DLMC, BUILD_DIR, SRC_DIR.
NEED_BUILD_DIR=1
. "$(dirname "$0")/lib/common.sh"
cd "$SRC_DIR" || exit 1
printf 'First Citizen:\nBefore we proceed any further, hear me speak.\n%.0s' $(seq 60) >"$tmp/text.txt"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd) DATA=$tmp/text.txt OUT=$tmp/out BACKEND=interp STEPS=2 BATCH=2 WARMUP=1 \
  EVAL_BATCHES=1 SAMPLES=1 TIMING=0 SIZE="-D seq_len=16 -D layers=1 -D dim=16 -D heads=2 -D cond_dim=8" \
  bash bench/bd3_table.sh >"$tmp/table" 2>"$tmp/err" || fail "bd3_table.sh failed: $(tail -c 600 "$tmp/err")"
rows=("MDLM" "BD3-LM L'=16" "BD3-LM L'=4" "Eso-LM (B)")
[ -f models/ar.dsl ] && rows+=("AR")
for r in "${rows[@]}"; do
  line=$(grep -aF "| $r" "$tmp/table" | head -1)
  [ -n "$line" ] || { fail "no row for $r: $(cat "$tmp/table")"; continue; }
  nelbo=$(echo "$line" | awk -F'|' '{ print $3 }' | tr -d ' ')
  awk -v v="$nelbo" 'BEGIN { exit !(v + 0 > 0 && v + 0 < 100) }' || fail "$r: NELBO '$nelbo'"
  echo "$line" | grep -aq "sampling failed" && fail "$r: $line"
done
finish bd3_table_small.sh
