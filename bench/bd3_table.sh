#!/bin/bash
# bd3_table.sh — the BD3-LM / Eso-LM comparison table of README.md ("BD3-LM and Eso-LM"): each model
# is trained for the same number of steps on the same data (byte tokenizer, CPU backend, one small
# configuration), evaluated on the held-out 10% (the NELBO in nats per byte: an upper bound on the
# NLL for the diffusion models, the exact NLL for AR) and sampled; then the time per sample at 1024
# tokens of MDLM, BD3-LM (block 16) and Eso-LM (B), with --no-cache and with the KV cache the
# compiler planned (if any), with the trained weights (RoPE has no parameters, so the seq_len 128
# checkpoints load at 1024).
#   bench/bd3_table.sh            (from the repository root, after building dlmc and dlmrun)
# Environment [defaults]: BUILD_DIR [build-rel] DATA [/work/shared/data/tinyshakespeare.txt]
#   STEPS [300] BATCH [16] LR [2e-3] WARMUP [50] SEED [1] OUT [/tmp/bd3-table] TIMING [1]
#   REUSE [0] (1: keep the runs already in OUT, only evaluate and sample them) BACKEND [cpu]
#   EVAL_BATCHES [0 = every held-out window] SAMPLES [2] TABLE [1] (0: only the timing, with the
#   runs already in OUT)
#   SIZE [-D seq_len=128 -D layers=2 -D dim=128 -D heads=4 -D cond_dim=64]
# models/ar.dsl is included when it exists. The markdown tables go to stdout, OUT/table.md and
# OUT/timing.md.
set -eu
BUILD_DIR=${BUILD_DIR:-build-rel}
DATA=${DATA:-/work/shared/data/tinyshakespeare.txt}
STEPS=${STEPS:-300} BATCH=${BATCH:-16} LR=${LR:-2e-3} WARMUP=${WARMUP:-50} SEED=${SEED:-1}
OUT=${OUT:-/tmp/bd3-table} TIMING=${TIMING:-1} REUSE=${REUSE:-0} BACKEND=${BACKEND:-cpu}
EVAL_BATCHES=${EVAL_BATCHES:-0} SAMPLES=${SAMPLES:-2} TABLE=${TABLE:-1}
SIZE=${SIZE:--D seq_len=128 -D layers=2 -D dim=128 -D heads=4 -D cond_dim=64}
DLMC=$BUILD_DIR/dlmc DLMRUN=$BUILD_DIR/dlmrun
for tool in "$DLMC" "$DLMRUN"; do [ -x "$tool" ] || { echo "bd3_table.sh: $tool not found (build it, or set BUILD_DIR)" >&2; exit 2; }; done
[ -f "$DATA" ] || { echo "bd3_table.sh: no data file $DATA" >&2; exit 2; }
mkdir -p "$OUT"

# name | dsl file | extra -D | sampler options | extra -D of the training artifact only (BD3-LM's
# clipped window: the evaluation artifact keeps the default window [1e-3, 1], the NELBO)
models=()
[ -f models/ar.dsl ] && models+=("AR|models/ar.dsl||--top-p 0.9")
models+=("MDLM|models/mdlm.dsl||--steps 128"
         "BD3-LM L'=16|models/bd3lm.dsl|-D block=16|--sampler blocks --top-p 0.9"
         "BD3-LM L'=4|models/bd3lm.dsl|-D block=4|--sampler blocks --top-p 0.9"
         "BD3-LM L'=4, trained on U[0.45, 0.95]|models/bd3lm.dsl|-D block=4|--sampler blocks --top-p 0.9|-D clip_lo=0.45 -D clip_hi=0.95"
         "Eso-LM (B) alpha0=0.25|models/esolm.dsl|-D alpha0=0.25|--steps 128 --top-p 0.9")

