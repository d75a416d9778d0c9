"""Workers as real subprocesses against the lab's hosts, with reservations (hold jobs) as
the phones' use: a worker SIGKILLed mid-job, a worker SIGSTOPped past its heartbeat then
resumed (the split brain), two workers on one host.

The control worker runs with ``--stalled-after 4s`` (workers heartbeat every 2 s)."""

from __future__ import annotations

import itertools
import signal
import threading
import time

import pytest

from benchorch.lab import state
from tests.lab_e2e.lab import Lab, until

pytestmark = [pytest.mark.lab_e2e, pytest.mark.slow]


def _held(lab: Lab, serial: str) -> state.Reservation | None:
    with state.connect(lab.url) as conn:
        rows = [r for r in state.active_reservations(conn, serial) if r.status == "held"]
    return rows[0] if rows else None


def _one_attempt_at_a_time(lab: Lab, serial: str) -> None:
    attempts = lab.attempts(serial)
    for earlier, later in itertools.pairwise(attempts):
        assert earlier.ended_at is not None and earlier.ended_at <= later.started_at


def test_a_worker_killed_mid_job_is_retried_after_its_heartbeat_lapses(lab: Lab) -> None:
    lab.fresh()
    phone = lab.phone("lab-a", "pixel_7")
    first = lab.worker("--host", "lab-a")
    code, out = lab.cli("lab", "reserve", phone.serial, "--ttl", "1h", "--wait", "60s")
    assert code == 0, out
    first.kill(signal.SIGKILL)
    first.proc.wait(10)
    assert len(lab.doing()) == 1  # the dead worker's job keeps the phone's lock
    lab.worker("--host", "lab-a")
    lab.worker("--control", "--stalled-after", "4s")
    until(lambda: len(lab.attempts(phone.serial)) == 2, 60, "the retried hold")
    old, new = lab.attempts(phone.serial)
    assert old.outcome == "superseded" and new.ended_at is None
    held = _held(lab, phone.serial)
    assert held is not None and held.token == new.token
    code, out = lab.cli("lab", "release", phone.serial)
    assert code == 0, out
    _one_attempt_at_a_time(lab, phone.serial)
    lab.check()


def test_split_brain_a_resumed_worker_writes_nothing(lab: Lab) -> None:
    lab.fresh()
    phone = lab.phone("lab-b", "galaxy_s22")
    paused = lab.worker("--host", "lab-b")
    code, out = lab.cli("lab", "reserve", phone.serial, "--ttl", "1h", "--wait", "60s")
    assert code == 0, out
    paused.kill(signal.SIGSTOP)
    lab.worker("--host", "lab-b")
    lab.worker("--control", "--stalled-after", "4s")
    until(lambda: len(lab.attempts(phone.serial)) == 2, 60, "the retried hold")
    taken_over = _held(lab, phone.serial)
    with state.connect(lab.url) as conn:
        before = len(state.events(conn, phone.serial))
    paused.kill(signal.SIGCONT)
    time.sleep(4)  # several of its polls
    old, new = lab.attempts(phone.serial)
    assert old.outcome == "superseded" and new.ended_at is None
    assert _held(lab, phone.serial) == taken_over  # the old attempt changed nothing
    with state.connect(lab.url) as conn:
        after = state.events(conn, phone.serial)[before:]
    assert [e for e in after if e["token"] == old.token] == []
    assert paused.proc.poll() is None
    code, out = lab.cli("lab", "release", phone.serial)
    assert code == 0, out
    lab.check()


def test_two_workers_on_one_host_never_share_a_phone(lab: Lab) -> None:
    lab.fresh()
    phones = lab.hosts["lab-c"].phones
    lab.worker("--host", "lab-c")
    lab.worker("--host", "lab-c")
    stop = threading.Event()
    worst: list[int] = []

    def watch() -> None:  # the queue's view, sampled all along: one running job per phone
        while not stop.is_set():
            doing = lab.doing()
            worst.append(max((sum(j.lock == d.lock for j in doing) for d in doing), default=0))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        for p in phones:  # two reservations of each phone: the second waits for the first
            code, out = lab.cli("lab", "reserve", p.serial, "--ttl", "3s", "--wait", "60s")
            assert code == 0, out
            code, out = lab.cli("lab", "reserve", p.serial, "--ttl", "2s", "--wait", "0")
            assert code == 0 and "queued" in out, out
        for p in phones:  # each first one expires, then the queued one is held, then expires
            until(lambda p=p: len(lab.attempts(p.serial)) == 2, 60, "the second hold")
            until(lambda p=p: _held(lab, p.serial) is None, 60, "the second hold to expire")
    finally:
        stop.set()
        watcher.join(10)
    assert worst and max(worst) == 1
    for p in phones:
        _one_attempt_at_a_time(lab, p.serial)
        workers = {a.owner.rsplit("(", 1)[-1] for a in lab.attempts(p.serial)}
        assert all("lab-c" in w for w in workers)
    lab.check()
