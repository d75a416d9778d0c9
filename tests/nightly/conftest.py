"""Nightly end-to-end fixtures: virtual phones (x86_64 emulator profile) behind the
real adb server, the real host-built speed_benchmark_torch, real exported variants.

* ``nightly_env`` (per test): a results database, cache, lock and report
  folders in tmp; ``.config(**keys)`` writes a ``nightly.toml``;
  ``.invoke(*args)`` runs ``benchorch --db DB nightly ARGS`` in-process and
  ``.popen(*args)`` as a real subprocess (two triggers at once).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.support.adb_fixtures import REPO, AdbServer
from tests.sweep.conftest import DIMS, small_variants, sweep_binaries

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
class NightlyEnv:
    tmp: Path
    adb: AdbServer

    @property
    def db(self) -> Path:
        return self.tmp / "results.sqlite"

    @property
    def env(self) -> dict[str, str]:
        return {
            "ANDROID_ADB_SERVER_PORT": str(self.adb.port),
            "BENCHORCH_CACHE": str(self.tmp / "cache"),
            "BENCHORCH_LOCK_DIR": str(self.tmp / "locks"),
            "BENCHORCH_DB": str(self.db),
        }

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

    def invoke(self, *args: str) -> Result:
        from benchorch.cli.main import cli

        return CliRunner().invoke(cli, self.argv(args), env=self.env, catch_exceptions=False)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "benchorch", *self.argv(args)],
            cwd=REPO,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        con.row_factory = sqlite3.Row
        try:
            return list(con.execute(sql, params))
        finally:
            con.close()


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
