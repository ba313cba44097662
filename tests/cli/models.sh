#!/bin/bash
# models.sh — every models/*.dsl and docs/examples/*.dsl compiles with dlmc (at the default sizes;
# the models also at the released OWT sizes, where MDLM has 169,627,218 parameters), and every
# docs/examples/errors/*.dsl is rejected with exit status 1 and a located "file:line:col: error:"
# message. Env: DLMC (the binary), SRC_DIR (the repository root).
. "$(dirname "$0")/lib/common.sh"
cd "$SRC_DIR" || exit 1

owt="-D seq_len=1024 -D layers=12 -D dim=768 -D heads=12 -D cond_dim=128"
n=0
for f in models/*.dsl docs/examples/*.dsl; do
  n=$((n + 1))
  "$DLMC" compile "$f" >"$tmp/out" 2>"$tmp/err" || fail "$f does not compile: $(head -c 400 "$tmp/err")"
done
[ "$n" -ge 5 ] || fail "expected at least 5 programs, found $n"

# shellcheck disable=SC2086
"$DLMC" compile models/mdlm.dsl -D vocab=50257 $owt --stats >"$tmp/out" 2>"$tmp/err" || fail "mdlm OWT: $(head -c 400 "$tmp/err")"
grep -q "169,627,218" "$tmp/out" || fail "mdlm OWT does not report 169,627,218 parameters"
# shellcheck disable=SC2086
"$DLMC" compile models/duo.dsl -D vocab=50258 $owt --stats >"$tmp/out" 2>"$tmp/err" || fail "duo OWT: $(head -c 400 "$tmp/err")"
grep -q "169,627,218" "$tmp/out" || fail "duo OWT does not report 169,627,218 parameters"

for f in docs/examples/errors/*.dsl; do
  "$DLMC" compile "$f" >"$tmp/out" 2>"$tmp/err"
  st=$?
  [ "$st" -eq 1 ] || fail "$f: exit status $st, expected 1"
  grep -Eq "^$f:[0-9]+:[0-9]+: error: " "$tmp/err" || fail "$f: no located error message: $(head -c 300 "$tmp/err")"
  grep -q '\^' "$tmp/err" || fail "$f: no caret line"
done

"$DLMC" compile models/mdlm.dsl -D no_such_const=1 >"$tmp/out" 2>"$tmp/err" && fail "-D of an unknown const was accepted"
grep -q "no_such_const" "$tmp/err" || fail "-D of an unknown const: the message does not name it"

if [ "$fails" -ne 0 ]; then echo "models.sh: $fails failure(s)"; exit 1; fi
echo "models.sh: ok ($n programs)"
