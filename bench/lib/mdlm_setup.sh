# bench/lib/mdlm_setup.sh — the setup shared by the MDLM training benchmarks (train_step.sh,
# train_cpu_time.sh; sourced, with BENCH set to the caller's name): the configuration from the
# environment with its defaults, checks for the built tools, a scratch directory $tmp, the default
# DATA (the repository's sources and docs), and the compiled artifact $tmp/m.dlmc ($width is the
# name of the width const models/mdlm.dsl declares, `hidden_dim` or `dim`; dlmc's output is kept in
# $tmp/compile.txt). Also sets have_torch (1 when /usr/bin/python3 imports torch).
BUILD_DIR=${BUILD_DIR:-build-rel}
LAYERS=${LAYERS:-2} DIM=${DIM:-128} HEADS=${HEADS:-4} SEQ_LEN=${SEQ_LEN:-128} BATCH=${BATCH:-32}
COND_DIM=${COND_DIM:-64} LR=${LR:-3e-4} WARMUP=${WARMUP:-3} STEPS=${STEPS:-10} THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
PY=/usr/bin/python3
for tool in dlmc dlmrun; do
  [ -x "$BUILD_DIR/$tool" ] || { echo "$BENCH: $BUILD_DIR/$tool not found (build it, or set BUILD_DIR)" >&2; exit 2; }
done
[ -x "$PY" ] || { echo "$BENCH: $PY not found" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "${DATA:-}" ]; then
  DATA=$tmp/text.txt
  cat README.md docs/*.md models/*.dsl models/std/*.dsl ir/*.c frontend/*.c passes/*.c runtime/*.c >"$DATA"
fi
width=dim
grep -q '^const hidden_dim\b' models/mdlm.dsl && width=hidden_dim
"$BUILD_DIR/dlmc" compile models/mdlm.dsl -D layers="$LAYERS" -D "$width=$DIM" -D heads="$HEADS" -D seq_len="$SEQ_LEN" \
  -D cond_dim="$COND_DIM" -D vocab=256 -o "$tmp/m.dlmc" >"$tmp/compile.txt"
have_torch=0
"$PY" -c 'import torch' 2>/dev/null && have_torch=1
