#!/bin/bash
# distill_cli.sh — frozen parameter copies and `dlmrun distill`, on a toy model whose numbers are known
# by hand, then on tiny AR and Duo models; and `dlmrun eval --all`.
# Toy: w: f32[4] is trained, teacher = frozen_copy(net), distill_loss = sum((w - teacher.w - (round+1))^2).
# At the first step of round r the teacher has just been refreshed from the student, so the loss is
# exactly 4 (r+1)^2 (4, 16, 36) and the gradient norm 4 (r+1) (the student's gradient alone: the
# teacher gets none); inside a round the student moves, so the loss differs. The checkpoint stores no
# teacher tensor, and the gradient function has no teacher output. DSL misuse of frozen_copy is a
# compile error. AR: train 2 steps, eval --all counts every window, the left-to-right sampler runs
# seq_len network evaluations. Duo: train 2 steps, distill 2 rounds x 2 steps (DCD), sample the result
# (ancestral final step, Greedy-Tail, top-p).
# Env: DLMC, BUILD_DIR, SRC_DIR.
NEED_BUILD_DIR=1
. "$(dirname "$0")/lib/common.sh"
SRC_DIR=$(cd "$SRC_DIR" && pwd)
hasnt() { ! grep -q -- "$2" "$1" || fail "$1 has '$2'"; }

printf 'abcd abcd abce abcd abcf abcd %.0s' $(seq 40) >"$tmp/text.txt"

# ---- toy model
cat >"$tmp/toy.dsl" <<'EOF'
const vocab = 256
const seq_len = 4
sym B
struct Toy { w: f32[4] = uniform(-1, 1) @ "w" }
param net: Toy @ "net"
param teacher: Toy = frozen_copy(net) @ "teacher"
export fn loss(x0: i32[B, seq_len], seed: i64, step: i64) -> f32 {
  return sum(net.w * net.w, axis = 0)
}
export fn distill_loss(x0: i32[B, seq_len], seed: i64, step: i64, round: i64) -> f32 {
  d = net.w - teacher.w - cast(round + 1, f32)
  return sum(d * d, axis = 0)
}
EOF
expect 0 "$DLMC" compile "$tmp/toy.dsl" -o "$tmp/toy.dlmc"
has "$tmp/out" "4 parameters in 1 tensors, 1 frozen copy,"
# the artifact's IR section is text: the meta entry and the gradient functions are visible
has "$tmp/toy.dlmc" 'meta "frozen_copy:teacher" "net"'
has "$tmp/toy.dlmc" 'func @distill_loss.grad'
has "$tmp/toy.dlmc" '"grad:net.w"'
hasnt "$tmp/toy.dlmc" 'grad:teacher'
expect 0 "$DLMRUN" "$tmp/toy.dlmc" train --backend interp --data "$tmp/text.txt" --batch 2 --steps 3 --lr 0.1 --out "$tmp/a"
expect 0 "$DLMRUN" "$tmp/toy.dlmc" distill --backend interp --ckpt "$tmp/a" --rounds 3 --steps-per-round 3 --lr 0.1 --log-every 1 --out "$tmp/b"
has "$tmp/err" "round 2/3: teacher <- student"
m=$tmp/b/metrics.jsonl
[ "$(wc -l <"$m")" -eq 9 ] || fail "metrics.jsonl has $(wc -l <"$m") lines, expected 9"
for want in '"step": 1, "round": 0, "loss": 4, "grad_norm": 4,' '"step": 4, "round": 1, "loss": 16, "grad_norm": 8,' \
            '"step": 7, "round": 2, "loss": 36, "grad_norm": 12,'; do
  has "$m" "$want"
done
for s in 2 3 5 6 8 9; do
  grep "\"step\": $s," "$m" | grep -Eq '"loss": (4|16|36),' && fail "step $s: the loss did not move inside its round: $(grep "\"step\": $s," "$m")"
done
grep -q '"step": 6, "round": 1,' "$m" || fail "step 6 is not in round 1"
ck=$tmp/b/checkpoint.safetensors
grep -aq '"net.w"' "$ck" || fail "the distilled checkpoint lacks net.w"
grep -aq 'teacher' "$ck" && fail "the distilled checkpoint stores the teacher"
grep -aq '"distill.rounds":"3"' "$ck" || fail "the distilled checkpoint lacks distill.rounds = 3"
expect 1 "$DLMRUN" "$tmp/toy.dlmc" distill --backend interp --ckpt "$tmp/a" --rounds 1 --steps-per-round 1 --out "$tmp/b"
has "$tmp/err" "already holds a checkpoint"
expect 2 "$DLMRUN" "$tmp/toy.dlmc" distill --ckpt "$tmp/a" --rounds 1 --out "$tmp/c"
has "$tmp/err" "needs --ckpt CKPT --rounds R --steps-per-round N --out DIR"
expect 1 "$DLMRUN" "$tmp/toy.dlmc" distill --backend interp --ckpt "$tmp/a" --rounds 1 --steps-per-round 1 --loss loss --out "$tmp/c"
has "$tmp/err" "has no loss(x0: i32\[B, seq_len\], seed: i64, step: i64, round: i64)"

