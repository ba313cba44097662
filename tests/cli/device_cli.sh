#!/bin/bash
# device_cli.sh — `dlmrun --device cpu|cuda` on every command that runs the model (train, eval,
# sample, call, distill) with tiny MDLM and Duo artifacts:
# * --device cpu is the cpu backend: the same checkpoint, NELBO, samples and outputs as
#   --backend cpu, byte for byte; --device cpu --backend interp is the interpreter (on the cpu);
# * --device cuda without a GPU exits 1 with "no CUDA device: <reason>" (with a GPU: it runs, and
#   train puts the optimizer on the device);
# * no --device: stderr says which device was picked and why; without a GPU it is cpu and the
#   results are --device cpu's;
# * a device that is not cpu or cuda, or one that contradicts --backend, is a usage error (2).
# Env: DLMC, BUILD_DIR, SRC_DIR.
NEED_BUILD_DIR=1
. "$(dirname "$0")/lib/common.sh"
unset DLM_DEVICE   # common.sh sets it to cpu for the other tests; this one checks the default

small=(-D seq_len=8 -D layers=1 -D dim=16 -D heads=2 -D cond_dim=8)
art=$tmp/m.dlmc
"$DLMC" compile "$SRC_DIR/models/mdlm.dsl" "${small[@]}" -o "$art" >/dev/null || { echo "FAIL: dlmc compile mdlm"; exit 1; }
printf 'abcd abcd abce abcd abcf abcd %.0s' $(seq 40) >"$tmp/text.txt"
common=(--data "$tmp/text.txt" --batch 2 --steps 2 --lr 1e-3)

# is there a GPU? (the same probe the default uses: the first command's stderr says)
expect 0 "$DLMRUN" "$art" train "${common[@]}" --out "$tmp/auto"
if grep -q "device cpu (no --device given; cuda: no CUDA device: " "$tmp/err"; then gpu=0
else has "$tmp/err" "device cuda (no --device given; a CUDA device opened)"; gpu=1; fi
has "$tmp/err" "backend,"

# ---- train
expect 0 "$DLMRUN" "$art" train "${common[@]}" --out "$tmp/a" --device cpu
has "$tmp/err" "cpu backend,"
expect 0 "$DLMRUN" "$art" train "${common[@]}" --out "$tmp/b" --backend cpu
cmp -s "$tmp/a/checkpoint.safetensors" "$tmp/b/checkpoint.safetensors" || fail "train: --device cpu and --backend cpu checkpoints differ"
if [ "$gpu" = 0 ]; then
  cmp -s "$tmp/a/checkpoint.safetensors" "$tmp/auto/checkpoint.safetensors" || fail "train: the default (cpu here) and --device cpu checkpoints differ"
fi
expect 0 "$DLMRUN" "$art" train "${common[@]}" --out "$tmp/i" --device cpu --backend interp
has "$tmp/err" "interp backend,"

# --device cuda: "no CUDA device" (1) without a GPU, else a run with the optimizer on the device
cuda() {   # cuda WHAT CMD...: runs CMD, which names --device cuda
  local what=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local st=$?
  if [ "$gpu" = 0 ]; then
    [ "$st" -eq 1 ] || fail "$what --device cuda without a GPU exited $st, expected 1"
    has "$tmp/err" "--device cuda: no CUDA device: "
  else
    [ "$st" -eq 0 ] || fail "$what --device cuda exited $st: $(head -c 400 "$tmp/err")"
  fi
}
cuda train "$DLMRUN" "$art" train "${common[@]}" --out "$tmp/c" --device cuda
if [ "$gpu" = 1 ]; then
  has "$tmp/err" "optimizer on the device"
  grep -q '"loss": [0-9]' "$tmp/c/metrics.jsonl" || fail "train --device cuda: no finite loss in metrics.jsonl"
fi

# ---- eval, sample, call: --device cpu = --backend cpu; --device cuda
evl=(eval --ckpt "$tmp/a" --data "$tmp/text.txt" --batches 2 --json)
expect 0 "$DLMRUN" "$art" "${evl[@]}" --device cpu && cp "$tmp/out" "$tmp/eval-dev"
expect 0 "$DLMRUN" "$art" "${evl[@]}" --backend cpu
cmp -s "$tmp/out" "$tmp/eval-dev" || fail "eval: --device cpu and --backend cpu differ: $(cat "$tmp/out" "$tmp/eval-dev")"
cuda eval "$DLMRUN" "$art" "${evl[@]}" --device cuda
smp=(sample --ckpt "$tmp/a" --steps 4 --n 2 --seed 3 --json)
expect 0 "$DLMRUN" "$art" "${smp[@]}" --device cpu && cp "$tmp/out" "$tmp/sample-dev"
expect 0 "$DLMRUN" "$art" "${smp[@]}" --backend cpu
cmp -s "$tmp/out" "$tmp/sample-dev" || fail "sample: --device cpu and --backend cpu differ"
if [ "$gpu" = 0 ]; then
  expect 0 "$DLMRUN" "$art" "${smp[@]}"
  has "$tmp/err" "device cpu (no --device given"
  cmp -s "$tmp/out" "$tmp/sample-dev" || fail "sample: the default (cpu here) and --device cpu differ"
