#!/usr/bin/env bash
# check.sh — the one GPU check of dlmc, for a machine with an NVIDIA GPU (written for an H100, to
# finish in under 8 minutes). It configures and builds with CUDA (Release, Ninja, -j16), probes the
# device, then in parallel compares the CUDA backend with the CPU backend on every function of
# models/mdlm.dsl and models/duo.dsl (forward, loss, loss.grad, sampler steps; same parameters,
# inputs and seeds) while NVRTC compiles the benchmark kernels, and then times a training step of
# MDLM small (L=1024, dim 768, 12 layers, 12 heads, vocab 50257+1, batch 16, else 8 or 4 when memory
# runs out), the same step with the optimizer on the device (one CUDA graph per step), the
# ancestral sampler's step function (batch 1, a few steps extrapolated to T=1000) and the whole
# sampler loop with resident state and CUDA graphs against the host path. Every stage
# runs under `timeout`; a failing stage is reported and the script goes on. The result is ONE
# markdown table on stdout (logs in build-gpu/check-logs/). Exit status 0 when every row passed.
#   bash tests/gpu/check.sh            the full check
#   bash tests/gpu/check.sh --dry-run  build and probe only (on a machine without a GPU it reports
#                                      "no CUDA device: ..." and exits 0 if the build worked)
# Environment: CHECK_BUDGET (seconds, default 470), CHECK_JOBS (default 16), CHECK_BUILD_DIR,
# CHECK_PREBUILT=1 (use .gpu/build and .gpu/deps from tests/gpu/prepare.sh instead of building).
set -u
cd "$(dirname "$0")/../.." || exit 1
DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1
START=$(date +%s)
BUDGET=${CHECK_BUDGET:-470}     # seconds for the whole script
B=${CHECK_BUILD_DIR:-build-gpu}
PREBUILT=${CHECK_PREBUILT:-0}
if [[ "$PREBUILT" == 1 ]]; then
  # built by tests/gpu/prepare.sh on a machine with flex, bison and OpenBLAS; the CPU backend's
  # run-time kernel compiles find OpenBLAS in .gpu/deps
  B=.gpu/build
  export LIBRARY_PATH="$PWD/.gpu/deps/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$PWD/.gpu/deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CPATH="$PWD/.gpu/deps/include${CPATH:+:$CPATH}"
fi
LOGS=$B/check-logs
JOBS=${CHECK_JOBS:-16}
mkdir -p "$LOGS"
export DLM_CACHE_DIR="$PWD/$B/kernel-cache"
DEFS=(-D vocab=50257 -D seq_len=1024 -D layers=12 -D dim=768 -D heads=12 -D cond_dim=128)
ROWS=()
FAILS=0

row() { ROWS+=("| $1 | $2 | $3 |"); [[ "$3" == FAIL* ]] && FAILS=$((FAILS + 1)); return 0; }
left() { echo $((BUDGET - ($(date +%s) - START))); }
# the last lines of a log, made safe for a table cell
tail_of() { tail -n "${2:-3}" "$1" 2>/dev/null | tr '\n|' '  ' | cut -c1-400; }
# stage LIMIT LOG CMD...: run CMD with at most LIMIT seconds (less if the budget is short)
stage() {
  local limit=$1 log=$2; shift 2
  local l; l=$(left)
  (( limit > l - 5 )) && limit=$((l - 5))
  if (( limit < 5 )); then echo "out of time budget" > "$log"; return 124; fi
  timeout -k 5 "$limit" "$@" > "$log" 2>&1
}
print_table() {
  echo
  echo "## dlmc GPU check ($(date -u +%Y-%m-%dT%H:%MZ), $(($(date +%s) - START)) s)"
  echo
  echo "| check | result | status |"
  echo "|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
}

# ---------------------------------------------------------------- device information
if command -v nvidia-smi > /dev/null 2>&1; then
  GPU=$(timeout 15 nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader 2>&1 | head -1)
  row "nvidia-smi" "${GPU//|/ }" "info"
  CAP=$(echo "$GPU" | awk -F', ' '{print $4}' | tr -d '.')
else
  row "nvidia-smi" "not found" "info"
  CAP=""
fi
[[ "$CAP" =~ ^[0-9]+$ ]] || CAP=90

# ---------------------------------------------------------------- configure and build
if [[ "$PREBUILT" == 1 ]]; then
  missing=""
  for t in dlmc test_cuda_models test_cuda_nvrtc gpu_bench; do [[ -x "$B/$t" ]] || missing="$missing $t"; done
  if [[ -n "$missing" ]]; then row "prebuilt programs ($B)" "missing:$missing (run tests/gpu/prepare.sh)" "FAIL"; print_table; exit 1; fi
  row "prebuilt programs ($B)" "dlmc test_cuda_models test_cuda_nvrtc gpu_bench" "PASS"
