"""Nightly end-to-end fixtures: virtual phones (x86_64 emulator profile) behind the
real adb server, the real host-built speed_benchmark_torch, real exported variants.

* ``nightly_env`` (per test): a results database, cache, lock and report
  folders in tmp; ``.config(**keys)`` writes a ``nightly.toml``;
  ``.invoke(*args)`` runs ``benchorch --db DB nightly ARGS`` in-process and
  ``.popen(*args)`` as a real subprocess (two triggers at once).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.adb_fixtures import AdbServer
from tests.sweep.conftest import DIMS, SweepEnv, small_variants, sweep_binaries

__all__ = ["DIMS", "NightlyEnv", "nightly_env", "small_variants", "sweep_binaries"]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


@dataclass
class NightlyEnv(SweepEnv):
    """``SweepEnv``'s database, environment, in-process and subprocess runs, for
    ``benchorch nightly``; ``config`` writes a nightly.toml."""

    def config(
        self, name: str = "nightly.toml", nightly: dict[str, Any] | None = None, **keys: Any
    ) -> Path:
        keys.setdefault("adb_server", f"127.0.0.1:{self.adb.port}")
        keys.setdefault("out", str(self.tmp / "reports"))
        lines = [f"{k} = {_toml(v)}" for k, v in keys.items()]
        if nightly:
            lines += ["", "[nightly]", *(f"{k} = {_toml(v)}" for k, v in nightly.items())]
        path = self.tmp / name
        path.write_text("\n".join(lines) + "\n")
        return path

    def argv(self, args: Sequence[str]) -> list[str]:
        return ["--db", str(self.db), "nightly", *args]


@pytest.fixture
def nightly_env(tmp_path: Path, adb_server: AdbServer) -> NightlyEnv:
    return NightlyEnv(tmp_path, adb_server)


def sweep_keys(variants: Path, binary: Path, **extra: Any) -> dict[str, Any]:
    """Small, fast night settings: few iterations, no cooling waits."""
    keys: dict[str, Any] = {
        "variants": str(variants),
        "binary": str(binary),
        "dims": DIMS,
        "iters": 3,
        "warmup": 1,
        "launches": 2,
        "load_launches": 0,
        "cooldown_temp": "off",
        "timeout": 60.0,
    }
    keys.update(extra)
    return keys
