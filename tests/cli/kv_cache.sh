#!/bin/bash
# kv_cache.sh — the KV-cache plan end to end on models/bd3lm.dsl at a tiny size (blocks of 8):
# `dlmc compile --emit ir` prints an exact plan (buffers, init, commit) that compiles back to the
# same text; after one training step, `dlmrun sample` with the plan and with --no-cache gives the
# same tokens with the same seed and the same 32 network evaluations, reports which cache ran
# (stderr and --json: 4 commit passes with the cache, none without); with the mask made
# bidirectional dlmc prints a note saying why no cache is planned, the plan is "none", and sampling
# says so; cache(dual) is planned as approximate and sampling says APPROXIMATE. Env: DLMC,
# BUILD_DIR, SRC_DIR.
NEED_BUILD_DIR=1
. "$(dirname "$0")/lib/common.sh"
ids() { grep -o '"ids": \[[^]]*\]' "$1"; }

tiny="-D seq_len=32 -D layers=2 -D dim=16 -D heads=2 -D cond_dim=8 -D block=8"
# shellcheck disable=SC2086
expect 0 "$DLMC" compile "$SRC_DIR/models/bd3lm.dsl" $tiny --emit ir
cp "$tmp/out" "$tmp/a.ir"
has "$tmp/a.ir" 'plan "exact" exact block 8 rows 32'
[ "$(grep -c '^    kv %' "$tmp/a.ir")" -eq 4 ] || fail "expected 4 cache buffers: $(grep -c '^    kv %' "$tmp/a.ir")"
has "$tmp/a.ir" 'call @blocks.kv_init() ->'
has "$tmp/a.ir" 'call @blocks.1.kv_commit('
expect 0 "$DLMC" compile "$tmp/a.ir" --emit ir
cmp -s "$tmp/out" "$tmp/a.ir" || fail "the planned IR does not compile back to itself"

art=$tmp/b.dlmc
printf 'abcd abce abcf %.0s' $(seq 30) | tr 'a-f' 'A-F' >"$tmp/text.txt"
# shellcheck disable=SC2086
expect 0 "$DLMC" compile "$SRC_DIR/models/bd3lm.dsl" $tiny -o "$art"
expect 0 "$DLMRUN" "$art" train --data "$tmp/text.txt" --tokenizer byte --batch 2 --steps 1 --lr 1e-3 --out "$tmp/run" --backend interp
for be in interp cpu; do
  expect 0 "$DLMRUN" "$art" sample --backend $be --ckpt "$tmp/run" --sampler blocks --n 2 --seed 5 --json
  cp "$tmp/out" "$tmp/on.json"
  has "$tmp/err" "KV cache: exact"
  has "$tmp/err" "4 cache commit passes"
  has "$tmp/on.json" '"kv_cache": "exact", "cache_commits": 4'
  has "$tmp/on.json" '"nfe": 32,'
  expect 0 "$DLMRUN" "$art" sample --backend $be --ckpt "$tmp/run" --sampler blocks --n 2 --seed 5 --json --no-cache
  has "$tmp/err" "KV cache: off (--no-cache)"
  has "$tmp/out" '"kv_cache": "off", "cache_commits": 0'
  has "$tmp/out" '"nfe": 32,'
  [ "$(ids "$tmp/on.json")" = "$(ids "$tmp/out")" ] || fail "$be: cached and uncached tokens differ"
done

mkdir -p "$tmp/models"
cp -r "$SRC_DIR/models/std" "$tmp/models/"
sed 's/kb <= qb/true || kb <= qb/' "$SRC_DIR/models/bd3lm.dsl" >"$tmp/models/bidir.dsl"
grep -q 'true || kb <= qb' "$tmp/models/bidir.dsl" || fail "could not make the mask bidirectional (no 'kb <= qb' in bd3lm.dsl)"
# shellcheck disable=SC2086
expect 0 "$DLMC" compile "$tmp/models/bidir.dsl" $tiny -o "$tmp/bidir.dlmc"
has "$tmp/err" "note: sampler blocks: cache(exact) planned no cache: attention"
has "$tmp/err" "bidirectional"
expect 0 "$DLMRUN" "$tmp/bidir.dlmc" sample --backend interp --ckpt "$tmp/run" --sampler blocks --n 1 --seed 5
has "$tmp/err" "KV cache: none (the compiler planned no cache"

# cache(dual): planned on request, labelled approximate in the plan and in sample's output
sed 's/cache(exact)/cache(dual)/' "$SRC_DIR/models/bd3lm.dsl" >"$tmp/models/dual.dsl"
# shellcheck disable=SC2086
expect 0 "$DLMC" compile "$tmp/models/dual.dsl" $tiny --emit ir
has "$tmp/out" 'plan "dual" approximate block 8'
# shellcheck disable=SC2086
expect 0 "$DLMC" compile "$tmp/models/dual.dsl" $tiny -o "$tmp/dual.dlmc"
expect 0 "$DLMRUN" "$tmp/dual.dlmc" sample --backend interp --ckpt "$tmp/run" --sampler blocks --n 1 --seed 5 --json
has "$tmp/err" "KV cache: APPROXIMATE"
has "$tmp/out" '"kv_cache": "approximate"'

finish kv_cache.sh