# ---- frozen_copy misuse
bad() {
  local what=$1 line=$2 msg=$3
  sed "s|^param teacher.*|$line|" "$tmp/toy.dsl" >"$tmp/bad.dsl"
  expect 1 "$DLMC" compile "$tmp/bad.dsl"
  has "$tmp/err" "$msg"
}
bad "not a param" 'param teacher: Toy = frozen_copy(vocab) @ "teacher"' "frozen_copy: 'vocab' is not a param"
bad "another type" 'param teacher: f32[4] = frozen_copy(net) @ "teacher"' "have different types"
bad "two arguments" 'param teacher: Toy = frozen_copy(net, net) @ "teacher"' "frozen_copy takes one argument"

# ---- a model without a frozen copy cannot distill
sed -e '/^param teacher/d' -e 's/teacher.w/net.w/' "$tmp/toy.dsl" >"$tmp/noteacher.dsl"
expect 0 "$DLMC" compile "$tmp/noteacher.dsl" -o "$tmp/noteacher.dlmc"
expect 1 "$DLMRUN" "$tmp/noteacher.dlmc" distill --backend interp --ckpt "$tmp/a" --rounds 1 --steps-per-round 1 --out "$tmp/c"
has "$tmp/err" "declares no frozen parameter copy"

# ---- AR model: a few training steps; eval --all scores every whole window (1200 bytes / 8 = 150)
tiny="-D seq_len=8 -D layers=1 -D dim=16 -D heads=2 -D cond_dim=8"
expect 0 "$DLMC" compile "$SRC_DIR/models/ar.dsl" $tiny -o "$tmp/ar.dlmc"
expect 0 "$DLMRUN" "$tmp/ar.dlmc" train --backend interp --data "$tmp/text.txt" --batch 4 --steps 2 --lr 1e-2 --out "$tmp/ar"
expect 0 "$DLMRUN" "$tmp/ar.dlmc" eval --backend interp --ckpt "$tmp/ar" --data "$tmp/text.txt" --all --batch 64 --json
has "$tmp/out" '"tokens": 1200,'
has "$tmp/out" '"windows": "all"'
expect 0 "$DLMRUN" "$tmp/ar.dlmc" eval --backend interp --ckpt "$tmp/ar" --data "$tmp/text.txt" --json
has "$tmp/out" '"tokens": 120,'
expect 0 "$DLMRUN" "$tmp/ar.dlmc" sample --backend interp --ckpt "$tmp/ar" --n 2 --json --top-p 0.9
has "$tmp/out" '"nfe": 8,'
[ "$(grep -o '"ids": \[[^]]*\]' "$tmp/out" | head -1 | tr -cd ',' | wc -c)" -eq 7 ] || fail "AR sample: not 8 ids: $(head -c 300 "$tmp/out")"
head -c 5 "$tmp/text.txt" >"$tmp/short.txt"
expect 1 "$DLMRUN" "$tmp/ar.dlmc" eval --backend interp --ckpt "$tmp/ar" --data "$tmp/short.txt" --all
has "$tmp/err" "fewer than one window of 8"

# ---- Duo: train, distill 2 rounds (DCD), sample the distilled checkpoint
expect 0 "$DLMC" compile "$SRC_DIR/models/duo.dsl" $tiny -o "$tmp/duo.dlmc"
expect 0 "$DLMRUN" "$tmp/duo.dlmc" train --backend interp --data "$tmp/text.txt" --batch 2 --steps 2 --lr 1e-2 --out "$tmp/duo"
expect 0 "$DLMRUN" "$tmp/duo.dlmc" distill --backend interp --ckpt "$tmp/duo" --rounds 2 --steps-per-round 2 --batch 2 --lr 1e-3 --log-every 1 --out "$tmp/dcd"
[ "$(grep -c '"round": 1' "$tmp/dcd/metrics.jsonl")" -eq 2 ] || fail "DCD: expected 2 steps in round 1: $(cat "$tmp/dcd/metrics.jsonl")"
grep -aq 'teacher' "$tmp/dcd/checkpoint.safetensors" && fail "the DCD checkpoint stores the teacher"
# round trip: a distilled checkpoint distills again (its raw weights are the student's)
expect 0 "$DLMRUN" "$tmp/duo.dlmc" distill --backend interp --ckpt "$tmp/dcd" --rounds 1 --steps-per-round 1 --out "$tmp/dcd2"
grep -aq "\"distill.from\":\"$tmp/dcd\"" "$tmp/dcd2/checkpoint.safetensors" || fail "dcd2 does not record distill.from"
for knobs in "--set greedy_tail=0" "--set greedy_tail=1" "--top-p 0.9"; do
  expect 0 "$DLMRUN" "$tmp/duo.dlmc" sample --backend interp --ckpt "$tmp/dcd" --steps 4 --n 2 --json $knobs
  has "$tmp/out" '"nfe": 5,'
  [ "$(grep -o '"ids": \[[^]]*\]' "$tmp/out" | head -1 | tr -cd ',' | wc -c)" -eq 7 ] || fail "sample $knobs: not 8 ids: $(head -c 300 "$tmp/out")"
done

finish distill_cli
