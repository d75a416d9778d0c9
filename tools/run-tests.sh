#!/usr/bin/env bash
# The whole suite: the main environment (torch 2.13), then the exporter's tests
# again under Debian's torch 1.13.1 (which has XNNPACK, so `mobile` is exercised).
set -uo pipefail
cd "$(dirname "$0")/.."
export BENCHORCH_PYTORCH_SRC=${BENCHORCH_PYTORCH_SRC:-$PWD/.cache/pytorch-src/pytorch-1.13.1}
export BENCHORCH_TEST_CACHE=${BENCHORCH_TEST_CACHE:-$PWD/.cache/test}
mkdir -p "$BENCHORCH_TEST_CACHE"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ $# -eq 0 ]; then
  .venv-debian/bin/python -m pytest -q -p no:cacheprovider -m debian_torch tests/variants
  rc2=$?
  # exit 5 = "no tests collected": not a failure of the Debian pass if none are marked yet
  [ $rc2 -eq 5 ] && rc2=0
  [ $rc -eq 0 ] && rc=$rc2
fi
exit $rc
