#!/bin/bash
# dlmrun_cli.sh — the dlmrun command on a tiny MDLM artifact (dlmc compile -o m.dlmc) and a small
# text generated here: usage errors exit 2; a truncated or corrupted artifact is refused naming the
# file; 6 training steps straight and 3 (--stop-after 3) + --resume 3 give identical losses and
# checkpoints (cosine schedule); a
# resume with a conflicting option is refused; eval --json reports nelbo and ppl_bound = exp(nelbo);
# sample prints N sequences (--json: seq_len ids each, all real tokens) and is deterministic for a
# seed; the checkpoint holds weights, ema., adam_m., adam_v. and the metadata; the interpreter
# resumes exactly as well; SIGINT stops after a step with a checkpoint (exit 130) and --resume
# reproduces a straight run; a gpt2 tokenizer directory is recorded (absolute) for sample.
# Env: DLMC, BUILD_DIR, SRC_DIR.
NEED_BUILD_DIR=1
. "$(dirname "$0")/lib/common.sh"

art=$tmp/m.dlmc
"$DLMC" compile "$SRC_DIR/models/mdlm.dsl" -D seq_len=16 -D layers=1 -D dim=16 -D heads=2 -D cond_dim=8 -o "$art" >/dev/null ||
  { echo "FAIL: dlmc compile -o m.dlmc"; exit 1; }
awk 'BEGIN { srand(3); split("alpha bravo charlie delta", w, " "); s = "";
             while (length(s) < 6000) s = s w[int(rand() * 4) + 1] " "; printf "%s", s }' >"$tmp/text.txt"

# ---- usage
expect 2 "$DLMRUN"
expect 0 "$DLMRUN" --help
has "$tmp/out" "top-p"
expect 2 "$DLMRUN" "$art" frobnicate
expect 2 "$DLMRUN" "$art" train --data "$tmp/text.txt"
expect 2 "$DLMRUN" "$art" train --bogus 1 --out "$tmp/x"
expect 2 "$DLMRUN" "$art" eval --data "$tmp/text.txt"
expect 1 "$DLMRUN" "$art" train --data "$tmp/text.txt" --batch 2 --steps 2 --lr 1e-3 --out "$tmp/x" --backend nosuch
has "$tmp/err" "no backend named 'nosuch'"

# ---- damaged artifacts
size=$(stat -c %s "$art")
head -c $((size - 1)) "$art" >"$tmp/trunc.dlmc"
expect 1 "$DLMRUN" "$tmp/trunc.dlmc" sample --ckpt "$tmp/none"
has "$tmp/err" "trunc.dlmc"
cp "$art" "$tmp/flip.dlmc"
printf 'Z' | dd of="$tmp/flip.dlmc" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
expect 1 "$DLMRUN" "$tmp/flip.dlmc" sample --ckpt "$tmp/none"
has "$tmp/err" "flip.dlmc.*checksum"
printf 'hello' >"$tmp/tiny.dlmc"
expect 1 "$DLMRUN" "$tmp/tiny.dlmc" sample --ckpt "$tmp/none"
has "$tmp/err" "tiny.dlmc"

# ---- train, resume
common=(--data "$tmp/text.txt" --batch 4 --lr 3e-3 --warmup 2 --schedule cosine --clip 1.0 --ema 0.99 --seed 5 --log-every 1)
expect 0 "$DLMRUN" "$art" train "${common[@]}" --steps 6 --out "$tmp/a"
has "$tmp/err" "step 6/6"
expect 0 "$DLMRUN" "$art" train "${common[@]}" --steps 6 --stop-after 3 --out "$tmp/b"
has "$tmp/err" "step 3/6"
expect 1 "$DLMRUN" "$art" train "${common[@]}" --steps 6 --out "$tmp/b"
has "$tmp/err" "already holds a checkpoint"
expect 1 "$DLMRUN" "$art" train --steps 6 --out "$tmp/b" --resume --lr 0.5
has "$tmp/err" "differs from the checkpoint"
# a crash after a logged step but before its checkpoint: resume drops the stale metrics line
echo '{"step": 4, "loss": 99}' >>"$tmp/b/metrics.jsonl"
expect 0 "$DLMRUN" "$art" train --steps 6 --out "$tmp/b" --resume --log-every 1
grep -q '"loss": 99' "$tmp/b/metrics.jsonl" && fail "resume kept a metrics line past the checkpoint"
losses() { sed -n 's/.*"loss": \([^,]*\),.*/\1/p' "$1"; }
[ "$(losses "$tmp/a/metrics.jsonl" | wc -l)" -eq 6 ] || fail "metrics.jsonl of the straight run has $(wc -l <"$tmp/a/metrics.jsonl") lines"
[ "$(losses "$tmp/a/metrics.jsonl")" = "$(losses "$tmp/b/metrics.jsonl")" ] ||
  fail "resumed losses differ: $(losses "$tmp/a/metrics.jsonl" | tr '\n' ' ') vs $(losses "$tmp/b/metrics.jsonl" | tr '\n' ' ')"
