#!/usr/bin/env bash
# install-bench-deps.sh — optional: installs Debian's PyTorch (python3-torch, which brings
# python3-numpy) for /usr/bin/python3, used only by the peer benchmark (bench/pytorch_mdlm.py,
# bench/train_step.sh) and the golden check (tests/cli/golden_torch.sh, skipped without it).
# The main build and test suite never need it (scripts/install-deps.sh does not install it).
# Run as root; does nothing when torch and numpy already import.
set -euo pipefail
if /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  echo "install-bench-deps: torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3-torch python3-numpy >/dev/null
/usr/bin/python3 -c 'import torch; print("install-bench-deps: torch", torch.__version__)'
