"""``benchorch sweep --lab`` on the three-host lab while things go wrong: the real
host-built speed_benchmark_torch on x86_64 virtual phones, real exported variants,
workers as subprocesses. Every scenario ends with ``lab.check_run`` (each planned
launch stored, failed with a reason, or not run with a reason; one stored result per
key; the exit code) and ``lab.check`` (no two sessions at once on any phone, no lock
left held, no attempt left open).

Workers heartbeat every 2 s; the control worker retries a silent worker's jobs after
4 s (``--stalled-after 4s``)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from benchorch.lab import state
from tests.lab_e2e.lab import Lab, LabPhone, Worker, until
from tests.support.postgres import PgServer
from tests.support.sessions import Session

pytestmark = [pytest.mark.lab_e2e, pytest.mark.slow]


def _end(sweep: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str, dict[str, Any]]:
    """The sweep's exit code, run id and JSON summary (``--json``)."""
    out, err = sweep.communicate(timeout=timeout)
    assert "{" in out, f"exit {sweep.returncode}: {err[-3000:]}"
    summary = json.loads(out[out.index("{") : out.rindex("}") + 1])
    return sweep.returncode, str(summary["run_id"]), summary


def _when_stored(lab: Lab, phone: LabPhone, n: int, sweep: subprocess.Popen[str]) -> None:
    def enough() -> bool:
        assert sweep.poll() is None, sweep.communicate()
        return lab.stored(phone.serial) >= n

    until(enough, 240, f"{n} launches stored on {phone.serial}", step=0.1)


def _finish(
    lab: Lab, sweep: subprocess.Popen[str], timeout: float = 300
) -> tuple[int, dict[str, dict[str, Any]]]:
    """The sweep's exit code and its parts by serial, after ``lab.check_run``."""
    code, run_id, _ = _end(sweep, timeout)
    return code, {p["serial"]: p for p in lab.check_run(run_id, code)}


def _every_host_worker(lab: Lab) -> None:
    for host in lab.hosts:
        lab.worker("--host", host)


def _the_others_ok(parts: dict[str, dict[str, Any]], victim: LabPhone) -> None:
    """Every part but the victim's ran to its end."""
    others = [p for s, p in parts.items() if s != victim.serial]
    assert [p["status"] for p in others] == ["ok", "ok"]


def _silence_a_worker_mid_part(
    lab: Lab, variants: Path, binary: Path, phone: LabPhone, stored: int, sig: signal.Signals
) -> tuple[Worker, subprocess.Popen[str]]:
    """A 6-launch sweep on ``phone`` whose host's worker gets ``sig`` once ``stored``
    launches are stored, then another worker for the host and the control worker
    (retrying after 4 s) start: the silenced worker and the running sweep."""
    host = phone.host
    first = lab.worker("--host", host)
    sweep = lab.sweep(variants, binary, "--device", phone.serial, "--launches", "6")
    _when_stored(lab, phone, stored, sweep)
    first.kill(sig)
    lab.worker("--host", host)
    lab.worker("--control", "--stalled-after", "4s")
    return first, sweep


def _tokens(lab: Lab, phone: LabPhone) -> set[int | None]:
    return {s.token for s in lab.sessions()[phone.session_log]}


@pytest.fixture
def binary(sweep_binaries: dict[str, Path]) -> Path:
    return sweep_binaries["lite"]


def _three_host_sweep(lab: Lab, small_variants: Path, binary: Path) -> None:
    """A sweep over every host's pixel_7, each served by its own host's worker."""
    _every_host_worker(lab)
    code, run_id, _ = _end(
        lab.sweep(
            small_variants,
            binary,
            "--phone-model",
            "pixel_7",
            "--launches",
            "2",
            "--load-launches",
            "1",
        )
    )
    parts = lab.check_run(run_id, code)
    assert code == 0 and len(parts) == 3
    for host in lab.hosts:
        phone = lab.phone(host, "pixel_7")
        (attempt,) = lab.attempts(phone.serial)
        assert host in attempt.owner  # its own host's worker ran it
        assert _tokens(lab, phone) == {attempt.token}
        assert not lab.sessions()[lab.phone(host, "galaxy_s22").session_log]


