#!/usr/bin/env bash
# install-deps.sh — installs the Debian packages dlmc needs to build and test (run as root).
# Skips apt entirely when everything is already present.
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v cc >/dev/null || need+=(gcc)
command -v clang >/dev/null || need+=(clang)
command -v flex >/dev/null || need+=(flex)
command -v bison >/dev/null || need+=(bison)
[ -e /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ] || [ -e /usr/include/openblas/cblas.h ] || need+=(libopenblas-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
