#!/bin/bash
# train_step.sh — the training-step benchmark: full MDLM training steps (batch, forward, backward,
# global-norm clipping, AdamW, EMA) on one configuration, timed for `dlmrun train` (the compiled
# CPU backend) and for the plain-PyTorch peer bench/pytorch_mdlm.py, printed side by side with the
# medians, tokens/s, the ratio, the exact configuration and the machine.
#   bench/train_step.sh            (run from the repository root after building dlmc and dlmrun)
# Environment (defaults in brackets): BUILD_DIR [build-rel] LAYERS [2] DIM [128] HEADS [4]
#   SEQ_LEN [128] BATCH [32] COND_DIM [64] LR [3e-4] WARMUP [3] STEPS [10] THREADS [2] ROUNDS [1]
#   SPINCOUNT [20000] (GOMP_SPINCOUNT for both sides) TORCH_BF16 [0] (1: a third row, PyTorch under
#   bf16 autocast, for reference: mixed precision is not the fp32 configuration the ratio compares)
#   DATA [a byte text made here from the repository's sources and docs]
# Both sides use the byte tokenizer (vocab 256 + mask), fp32, THREADS threads (OMP_NUM_THREADS and
# OPENBLAS_NUM_THREADS for both, plus torch.set_num_threads; PyTorch's products use the system
# OpenBLAS, dlmc's fp32 products mostly its own gemm, codegen/cpu_gemm.c), AdamW
# betas 0.9/0.999 eps 1e-8 weight decay 0 at a constant LR, clip 1.0, EMA 0.9999, and
# the same OpenMP wait policy: OMP_WAIT_POLICY=PASSIVE with GOMP_SPINCOUNT=SPINCOUNT (a worker polls
# that many times for new work before it sleeps; dlmc's CPU backend sets both itself by default).
# PyTorch's default policy (spinning ~300000 polls) made its steps 2-3x slower here, plain PASSIVE
# (SPINCOUNT=0) slows both sides by futex wake-ups and PyTorch more than dlmc (bench/README.md). Each round runs dlmc then PyTorch; the
# first WARMUP steps of each run are not timed (dlmc's first step also compiles or loads its
# kernels); the medians are over the STEPS timed steps of every round. dlmc's per-step times come
# from DIR/metrics.jsonl: with --log-every 1, each line's ms_per_step is that step's own time
# (the mean since the previous logged line). Without torch for /usr/bin/python3 only the dlmc line is printed
# (bench/install-bench-deps.sh installs it).
set -eu
BENCH=train_step.sh
. "$(dirname "$0")/lib/mdlm_setup.sh"
total=$((WARMUP + STEPS))
: >"$tmp/dlmc_ms"
: >"$tmp/torch_ms"
: >"$tmp/torch_bf16_ms"
SPINCOUNT=${SPINCOUNT:-20000}
# runs a command with both sides' thread counts and OpenMP wait policy
with_policy() { OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=$SPINCOUNT OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS "$@"; }
torch_args=(bench/pytorch_mdlm.py --data "$DATA" --layers "$LAYERS" --dim "$DIM" --heads "$HEADS" --seq-len "$SEQ_LEN"
  --batch "$BATCH" --cond-dim "$COND_DIM" --lr "$LR" --warmup "$WARMUP" --steps "$STEPS" --threads "$THREADS")
for r in $(seq 1 "$ROUNDS"); do
  with_policy "$BUILD_DIR/dlmrun" "$tmp/m.dlmc" train --data "$DATA" \
    --batch "$BATCH" --steps "$total" --lr "$LR" --clip 1.0 --ema 0.9999 --seed "$r" --log-every 1 \
    --backend cpu --out "$tmp/run$r" 2>"$tmp/dlmrun$r.err" ||
    { echo "train_step.sh: dlmrun train failed:" >&2; tail -5 "$tmp/dlmrun$r.err" >&2; exit 1; }
  "$PY" - "$tmp/run$r/metrics.jsonl" "$WARMUP" >>"$tmp/dlmc_ms" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    row = json.loads(line)
    if row["step"] > int(sys.argv[2]):
        print(f"{row['ms_per_step']:.3f}")
EOF
  if [ "$have_torch" = 1 ]; then
    with_policy "$PY" "${torch_args[@]}" --seed "$r" --times "$tmp/torch_ms" >"$tmp/torch$r.out"
    if [ "${TORCH_BF16:-0}" = 1 ]; then
      with_policy "$PY" "${torch_args[@]}" --seed "$r" --times "$tmp/torch_bf16_ms" --autocast-bf16 >"$tmp/torch_bf16_$r.out"
    fi
  fi
done

echo "== MDLM training step: $(date -u '+%Y-%m-%d %H:%M UTC'), dlmc $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "config: layers=$LAYERS $width=$DIM heads=$HEADS seq_len=$SEQ_LEN batch=$BATCH cond_dim=$COND_DIM vocab=256+mask (byte tokenizer)"
echo "        fp32, $THREADS threads (OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=$SPINCOUNT), AdamW(lr=$LR, betas=0.9/0.999, eps=1e-8, wd=0), clip 1.0, EMA 0.9999"
echo "        $ROUNDS round(s) of $WARMUP warm-up + $STEPS timed steps per implementation; data $(wc -c <"$DATA") bytes"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores online, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "         $(cc --version | head -1)$([ "$have_torch" = 1 ] && echo ", torch $("$PY" -c 'import torch; print(torch.__version__)')")"
echo "dlmc compile: $(head -1 "$tmp/compile.txt")"
[ "$have_torch" = 1 ] && echo "pytorch: $(head -1 "$tmp/torch1.out")"
"$PY" - "$tmp/dlmc_ms" "$tmp/torch_ms" "$BATCH" "$SEQ_LEN" "$tmp/torch_bf16_ms" <<'EOF'
import statistics, sys
tokens = int(sys.argv[3]) * int(sys.argv[4])
rows = []
for name, path in (("dlmc (dlmrun train, cpu)", sys.argv[1]), ("pytorch (bench/pytorch_mdlm.py)", sys.argv[2])):
    ms = [float(l) for l in open(path) if l.strip()]
    if ms:
        rows.append((name, statistics.median(ms), min(ms), max(ms), len(ms)))
print(f"{'implementation':34} {'median ms/step':>14} {'tokens/s':>10} {'min ms':>9} {'max ms':>9} {'steps':>5}")
for name, med, lo, hi, n in rows:
    print(f"{name:34} {med:14.1f} {tokens / (med / 1e3):10.0f} {lo:9.1f} {hi:9.1f} {n:5d}")
if len(rows) == 2:
    print(f"ratio (dlmc tokens/s / pytorch tokens/s): {rows[1][1] / rows[0][1]:.2f}x at the medians "
          f"({rows[1][2] / rows[0][2]:.2f}x at the fastest steps)")
    bf16 = [float(l) for l in open(sys.argv[5]) if l.strip()]
    if bf16:
        med = statistics.median(bf16)
        print(f"{'pytorch, bf16 autocast (reference)':34} {med:14.1f} {tokens / (med / 1e3):10.0f} {min(bf16):9.1f} "
              f"{max(bf16):9.1f} {len(bf16):5d}")
        print(f"ratio to the bf16 reference (fp32 dlmc vs mixed-precision PyTorch): {med / rows[0][1]:.2f}x at the medians")
else:
    print("pytorch: skipped (torch not importable by /usr/bin/python3; run bench/install-bench-deps.sh)")
EOF