def test_a_sweep_over_three_hosts_runs_each_part_on_its_host(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    lab.fresh()
    _three_host_sweep(lab, small_variants, binary)
    with state.connect(lab.url) as conn:
        assert {h.mode for h in state.hosts(conn).values()} == {"edge"}
    lab.check()


def test_a_sweep_over_three_hub_hosts_goes_through_their_sshd(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    """Hub mode: each worker reaches its host's adb server through an SSH forward to the
    host's own sshd (its key verified, root's key limited to the one forward)."""
    lab.fresh(hub=True)
    _three_host_sweep(lab, small_variants, binary)
    with state.connect(lab.url) as conn:
        hosts = state.hosts(conn)
    # each worker's link was a verified SSH forward: its adb clients had no other way in
    assert {(h.mode, h.status) for h in hosts.values()} == {("hub", "up")}, hosts
    lab.check()


def test_a_worker_sigkilled_mid_sweep_is_retried_and_resumes(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    lab.fresh()
    phone = lab.phone("lab-a", "galaxy_s22")
    _, sweep = _silence_a_worker_mid_part(lab, small_variants, binary, phone, 3, signal.SIGKILL)
    code, _ = _finish(lab, sweep)
    assert code == 0
    old, new = lab.attempts(phone.serial)
    assert (old.outcome, new.outcome) == ("superseded", "ok")
    assert _tokens(lab, phone) <= {old.token, new.token}
    lab.check()


def test_split_brain_a_worker_stopped_past_its_heartbeat_stores_nothing_after(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    lab.fresh()
    phone = lab.phone("lab-b", "pixel_7")
    paused, sweep = _silence_a_worker_mid_part(
        lab, small_variants, binary, phone, 2, signal.SIGSTOP
    )
    until(lambda: len(lab.attempts(phone.serial)) == 2, 60, "the retried part's attempt")
    paused.kill(signal.SIGCONT)  # it wakes up in the middle of its part
    code, _ = _finish(lab, sweep)
    assert code == 0
    old, new = lab.attempts(phone.serial)
    assert old.outcome == "superseded"
    sessions = lab.sessions()[phone.session_log]
    # once the new attempt began, no benchmark of the old one started on the phone
    late = [
        s
        for s in sessions
        if s.token == old.token and not s.refused and s.wall > new.started_at.timestamp()
    ]
    assert late == []
    assert {s.token for s in sessions} <= {old.token, new.token}
    lab.check()


def test_a_phone_dropping_mid_run_ends_its_part_with_a_reason(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    lab.fresh()
    _every_host_worker(lab)
    dropped = lab.phone("lab-c", "galaxy_s22")
    sweep = lab.sweep(small_variants, binary, "--phone-model", "galaxy_s22", "--launches", "5")
    _when_stored(lab, dropped, 2, sweep)
    lab.hosts["lab-c"].drop_phone(dropped.serial)
    code, parts = _finish(lab, sweep)
    assert code == 3
    assert parts[dropped.serial]["status"] != "ok" and parts[dropped.serial]["message"]
    _the_others_ok(parts, dropped)
    lab.check()


def test_a_hung_binary_is_killed_at_its_timeout(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    hung = lab.phone("lab-a", "pixel_7")
    # the binary hangs where it is launched (a word followed by its --model=), not where
    # the push checks it
    lab.fresh(faults={hung.serial: {"hang": r"speed_benchmark_torch\S*(?= --model=)"}})
    lab.worker("--host", "lab-a")
    code, run_id, _ = _end(
        lab.sweep(
            small_variants, binary, "--device", hung.serial, "--launches", "1", "--timeout", "5"
        )
    )
    parts = lab.check_run(run_id, code)
    assert code != 0
    rows = lab.rows("SELECT status, message FROM launches WHERE run_id = %s", (run_id,))
    assert rows and all(r["status"] != "ok" for r in rows), parts
    sessions = lab.sessions()[hung.session_log]
    assert sessions and all(s.ended for s in sessions)  # killed, none left running
    with state.connect(lab.url) as conn:
        d = state.device(conn, hung.serial)
    assert d is not None and (d.state, d.failure_streak) == ("good", 0)  # not the phone's fault
    lab.check()


def test_a_phone_that_fails_every_other_launch_is_quarantined(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    """Every other launch loses the phone (``drop_launch_every = 2``); each such launch
    comes back and its retry is stored, so no launch fails, yet from the second on every
    launch lost the phone: at the third in a row (``quarantine_after`` 3) the phone is
    quarantined and its part ends there, with the reason (exit 3)."""
    flaky = lab.phone("lab-a", "galaxy_s22")
    lab.fresh(faults={flaky.serial: {"drop_launch_every": 2}})
    lab.worker("--host", "lab-a")
    sweep = lab.sweep(small_variants, binary, "--device", flaky.serial, "--launches", "3")
    code, run_id, summary = _end(sweep)
    (part,) = lab.check_run(run_id, code)
    assert code == 3, summary
    assert "quarantined" in part["message"], part
    with state.connect(lab.url) as conn:
        d = state.device(conn, flaky.serial)
    assert d is not None and d.state == "quarantined" and d.quarantine_auto, d
    assert d.failure_streak >= 3
    rows = lab.rows("SELECT status FROM launches WHERE run_id = %s", (run_id,))
    assert [r["status"] for r in rows] == ["ok"] * 4  # one clean, three that came back
    lab.check()


def test_a_host_crash_mid_sweep_ends_its_part_and_the_others_finish(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    lab.fresh()
    _every_host_worker(lab)
    lab.worker("--control", "--stalled-after", "4s")
    victim = lab.phone("lab-b", "galaxy_s22")
    sweep = lab.sweep(small_variants, binary, "--phone-model", "galaxy_s22", "--launches", "5")
    _when_stored(lab, victim, 2, sweep)
    lab.hosts["lab-b"].crash()
    _, parts = _finish(lab, sweep)
    _the_others_ok(parts, victim)
    lab.hosts["lab-b"].start()
    lab.check()


def test_a_black_holed_host_mid_sweep_ends_its_part_within_seconds(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    """With the default settings (a launch may take 600 s, a dropped phone 2 retries of
    30 s): the worker's link notices the host in seconds, and its part stops then, the
    adb calls in flight cut, not at their own timeouts. The others finish; the host's
    trouble is not counted against its phone."""
    lab.fresh()
    _every_host_worker(lab)
    victim = lab.phone("lab-c", "pixel_7")
    sweep = lab.sweep(small_variants, binary, "--phone-model", "pixel_7", "--launches", "5")
    _when_stored(lab, victim, 2, sweep)
    lab.hosts["lab-c"].blackhole()
    holed = time.monotonic()
    try:

        def ended() -> bool:
            rows = lab.rows(
                "SELECT status FROM benchorch_lab_parts WHERE serial = %s", (victim.serial,)
            )
            return rows[0]["status"] not in ("queued", "running", "preparing")

        until(ended, 60, "the black-holed host's part to end")
        took = time.monotonic() - holed
        code, parts = _finish(lab, sweep, timeout=240)
    finally:
        lab.hosts["lab-c"].resume()
    assert took < 30, took  # the link's check (about 4 s), then the part stops at once
    assert code == 3
    assert "went down" in parts[victim.serial]["message"], parts[victim.serial]
    _the_others_ok(parts, victim)
    with state.connect(lab.url) as conn:
        d = state.device(conn, victim.serial)
    assert d is not None and d.failure_streak == 0  # the host's fault, not the phone's
    lab.check()


def test_a_reservation_taken_during_a_sweep_waits_for_the_part(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    lab.fresh()
    lab.worker("--host", "lab-a")
    phone = lab.phone("lab-a", "pixel_7")
    sweep = lab.sweep(small_variants, binary, "--device", phone.serial, "--launches", "4")
    _when_stored(lab, phone, 1, sweep)
    code, out = lab.cli("lab", "reserve", phone.serial, "--ttl", "1h", "--wait", "240s")
    assert code == 0, out
    code, run_id, _ = _end(sweep)
    lab.check_run(run_id, code)
    assert code == 0
    part, hold = lab.attempts(phone.serial)
    assert (part.kind, hold.kind) == ("sweep", "reservation")
    assert part.ended_at is not None and part.ended_at <= hold.started_at
    code, out = lab.cli("lab", "release", phone.serial)
    assert code == 0, out
    lab.check()


def _benchmarks(lab: Lab, phone: LabPhone) -> list[Session]:
    """The phone's benchmark processes (the guard's wrapped launches), in start order."""
    return [
        s
        for s in lab.sessions()[phone.session_log]
        if s.token is not None and not s.refused and any("--model=" in a for a in s.argv)
    ]


def test_postgresql_restarted_mid_sweep(
    lab: Lab, small_variants: Path, binary: Path, dedicated_postgres: PgServer
) -> None:
    """On a PostgreSQL of its own, stopped (``pg_ctl stop -m fast``: every connection
    dropped) just after a launch started, and started again 6 s later (past the reaper's
    4 s): the worker, the part and the sweep wait for it; the launch measured meanwhile is
    stored when it is back (never measured again); the part is not retried; exit 0."""
    lab.fresh(pg=dedicated_postgres)
    worker = lab.worker("--host", "lab-b")
    lab.worker("--control", "--stalled-after", "4s")
    phone = lab.phone("lab-b", "galaxy_s22")
    sweep = lab.sweep(small_variants, binary, "--device", phone.serial, "--launches", "3")
    _when_stored(lab, phone, 2, sweep)
    seen = len(_benchmarks(lab, phone))
    until(lambda: len(_benchmarks(lab, phone)) > seen, 60, "the next launch", step=0.02)
    down = time.monotonic()
    dedicated_postgres.pg_ctl("-w", "-t", "60", "-m", "fast", "stop")
    time.sleep(max(0.0, down + 6 - time.monotonic()))
    up = time.monotonic()
    dedicated_postgres.start()
    code, run_id, summary = _end(sweep)
    (part,) = lab.check_run(run_id, code)
    assert code == 0, summary
    assert worker.proc.poll() is None, worker.output()[-3000:]  # it outlived the outage
    (attempt,) = lab.attempts(phone.serial)  # not retried: the reaper gave it time
    assert attempt.outcome == "ok"
    benchmarks = _benchmarks(lab, phone)
    during = [s for s in benchmarks if s.start < down < s.end < up]
    assert during, [s.describe() for s in benchmarks]  # measured while it was away
    assert len(benchmarks) == part["total"]  # and stored: no launch ran twice
    lab.check()


def _queued(lab: Lab, sweep: subprocess.Popen[str], serial: str, parts_before: int) -> None:
    """Wait until ``sweep`` queued its part on ``serial`` (a new part row with its job)."""

    def queued() -> bool:
        assert sweep.poll() is None, sweep.communicate()
        rows = lab.rows(
            "SELECT count(*) AS n FROM benchorch_lab_parts"
            " WHERE serial = %s AND job_id IS NOT NULL",
            (serial,),
        )
        return int(rows[0]["n"]) > parts_before

    until(queued, 120, f"a part queued on {serial}")


def test_an_adhoc_sweep_during_a_long_nightly_one_runs_first(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    """A long sweep at nightly priority runs on a phone; a second nightly sweep's part
    and then an ad-hoc sweep's part queue on that phone, then a reservation: when the
    running part ends the phone goes to the reservation, then to the ad-hoc part, and
    only then to the nightly part queued before it."""
    lab.fresh()
    lab.worker("--host", "lab-c")
    phone = lab.phone("lab-c", "pixel_7")
    nightly = ("--device", phone.serial, "--lab-priority", "nightly")
    long = lab.sweep(small_variants, binary, *nightly, "--launches", "4")
    _when_stored(lab, phone, 1, long)
    later = lab.sweep(small_variants, binary, *nightly, "--launches", "1")
    _queued(lab, later, phone.serial, 1)
    adhoc = lab.sweep(small_variants, binary, "--device", phone.serial, "--launches", "1")
    _queued(lab, adhoc, phone.serial, 2)
    code, out = lab.cli("lab", "reserve", phone.serial, "--ttl", "3s", "--wait", "0")
    assert code == 0 and "queued" in out, out
    assert len(lab.attempts(phone.serial)) == 1, "the long part ended before the rest queued"
    ends = {name: _end(s) for name, s in (("long", long), ("later", later), ("adhoc", adhoc))}
    for code, run_id, _ in ends.values():
        assert code == 0
        lab.check_run(run_id, code)
    until(lambda: all(a.ended_at for a in lab.attempts(phone.serial)), 60, "the hold to end")
    order = []
    for a in lab.attempts(phone.serial):
        run = next((n for n, (_, rid, _) in ends.items() if rid in a.owner), a.kind)
        order.append(run)
    assert order == ["long", "reservation", "adhoc", "later"], lab.attempts(phone.serial)
    lab.check()