fi
cuda sample "$DLMRUN" "$art" "${smp[@]}" --device cuda
python3 - "$tmp" <<'PY' || fail "cannot write the call inputs"
import struct, sys
def npy(path, descr, shape, data):
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, "".join("%d," % s for s in shape))
    hdr += " " * (63 - (len(hdr) + 10) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + data)
npy(sys.argv[1] + "/x0.npy", "<i4", (2, 8), struct.pack("<16i", *range(97, 113)))
npy(sys.argv[1] + "/seed.npy", "<i8", (), struct.pack("<q", 5))
npy(sys.argv[1] + "/step.npy", "<i8", (), struct.pack("<q", 0))
PY
cl=(call loss --ckpt "$tmp/a" --in x0="$tmp/x0.npy" --in seed="$tmp/seed.npy" --in step="$tmp/step.npy")
expect 0 "$DLMRUN" "$art" "${cl[@]}" --out 0="$tmp/l-dev.npy" --device cpu
expect 0 "$DLMRUN" "$art" "${cl[@]}" --out 0="$tmp/l-be.npy" --backend cpu
cmp -s "$tmp/l-dev.npy" "$tmp/l-be.npy" || fail "call: --device cpu and --backend cpu differ"
cuda call "$DLMRUN" "$art" "${cl[@]}" --out 0="$tmp/l-cuda.npy" --device cuda

# ---- distill (Duo: it has a distill_loss)
duo=$tmp/duo.dlmc
"$DLMC" compile "$SRC_DIR/models/duo.dsl" "${small[@]}" -o "$duo" >/dev/null || { echo "FAIL: dlmc compile duo"; exit 1; }
expect 0 "$DLMRUN" "$duo" train "${common[@]}" --steps 1 --out "$tmp/duo" --device cpu
dst=(distill --ckpt "$tmp/duo" --rounds 1 --steps-per-round 1 --batch 2)
expect 0 "$DLMRUN" "$duo" "${dst[@]}" --out "$tmp/d1" --device cpu
has "$tmp/err" "dlmrun distill: cpu backend,"
expect 0 "$DLMRUN" "$duo" "${dst[@]}" --out "$tmp/d2" --backend cpu
cmp -s "$tmp/d1/checkpoint.safetensors" "$tmp/d2/checkpoint.safetensors" || fail "distill: --device cpu and --backend cpu checkpoints differ"
cuda distill "$DLMRUN" "$duo" "${dst[@]}" --out "$tmp/d3" --device cuda

# ---- usage errors, for every command
for cmd in train eval sample call distill; do
  case $cmd in
    train) args=(train "${common[@]}" --out "$tmp/u") ;;
    eval) args=("${evl[@]}") ;;
    sample) args=("${smp[@]}") ;;
    call) args=("${cl[@]}" --out 0="$tmp/u.npy") ;;
    distill) args=("${dst[@]}" --out "$tmp/u") ;;
  esac
  expect 2 "$DLMRUN" "$art" "${args[@]}" --device tpu
  has "$tmp/err" "dlmrun $cmd: --device wants cpu or cuda, got 'tpu'"
  expect 2 "$DLMRUN" "$art" "${args[@]}" --device cuda --backend interp
  has "$tmp/err" "--device cuda contradicts --backend interp (which runs on the cpu)"
  expect 2 "$DLMRUN" "$art" "${args[@]}" --device cpu --backend cuda
  has "$tmp/err" "contradicts --backend cuda"
done
[ -e "$tmp/u" ] && fail "a usage error created the run directory"

# ---- DLM_DEVICE: the default device when neither --device nor --backend is given
DLM_DEVICE=cpu expect 0 "$DLMRUN" "$art" train "${common[@]}" --out "$tmp/env"
cmp -s "$tmp/a/checkpoint.safetensors" "$tmp/env/checkpoint.safetensors" || fail "train: DLM_DEVICE=cpu and --device cpu checkpoints differ"
DLM_DEVICE=tpu expect 1 "$DLMRUN" "$art" "${smp[@]}"
has "$tmp/err" "dlmrun sample: the environment variable DLM_DEVICE wants cpu or cuda, got 'tpu'"
if [ "$gpu" = 0 ]; then
  DLM_DEVICE=cuda expect 1 "$DLMRUN" "$art" "${smp[@]}"
  has "$tmp/err" "dlmrun sample: DLM_DEVICE=cuda: no CUDA device: "
fi
finish device_cli
