#!/bin/bash
# esolm.sh — models/esolm.dsl at a tiny size: compiles (the event loop declared cache(exact)),
# takes two training steps with gradients through the interpreter (finite loss and gradient norm),
# and its sampler runs: every id is a real token; with alpha = 0 (pure AR) it makes one network
# call per token (seq_len); with alpha = 1 and T steps at most T calls; a hybrid alpha makes a
# number of calls strictly between T and seq_len; at the released OWT size it has MDLM's
# 169,627,218 parameters. The KV cache: `--emit ir` shows an exact plan over dynamic row windows
# (a window statement, a cached step that returns the four buffers) that compiles back to the same
# text, and sampling with it gives the same tokens and network calls as --no-cache (interp and cpu;
# diffusion and sequential phases, top_p on and off), says "KV cache: exact" and makes no commit
# calls. Env: DLMC, BUILD_DIR, SRC_DIR.
NEED_BUILD_DIR=1
. "$(dirname "$0")/lib/common.sh"
ids() { grep -o '"ids": \[[^]]*\]' "$1" | sed 's/"ids": \[//; s/\]//; s/, /\n/g'; }
nfe() { grep -o '"nfe": [0-9]*' "$1" | grep -o '[0-9]*$'; }

tiny="-D seq_len=32 -D layers=1 -D dim=16 -D heads=2 -D cond_dim=8"
printf 'abcd abcd abce abcd abcf abcd %.0s' $(seq 40) >"$tmp/text.txt"
art=$tmp/e.dlmc
# shellcheck disable=SC2086
"$DLMC" compile "$SRC_DIR/models/esolm.dsl" $tiny -o "$art" >"$tmp/out" 2>&1 || { echo "FAIL: compile: $(head -c 400 "$tmp/out")"; exit 1; }
# shellcheck disable=SC2086
"$DLMC" compile "$SRC_DIR/models/esolm.dsl" $tiny --emit ir >"$tmp/ir" 2>&1
grep -q 'cache "exact"' "$tmp/ir" || fail "the event loop is not cache(exact)"
"$DLMRUN" "$art" train --data "$tmp/text.txt" --tokenizer byte --batch 2 --steps 2 --lr 1e-3 --out "$tmp/r" --backend interp >"$tmp/out" 2>&1 ||
  { echo "FAIL: train: $(tail -c 400 "$tmp/out")"; exit 1; }
grep -q '"step": 2' "$tmp/r/metrics.jsonl" || fail "no step 2 in metrics"
grep -Eq '"loss": (nan|inf|-)' "$tmp/r/metrics.jsonl" && fail "loss not finite: $(cat "$tmp/r/metrics.jsonl")"
grep -Eq '"grad_norm": (0[,}]|nan|inf)' "$tmp/r/metrics.jsonl" && fail "zero or non-finite gradients"

run() {  # run NAME ARGS...: samples into $tmp/NAME
  local name=$1; shift
  "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/r" --n 2 --json "$@" >"$tmp/$name" 2>"$tmp/err" ||
    { fail "sample $*: $(head -c 400 "$tmp/err")"; return 1; }
  [ "$(ids "$tmp/$name" | wc -l)" -eq 64 ] || fail "sample $*: expected 2 x 32 ids"
  ids "$tmp/$name" | awk '$1 < 0 || $1 >= 256 { bad = 1 } END { exit bad }' || fail "sample $*: an id outside the vocabulary"
}
run ar --set alpha=0 --seed 5 && { [ "$(nfe "$tmp/ar")" -eq 32 ] || fail "alpha 0: $(nfe "$tmp/ar") network calls, expected 32"; }
run mdm --set alpha=1 --steps 8 --seed 5 && { n=$(nfe "$tmp/mdm"); [ "$n" -ge 1 ] && [ "$n" -le 8 ] || fail "alpha 1, 8 steps: $n network calls"; }
run hybrid --set alpha=0.5 --steps 8 --seed 5 --top-p 0.9 && { n=$(nfe "$tmp/hybrid"); [ "$n" -gt 8 ] && [ "$n" -lt 32 ] || fail "alpha 0.5, 8 steps: $n network calls"; }

# the event loop's KV-cache plan (dynamic row windows [done, end), docs/passes.md)
has "$tmp/ir" 'plan "exact" exact block 0 rows 32'
has "$tmp/ir" '^      window %[0-9]*, %[0-9]*, %[0-9]* -> %[0-9]*, %[0-9]*'
has "$tmp/ir" 'call @ancestral.1.kv(.*) -> %[0-9]*, %[0-9]*, %[0-9]* !'  # p and the 2 buffers (one layer)
# shellcheck disable=SC2086
"$DLMC" compile "$SRC_DIR/models/esolm.dsl" $tiny --emit ir -o "$tmp/a.ir" 2>/dev/null
expect 0 "$DLMC" compile "$tmp/a.ir" --emit ir
cmp -s "$tmp/out" "$tmp/a.ir" || fail "the planned IR does not compile back to itself"
cached_vs_uncached() {  # BACKEND ARGS...: same ids and network calls with and without the cache
  local be=$1; shift
  "$DLMRUN" "$art" sample --backend "$be" --ckpt "$tmp/r" --n 2 --json "$@" >"$tmp/on" 2>"$tmp/err" ||
    { fail "$be cached sample $*: $(head -c 400 "$tmp/err")"; return; }
  grep -q "KV cache: exact" "$tmp/err" || fail "$be $*: the cache did not run: $(head -c 300 "$tmp/err")"
  "$DLMRUN" "$art" sample --backend "$be" --ckpt "$tmp/r" --n 2 --json --no-cache "$@" >"$tmp/off" 2>"$tmp/err" ||
    { fail "$be uncached sample $*: $(head -c 400 "$tmp/err")"; return; }
  [ "$(ids "$tmp/on")" = "$(ids "$tmp/off")" ] || fail "$be $*: cached and uncached tokens differ"
  local n; n=$(nfe "$tmp/on")
  [ "$n" = "$(nfe "$tmp/off")" ] || fail "$be $*: $n network calls cached, $(nfe "$tmp/off") uncached"
  grep -q '"kv_cache": "exact", "cache_commits": 0,' "$tmp/on" || fail "$be $*: expected no commit calls: $(head -c 300 "$tmp/on")"
  grep -q '"kv_cache": "off", "cache_commits": 0,' "$tmp/off" || fail "$be $*: --no-cache did not turn the cache off"
}
cached_vs_uncached interp --set alpha=0.5 --steps 8 --seed 7
cached_vs_uncached interp --set alpha=0.5 --steps 8 --seed 7 --top-p 0.9
cached_vs_uncached interp --set alpha=1 --steps 4 --seed 8
cached_vs_uncached interp --set alpha=0 --seed 9 --top-p 0.8
cached_vs_uncached cpu --set alpha=0.5 --steps 8 --seed 7 --top-p 0.9

# the released OWT size: the same 169,627,218 parameters as MDLM (the checkpoints' tensor names)
"$DLMC" compile "$SRC_DIR/models/esolm.dsl" -D vocab=50257 -D seq_len=1024 -D layers=12 -D dim=768 -D heads=12 -D cond_dim=128 --stats >"$tmp/out" 2>&1 ||
  fail "OWT size: $(head -c 400 "$tmp/out")"
grep -q "169,627,218" "$tmp/out" || fail "OWT size: not 169,627,218 parameters"

finish esolm.sh
