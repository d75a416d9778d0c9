"""Recovery on a real PostgreSQL with real worker subprocesses: a worker SIGKILLed while it
holds a phone, and a worker SIGSTOPped past its heartbeat then resumed (the split brain).

The phone's use here is a reservation's hold job (sweep parts through the lab are not built
yet); what is asserted is benchorch's fencing: one open attempt per phone at any time, the
dead or paused worker's attempt superseded by the retry's, and nothing written by it after.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchorch.lab import queue, state
from tests.lab.test_lab_cli import BENCHORCH, _attempts, _doing, _url, lab

pytestmark = pytest.mark.slow
Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn(ready: Path) -> Iterator[Spawn]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*BENCHORCH, "lab", "worker", "--config", str(ready), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait(10)


def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _reservation(config: Path) -> state.Reservation:
    with state.connect(_url(config)) as conn:
        (r,) = state.active_reservations(conn, "PHONE1")
    return r


def _one_open_attempt_at_a_time(attempts: list[state.Attempt]) -> None:
    for earlier, later in itertools.pairwise(attempts):
        assert earlier.ended_at is not None and earlier.ended_at <= later.started_at


def test_a_killed_workers_hold_is_retried_by_another_worker(ready: Path, spawn: Spawn) -> None:
    first = spawn("--host", "lab-a")
    code, out = lab(ready, "reserve", "PHONE1", "--ttl", "1h", "--wait", "60s")
    assert code == 0, out
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    time.sleep(1)
    # procrastinate leaves the job doing, holding the phone's lock: only the reaper frees it
    assert len(_doing(ready, "PHONE1")) == 1
    spawn("--host", "lab-a")
    spawn("--control", "--stalled-after", "4s")
    _until(lambda: len(_attempts(ready, "PHONE1")) == 2, 60, "the retried hold")
    old, new = _attempts(ready, "PHONE1")
    assert old.outcome == "superseded" and new.ended_at is None
    r = _reservation(ready)
    assert (r.status, r.token) == ("held", new.token)
    assert len(_doing(ready, "PHONE1")) == 1
    _one_open_attempt_at_a_time(_attempts(ready, "PHONE1"))
    with state.connect(_url(ready)) as conn:
        assert "reaped" in [e["event"] for e in state.events(conn, "PHONE1")]
    code, out = lab(ready, "release", "PHONE1")
    assert code == 0, out
    _until(lambda: not _doing(ready, "PHONE1"), 20, "the lock to be freed")


def test_split_brain_the_resumed_worker_writes_nothing(ready: Path, spawn: Spawn) -> None:
    paused = spawn("--host", "lab-a")
    code, out = lab(ready, "reserve", "PHONE1", "--ttl", "1h", "--wait", "60s")
    assert code == 0, out
    os.kill(paused.pid, signal.SIGSTOP)  # past its heartbeat: presumed dead
    spawn("--host", "lab-a")
    spawn("--control", "--stalled-after", "4s")
    _until(lambda: len(_attempts(ready, "PHONE1")) == 2, 60, "the retried hold")
    taken_over = _reservation(ready)
    with state.connect(_url(ready)) as conn:
        events_before = len(state.events(conn, "PHONE1"))
    os.kill(paused.pid, signal.SIGCONT)  # it resumes in the middle of its hold loop
    time.sleep(4)  # several of its polls
    old, new = _attempts(ready, "PHONE1")
    assert old.outcome == "superseded" and new.ended_at is None
    r = _reservation(ready)
    assert (r.status, r.token, r.expires_at) == ("held", new.token, taken_over.expires_at)
    with state.connect(_url(ready)) as conn:
        after = state.events(conn, "PHONE1")[events_before:]
    assert [e for e in after if e["token"] == old.token] == []  # the old attempt wrote nothing
    assert paused.poll() is None  # and it did not crash doing so
    assert queue.jobs_on_lock(_url(ready), queue.device_lock("PHONE1"))  # the queue saw it all