cmp -s "$tmp/a/checkpoint.safetensors" "$tmp/b/checkpoint.safetensors" || fail "resumed checkpoint differs from the straight run's"
for key in '"grad_norm"' '"lr"' '"ms_per_step"' '"tokens_per_s"'; do has "$tmp/a/metrics.jsonl" "$key"; done
hdr=$(head -c 200000 "$tmp/a/checkpoint.safetensors" | tr -c '[:print:]' ' ')
for key in '"backbone.vocab_embed.embedding"' '"ema.backbone.vocab_embed.embedding"' '"adam_m.backbone.vocab_embed.embedding"' \
           '"adam_v.backbone.vocab_embed.embedding"' '"step":"6"' '"data_position":"24"' '"config.lr"' '"tokenizer":"byte"'; do
  case $hdr in *"$key"*) ;; *) fail "checkpoint header lacks $key" ;; esac
done

# ---- the interpreter backend resumes exactly too
expect 0 "$DLMRUN" "$art" train "${common[@]}" --steps 3 --out "$tmp/ia" --backend interp
expect 0 "$DLMRUN" "$art" train "${common[@]}" --steps 3 --stop-after 1 --out "$tmp/ib" --backend interp
expect 0 "$DLMRUN" "$art" train --steps 3 --out "$tmp/ib" --resume --backend interp
[ "$(losses "$tmp/ia/metrics.jsonl")" = "$(losses "$tmp/ib/metrics.jsonl")" ] || fail "interp: resumed losses differ"

# ---- SIGINT: the run stops after the current step with a checkpoint (exit 130) and resumes exactly
long=(--data "$tmp/text.txt" --batch 4 --lr 3e-3 --seed 9 --log-every 1 --backend interp)
"$DLMRUN" "$art" train "${long[@]}" --steps 100000 --out "$tmp/int" 2>"$tmp/int.err" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/int/metrics.jsonl" ] && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
st=$?
[ "$st" -eq 130 ] || fail "SIGINT: exit status $st, expected 130: $(tail -2 "$tmp/int.err")"
has "$tmp/int.err" "interrupted after step"
n=$(wc -l <"$tmp/int/metrics.jsonl")
expect 0 "$DLMRUN" "$art" train --steps $((n + 2)) --out "$tmp/int" --resume --backend interp
expect 0 "$DLMRUN" "$art" train "${long[@]}" --steps $((n + 2)) --out "$tmp/int2"
[ "$(losses "$tmp/int/metrics.jsonl")" = "$(losses "$tmp/int2/metrics.jsonl")" ] || fail "SIGINT + resume: losses differ from a straight run"

# ---- a GPT-2 BPE tokenizer (the tiny test vocabulary of 268 tokens), recorded for sample
bart=$tmp/bpe.dlmc
"$DLMC" compile "$SRC_DIR/models/mdlm.dsl" -D vocab=268 -D seq_len=16 -D layers=1 -D dim=16 -D heads=2 -D cond_dim=8 -o "$bart" >/dev/null ||
  fail "dlmc compile (vocab 268)"
expect 0 "$DLMRUN" "$bart" train --data "$tmp/text.txt" --tokenizer gpt2 --tokenizer-dir "$SRC_DIR/tests/data/bpe_tiny" --batch 2 \
  --steps 2 --lr 1e-3 --out "$tmp/bpe"
