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
from pathlib import Path
from typing import Any

import pytest

from tests.lab_e2e.lab import Lab, LabPhone, Worker, until
from tests.support.postgres import PgServer

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


def test_a_sweep_over_three_hosts_runs_each_part_on_its_host(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    lab.fresh()
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


def test_a_black_holed_host_mid_sweep_does_not_hang_the_sweep(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    lab.fresh()
    _every_host_worker(lab)
    victim = lab.phone("lab-c", "pixel_7")
    quick = lab.folder / "quick-reconnect.toml"  # short timeouts through config: a fast suite
    quick.write_text("retries = 1\nreconnect_timeout = 3.0\n")
    sweep = lab.sweep(
        small_variants,
        binary,
        "--phone-model",
        "pixel_7",
        "--launches",
        "5",
        "--timeout",
        "10",
        "--config",
        str(quick),
    )
    _when_stored(lab, victim, 2, sweep)
    lab.hosts["lab-c"].blackhole()
    try:
        _, parts = _finish(lab, sweep, timeout=240)
    finally:
        lab.hosts["lab-c"].resume()
    _the_others_ok(parts, victim)
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


@pytest.mark.xfail(
    reason="not diagnosed: on a dedicated PostgreSQL server the phone's part ends 'partial'"
    " with 0 launches done (exit 3) before the restart is even injected",
    strict=False,
)
def test_postgresql_restarted_mid_sweep(
    lab: Lab, small_variants: Path, binary: Path, dedicated_postgres: PgServer
) -> None:
    """On a PostgreSQL of its own (``pg_ctl restart -m fast`` drops every connection)."""
    lab.fresh(pg=dedicated_postgres)
    lab.worker("--host", "lab-b")
    lab.worker("--control", "--stalled-after", "4s")
    phone = lab.phone("lab-b", "galaxy_s22")
    sweep = lab.sweep(small_variants, binary, "--device", phone.serial, "--launches", "6")
    _when_stored(lab, phone, 2, sweep)
    dedicated_postgres.restart_fast()
    code, run_id, _ = _end(sweep)
    lab.check_run(run_id, code)
    lab.check()
