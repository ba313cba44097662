# tests/cli/lib/common.sh — the shared frame of the shell tests in tests/cli/ (sourced, not a test):
# checks the environment (DLMC always; BUILD_DIR when the caller sets NEED_BUILD_DIR=1, which also
# defines DLMRUN), a scratch directory $tmp removed on exit, and the checking helpers:
#   fail MSG              counts a failure and prints it
#   expect STATUS CMD...  runs CMD with stdout/stderr in $tmp/out, $tmp/err and checks its status
#   has FILE PATTERN      FILE contains PATTERN (grep)
#   finish NAME           prints the verdict and exits 0 or 1
set -u
: "${DLMC:?DLMC must point at the dlmc binary}"
SRC_DIR=${SRC_DIR:-.}
if [ "${NEED_BUILD_DIR:-0}" = 1 ]; then
  : "${BUILD_DIR:?BUILD_DIR must point at the build directory}"
  DLMRUN=$(cd "$BUILD_DIR" && pwd)/dlmrun
fi
# dlmrun's default device is cuda when a GPU opens: the tests compare CPU results byte for byte, so
# they run on the cpu unless the caller sets DLM_DEVICE (device_cli.sh checks the default itself)
export DLM_DEVICE=${DLM_DEVICE:-cpu}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

expect() {
  local want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local st=$?
  [ "$st" -eq "$want" ] || fail "'$*' exited $st, expected $want; stderr: $(head -c 400 "$tmp/err")"
}

has() { grep -q -- "$2" "$1" || fail "$1 lacks '$2': $(head -c 300 "$1")"; }

finish() {
  if [ "$fails" -eq 0 ]; then echo "$1: all checks passed"; exit 0; fi
  echo "$1: $fails failure(s)"
  exit 1
}
