"""A one-host lab on this machine for ``sweep --lab`` tests: the session's real PostgreSQL,
the real adb server with virtual phones (each with its session log), and real
``benchorch lab worker`` subprocesses; the real host-built speed_benchmark_torch.

``LabSweepEnv.sweep(...)`` runs ``benchorch sweep --lab`` as a subprocess; the
worker gets its own ``BENCHORCH_CACHE``, so the files it runs can only have come
through the lab database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from benchorch.virtualphone.harness import AdbServer, VirtualPhone
from tests.support.adb_fixtures import REPO
from tests.support.postgres import PgServer

BENCHORCH = [sys.executable, "-m", "benchorch"]
EMU = "x86_64_emulator"


@dataclass
class LabSweepEnv:
    tmp: Path
    url: str
    adb: AdbServer
    phones: list[VirtualPhone] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def toml(self) -> Path:
        return self.tmp / "lab.toml"

    def write_toml(
        self, models: Sequence[str] | None = None, phone_lines: Mapping[str, str] | None = None
    ) -> Path:
        """lab.toml for the phones; ``phone_lines``: serial -> more lines of its table."""
        text = f'[database]\nurl = "{self.url}"\n\n[hosts.lab-a]\nadb_port = {self.adb.port}\n'
        for i, phone in enumerate(self.phones):
            model = models[i] if models else "emu"
            text += f'\n[phones."{phone.serial}"]\nhost = "lab-a"\nmodel = "{model}"\n'
            text += (phone_lines or {}).get(phone.serial, "")
        self.toml.write_text(text)
        return self.toml

    def env(self, who: str) -> dict[str, str]:
        return {
            **os.environ,
            "BENCHORCH_CACHE": str(self.tmp / f"cache-{who}"),
            "BENCHORCH_LOCK_DIR": str(self.tmp / f"locks-{who}"),
            "ANDROID_ADB_SERVER_PORT": str(self.adb.port),
        }

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*BENCHORCH, *args],
            cwd=REPO,
            env=self.env("cli"),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def init(self) -> None:
        done = self.run("lab", "init", "--config", str(self.toml))
        assert done.returncode == 0, done.stderr

    def worker(self, host: str = "lab-a") -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "wb")
        proc = subprocess.Popen(
            [*BENCHORCH, "-v", "lab", "worker", "--config", str(self.toml), "--host", host],
            cwd=REPO,
            env=self.env(f"worker-{host}"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        return proc

    def control(self, stalled_after: str = "4s") -> subprocess.Popen[bytes]:
        """The control worker (the reaper of dead workers' jobs)."""
        log = open(self.tmp / "control.log", "wb")
        proc = subprocess.Popen(
            [
                *BENCHORCH,
                "lab",
                "worker",
                "--config",
                str(self.toml),
                "--control",
                "--stalled-after",
                stalled_after,
            ],
            cwd=REPO,
            env=self.env("control"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        return proc

    def sweep_argv(self, variants: Path, binary: Path, *args: str) -> list[str]:
        return [
            *BENCHORCH,
            "sweep",
            "--lab",
            str(self.toml),
            "--variants",
            str(variants),
            "--binary",
            str(binary),
            "--dims",
            "1,3,32,32",
            "--iter",
            "3",
            "--warmup",
            "1",
            "--timeout",
            "60",
            "--out",
            str(self.tmp / "reports"),
            "--quiet",
            *args,
        ]

    def sweep_popen(self, variants: Path, binary: Path, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.sweep_argv(variants, binary, *args),
            cwd=REPO,
            env=self.env("cli"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with psycopg.connect(self.url, autocommit=True, row_factory=dict_row) as conn:
            return list(conn.execute(sql, params).fetchall())  # type: ignore[arg-type]

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait(10)


@pytest.fixture
def labenv(tmp_path: Path, postgres: PgServer, adb_server: AdbServer) -> Iterator[LabSweepEnv]:
    """A one-host lab on a database of its own; its workers are stopped at the end."""
    env = LabSweepEnv(tmp_path, postgres.url(postgres.new_database()), adb_server)
    yield env
    env.stop()
