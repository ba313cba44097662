#!/bin/bash
# dlmc_cli.sh — the dlmc command: usage errors exit 2, unreadable or malformed input exits 1 with
# a located message, --help/--version work, -d and --dump-after dump to stderr, -o writes the IR
# atomically; every models/*.dsl round-trips through `--emit ir` and back byte for byte, and
# --stats reports MDLM small's 169,627,218 parameters. Env: DLMC (the binary), SRC_DIR.
. "$(dirname "$0")/lib/common.sh"

# ---- usage errors: status 2
expect 2 "$DLMC"
expect 2 "$DLMC" frobnicate
expect 2 "$DLMC" compile
expect 2 "$DLMC" compile a.dsl b.dsl
expect 2 "$DLMC" compile --bogus a.dsl
expect 2 "$DLMC" compile a.dsl --emit xml
expect 2 "$DLMC" compile a.dsl -d Q
has "$tmp/err" "no pass has the letter 'Q'"
expect 2 "$DLMC" compile a.dsl --dump-after=nosuchpass
expect 2 "$DLMC" compile a.dsl -D novalue
expect 2 "$DLMC" compile a.dsl -o

# ---- help and version
expect 0 "$DLMC" --help
has "$tmp/out" "usage: dlmc compile FILE"
has "$tmp/out" "shape_infer"
has "$tmp/out" "ending in .dlmc receives the artifact"
expect 0 "$DLMC" --version
has "$tmp/out" "^dlmc [0-9]"

# ---- missing files: status 1 with the name and the reason
expect 1 "$DLMC" compile "$tmp/missing.dsl"
has "$tmp/err" "cannot read '$tmp/missing.dsl'"
expect 1 "$DLMC" compile "$tmp/missing.ir"
has "$tmp/err" "No such file"

# ---- a hand-written .ir module: 2*3 folds, the duplicate exp merges, tanh is dead
cat >"$tmp/t.ir" <<'IR'
module t
func @f {
  %0 = arg "x" {index=0} : f32[2,3] "x"
  %1 = const {value=2} : f32
  %2 = const {value=3} : f32
  %3 = mul %1, %2 : f32
  %4 = exp %0 : f32[2,3]
  %5 = exp %0 : f32[2,3]
  %6 = add %4, %5 : f32[2,3]
  %7 = mul %6, %3 : f32[2,3]
  %8 = tanh %7 : f32[2,3]
  ret %7
}
IR
expect 0 "$DLMC" compile "$tmp/t.ir" --emit ir
cp "$tmp/out" "$tmp/t1.ir"
has "$tmp/t1.ir" "const {value=6} : f32"
[ "$(grep -c ' exp ' "$tmp/t1.ir")" -eq 1 ] || fail "duplicate exp not merged"
grep -q tanh "$tmp/t1.ir" && fail "dead tanh not removed"
[ -s "$tmp/err" ] && fail "--emit ir wrote to stderr: $(head -c 200 "$tmp/err")"
expect 0 "$DLMC" compile "$tmp/t1.ir" --emit ir
cmp -s "$tmp/out" "$tmp/t1.ir" || fail "re-compiling the emitted IR changed it"

# dumps go to stderr, one per requested pass; stdout keeps only the emitted IR
expect 0 "$DLMC" compile "$tmp/t.ir" --emit ir -d PKD
[ "$(grep -c '^# ---- after' "$tmp/err")" -eq 3 ] || fail "-d PKD: expected 3 dumps, got: $(grep '^# ----' "$tmp/err")"
has "$tmp/err" "^# ---- after input$"
has "$tmp/err" "^# ---- after fold$"
has "$tmp/err" "^# ---- after dce$"
cmp -s "$tmp/out" "$tmp/t1.ir" || fail "dumps changed the emitted IR"
expect 0 "$DLMC" compile "$tmp/t.ir" --dump-after=cse
[ "$(grep -c '^# ---- after' "$tmp/err")" -eq 1 ] && has "$tmp/err" "^# ---- after cse$"

