"""A lab's processes for the lab benchmarks: ``benchorch lab init`` and workers as real
subprocesses, and their CPU time read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BENCHORCH = [sys.executable, "-m", "benchorch"]


def cpu_s(pid: int) -> float:
    """A process's CPU time so far (user + system), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lab_init(config: Path) -> None:
    subprocess.run(
        [*BENCHORCH, "lab", "init", "--config", str(config)], check=True, capture_output=True
    )


def lab_worker(config: Path, host: str) -> subprocess.Popen[bytes]:
    """``benchorch lab worker`` for ``host``, its output dropped."""
    return subprocess.Popen(
        [*BENCHORCH, "lab", "worker", "--config", str(config), "--host", host],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def idle_cpu_per_minute(
    procs: list[subprocess.Popen[bytes]], seconds: float, settle: float = 5.0
) -> tuple[list[float], float]:
    """Each process's CPU seconds per minute over ``seconds`` of wall time, after
    ``settle`` seconds (past their start-up); and the wall time measured."""
    time.sleep(settle)
    before, t0 = [cpu_s(p.pid) for p in procs], time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    return [(cpu_s(p.pid) - b) / wall * 60 for p, b in zip(procs, before, strict=True)], wall