else
  GEN=(-G Ninja)
  command -v ninja > /dev/null 2>&1 || GEN=()
  CUDAROOT=()
  [[ -d /usr/local/cuda ]] && CUDAROOT=(-DCUDAToolkit_ROOT=/usr/local/cuda)
  # optimized build; the optimizer's flow-sensitive warnings stay warnings here (not every file is
  # clean at -O3, and a warning must not cost the one GPU run)
  LENIENT="-Wno-error=maybe-uninitialized -Wno-error=format-truncation -Wno-error=stringop-truncation -Wno-error=stringop-overflow -Wno-error=array-bounds -Wno-error=restrict"
  if stage 90 "$LOGS/configure.log" cmake -S . -B "$B" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS=$LENIENT" "${CUDAROOT[@]}"; then
    if grep -q "CUDA backend with NVRTC" "$LOGS/configure.log"; then
      row "configure (CUDA toolkit)" "$(grep -o 'NVRTC [0-9.]*' "$LOGS/configure.log" | head -1)" "PASS"
    else
      row "configure (CUDA toolkit)" "toolkit not found: built without NVRTC" "FAIL"
    fi
  else
    row "configure" "$(tail_of "$LOGS/configure.log")" "FAIL"
  fi
  if stage 240 "$LOGS/build.log" cmake --build "$B" -j "$JOBS" --target dlm dlmc test_cuda_models test_cuda_nvrtc gpu_bench; then
    row "build (-j$JOBS)" "ok" "PASS"
  else
    row "build" "$(tail_of "$LOGS/build.log")" "FAIL"
    print_table
    exit 1
  fi
fi

# ---------------------------------------------------------------- launch counts of MDLM small (static)
if stage 60 "$LOGS/stats.log" "$B/dlmc" compile models/mdlm.dsl "${DEFS[@]}" --target cuda --stats; then
  for fn in logits loss.grad; do
    l=$(grep "^  $fn " "$LOGS/stats.log" | head -1 | sed 's/^ *//; s/  */ /g')
    row "launches of $fn (MDLM small, 12 blocks)" "${l:-missing}" "info"
  done
  l=$(grep "^Launches per block" "$LOGS/stats.log" | head -1 | sed 's/^Launches per block //')
  row "launches per DiT block (goal: <= 8 forward)" "${l:-missing}" "info"
else
  row "dlmc --target cuda --stats" "$(tail_of "$LOGS/stats.log")" "FAIL"
fi

# ---------------------------------------------------------------- device probe
stage 60 "$LOGS/probe.log" "$B/gpu_bench" probe
PROBE_RC=$?
ROWS+=("$(grep '^| CUDA device' "$LOGS/probe.log" || echo "| CUDA device | $(tail_of "$LOGS/probe.log") | FAIL |")")
# CHECK_FORCE=1 goes on without a device (to exercise the rest of this script; every row fails)
if (( (PROBE_RC != 0 && ${CHECK_FORCE:-0} != 1) || DRY )); then
  if (( PROBE_RC != 0 )); then
    FAILS=$((FAILS + 1))
    echo "$(grep -o 'no CUDA device: .*' "$LOGS/probe.log" | sed 's/ | FAIL |$//' | head -1)" >&2
  fi
  print_table
  if (( DRY )); then
    grep -q "no CUDA device" "$LOGS/probe.log" && exit 0
    (( PROBE_RC == 0 )) && exit 0
  fi
  exit 1
fi

# ---------------------------------------------------------------- comparisons + kernel compile, in parallel
DLM_NVRTC_THREADS=6 stage 240 "$LOGS/cmp-mdlm.log" "$B/test_cuda_models" models/mdlm.dsl &
P1=$!
DLM_NVRTC_THREADS=6 stage 240 "$LOGS/cmp-duo.log" "$B/test_cuda_models" models/duo.dsl &
P2=$!
DLM_NVRTC_THREADS=$JOBS stage 240 "$LOGS/nvrtc-bench.log" "$B/gpu_bench" compile "$CAP" models/mdlm.dsl "${DEFS[@]}" &
P3=$!
wait "$P1"; RC_mdlm=$?
wait "$P2"; RC_duo=$?
wait "$P3"
for mdl in mdlm duo; do
  log="$LOGS/cmp-$mdl.log"
  rcv="RC_$mdl"
  if (( ${!rcv} == 77 )); then row "$mdl: all functions cuda vs cpu" "skipped: $(grep -o 'no CUDA device: .*' "$log" | head -1 | sed 's/)$//' | cut -c1-200)" "FAIL"; continue; fi
  if (( ${!rcv} == 124 || ${!rcv} == 137 )); then row "$mdl: all functions cuda vs cpu" "timed out; $(tail_of "$log" 2)" "FAIL"; fi
  while IFS= read -r l; do
    ROWS+=("$l")
    [[ "$l" == *"| FAIL |" ]] && FAILS=$((FAILS + 1))
  done < <(grep '^| cuda ' "$log")
  summ=$(grep -o 'test_cuda_models: [0-9]* passed, [0-9]* failed' "$log" | tail -1)
  if [[ "$summ" =~ ", 0 failed" ]]; then row "$mdl: all functions cuda vs cpu" "$summ" "PASS"
  else row "$mdl: all functions cuda vs cpu" "${summ:-no summary} — $(grep -m3 'check failed\|error' "$log" | tr '\n|' '  ' | cut -c1-300) $(tail_of "$log" 2)" "FAIL"; fi
