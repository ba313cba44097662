#!/bin/bash
# sample_cli.sh — `dlmrun sample` on a tiny MDLM (seq_len 8, 2 training steps): --json carries
# sampler, nfe, memo_hits, steps and per-sample text and ids; with steps >> seq_len the
# network runs at most seq_len + 2 times for one sequence (distinct states + the final denoise)
# while --no-memo runs it steps + 1 times, with identical ids; --top-p sets the top_p knob (same
# ids with and without reuse; an error naming the knobs when the sampler has none); --len beyond
# seq_len picks semi_ar ((2 + 1) * 4 + 4 = 16 tokens) with no mask id left; stderr reports the
# evaluations and steps/s. Runs on the interpreter (no kernel compilation). Env: DLMC, BUILD_DIR, SRC_DIR.
NEED_BUILD_DIR=1
. "$(dirname "$0")/lib/common.sh"
field() { grep -o "\"$1\": [0-9.]*" "$tmp/out" | head -1 | grep -o '[0-9.]*$'; }
ids() { grep -o '"ids": \[[^]]*\]' "$tmp/out"; }

art=$tmp/m.dlmc
"$DLMC" compile "$SRC_DIR/models/mdlm.dsl" -D seq_len=8 -D layers=1 -D dim=16 -D heads=2 -D cond_dim=8 -o "$art" >/dev/null ||
  { echo "FAIL: dlmc compile"; exit 1; }
printf 'abcd abcd abce abcd abcf abcd %.0s' $(seq 40) >"$tmp/text.txt"
"$DLMRUN" "$art" train --data "$tmp/text.txt" --batch 2 --steps 2 --lr 1e-3 --out "$tmp/a" --backend interp >/dev/null 2>&1 ||
  { echo "FAIL: dlmrun train"; exit 1; }

# ---- the cached ancestral sampler: nfe bound, identical ids without reuse, --json fields
expect 0 "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/a" --steps 200 --seed 4 --json
for k in '"sampler": "ancestral"' '"nfe": ' '"memo_hits": ' '"steps": 200' '"text": ' '"ids": \['; do has "$tmp/out" "$k"; done
has "$tmp/err" "network evaluations"
has "$tmp/err" "steps/s"
nfe=$(field nfe); hits=$(field memo_hits); memo_ids=$(ids)
[ "$nfe" -le 10 ] || fail "nfe $nfe > seq_len + 2 = 10 with 200 steps"
[ $((nfe + hits)) -eq 201 ] || fail "nfe $nfe + reused $hits != 201 memo calls"
[ "$(grep -o '[0-9][0-9]*' <<<"$memo_ids" | wc -l)" -eq 8 ] || fail "ancestral gave $(grep -o '[0-9][0-9]*' <<<"$memo_ids" | wc -l) ids, expected 8"
expect 0 "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/a" --steps 200 --seed 4 --json --no-memo
[ "$(field nfe)" -eq 201 ] || fail "--no-memo nfe $(field nfe), expected 201"
[ "$(ids)" = "$memo_ids" ] || fail "ids differ with --no-memo: $(ids) vs $memo_ids"

# ---- top-p: a knob of the sampler; reuse changes nothing
expect 0 "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/a" --steps 50 --seed 4 --top-p 0.5 --json
p_ids=$(ids)
expect 0 "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/a" --steps 50 --seed 4 --top-p 0.5 --json --no-memo
[ "$(ids)" = "$p_ids" ] || fail "top-p ids differ with --no-memo"
expect 1 "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/a" --top-p 2x
has "$tmp/err" "top_p"
cat >"$tmp/nop.dsl" <<'DSL'
sym B
sampler plain(steps: i64 = 2) -> i32[B, 4] {
  return full([B, 4], 1, i32)
}
DSL
"$DLMC" compile "$tmp/nop.dsl" -o "$tmp/nop.dlmc" >/dev/null 2>&1 || fail "dlmc compile nop.dsl"
expect 1 "$DLMRUN" "$tmp/nop.dlmc" sample --backend interp --ckpt "$tmp/a" --sampler plain --top-p 0.9 --allow-extra
has "$tmp/err" "no knob 'top_p'"

# ---- semi-autoregressive: --len beyond seq_len
expect 0 "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/a" --steps 8 --seed 4 --len 14 --json
has "$tmp/out" '"sampler": "semi_ar"'
n=$(ids | grep -o '[0-9][0-9]*' | wc -l)
[ "$n" -eq 14 ] || fail "--len 14 gave $n ids"
ids | grep -q '\b256\b' && fail "semi_ar left the mask id 256"
expect 0 "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/a" --steps 8 --seed 4 --sampler semi_ar --json
n=$(ids | grep -o '[0-9][0-9]*' | wc -l)
[ "$n" -eq 16 ] || fail "semi_ar gave $n ids, expected (2 + 1) * 4 + 4 = 16"
expect 1 "$DLMRUN" "$art" sample --backend interp --ckpt "$tmp/a" --len 17
has "$tmp/err" "semi_ar (16 tokens)"

[ "$fails" -eq 0 ] && echo "sample_cli: ok"
exit $((fails > 0))
