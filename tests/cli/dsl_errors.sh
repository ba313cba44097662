#!/bin/bash
# dsl_errors.sh — `dlmc compile` on faulty DSL programs exits 1 with exactly one located diagnostic
# "file:line:col: error: message", the source line and a caret: syntax error, unknown name, shape
# mismatch (naming both shapes), wrong number of arguments, type error, unknown -D name, bad -D value,
# missing import, import cycle, duplicate definition, recursion; hostile bytes never crash it; the
# test programs under tests/dsl/ compile. Env: DLMC (the binary), SRC_DIR (the repository root).
. "$(dirname "$0")/lib/common.sh"
cd "$SRC_DIR" || exit 1

# bad NAME WHERE MESSAGE [dlmc options...]: the program on stdin, saved as $tmp/NAME.dsl, must be
# rejected with status 1 and a first line "$tmp/NAME.dsl:WHERE: error: ...MESSAGE..."
bad() {
  local name=$1 where=$2 msg=$3; shift 3
  local f="$tmp/$name.dsl"
  cat >"$f"
  "$DLMC" compile "$f" "$@" >"$tmp/out" 2>"$tmp/err"
  local st=$?
  [ "$st" -eq 1 ] || { fail "$name: exit status $st, expected 1; stderr: $(head -c 300 "$tmp/err")"; return; }
  local first
  first=$(head -n 1 "$tmp/err")
  local head="$f:$where: error: "
  [ -n "$where" ] || head="$f: error: "
  case "$first" in
    "$head"*"$msg"*) ;;
    *) fail "$name: expected '$head...$msg...', got '$first'" ;;
  esac
  if [[ "$where" == *:* ]]; then
    sed -n 3p "$tmp/err" | grep -q '^ *\^$' || fail "$name: no caret line in: $(cat "$tmp/err")"
  fi
}

bad syntax 3:1 "syntax error" <<'DSL'
fn f(x: f32) -> f32 {
  return x +
}
DSL
bad unknown 2:14 "unknown name 'y'" <<'DSL'
export fn f(x: f32[4]) -> f32[4] {
  return x + y
}
DSL
bad shape 2:10 "matmul of f32[B,L,64] with f32[32,64]" <<'DSL'
export fn f(x: f32[B, L, 64], w: f32[32, 64]) -> f32[B, L, 32] {
  return matmul(x, w)
}
DSL
bad nargs 3:10 "wrong number of arguments" <<'DSL'
fn g(a: f32[4]) -> f32[4] { return a }
export fn f(x: f32[4]) -> f32[4] {
  return g(x, x)
}
DSL
bad types 2:12 "type error" <<'DSL'
export fn f(x: f32[4], y: f64[4]) -> f32[4] {
  return x + y
}
DSL
bad intfloat 2:12 "float literal" <<'DSL'
export fn f(x: i32[4]) -> i32[4] {
  return x + 0.5
}
DSL
bad define_name "" "no top-level const named 'nope'" -D nope=1 <<<'const n = 3'
bad define_value "" "bad value 'x1'" -D n=x1 <<<'const n = 3'
bad import 1:8 "cannot find imported file 'missing/none.dsl'" <<'DSL'
import "missing/none.dsl"
DSL
bad duplicate 2:4 "duplicate definition of 'f'" <<'DSL'
fn f(a: f32[4]) -> f32[4] { return a }
fn f(a: f32[4]) -> f32[4] { return a }
DSL
bad recursion 2:10 "recursive call to 'f'" <<'DSL'
fn f(a: f32[4]) -> f32[4] {
  return f(a)
}
DSL
bad statekind 2:9 "only allowed in a sampler" <<'DSL'
export fn f(x: f32[4]) -> f32[4] {
  state s: f32[4] = x
  return x
}
DSL

# the import cycle is reported where the cycle closes
"$DLMC" compile tests/dsl/cycle_a.dsl >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "import cycle: expected status 1"
grep -q "^tests/dsl/cycle_b.dsl:2:8: error: import cycle" "$tmp/err" || fail "import cycle: got $(head -n 1 "$tmp/err")"

# hostile bytes: NUL, unterminated string and comment, deep nesting, a huge literal, random bytes
printf 'const a = 1\nconst b\0 = 2\n' >"$tmp/nul.dsl"
"$DLMC" compile "$tmp/nul.dsl" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "nul.dsl:2:8: error: NUL byte" "$tmp/err" || fail "NUL byte: $(head -n 1 "$tmp/err")"
bad string 1:8 "unterminated string" <<'DSL'
import "abc
DSL
bad comment 2:1 "unterminated comment" <<'DSL'
const a = 1
/* open
DSL
bad nesting 1:211 "nested too deeply" < <(printf 'const a = '; head -c 5000 /dev/zero | tr '\0' '('; echo 1)
bad huge 1:11 "too large" <<<'const a = 123456789012345678901234567890'
for i in 1 2 3 4 5 6 7 8; do
  head -c 2000 /dev/urandom >"$tmp/rand$i.dsl"
  "$DLMC" compile "$tmp/rand$i.dsl" >/dev/null 2>&1
  st=$?
  [ "$st" -eq 1 ] || fail "random bytes: exit status $st"
done

# the frontend's test programs compile
for f in tests/dsl/tiny_dit.dsl tests/dsl/bd3_blocks.dsl tests/dsl/notes_examples.dsl; do
  "$DLMC" compile "$f" >/dev/null 2>"$tmp/err" || fail "$f: $(head -c 300 "$tmp/err")"
done

[ "$fails" -eq 0 ] || { echo "dsl_errors: $fails failure(s)"; exit 1; }
echo "dsl_errors: ok"
