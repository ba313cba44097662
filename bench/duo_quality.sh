#!/bin/bash
# duo_quality.sh — Duo end to end on tinyshakespeare (issue 5, item 6), the table of README "Duo":
#   1. train Duo, MDLM and the AR reference (models/ar.dsl) with one small config for the same steps;
#      held-out NELBO of each (`dlmrun eval`);
#   2. distill Duo (DCD) for ROUNDS rounds of DSTEPS steps (`dlmrun distill`);
#   3. sample N sequences from undistilled Duo at 64, 16 and 8 steps and from distilled Duo at 8 and
#      4 steps, with the ancestral final step and with Greedy-Tail, and report the perplexity of the
#      samples under the AR model (`dlmrun ar.dlmc eval --all`) and their unigram entropy
#      (bench/sample_stats.py).
# Environment: DATA (default ../shared/data/tinyshakespeare.txt), BUILD (build dir with dlmc and
# dlmrun, default build-rel), OUT (default runs/duo_quality), STEPS (600), DSTEPS (150), ROUNDS (2),
# N (samples per row, 32), DCD_T (512 in the reference; 16 here: two rounds reach the step size 1/8),
# CFG (the -D size flags), BATCH (32), BACKEND (cpu); tests/cli/duo_quality_small.sh runs it at a toy size.
# Prints the markdown table on stdout; everything else goes to OUT/*.log. Run from the repository root.
set -euo pipefail
DATA=${DATA:-../shared/data/tinyshakespeare.txt}
BUILD=${BUILD:-build-rel}
OUT=${OUT:-runs/duo_quality}
STEPS=${STEPS:-600}
DSTEPS=${DSTEPS:-150}
ROUNDS=${ROUNDS:-2}
N=${N:-32}
DCD_T=${DCD_T:-16}
CFG=${CFG:-"-D vocab=256 -D seq_len=128 -D layers=2 -D dim=128 -D heads=4 -D cond_dim=64"}
BATCH=${BATCH:-32}
TRAIN="--data $DATA --tokenizer byte --batch $BATCH --steps $STEPS --lr 2e-3 --warmup 100 --seed 1 --log-every 50"
DLMC=$BUILD/dlmc
DLMRUN="$BUILD/dlmrun"
run() { "$DLMRUN" "$@" --backend "${BACKEND:-cpu}"; }
[ -f "$DATA" ] || { echo "duo_quality.sh: no data file $DATA (set DATA)" >&2; exit 1; }
mkdir -p "$OUT"

field() { grep -o "\"$1\": [-0-9.e+]*" | head -1 | sed 's/.*: //'; }

"$DLMC" compile models/duo.dsl $CFG -D dcd_T="$DCD_T" -o "$OUT/duo.dlmc" >"$OUT/compile.log"
"$DLMC" compile models/mdlm.dsl $CFG -o "$OUT/mdlm.dlmc" >>"$OUT/compile.log"
"$DLMC" compile models/ar.dsl $CFG -o "$OUT/ar.dlmc" >>"$OUT/compile.log"
for m in duo mdlm ar; do
  [ -f "$OUT/$m/checkpoint.safetensors" ] ||
    run "$OUT/$m.dlmc" train $TRAIN --out "$OUT/$m" 2>"$OUT/train_$m.log"
  run "$OUT/$m.dlmc" eval --ckpt "$OUT/$m" --data "$DATA" --json >"$OUT/eval_$m.json"
done
[ -f "$OUT/dcd/checkpoint.safetensors" ] ||
  run "$OUT/duo.dlmc" distill --ckpt "$OUT/duo" --rounds "$ROUNDS" --steps-per-round "$DSTEPS" --lr 3e-4 \
    --log-every 25 --out "$OUT/dcd" 2>"$OUT/distill.log"

echo "Held-out NELBO after $STEPS steps (nats/byte, bound for the diffusion models, exact for AR):"
echo
echo "| model | NELBO | perplexity |"
echo "|---|---|---|"
for m in duo mdlm ar; do
  echo "| $m | $(field nelbo <"$OUT/eval_$m.json") | $(field ppl_bound <"$OUT/eval_$m.json") |"
done
echo
echo "Samples ($N per row, seed 1): perplexity under the AR model / unigram entropy (nats):"
echo
echo "| model | steps | ancestral final step | Greedy-Tail |"
echo "|---|---|---|---|"
for row in "duo 64" "duo 16" "duo 8" "dcd 8" "dcd 4"; do
  set -- $row
  line="| $([ "$1" = dcd ] && echo "Duo + DCD ($ROUNDS rounds)" || echo Duo) | $2 |"
  for gt in 0 1; do
    s=$OUT/samples_$1_$2_gt$gt
    run "$OUT/duo.dlmc" sample --ckpt "$OUT/$1" --steps "$2" --n "$N" --seed 1 --set greedy_tail=$gt --json \
      >"$s.json" 2>"$s.log"
    ent=$(python3 bench/sample_stats.py "$s.bin" <"$s.json")
    ppl=$(run "$OUT/ar.dlmc" eval --ckpt "$OUT/ar" --data "$s.bin" --all --json | field ppl_bound)
    line="$line $(printf '%.2f' "$ppl") / $ent |"
  done
  echo "$line"
done
