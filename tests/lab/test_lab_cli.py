"""benchorch lab init/devices/reserve/release/quarantine and a real worker, on a real PostgreSQL.

The worker is a real ``benchorch lab worker`` subprocess; the exclusivity checks read
both benchorch's attempts (the fencing tokens) and procrastinate's own job rows.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from benchorch.lab import queue, state
from benchorch.lab.config import load_lab_config

BENCHORCH = [sys.executable, "-m", "benchorch"]


def lab(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["lab", *args, "--config", str(config)])
    return result.exit_code, result.output


@pytest.fixture
def worker(ready: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [*BENCHORCH, "lab", "worker", "--config", str(ready), "--host", "lab-a"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def _url(config: Path) -> str:
    return load_lab_config(config).database_url


def _doing(config: Path, serial: str) -> list[queue.JobRow]:
    return [
        j
        for j in queue.jobs_on_lock(_url(config), queue.device_lock(serial))
        if j.status == "doing"
    ]


def _attempts(config: Path, serial: str) -> list[state.Attempt]:
    with state.connect(_url(config)) as conn:
        rows = conn.execute(
            "SELECT * FROM benchorch_lab_attempts WHERE serial = %s ORDER BY token", (serial,)
        ).fetchall()
    return [state.Attempt(**r) for r in rows]


def test_init_is_idempotent_even_twice_at_once(lab_toml: Path) -> None:
    with ThreadPoolExecutor(2) as pool:
        runs = list(
            pool.map(
                lambda _: subprocess.run(
                    [*BENCHORCH, "lab", "init", "--config", str(lab_toml)],
                    capture_output=True,
                    text=True,
                ),
                range(2),
            )
        )
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert sorted("created" in r.stdout for r in runs) == [False, True]
    code, out = lab(lab_toml, "init")
    assert code == 0 and "already there" in out
    code, out = lab(lab_toml, "devices", "--json")
    rows = json.loads(out)
    assert [(d["serial"], d["host"], d["model"], d["state"]) for d in rows] == [
        ("PHONE1", "lab-a", "pixel_7", "good"),
        ("PHONE2", "lab-a", "pixel_7", "good"),
        ("PHONE3", "lab-b", "galaxy_s22", "good"),
    ]


def test_commands_before_init_and_on_a_dead_database(lab_toml: Path, tmp_path: Path) -> None:
    code, out = lab(lab_toml, "devices")
    assert code == 2 and "lab init" in out
    dead = tmp_path / "dead.toml"
    dead.write_text('[database]\nurl = "postgresql://u:hunter2@127.0.0.1:1/x"\n')
    code, out = lab(dead, "devices")
    assert code == 3 and "127.0.0.1:1" in out and "hunter2" not in out and "***" in out


def test_quarantine_refuses_reservations_until_cleared(ready: Path) -> None:
    code, out = lab(ready, "quarantine", "PHONE2", "--reason", "battery swollen")
    assert code == 0, out
    code, out = lab(ready, "devices", "--json")
    phone2 = next(d for d in json.loads(out) if d["serial"] == "PHONE2")
    assert (phone2["state"], phone2["state_reason"]) == ("quarantined", "battery swollen")
    code, out = lab(ready, "reserve", "PHONE2", "--wait", "0")
    assert code == 2 and "quarantined (battery swollen)" in out and "unquarantine" in out
    assert queue.jobs_on_lock(_url(ready), queue.device_lock("PHONE2")) == []
    code, out = lab(ready, "unquarantine", "PHONE2")
    assert code == 0 and "good" in out
    code, out = lab(ready, "reserve", "NOPE", "--wait", "0")
    assert code == 2 and "NOPE" in out


def test_reservation_holds_the_phone_lock_until_released(
    ready: Path, worker: subprocess.Popen[bytes]
) -> None:
    code, out = lab(ready, "reserve", "PHONE1", "--ttl", "1h", "--note", "bisect", "--wait", "60s")
    assert code == 0 and "reserved by" in out, out
    assert len(_doing(ready, "PHONE1")) == 1
    code, out = lab(ready, "devices", "--json")
    owner = next(d for d in json.loads(out) if d["serial"] == "PHONE1")["owner"]
    assert owner["kind"] == "reservation" and owner["token"] == _attempts(ready, "PHONE1")[0].token
    # the same phone again: queued behind the lock, not held
    code, out = lab(ready, "reserve", "PHONE1", "--wait", "3s")
    assert code == 3 and "not held" in out
    assert len(_doing(ready, "PHONE1")) == 1 and len(_attempts(ready, "PHONE1")) == 1
    code, out = lab(ready, "release", "PHONE1")
    assert code == 0, out
    deadline = time.monotonic() + 15
    while _doing(ready, "PHONE1") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _doing(ready, "PHONE1") == []  # no lock left held
    (a,) = _attempts(ready, "PHONE1")  # the queued one was cancelled, never ran
    assert a.outcome == "released" and a.ended_at is not None
    code, out = lab(ready, "release", "PHONE1")
    assert code == 2 and "no reservation" in out


def test_an_expired_reservation_hands_the_phone_over_without_overlap(
    ready: Path, worker: subprocess.Popen[bytes]
) -> None:
    code, out = lab(ready, "reserve", "PHONE1", "--ttl", "2s", "--wait", "60s")
    assert code == 0, out
    code, out = lab(ready, "reserve", "PHONE1", "--ttl", "1h", "--wait", "60s")
    assert code == 0, out
    first, second = _attempts(ready, "PHONE1")
    assert first.outcome == "released" and first.ended_at is not None
    assert first.ended_at <= second.started_at and second.ended_at is None
    with state.connect(_url(ready)) as conn:
        ends = [e["event"] for e in state.events(conn, "PHONE1")]
    assert "reservation:expired" in ends
    # PHONE2 on the same host is not blocked by PHONE1's reservation
    code, out = lab(ready, "reserve", "PHONE2", "--ttl", "1h", "--wait", "30s")
    assert code == 0, out


def test_sigterm_stops_the_worker_and_hands_its_holds_back(
    ready: Path, worker: subprocess.Popen[bytes]
) -> None:
    code, out = lab(ready, "reserve", "PHONE1", "--ttl", "1h", "--wait", "60s")
    assert code == 0, out
    with state.connect(_url(ready)) as conn:
        (before,) = state.active_reservations(conn, "PHONE1")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.stderr.read() if worker.stderr else ""
    assert _doing(ready, "PHONE1") == []
    (job,) = queue.jobs_on_lock(_url(ready), queue.device_lock("PHONE1"))
    assert job.status == "todo"  # handed back, not lost
    (a,) = _attempts(ready, "PHONE1")
    assert a.outcome == "handed back"
    code, out = lab(ready, "devices", "--json")
    assert next(d for d in json.loads(out) if d["serial"] == "PHONE1")["owner"] is None
    # the next worker of the host takes the reservation over: same expiry, new token
    restarted = subprocess.Popen(
        [*BENCHORCH, "lab", "worker", "--config", str(ready), "--host", "lab-a"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while len(_attempts(ready, "PHONE1")) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        first, second = _attempts(ready, "PHONE1")
        assert first.outcome == "handed back" and second.ended_at is None
        with state.connect(_url(ready)) as conn:
            (after,) = state.active_reservations(conn, "PHONE1")
        assert (after.status, after.token, after.expires_at) == (
            "held",
            second.token,
            before.expires_at,
        )
        assert len(_doing(ready, "PHONE1")) == 1
    finally:
        restarted.kill()
        restarted.wait(10)


def test_a_later_attempt_fences_the_earlier_one(ready: Path) -> None:
    with state.connect(_url(ready)) as conn:
        old = state.begin_attempt(conn, "PHONE3", "sweep", "w1", None)
        assert state.is_current(conn, "PHONE3", old)
        new = state.begin_attempt(conn, "PHONE3", "sweep", "w2", None)
        assert not state.is_current(conn, "PHONE3", old)
        assert state.is_current(conn, "PHONE3", new)
        got = state.attempt(conn, old)
        assert got is not None and got.outcome == "superseded"
        state.end_attempt(conn, new, "ok")
        assert not state.is_current(conn, "PHONE3", new)


def test_the_executors_fence_follows_the_token_and_fails_closed(ready: Path) -> None:
    url = _url(ready)
    with state.connect(url) as conn:
        old = state.begin_attempt(conn, "PHONE3", "sweep", "w1", None)
    fence = state.fence(url, "PHONE3", old)
    assert fence()
    with state.connect(url) as conn:
        state.begin_attempt(conn, "PHONE3", "sweep", "w2", None)
    assert not fence()
    unreachable = state.fence("postgresql://u:p@127.0.0.1:1/x", "PHONE3", old)
    assert unreachable() is False
