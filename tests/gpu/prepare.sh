#!/usr/bin/env bash
# prepare.sh — builds the GPU check's programs HERE (a machine with the CUDA toolkit, flex, bison and
# OpenBLAS) into .gpu/build, and copies the OpenBLAS header and libraries the CPU backend's
# run-time kernel compiles need into .gpu/deps, for a GPU machine that has a C compiler and CUDA
# but none of those. Then, on the GPU machine (with .gpu carried along):
#   CHECK_PREBUILT=1 bash tests/gpu/check.sh
# (check.sh then skips configure/build and uses .gpu/build and .gpu/deps). Add `.gpu/` to
# .git/info/exclude so it is never committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
# what a check.sh run here left (logs, kernel caches) would only make .gpu larger to carry
rm -rf .gpu/build/check-logs .gpu/build/kernel-cache .gpu/build/cuda-kernel-cache .gpu/build/cpu-kernel-cache
LENIENT="-Wno-error=maybe-uninitialized -Wno-error=format-truncation -Wno-error=stringop-truncation -Wno-error=stringop-overflow -Wno-error=array-bounds -Wno-error=restrict"
cmake -S . -B .gpu/build -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS=$LENIENT" -DCUDAToolkit_ROOT=/usr/local/cuda >/dev/null
cmake --build .gpu/build -j "$(nproc)" --target dlm dlmc test_cuda_models test_cuda_nvrtc gpu_bench
mkdir -p .gpu/deps/include .gpu/deps/lib
blas_inc=$(dirname "$(readlink -f /usr/include/x86_64-linux-gnu/cblas.h)")
cp "$blas_inc/cblas.h" "$blas_inc/openblas_config.h" .gpu/deps/include/
blas_lib=$(readlink -f /usr/lib/x86_64-linux-gnu/libopenblas.so.0)
cp "$blas_lib" .gpu/deps/lib/libopenblas.so.0
ln -sf libopenblas.so.0 .gpu/deps/lib/libopenblas.so
for l in libgfortran.so.5 libquadmath.so.0; do cp "$(readlink -f /lib/x86_64-linux-gnu/$l)" ".gpu/deps/lib/$l"; done
du -sh .gpu
# the device tool carries at most 64 MiB
kb=$(du -sk .gpu | cut -f1)
if (( kb > 60 * 1024 )); then echo "prepare.sh: .gpu is $((kb / 1024)) MiB, too large to carry (64 MiB with everything else)" >&2; exit 1; fi
