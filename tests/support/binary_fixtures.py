"""Session fixtures: real host builds of PyTorch's ``speed_benchmark_torch``.

``host_binary_lite`` and ``host_binary_full`` return the
:class:`benchorch.build.Provenance` of binaries compiled from the real
``binaries/speed_benchmark_torch.cc`` in ``$BENCHORCH_PYTORCH_SRC`` against
Debian's libtorch-dev (about 10-15 s each the first time). They are cached in
``$BENCHORCH_TEST_CACHE/builds`` when that is set, so a second test session
reuses them at once; otherwise in a per-session temporary folder.

``provenance.path`` is the binary; ``provenance.flavour`` is ``"lite"`` or
``"full_jit"``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchorch.build.provenance import Provenance

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SRC = REPO / ".cache" / "pytorch-src" / "pytorch-1.13.1"


def pytorch_src() -> Path:
    """The real PyTorch source tree the build tests use."""
    src = Path(os.environ.get("BENCHORCH_PYTORCH_SRC") or DEFAULT_SRC)
    if not (src / "binaries" / "speed_benchmark_torch.cc").is_file():
        pytest.fail(
            f"PyTorch source not found at {src}: run tools/fetch-pytorch-src.sh "
            f"{REPO / '.cache' / 'pytorch-src'} (or set BENCHORCH_PYTORCH_SRC)"
        )
    return src


@pytest.fixture(scope="session")
def pytorch_source() -> Path:
    return pytorch_src()


@pytest.fixture(scope="session")
def binary_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("BENCHORCH_TEST_CACHE")
    if env:
        folder = Path(env) / "builds"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("builds")


def _build(flavour: str, cache: Path) -> Provenance:
    from benchorch.build import BuildRequest, build

    return build(BuildRequest(pytorch_root=pytorch_src(), flavour=flavour, cache_dir=cache))


@pytest.fixture(scope="session")
def host_binary_lite(binary_cache_dir: Path) -> Provenance:
    """A real lite-interpreter host build (loads .ptl and FlatBuffer)."""
    return _build("lite", binary_cache_dir)


@pytest.fixture(scope="session")
def host_binary_full(binary_cache_dir: Path) -> Provenance:
    """A real full-JIT host build (loads .pt, .ptl and FlatBuffer)."""
    return _build("full_jit", binary_cache_dir)
