#!/bin/bash
# train_cpu_time.sh — CPU time per MDLM training step (user + system, all threads and child
# processes) for `dlmrun train` (CPU backend) and the PyTorch peer bench/pytorch_mdlm.py, on the
# configuration of bench/train_step.sh. A companion to train_step.sh for a shared machine: wall
# time there depends on how often the other jobs preempt the two threads, CPU time much less.
# Each implementation runs twice, with WARMUP and with WARMUP + STEPS steps, under /usr/bin/time;
# the difference of the two CPU times over STEPS is the time of one step (start-up, data loading,
# kernel compilation and warm-up steps cancel). The kernel cache is filled by a first untimed run.
#   bench/train_cpu_time.sh        (run from the repository root after building dlmc and dlmrun)
# Environment (defaults in brackets): BUILD_DIR [build-rel] LAYERS [2] DIM [128] HEADS [4]
#   SEQ_LEN [128] BATCH [32] COND_DIM [64] LR [3e-4] WARMUP [3] STEPS [10] THREADS [2] ROUNDS [1]
#   DATA [as train_step.sh]. Each round measures both; the medians over rounds are printed.
set -eu
BENCH=train_cpu_time.sh
[ -x /usr/bin/time ] || { echo "train_cpu_time.sh: /usr/bin/time not found" >&2; exit 2; }
. "$(dirname "$0")/lib/mdlm_setup.sh"
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS

# cpu_seconds STEPS IMPL: user + system seconds of one run of IMPL with STEPS steps after the warm-up
cpu_seconds() {
  local n=$1 impl=$2
  if [ "$impl" = dlmc ]; then
    rm -rf "$tmp/run"
    /usr/bin/time -f '%U %S' -o "$tmp/t" "$BUILD_DIR/dlmrun" "$tmp/m.dlmc" train --data "$DATA" --batch "$BATCH" \
      --steps $((WARMUP + n)) --lr "$LR" --clip 1.0 --ema 0.9999 --seed 1 --log-every 1000000 --backend cpu \
      --out "$tmp/run" >/dev/null 2>"$tmp/err" || { echo "train_cpu_time.sh: dlmrun train failed:" >&2; tail -5 "$tmp/err" >&2; exit 1; }
  else
    /usr/bin/time -f '%U %S' -o "$tmp/t" "$PY" bench/pytorch_mdlm.py --data "$DATA" --layers "$LAYERS" --dim "$DIM" \
      --heads "$HEADS" --seq-len "$SEQ_LEN" --batch "$BATCH" --cond-dim "$COND_DIM" --lr "$LR" --warmup "$WARMUP" \
      --steps "$n" --threads "$THREADS" --seed 1 >/dev/null
  fi
  awk '{ printf "%.3f\n", $1 + $2 }' "$tmp/t"
}

impls=dlmc
[ "$have_torch" = 1 ] && impls="dlmc pytorch"
cpu_seconds 1 dlmc >/dev/null # fills the kernel cache
for r in $(seq 1 "$ROUNDS"); do
  for impl in $impls; do
    short=$(cpu_seconds 1 "$impl")
    long=$(cpu_seconds $((STEPS + 1)) "$impl")
    echo "$short $long" >>"$tmp/$impl"
  done
done
echo "== MDLM training step, CPU time: $(date -u '+%Y-%m-%d %H:%M UTC'), dlmc $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "config: layers=$LAYERS $width=$DIM heads=$HEADS seq_len=$SEQ_LEN batch=$BATCH cond_dim=$COND_DIM, byte tokenizer, fp32, $THREADS threads (PASSIVE)"
echo "        $ROUNDS round(s); per round: (CPU of $((WARMUP + STEPS + 1)) steps - CPU of $((WARMUP + 1)) steps) / $STEPS"
echo "machine: $(nproc) cores online, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$tmp" "$STEPS" "$BATCH" "$SEQ_LEN" $impls <<'EOF'
import statistics, sys
tmp, steps, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) * int(sys.argv[4])
med = {}
print(f"{'implementation':12} {'CPU ms/step (median)':>21} {'per round':>30}")
for impl in sys.argv[5:]:
    per = [(float(b) - float(a)) * 1e3 / steps for a, b in (l.split() for l in open(f"{tmp}/{impl}"))]
    med[impl] = statistics.median(per)
    print(f"{impl:12} {med[impl]:21.1f} {' '.join(f'{x:.1f}' for x in per):>30}")
if min(med.values()) <= 0:
    sys.exit("train_cpu_time.sh: a median CPU time per step is not positive: the timed steps cost less than "
             "the run-to-run noise of start-up; use more STEPS")
if len(med) == 2:
    print(f"ratio (pytorch CPU time / dlmc CPU time per step): {med['pytorch'] / med['dlmc']:.2f}x")
EOF