(cd / && "$DLMRUN" "$bart" sample --ckpt "$tmp/bpe" --steps 2 --json >"$tmp/out" 2>"$tmp/err") || fail "sample with the recorded gpt2 tokenizer: $(cat "$tmp/err")"
has "$tmp/out" '"ids"'
expect 1 "$DLMRUN" "$bart" train --data "$tmp/text.txt" --tokenizer gpt2 --batch 2 --steps 2 --lr 1e-3 --out "$tmp/bpe2"
has "$tmp/err" "needs --tokenizer-dir"
expect 1 "$DLMRUN" "$art" train --data "$tmp/text.txt" --tokenizer gpt2 --tokenizer-dir "$SRC_DIR/tests/data/bpe_tiny" --batch 2 --steps 2 --lr 1e-3 --out "$tmp/bpe3"
has "$tmp/err" "268 tokens"

# ---- eval
expect 0 "$DLMRUN" "$art" eval --ckpt "$tmp/a" --data "$tmp/text.txt" --json
out=$(cat "$tmp/out")
nelbo=$(sed -n 's/.*"nelbo": \([^,]*\),.*/\1/p' <<<"$out")
ppl=$(sed -n 's/.*"ppl_bound": \([^,]*\),.*/\1/p' <<<"$out")
[ -n "$nelbo" ] && [ -n "$ppl" ] || fail "eval --json lacks nelbo/ppl_bound: $out"
awk -v n="$nelbo" -v p="$ppl" 'BEGIN { d = exp(n) - p; exit !(n > 0 && (d < 0 ? -d : d) < 1e-6 * p) }' || fail "ppl_bound $ppl != exp($nelbo)"
expect 0 "$DLMRUN" "$art" eval --ckpt "$tmp/a" --data "$tmp/text.txt"
has "$tmp/out" "NELBO"
expect 1 "$DLMRUN" "$art" eval --ckpt "$tmp/nothere" --data "$tmp/text.txt"
has "$tmp/err" "nothere"

# ---- sample
expect 0 "$DLMRUN" "$art" sample --ckpt "$tmp/a" --steps 4 --n 3 --seed 2 --json
cp "$tmp/out" "$tmp/s1"
ids=$(grep -o '"ids": \[[^]]*\]' "$tmp/s1")
[ "$(wc -l <<<"$ids")" -eq 3 ] || fail "sample --n 3 --json gave $(wc -l <<<"$ids") sequences"
while read -r line; do
  n=$(grep -o '[0-9][0-9]*' <<<"${line#*[}" | wc -l)
  [ "$n" -eq 16 ] || fail "a sample has $n ids, expected 16"
  grep -q '\b256\b' <<<"${line#*[}" && fail "a sample still holds the mask id 256"
done <<<"$ids"
expect 0 "$DLMRUN" "$art" sample --ckpt "$tmp/a" --steps 4 --n 3 --seed 2 --json
cmp -s "$tmp/out" "$tmp/s1" || fail "sample is not deterministic for a seed"
expect 0 "$DLMRUN" "$art" sample --ckpt "$tmp/a" --steps 4 --n 3 --seed 3 --json
cmp -s "$tmp/out" "$tmp/s1" && fail "samples for seeds 2 and 3 are identical"
expect 0 "$DLMRUN" "$art" sample --ckpt "$tmp/a" --set steps=4 --n 2
has "$tmp/out" "=== sample 1 ==="
expect 0 "$DLMRUN" "$art" sample --ckpt "$tmp/a" --steps 4 --n 1 --len 5 --json
[ "$(grep -o '"ids": \[[^]]*\]' "$tmp/out" | grep -o '[0-9][0-9]*' | wc -l)" -eq 5 ] || fail "sample --len 5 did not give 5 ids"
expect 1 "$DLMRUN" "$art" sample --ckpt "$tmp/a" --steps 4 --len 33
has "$tmp/err" "ancestral (16 tokens) semi_ar (32 tokens)"
expect 1 "$DLMRUN" "$art" sample --ckpt "$tmp/a" --sampler ancestral --steps 4 --len 17
has "$tmp/err" "samples 16 tokens"
expect 1 "$DLMRUN" "$art" sample --ckpt "$tmp/a" --set nosuch=1
has "$tmp/err" "no knob 'nosuch'"
expect 1 "$DLMRUN" "$art" sample --ckpt "$tmp/a" --sampler nosuch
has "$tmp/err" "no sampler 'nosuch'"

[ "$fails" -eq 0 ] && echo "dlmrun_cli: ok" || echo "dlmrun_cli: $fails failure(s)"
[ "$fails" -eq 0 ]
