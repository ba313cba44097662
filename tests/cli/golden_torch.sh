#!/bin/bash
# golden_torch.sh — golden check of the compiled MDLM against the plain-PyTorch peer
# (bench/pytorch_mdlm.py), llm.c style. tests/golden/make_golden.py writes random weights
# (safetensors), inputs (.npy) and PyTorch's results: `logits` and `denoise` (SUBS) of a token
# batch with masks, and the §5 `loss` of a clean batch (same Philox draws as the DSL) with the
# gradient of every parameter. The same weights and inputs go through `dlmrun m.dlmc call` (logits,
# denoise, loss.grad) on the interp and cpu backends; tests/golden/compare.py requires
# max abs error / max |ref| <= 1e-4 (fp32) for each output. Skipped (exit 77) when /usr/bin/python3
# cannot import torch and numpy (bench/install-bench-deps.sh installs them).
# Env: DLMC, BUILD_DIR, SRC_DIR.
set -u
: "${DLMC:?DLMC must point at the dlmc binary}"
: "${BUILD_DIR:?BUILD_DIR must point at the build directory}"
SRC_DIR=${SRC_DIR:-.}
PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "skipped: torch not installed"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g=$tmp/golden
width=dim
grep -q '^const hidden_dim\b' "$SRC_DIR/models/mdlm.dsl" && width=hidden_dim
L=16 LAYERS=2 DIM=32 HEADS=4 COND=16 B=3
"$PY" "$SRC_DIR/tests/golden/make_golden.py" "$g" --layers $LAYERS --dim $DIM --heads $HEADS --seq-len $L \
  --cond-dim $COND --batch $B || { echo "FAIL: make_golden.py"; exit 1; }
"$DLMC" compile "$SRC_DIR/models/mdlm.dsl" -D vocab=256 -D seq_len=$L -D layers=$LAYERS -D "$width=$DIM" \
  -D heads=$HEADS -D cond_dim=$COND -o "$tmp/m.dlmc" >/dev/null || { echo "FAIL: dlmc compile"; exit 1; }
mapfile -t params <"$g/params.txt"
fails=0
call() {  # BACKEND FUNCTION dlmrun-call-options...
  local backend=$1 fn=$2; shift 2
  "$BUILD_DIR/dlmrun" "$tmp/m.dlmc" call "$fn" --ckpt "$g/weights.safetensors" --backend "$backend" "$@" 2>"$tmp/err" ||
    { echo "FAIL: dlmrun call $fn --backend $backend: $(head -c 400 "$tmp/err")"; fails=$((fails + 1)); return 1; }
}
for backend in interp cpu; do
  o=$tmp/$backend
  mkdir -p "$o"
  pairs=()
  for fn in logits denoise; do
    call $backend $fn --in z="$g/z.npy" --in sigma="$g/sigma.npy" --out 0="$o/$fn.npy" &&
      pairs+=("$fn ($backend)" "$g/$fn.npy" "$o/$fn.npy")
  done
  outs=(--out 0="$o/loss.npy")
  for p in "${params[@]}"; do outs+=(--out "grad:$p=$o/grad.$p.npy"); done
  if call $backend loss.grad --in x0="$g/x0.npy" --in seed="$g/seed.npy" --in step="$g/step.npy" "${outs[@]}"; then
    pairs+=("loss ($backend)" "$g/loss.npy" "$o/loss.npy")
    for p in "${params[@]}"; do pairs+=("grad $p ($backend)" "$g/grad.$p.npy" "$o/grad.$p.npy"); done
  fi
  [ ${#pairs[@]} -gt 0 ] && { "$PY" "$SRC_DIR/tests/golden/compare.py" "${pairs[@]}" || fails=$((fails + 1)); }
done
[ "$fails" -eq 0 ] && echo "golden_torch: ok" || echo "golden_torch: $fails failure(s)"
[ "$fails" -eq 0 ]
