"""Fixtures for end-to-end sweeps on virtual phones with the real speed_benchmark_torch.

* ``small_variants`` (session): three real exported files of ``demo:conv_bn_relu``
  at ``1,3,32,32`` (a full-JIT ``.pt``, a lite ``.ptl`` and a FlatBuffer), copied
  with a manifest that lists only them, so a sweep stays a few seconds long.
* ``emulator`` (per test): an x86_64 virtual phone; ``lite``: the real lite binary.
* ``sweep_env`` (per test): a results database, cache, lock and report folders
  in tmp, the adb server's port, and ``.invoke(*args)`` running
  ``benchorch --db DB sweep ARGS`` through click's ``CliRunner``, or
  ``.popen(*args)`` as a real subprocess (for signals), or ``.python(code, *args)``
  for a ``python -c`` wrapper around one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from benchorch.build.provenance import Provenance
from benchorch.variants.manifest import Manifest
from tests.support.adb_fixtures import REPO, AdbServer, VirtualPhone

#: the files a sweep test times: one per format, all from the real exporter
SMALL_FILES = ("baseline.pt", "baseline.ptl", "fused.ff.ptl")
DIMS = "1,3,32,32"

PEP_RE = re.compile(r"^PyTorchObserver (\{.*\})\s*$", re.MULTILINE)
US_RE = re.compile(r"Microseconds per iter: ([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|inf|nan)")


@pytest.fixture(scope="session")
def small_variants(exported_variants: Manifest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = exported_variants.root
    dst = tmp_path_factory.mktemp("sweep-variants") / "conv_bn_relu"
    dst.mkdir()
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["files"] = [f for f in manifest["files"] if f["name"] in SMALL_FILES]
    assert sorted(f["name"] for f in manifest["files"]) == sorted(SMALL_FILES)
    for f in manifest["files"]:
        shutil.copy2(src / f["path"], dst / f["path"])
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return dst


@pytest.fixture(scope="session")
def sweep_binaries(
    host_binary_lite: Provenance,
    host_binary_full: Provenance,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """Copies of the real host builds ("lite", "full_jit") with their provenance files.

    ``--binary`` registers a binary (rewrites its provenance file), so the
    sweeps get their own copies and the shared build cache is left alone.
    """
    out: dict[str, Path] = {}
    for prov in (host_binary_lite, host_binary_full):
        folder = tmp_path_factory.mktemp(f"binary-{prov.flavour}")
        src = Path(prov.path)
        dst = folder / src.name
        shutil.copy2(src, dst)
        sidecar = src.with_name(src.name + ".provenance.json")
        if sidecar.is_file():
            shutil.copy2(sidecar, dst.with_name(dst.name + ".provenance.json"))
        out[prov.flavour] = dst
    return out


@dataclass
class SweepEnv:
    tmp: Path
    adb: AdbServer

    @property
    def db(self) -> Path:
        return self.tmp / "results.sqlite"

    @property
    def out(self) -> Path:
        return self.tmp / "reports"

    @property
    def adb_addr(self) -> str:
        return f"127.0.0.1:{self.adb.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "ANDROID_ADB_SERVER_PORT": str(self.adb.port),
            "BENCHORCH_CACHE": str(self.tmp / "cache"),
            "BENCHORCH_LOCK_DIR": str(self.tmp / "locks"),
            "BENCHORCH_DB": str(self.db),
        }

    def argv(self, args: Sequence[str]) -> list[str]:
        return ["--db", str(self.db), "sweep", "--adb", self.adb_addr, "--quiet", *args]

    def invoke(self, *args: str) -> Result:
        runner = CliRunner()
        from benchorch.cli.main import cli

        return runner.invoke(cli, self.argv(args), env=self.env, catch_exceptions=False)

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

    def python(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -c CODE ARGS`` in the repository with this sweep's environment (a
        ``benchorch`` started by a wrapper that changes or watches the process)."""
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=REPO,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """A read straight from the database file (independent of the Store class)."""
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        con.row_factory = sqlite3.Row
        try:
            return list(con.execute(sql, params))
        finally:
            con.close()

    def count(self, serial: str | None = None) -> int:
        if not self.db.exists():
            return 0
        try:
            if serial is None:
                return int(self.rows("SELECT count(*) FROM launches")[0][0])
            return int(
                self.rows("SELECT count(*) FROM launches WHERE device_serial = ?", (serial,))[0][0]
            )
        except sqlite3.OperationalError:  # not created yet
            return 0


@pytest.fixture
def sweep_env(tmp_path: Path, adb_server: AdbServer) -> SweepEnv:
    return SweepEnv(tmp_path, adb_server)


@pytest.fixture
def emulator(virtual_phone: Callable[..., VirtualPhone]) -> VirtualPhone:
    """An x86_64 virtual phone: it runs host-built binaries (the real lite
    speed_benchmark_torch, the ExecuTorch host runner)."""
    return virtual_phone(profile="x86_64_emulator")


@pytest.fixture
def lite(sweep_binaries: dict[str, Path]) -> Path:
    """The real lite speed_benchmark_torch (a copy: see ``sweep_binaries``)."""
    return sweep_binaries["lite"]


def common_args(variants: Path, binary: Path, *extra: str) -> list[str]:
    """Small, fast sweep settings: few iterations, no cooling waits."""
    return [
        "--variants",
        str(variants),
        "--binary",
        str(binary),
        "--dims",
        DIMS,
        "--iter",
        "3",
        "--warmup",
        "1",
        "--timeout",
        "60",
        *extra,
    ]


def run_id_of(result_output: str) -> str:
    """The run id from the summary's first line (``run ID: STATUS``)."""
    m = re.search(r"^run (\S+): (\S+)$", result_output, re.MULTILINE)
    assert m, result_output
    return m.group(1)