table=$OUT/table.md timing=$OUT/timing.md
if [ "$TABLE" = 1 ]; then
  {
    echo "| model | held-out NELBO (nats/byte) | bits/byte | train ms/step | sample (first 100 bytes, newlines as /) |"
    echo "|---|---|---|---|---|"
  } >"$table"
  for spec in "${models[@]}"; do
    IFS='|' read -r name file defs sopts tdefs <<<"$spec"
    tag=$(printf %s "$name" | tr -c 'A-Za-z0-9' '_')
    art=$OUT/$tag.dlmc run=$OUT/$tag tart=$OUT/$tag.train.dlmc
    # shellcheck disable=SC2086
    "$DLMC" compile "$file" $SIZE $defs -o "$art" >/dev/null
    # shellcheck disable=SC2086
    "$DLMC" compile "$file" $SIZE $defs $tdefs -o "$tart" >/dev/null
    if [ "$REUSE" = 1 ] && [ -f "$run/checkpoint.safetensors" ]; then
      echo "== $name: reusing $run" >&2
    else
      rm -rf "$run"
      echo "== $name: training $STEPS steps" >&2
      "$DLMRUN" "$tart" train --data "$DATA" --tokenizer byte --batch "$BATCH" --steps "$STEPS" --lr "$LR" \
        --warmup "$WARMUP" --seed "$SEED" --log-every 50 --backend "$BACKEND" --out "$run" 2>"$OUT/$tag.train.log"
    fi
    ms=$(tail -1 "$run/metrics.jsonl" | grep -o '"ms_per_step": [0-9.]*' | grep -o '[0-9.]*$')
    ebatches=()
    [ "$EVAL_BATCHES" -gt 0 ] && ebatches=(--batches "$EVAL_BATCHES")
    "$DLMRUN" "$art" eval --ckpt "$run" --data "$DATA" --batch 16 ${ebatches[@]+"${ebatches[@]}"} --backend "$BACKEND" --json >"$OUT/$tag.eval.json" 2>/dev/null
    nelbo=$(grep -o '"nelbo": [0-9.]*' "$OUT/$tag.eval.json" | grep -o '[0-9.]*$')
    bits=$(grep -o '"bits_per_token": [0-9.]*' "$OUT/$tag.eval.json" | grep -o '[0-9.]*$')
    # shellcheck disable=SC2086
    if "$DLMRUN" "$art" sample --ckpt "$run" --n "$SAMPLES" --seed "$SEED" --backend "$BACKEND" $sopts >"$OUT/$tag.samples.txt" 2>"$OUT/$tag.sample.log"; then
      sample=$(awk 'NR == 1 && !/^=== sample 0 ===$/ { f = 1 } /^=== sample 0 ===$/ { f = 1; next } /^=== sample 1 ===$/ { f = 0 } f' "$OUT/$tag.samples.txt" | tr -d '\000' | tr '\n|`' "/ '" | head -c 100)
    else
      sample="(sampling failed: $(head -c 80 "$OUT/$tag.sample.log" | tr '\n|' '  '))"
    fi
    printf '| %s | %.3f | %.3f | %.0f | `%s` |\n' "$name" "$nelbo" "$bits" "$ms" "$sample" >>"$table"
  done
fi

if [ "$TIMING" = 1 ]; then
  L1024=$(echo "$SIZE" | sed 's/seq_len=[0-9]*/seq_len=1024/')
  {
    echo "| sampler at 1024 tokens (1 sample) | network calls | seconds, --no-cache | seconds, default | KV cache (default) |"
    echo "|---|---|---|---|---|"
  } >"$timing"
  for spec in "MDLM, T=1024|models/mdlm.dsl||MDLM|--steps 1024" \
              "BD3-LM L'=16, first-hitting|models/bd3lm.dsl|-D block=16|BD3_LM_L__16|--sampler blocks" \
              "Eso-LM (B) alpha=0.25, T=1024|models/esolm.dsl|-D alpha0=0.25|Eso_LM__B__alpha0_0_25|--steps 1024"; do
    IFS='|' read -r name file defs tag sopts <<<"$spec"
    art=$OUT/$tag.1024.dlmc
    # shellcheck disable=SC2086
    "$DLMC" compile "$file" $L1024 $defs -o "$art" >/dev/null 2>&1
    row="| $name"
    for mode in --no-cache ""; do
      # without a planned cache (the label says none) the default run is the same program: not rerun
      if [ -z "$mode" ] && grep -q 'KV cache: none' "$log"; then row="$row | $secs"; break; fi
      echo "== $name: sampling 1024 tokens ${mode:-(default)}" >&2
      log=$OUT/$tag.1024${mode:+.nocache}.log
      # shellcheck disable=SC2086
      "$DLMRUN" "$art" sample --ckpt "$OUT/$tag" --n 1 --seed "$SEED" --backend "$BACKEND" $mode $sopts >/dev/null 2>"$log"
      secs=$(grep -o '[0-9][0-9.]* s\(,\|$\)' "$log" | head -1 | grep -o '^[0-9.]*')
      [ -n "$mode" ] && row="$row | $(grep -o '[0-9]* network evaluations' "$log" | grep -o '^[0-9]*')"
      row="$row | $secs"
    done
    echo "$row | $(grep -o 'KV cache: [a-z]*' "$log" | sed 's/KV cache: //') |" >>"$timing"
  done
fi
[ "$TABLE" = 1 ] && cat "$table"
[ "$TIMING" = 1 ] && { echo; cat "$timing"; }
exit 0
