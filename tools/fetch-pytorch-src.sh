#!/usr/bin/env bash
# Fetch PyTorch 1.13.1's source from Debian's `pytorch` source package into DEST.
# The deb-src entry is made from the machine's own first apt source stanza, so
# no mirror address is written into this project.
set -euo pipefail
DEST=${1:?usage: fetch-pytorch-src.sh DEST}
if [ -f "$DEST/pytorch-1.13.1/binaries/speed_benchmark_torch.cc" ]; then exit 0; fi
mkdir -p "$DEST"
tarball=$(ls "$DEST"/pytorch_*.orig.tar.xz 2>/dev/null | head -n1 || true)
if [ -z "$tarball" ]; then
  src_list=/etc/apt/sources.list.d/benchorch-src.sources
  if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null; then
    if [ "$(id -u)" != 0 ]; then
      echo "fetch-pytorch-src: no deb-src apt source; as root, rerun tools/setup.sh" >&2; exit 3
    fi
    awk 'BEGIN{RS="";ORS="\n\n"} NR==1' /etc/apt/sources.list.d/debian.sources \
      | sed 's/^Types: deb$/Types: deb-src/' > "$src_list"
    apt-get update -qq
  fi
  # The Debian tarball beside the orig one may be missing upstream; the orig is enough.
  (cd "$DEST" && apt-get source --download-only pytorch >/dev/null 2>&1 || true)
  tarball=$(ls "$DEST"/pytorch_*.orig.tar.xz 2>/dev/null | head -n1 || true)
  [ -n "$tarball" ] || { echo "fetch-pytorch-src: could not download pytorch's source package" >&2; exit 3; }
fi
tar -C "$DEST" -xf "$tarball"
test -f "$DEST/pytorch-1.13.1/binaries/speed_benchmark_torch.cc"
