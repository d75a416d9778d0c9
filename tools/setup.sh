#!/usr/bin/env bash
# Set up everything benchorch's demo and tests need, on a fresh Debian machine.
#   tools/setup.sh            system packages (root only), PyTorch source, .venv, .venv-debian
# Idempotent: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}

SYSTEM_PACKAGES="adb libtorch-dev python3-torch python3-venv openssh-server chromium chromium-driver g++ xz-utils mksh postgresql"

missing=()
for p in $SYSTEM_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 3
  fi
fi

# PyTorch's real source (binaries/speed_benchmark_torch.cc, scripts/build_android.sh)
tools/fetch-pytorch-src.sh "$ROOT/.cache/pytorch-src"

# The main environment: benchorch, its dev tools, torch 2.13 (CPU wheel; never CUDA) and
# the executorch extra (executorch 1.5.1 and torchao: no torch of their own).
if [ ! -x .venv/bin/benchorch ] || [ pyproject.toml -nt .venv/.stamp ]; then
  [ -d .venv ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[torch,executorch,dev]"
  touch .venv/.stamp
fi

# A second environment on Debian's torch 1.13.1 (it has XNNPACK), for the
# exporter's tests on both torches. benchorch goes in without its torch extra:
# Debian's "1.13.0a0" is a pre-release to pip and must not be replaced.
if [ ! -x .venv-debian/bin/benchorch ] || [ pyproject.toml -nt .venv-debian/.stamp ]; then
  [ -d .venv-debian ] || /usr/bin/python3 -m venv --system-site-packages .venv-debian
  .venv-debian/bin/python -m pip install -q --upgrade pip
  .venv-debian/bin/python -m pip install -q -c tools/debian-constraints.txt -e ".[dev]"
  touch .venv-debian/.stamp
fi
echo "setup: ok"
