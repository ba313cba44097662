#!/bin/bash
# bd3lm.sh — models/bd3lm.dsl at a tiny size for each block size 4, 8 and 16: compiles, takes two
# training steps with gradients through the interpreter (a finite loss and gradient norm), and its
# block sampler (outer loop over blocks declared cache(exact)) runs with the first-hitting and the
# ancestral inner steps: every output id is a real token (no mask left), the same ids with and
# without the planned KV cache (--no-cache), the first-hitting sampler
# makes exactly seq_len network calls (one per token), and the variable-length stop with an
# impossible entropy threshold pads the tail with -1; with -D gen_len=2*seq_len it generates twice
# the training length; at the released OWT size it has MDLM's 169,627,218 parameters.
# Env: DLMC, BUILD_DIR, SRC_DIR.
NEED_BUILD_DIR=1
. "$(dirname "$0")/lib/common.sh"
ids() { grep -o '"ids": \[[^]]*\]' "$1" | sed 's/"ids": \[//; s/\]//; s/, /\n/g'; }

tiny="-D seq_len=32 -D layers=1 -D dim=16 -D heads=2 -D cond_dim=8"
printf 'abcd abcd abce abcd abcf abcd %.0s' $(seq 40) >"$tmp/text.txt"

for bs in 4 8 16; do
  art=$tmp/b$bs.dlmc
  # shellcheck disable=SC2086
  "$DLMC" compile "$SRC_DIR/models/bd3lm.dsl" $tiny -D block=$bs -o "$art" >"$tmp/out" 2>&1 || { fail "block $bs: compile: $(head -c 400 "$tmp/out")"; continue; }
  "$DLMC" compile "$SRC_DIR/models/bd3lm.dsl" $tiny -D block=$bs --emit ir >"$tmp/ir" 2>&1
  grep -q 'cache "exact"' "$tmp/ir" || fail "block $bs: the block loop is not cache(exact)"
  "$DLMRUN" "$art" train --data "$tmp/text.txt" --tokenizer byte --batch 2 --steps 2 --lr 1e-3 --out "$tmp/r$bs" --backend interp >"$tmp/out" 2>&1 ||
    { fail "block $bs: train: $(tail -c 400 "$tmp/out")"; continue; }
  grep -q '"step": 2' "$tmp/r$bs/metrics.jsonl" || fail "block $bs: no step 2 in metrics"
  grep -Eq '"loss": (nan|inf|-)' "$tmp/r$bs/metrics.jsonl" && fail "block $bs: loss not finite: $(cat "$tmp/r$bs/metrics.jsonl")"
  grep -Eq '"grad_norm": (0[,}]|nan|inf)' "$tmp/r$bs/metrics.jsonl" && fail "block $bs: zero or non-finite gradients"
  "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/r$bs" --sampler blocks --n 2 --seed 2 --json >"$tmp/s" 2>"$tmp/err" ||
    { fail "block $bs: sample: $(head -c 400 "$tmp/err")"; continue; }
  grep -q '"nfe": 32,' "$tmp/s" || fail "block $bs: first-hitting should make 32 network calls: $(head -c 200 "$tmp/s")"
  [ "$(ids "$tmp/s" | wc -l)" -eq 64 ] || fail "block $bs: expected 2 x 32 ids"
  ids "$tmp/s" | awk '$1 < 0 || $1 >= 256 { bad = 1 } END { exit bad }' || fail "block $bs: an id outside the vocabulary"
  "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/r$bs" --sampler blocks --n 2 --seed 2 --set first_hitting=0 --steps 3 --top-p 0.9 --json >"$tmp/s" 2>"$tmp/err" ||
    { fail "block $bs: ancestral sample: $(head -c 400 "$tmp/err")"; continue; }
  ids "$tmp/s" | awk '$1 < 0 || $1 >= 256 { bad = 1 } END { exit bad }' || fail "block $bs: ancestral: an id outside the vocabulary"
  # the KV cache the compiler plans for the block loop runs and changes no token (bd3lms issue #26)
  grep -q "KV cache: exact" "$tmp/err" || fail "block $bs: no exact KV cache planned: $(head -c 300 "$tmp/err")"
  "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/r$bs" --sampler blocks --n 2 --seed 2 --set first_hitting=0 --steps 3 --top-p 0.9 --json --no-cache >"$tmp/s2" 2>"$tmp/err" ||
    fail "block $bs: --no-cache sample: $(head -c 400 "$tmp/err")"
  [ "$(ids "$tmp/s")" = "$(ids "$tmp/s2")" ] || fail "block $bs: cached and --no-cache samples differ"
  # var_len with min_entropy 100 stops after the first full window (8 tokens): 8 tokens are dropped
  "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/r$bs" --sampler blocks --n 1 --seed 2 --set var_len=1 --set window=8 --set min_entropy=100 --json >"$tmp/s" 2>"$tmp/err" ||
    { fail "block $bs: var_len sample: $(head -c 400 "$tmp/err")"; continue; }
  want=$(( (8 / bs + (8 % bs > 0)) * bs ))   # the first block end beyond 8 tokens
  [ "$want" -le 8 ] && want=$(( want + bs ))
  kept=$(( want - 8 ))
  got=$(ids "$tmp/s" | awk '$1 >= 0' | wc -l)
  [ "$got" -eq "$kept" ] || fail "block $bs: var_len kept $got tokens, expected $kept"
done

# beyond the training length: gen_len 64 with seq_len 32 (a sliding window of 32 tokens), the
# block-16 checkpoint loads unchanged (no parameter depends on the length)
art=$tmp/long.dlmc
# shellcheck disable=SC2086
if "$DLMC" compile "$SRC_DIR/models/bd3lm.dsl" $tiny -D block=16 -D gen_len=64 -o "$art" >"$tmp/out" 2>&1; then
  "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/r16" --sampler blocks --n 1 --seed 3 --json >"$tmp/s" 2>"$tmp/err" || fail "gen_len 64: $(head -c 400 "$tmp/err")"
  grep -q '"nfe": 64,' "$tmp/s" || fail "gen_len 64: expected 64 network calls: $(head -c 200 "$tmp/s")"
  [ "$(ids "$tmp/s" | awk '$1 >= 0 && $1 < 256' | wc -l)" -eq 64 ] || fail "gen_len 64: expected 64 token ids"
else
  fail "gen_len 64: compile: $(head -c 400 "$tmp/out")"
fi

# the released OWT size: the same 169,627,218 parameters as MDLM (the checkpoints' tensor names)
"$DLMC" compile "$SRC_DIR/models/bd3lm.dsl" -D vocab=50257 -D seq_len=1024 -D layers=12 -D dim=768 -D heads=12 -D cond_dim=128 -D block=16 --stats >"$tmp/out" 2>&1 ||
  fail "OWT size: $(head -c 400 "$tmp/out")"
grep -q "169,627,218" "$tmp/out" || fail "OWT size: not 169,627,218 parameters"

finish bd3lm.sh
