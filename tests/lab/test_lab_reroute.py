"""Re-routing a ``sweep --lab`` part: two hosts, each its own real adb server with one
virtual phone of the same model, a worker per host, the real PostgreSQL and binary.

A part whose host is down, or whose phone is gone, moves to the other host's phone;
with no healthy phone of its model left it ends "not run" with the reason (exit 3).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchorch.lab import state
from benchorch.virtualphone.harness import AdbServer, VirtualPhone
from tests.lab.sweep_support import EMU, LabSweepEnv
from tests.support.postgres import PgServer
from tests.support.sessions import read_sessions

pytestmark = pytest.mark.slow


class TwoHosts:
    def __init__(self, env: LabSweepEnv, tmp: Path) -> None:
        self.env = env
        self.servers = [AdbServer(tmp / f"adb-{h}") for h in ("a", "b")]
        self.phones: list[VirtualPhone] = []
        self.logs = [tmp / f"sessions-{h}.jsonl" for h in ("a", "b")]
        for server, h in zip(self.servers, ("a", "b"), strict=True):
            server.start()
            root = tmp / f"phone-{h}"
            root.mkdir()
            phone = VirtualPhone(
                server,
                root,
                EMU,
                {},
                tmp / f"phone-{h}.log",
                session_log=tmp / f"sessions-{h}.jsonl",
            )
            phone.start()
            self.phones.append(phone)
        text = f'[database]\nurl = "{env.url}"\n'
        for server, h in zip(self.servers, ("a", "b"), strict=True):
            text += f"\n[hosts.lab-{h}]\nadb_port = {server.port}\n"
        for phone, h in zip(self.phones, ("a", "b"), strict=True):
            text += f'\n[phones."{phone.serial}"]\nhost = "lab-{h}"\nmodel = "emu"\n'
        env.toml.write_text(text)
        env.init()

    def host_status(self, name: str) -> str | None:
        with state.connect(self.env.url) as conn:
            row = state.hosts(conn).get(name)
        return None if row is None else row.status

    def wait_host(self, name: str, status: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.host_status(name) != status:
            assert time.monotonic() < deadline, f"{name} never {status}"
            time.sleep(0.3)

    def close(self) -> None:
        for phone in self.phones:
            phone.close()
        for server in self.servers:
            server.stop()


@pytest.fixture
def lab2(tmp_path: Path, postgres: PgServer, adb_server: AdbServer) -> Iterator[TwoHosts]:
    env = LabSweepEnv(tmp_path, postgres.url(postgres.new_database()), adb_server)
    hosts = TwoHosts(env, tmp_path)
    try:
        yield hosts
    finally:
        env.stop()
        hosts.close()


def _sweep(lab2: TwoHosts, variants: Path, binary: Path, serial: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    proc = lab2.env.sweep_popen(
        variants, binary, "--device", serial, "--launches", "2", "--load-launches", "0", "--json"
    )
    out, err = proc.communicate(timeout=240)
    assert out.strip(), err
    return proc.returncode, json.loads(out)


def test_a_part_on_a_down_host_moves_to_a_phone_of_its_model_on_another_host(
    lab2: TwoHosts, small_variants: Path, sweep_binaries: dict[str, Path]
) -> None:
    a, b = lab2.phones
    lab2.env.worker("lab-a")
    lab2.env.worker("lab-b")
    lab2.wait_host("lab-a", "up")
    lab2.servers[0].stop()  # host lab-a's adb server is gone: its worker marks it down
    lab2.wait_host("lab-a", "down")
    code, summary = _sweep(lab2, small_variants, sweep_binaries["lite"], a.serial)
    assert code == 0, summary
    assert list(summary["devices"]) == [b.serial]
    moved = summary["devices"][b.serial]
    assert moved["status"] == "ok" and moved["done"] == moved["total"] > 0
    assert f"moved from {a.serial}" in moved["message"] and "lab-a is down" in moved["message"]
    rows = lab2.env.rows(
        "SELECT DISTINCT device_serial FROM launches WHERE run_id = %s", (summary["run_id"],)
    )
    assert [r["device_serial"] for r in rows] == [b.serial]
    assert len(read_sessions(lab2.logs[1])) == moved["total"]
    assert not read_sessions(lab2.logs[0])


def test_a_part_whose_phone_is_gone_moves_and_with_no_phone_left_it_is_not_run(
    lab2: TwoHosts, small_variants: Path, sweep_binaries: dict[str, Path]
) -> None:
    a, b = lab2.phones
    lab2.env.worker("lab-a")
    lab2.env.worker("lab-b")
    lab2.wait_host("lab-a", "up")
    a.close()  # the phone is pulled; its host stays up
    lab2.servers[0].wait_state(a.serial, None)
    code, summary = _sweep(lab2, small_variants, sweep_binaries["lite"], a.serial)
    assert code == 0, summary
    moved = summary["devices"][b.serial]
    assert moved["status"] == "ok" and f"moved from {a.serial}" in moved["message"]
    # the attempt that found it gone counts against the phone (an infrastructure failure)
    with state.connect(lab2.env.url) as conn:
        row = state.device(conn, a.serial)
    assert row is not None and row.failure_streak == 1

    # now the other phone is quarantined too: nothing of model emu is left
    q = lab2.env.run(
        "lab", "quarantine", b.serial, "--reason", "cracked screen", "--config", str(lab2.env.toml)
    )
    assert q.returncode == 0, q.stderr
    code, summary = _sweep(lab2, small_variants, sweep_binaries["lite"], a.serial)
    assert code == 3, summary
    gone = summary["devices"][a.serial]
    assert gone["status"] == "not run" and gone["done"] == 0
    assert a.serial in gone["message"] and "no other healthy phone of model emu" in gone["message"]
