"""benchorch lab adb: only the holder of a phone's reservation runs adb on it (a real
PostgreSQL, a real worker holding the reservation, Debian's adb server, a virtual phone)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.lab.conftest import write_lab_toml
from tests.lab.test_lab_cli import BENCHORCH, lab

pytestmark = pytest.mark.slow


def _as(user: str) -> dict[str, str]:
    return {**os.environ, "LOGNAME": user, "USER": user}


def test_lab_adb_runs_only_for_the_holder(
    tmp_path: Path, lab_db: str, adb_server: Any, virtual_phone: Any
) -> None:
    phone = virtual_phone(profile="pixel8")
    config = write_lab_toml(
        tmp_path,
        lab_db,
        f"\n[hosts.edge]\nadb_port = {adb_server.port}\n"
        f'\n[phones."{phone.serial}"]\nhost = "edge"\nmodel = "pixel_8"\n',
    )
    assert lab(config, "init")[0] == 0
    worker = subprocess.Popen(
        [*BENCHORCH, "lab", "worker", "--config", str(config), "--host", "edge"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def run(user: str, *args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*BENCHORCH, "lab", *args, "--config", str(config)] if args[0] != "adb"
                else [*BENCHORCH, "lab", "adb", "--config", str(config), *args[1:]],
                capture_output=True, text=True, env=_as(user), timeout=120,
            )  # fmt: skip

        refused = run("alice", "adb", phone.serial, "--", "shell", "echo", "hi")
        assert refused.returncode == 2 and "do not hold it" in refused.stderr
        held = run("alice", "reserve", phone.serial, "--ttl", "1h", "--wait", "60s")
        assert held.returncode == 0, held.stderr
        ok = run("alice", "adb", phone.serial, "--", "shell", "echo", "hi")
        assert ok.returncode == 0 and ok.stdout.strip() == "hi", ok.stderr
        other = run("bob", "adb", phone.serial, "--", "shell", "echo", "hi")
        assert other.returncode == 2 and "bob" in other.stderr and "hi" not in other.stdout
        failing = run("alice", "adb", phone.serial, "--", "shell", "exit 7")
        assert failing.returncode == 1
        assert run("alice", "release", phone.serial).returncode == 0
        after = run("alice", "adb", phone.serial, "--", "shell", "echo", "hi")
        assert after.returncode == 2
    finally:
        worker.kill()
        worker.wait(10)