done
if grep -q '^| NVRTC' "$LOGS/nvrtc-bench.log"; then
  while IFS= read -r l; do ROWS+=("$l"); done < <(grep '^| NVRTC' "$LOGS/nvrtc-bench.log")
fi
grep -q 'cached for the run' "$LOGS/nvrtc-bench.log" || row "NVRTC of the benchmark functions" "$(tail_of "$LOGS/nvrtc-bench.log")" "FAIL"

# ---------------------------------------------------------------- training step timing
TRAINED=0
for batch in 16 8 4; do
  lim=$(( $(left) - 80 ))
  (( lim > 200 )) && lim=200
  (( lim < 20 )) && break
  if stage "$lim" "$LOGS/train-b$batch.log" "$B/gpu_bench" train models/mdlm.dsl "$batch" 3 "${DEFS[@]}"; then
    while IFS= read -r l; do ROWS+=("$l"); done < <(grep '^| ' "$LOGS/train-b$batch.log")
    TRAINED=1
    break
  fi
  row "train step MDLM small B=$batch" "$(tail_of "$LOGS/train-b$batch.log" 2)" "FAIL"
  grep -qi "allocate\|out of memory" "$LOGS/train-b$batch.log" || break
done
(( TRAINED )) || row "train step timing" "no batch size ran" "FAIL"
# the same step with the optimizer on the device, captured once and replayed as a CUDA graph
lim=$(( $(left) - 150 ))
(( lim > 120 )) && lim=120
if (( ! TRAINED )); then
  row "train step, optimizer on the device" "skipped: the plain training step did not run" "info"
elif (( lim >= 30 )); then
  if stage "$lim" "$LOGS/train-device.log" env DLM_CUDA_GRAPHS=1 "$B/gpu_bench" train-device models/mdlm.dsl "$batch" 3 "${DEFS[@]}"; then
    while IFS= read -r l; do ROWS+=("$l"); done < <(grep '^| ' "$LOGS/train-device.log" | grep -v 'model build')
  else
    row "train step, optimizer on the device" "$(tail_of "$LOGS/train-device.log" 2)" "FAIL"
  fi
else
  row "train step, optimizer on the device" "skipped: out of time budget" "info"
fi

# ---------------------------------------------------------------- sampling timing
lim=$(( $(left) - 10 ))
(( lim > 150 )) && lim=150
if stage "$lim" "$LOGS/sample.log" "$B/gpu_bench" sample models/mdlm.dsl 20 "${DEFS[@]}"; then
  while IFS= read -r l; do ROWS+=("$l"); done < <(grep '^| ' "$LOGS/sample.log" | grep -v 'model build')
else
  row "sampling timing" "$(tail_of "$LOGS/sample.log" 2)" "FAIL"
fi
# the whole sampler loop: host path, then resident loop state (no transfers, no waits inside the
# loop), every call a replayed CUDA graph
lim=$(( $(left) - 10 ))
(( lim > 120 )) && lim=120
if stage "$lim" "$LOGS/sample-loop.log" env DLM_CUDA_GRAPHS=1 "$B/gpu_bench" loop models/mdlm.dsl 20 "${DEFS[@]}"; then
  while IFS= read -r l; do ROWS+=("$l"); done < <(grep '^| ' "$LOGS/sample-loop.log" | grep -v 'model build')
else
  while IFS= read -r l; do ROWS+=("$l"); FAILS=$((FAILS + 1)); done < <(grep '^| sampler loop, resident' "$LOGS/sample-loop.log")
  row "sampler loop [CUDA graphs]" "$(tail_of "$LOGS/sample-loop.log" 2)" "FAIL"
fi

# ---------------------------------------------------------------- NVRTC sm_80 + sm_90 of every model function (if time is left)
if (( $(left) > 150 )); then
  if stage $(( $(left) - 10 )) "$LOGS/nvrtc-all.log" "$B/test_cuda_nvrtc"; then
    row "NVRTC sm_80+sm_90, every model function" "$(grep -o 'test_cuda_nvrtc: .*' "$LOGS/nvrtc-all.log" | tail -1)" "PASS"
  else
    row "NVRTC sm_80+sm_90, every model function" "$(grep -m2 'check failed' "$LOGS/nvrtc-all.log" | tr '\n|' '  ' | cut -c1-300) $(tail_of "$LOGS/nvrtc-all.log" 1)" "FAIL"
  fi
else
  row "NVRTC sm_80+sm_90, every model function" "skipped: out of time budget (run build-gpu/test_cuda_nvrtc)" "info"
fi

print_table
echo "failures: $FAILS (logs in $LOGS)"
(( FAILS == 0 ))
