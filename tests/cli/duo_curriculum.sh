#!/bin/bash
# duo_curriculum.sh — Duo's curriculum through the tools: the artifact carries curriculum_loss.grad
# beside loss.grad; `dlmrun train --loss curriculum_loss:2,loss` runs the curriculum for steps 1-2
# and the discrete loss after (metrics name the objective of each step), survives --stop-after +
# --resume (the schedule comes from the checkpoint); malformed schedules and unknown objectives are
# clear errors; models/duo.dsl still compiles at the HF size. Env: DLMC, BUILD_DIR, SRC_DIR.
NEED_BUILD_DIR=1
. "$(dirname "$0")/lib/common.sh"

tiny="-D vocab=256 -D seq_len=16 -D layers=1 -D dim=16 -D heads=2 -D cond_dim=8 -D curriculum_gamma_min=-3.0 -D curriculum_gamma_max=-0.25"
printf 'abcd abcd abce abcd abcf abcd %.0s' $(seq 40) >"$tmp/text.txt"
art=$tmp/duo.dlmc
# shellcheck disable=SC2086
expect 0 "$DLMC" compile "$SRC_DIR/models/duo.dsl" $tiny -o "$art"
has "$tmp/out" "curriculum_loss.grad"
train() { "$DLMRUN" "$art" train --data "$tmp/text.txt" --tokenizer byte --batch 2 --lr 1e-3 --backend interp "$@"; }
expect 0 train --steps 4 --loss curriculum_loss:2,loss --out "$tmp/r"
for s in 1 2; do grep -q "\"step\": $s,.*\"objective\": \"curriculum_loss\"" "$tmp/r/metrics.jsonl" || fail "step $s is not curriculum_loss"; done
for s in 3 4; do grep -q "\"step\": $s,.*\"objective\": \"loss\"" "$tmp/r/metrics.jsonl" || fail "step $s is not loss"; done
grep -Eq '"loss": (nan|inf|-)' "$tmp/r/metrics.jsonl" && fail "loss not finite: $(cat "$tmp/r/metrics.jsonl")"
# the same run in two pieces gives the same losses
expect 0 train --steps 4 --loss curriculum_loss:2,loss --out "$tmp/r2" --stop-after 1
expect 0 train --steps 4 --out "$tmp/r2" --resume
cut -d, -f1-2 "$tmp/r/metrics.jsonl" >"$tmp/a"
cut -d, -f1-2 "$tmp/r2/metrics.jsonl" >"$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || fail "resumed losses differ: $(cat "$tmp/a" "$tmp/b")"
expect 1 train --steps 4 --out "$tmp/r2" --resume --loss loss
has "$tmp/err" "differs from the checkpoint"
# without --loss only `loss` trains and metrics carry no objective field
expect 0 train --steps 1 --out "$tmp/r3"
grep -q objective "$tmp/r3/metrics.jsonl" && fail "a single objective is named in metrics"
expect 1 train --steps 2 --loss nope_loss --out "$tmp/e1"
has "$tmp/err" "has no nope_loss.grad"
expect 1 train --steps 2 --loss curriculum_loss,loss --out "$tmp/e2"
has "$tmp/err" "every entry but the last needs :STEP"
expect 1 train --steps 2 --loss curriculum_loss:3,loss:5 --out "$tmp/e3"
has "$tmp/err" "the last entry takes no :STEP"
expect 1 train --steps 2 --loss curriculum_loss:3,curriculum_loss:2,loss --out "$tmp/e4"
has "$tmp/err" "must be a positive integer, larger than the previous one"
expect 1 train --steps 2 --loss curriculum_loss:x,loss --out "$tmp/e5"
has "$tmp/err" "must be a positive integer"
# the HF size still compiles (the B x L x K curriculum tensors live only in curriculum_loss)
expect 0 "$DLMC" compile "$SRC_DIR/models/duo.dsl" -D vocab=50258 -D seq_len=1024 -D layers=12 -D dim=768 -D heads=12 -D cond_dim=128 --stats
has "$tmp/out" "function curriculum_loss"
finish duo_curriculum
