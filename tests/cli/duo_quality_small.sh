#!/bin/bash
# duo_quality_small.sh — bench/duo_quality.sh (README "Duo") end to end at a toy size on the
# interpreter, on generated text: Duo, MDLM and AR trained 3 steps, 2 DCD rounds of 2 steps, 2 samples
# per row; the script must finish and print the NELBO table (3 models) and the sample table (5 rows,
# each with a positive AR perplexity and an entropy in [0, log 256] for both final steps).
# Skipped (77) without python3 (bench/sample_stats.py). Env: DLMC, BUILD_DIR, SRC_DIR.
NEED_BUILD_DIR=1
. "$(dirname "$0")/lib/common.sh"
command -v python3 >/dev/null || { echo "duo_quality_small: no python3, skipped"; exit 77; }
for i in $(seq 300); do printf 'To be, or not to be%d: that is the question.\n' $((i % 7)); done >"$tmp/text.txt"
cd "$SRC_DIR" || exit 1
expect 0 env DATA="$tmp/text.txt" BUILD="$(dirname "$DLMRUN")" OUT="$tmp/run" STEPS=3 DSTEPS=2 ROUNDS=2 N=2 BATCH=4 BACKEND=interp \
  CFG="-D vocab=256 -D seq_len=16 -D layers=1 -D dim=16 -D heads=2 -D cond_dim=8" bash bench/duo_quality.sh
for m in duo mdlm ar; do grep -Eq "^\| $m \| [0-9.]+ \| [0-9.]+ \|$" "$tmp/out" || fail "no NELBO row for $m: $(cat "$tmp/out")"; done
rows=$(grep -Ec '^\| Duo( \+ DCD \(2 rounds\))? \| [0-9]+ \| [0-9.]+ / [0-9.]+ \| [0-9.]+ / [0-9.]+ \|$' "$tmp/out")
[ "$rows" -eq 5 ] || fail "expected 5 sample rows, got $rows: $(cat "$tmp/out")"
python3 - "$tmp/out" <<'PY' || fail "a perplexity or entropy is out of range: $(cat "$tmp/out")"
import math, re, sys
vals = re.findall(r"([0-9.]+) / ([0-9.]+)", open(sys.argv[1]).read())
ok = len(vals) == 10 and all(float(p) >= 1 and 0 <= float(h) <= math.log(256) for p, h in vals)
sys.exit(0 if ok else 1)
PY
[ -f "$tmp/run/dcd/checkpoint.safetensors" ] || fail "no distilled checkpoint"
finish duo_quality_small