# -o writes the same text, leaving no temporary file behind; the summary goes to stdout
expect 0 "$DLMC" compile "$tmp/t.ir" --emit ir -o "$tmp/o.ir"
cmp -s "$tmp/o.ir" "$tmp/t1.ir" || fail "-o output differs from stdout output"
[ "$(ls "$tmp" | grep -c 'o.ir.tmp')" -eq 0 ] || fail "-o left a temporary file"
expect 1 "$DLMC" compile "$tmp/t.ir" -o "$tmp/no/such/dir/o.ir"
has "$tmp/err" "cannot write"
expect 0 "$DLMC" compile "$tmp/t.ir"
has "$tmp/out" "1 function (f), 0 schedules,"
expect 0 "$DLMC" compile "$tmp/t.ir" --stats
has "$tmp/out" "function f"
has "$tmp/out" "kernels: 3"
has "$tmp/out" "FLOPs per token"
has "$tmp/out" "parameters: 0 (0)"
expect 0 "$DLMC" compile "$tmp/t.ir" --emit dot
has "$tmp/out" "digraph"

# --dim gives symbolic dims their values for --stats: exp over f32[B,3] is 3*B FLOPs
printf 'module t\nsym B\nfunc @f {\n  %%0 = arg "x" {index=0} : f32[B,3]\n  %%1 = exp %%0 : f32[B,3]\n  ret %%1\n}\n' >"$tmp/sym.ir"
expect 0 "$DLMC" compile "$tmp/sym.ir" --stats
has "$tmp/out" "FLOPs: 3$"
expect 0 "$DLMC" compile "$tmp/sym.ir" --stats --dim B=4
has "$tmp/out" "FLOPs: 12$"
has "$tmp/out" "FLOPs per token: 4 (3 tokens)"
expect 1 "$DLMC" compile "$tmp/sym.ir" --stats --dim C=4
has "$tmp/err" "no symbolic dimension 'C'"
expect 1 "$DLMC" compile "$tmp/sym.ir" --stats --dim B=x
expect 2 "$DLMC" compile "$tmp/sym.ir" --dim B

# ---- malformed and ill-typed IR: status 1, file:line:col, the source line and a caret
printf 'module t\nfunc @f {\n  %%0 = frob : f32\n  ret %%0\n}\n' >"$tmp/bad.ir"
expect 1 "$DLMC" compile "$tmp/bad.ir"
has "$tmp/err" "$tmp/bad.ir:3:"
has "$tmp/err" "frob : f32"
has "$tmp/err" "\\^"
printf 'module t\nfunc @f {\n  %%0 = arg "x" {index=0} : f32[2,3]\n  %%1 = exp %%0 : f32[2,4]\n  ret %%1\n}\n' >"$tmp/ill.ir"
expect 1 "$DLMC" compile "$tmp/ill.ir"
has "$tmp/err" "error"
grep -q "f32\[2,4\]" "$tmp/err" || fail "type mismatch not reported: $(cat "$tmp/err")"

# ---- the models: every models/*.dsl round-trips; MDLM small's parameter count
models=$(ls "$SRC_DIR"/models/*.dsl 2>/dev/null)
if [ ! -d "$SRC_DIR/models" ] || [ -z "$models" ]; then
  echo "SKIP: models/ has no .dsl files yet: model round trips and MDLM --stats not run"
else
  for f in $models; do
    name=$(basename "$f" .dsl)
    expect 0 "$DLMC" compile "$f" --emit ir -o "$tmp/$name.ir"
    expect 0 "$DLMC" compile "$tmp/$name.ir" --emit ir -o "$tmp/$name.2.ir"
    cmp -s "$tmp/$name.ir" "$tmp/$name.2.ir" || fail "$name: --emit ir of the emitted IR differs"
  done
  if [ -f "$SRC_DIR/models/mdlm.dsl" ]; then
    expect 0 "$DLMC" compile "$SRC_DIR/models/mdlm.dsl" -D vocab=50257 -D seq_len=1024 -D layers=12 \
      -D dim=768 -D heads=12 -D cond_dim=128 --stats
    has "$tmp/out" "169,627,218"
  else
    fail "models/ has .dsl files but no mdlm.dsl"
  fi
fi

[ "$fails" -eq 0 ] && echo "dlmc_cli: all checks passed"
exit $((fails > 0))
