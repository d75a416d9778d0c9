"""A benchmark ``Binary`` as the planner sees it, for tests that need no real file.

The planner reads only a binary's flavour and accepted bytecode range; the
rest of the provenance is filled with plain, valid values.
"""

from __future__ import annotations

from pathlib import Path

from benchorch.build.provenance import Provenance
from benchorch.domain import Flavour
from benchorch.sweep.inputs import Binary


def binary(
    flavour: Flavour,
    bytecode_min: int | None,
    bytecode_max: int | None,
    *,
    path: Path = Path("/cache/speed_benchmark_torch"),
) -> Binary:
    """A registered android binary of ``flavour`` accepting ``bytecode_min``-``bytecode_max``,
    whose file is ``path`` (pushed by the executor; the planner never reads it)."""
    prov = Provenance(
        path=str(path),
        sha256=f"{flavour.value}-{bytecode_min}-{bytecode_max}".encode().hex().ljust(64, "0"),
        size_bytes=1_000_000,
        origin="registered",
        target="android",
        abi="arm64-v8a",
        flavour=flavour.value,
        bytecode_min=bytecode_min,
        bytecode_max=bytecode_max,
    )
    return Binary.from_provenance(prov)
