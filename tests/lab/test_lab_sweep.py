"""``benchorch sweep --lab`` end to end on a one-host lab: the real PostgreSQL, the real
adb server with virtual phones (x86_64 profile, session logs), ``benchorch lab worker``
subprocesses, the real host-built speed_benchmark_torch and real exported variants."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from benchorch.lab import queue
from benchorch.virtualphone.harness import VirtualPhone
from tests.lab.sweep_support import EMU, LabSweepEnv
from tests.lab.sweep_support import labenv as labenv  # the fixture
from tests.support.sessions import assert_no_overlap, read_sessions

pytestmark = pytest.mark.slow
PhoneFactory = Callable[..., VirtualPhone]
LITE_FILES = ("baseline.ptl", "fused.ff.ptl")  # the lite binary plans the .pt file away


def _phones(labenv: LabSweepEnv, virtual_phone: PhoneFactory, n: int) -> list[VirtualPhone]:
    for i in range(n):
        log = labenv.tmp / f"sessions-{i}.jsonl"
        labenv.phones.append(virtual_phone(profile=EMU, session_log=log))
    return labenv.phones


def _run_id(stderr: str) -> str:
    m = re.search(r"^run (\S+): (\S+)$", stderr, re.MULTILINE)
    assert m, stderr
    return m.group(1)


def _stored(labenv: LabSweepEnv) -> int:
    try:
        return int(labenv.rows("SELECT count(*) AS n FROM launches")[0]["n"])
    except psycopg.errors.UndefinedTable:  # the sweep has not created the store yet
        return 0


def _logs(labenv: LabSweepEnv) -> list[Path]:
    return [labenv.tmp / f"sessions-{i}.jsonl" for i in range(len(labenv.phones))]


def test_lab_sweep_runs_each_phones_part_through_its_hosts_worker(
    labenv: LabSweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phones = _phones(labenv, virtual_phone, 2)
    labenv.write_toml()
    labenv.init()
    labenv.worker()
    done = labenv.sweep_popen(
        small_variants,
        sweep_binaries["lite"],
        "--phone-model",
        "emu",
        "--launches",
        "2",
        "--load-launches",
        "1",
    )
    out, err = done.communicate(timeout=240)
    assert done.returncode == 0, err
    run_id = _run_id(err)
    assert labenv.rows("SELECT status FROM runs WHERE run_id = %s", (run_id,))[0]["status"] == "ok"
    rows = labenv.rows("SELECT * FROM launches WHERE run_id = %s", (run_id,))
    for phone in phones:
        mine = [r for r in rows if r["device_serial"] == phone.serial]
        assert len(mine) == len(LITE_FILES) * (2 + 1)
        assert len({r["launch_key"] for r in mine}) == len(mine)
        assert all(r["status"] == "ok" for r in mine), [r["message"] for r in mine]
        # the stored command is the planned one, not the guard around it
        assert all("lab-guard" not in r["argv"] for r in mine)
    # each phone: one attempt, ended ok; every benchmark process ran under its token
    attempts = labenv.rows("SELECT * FROM benchorch_lab_attempts ORDER BY token")
    assert sorted(a["serial"] for a in attempts) == sorted(p.serial for p in phones)
    assert all(a["outcome"] == "ok" and a["kind"] == "sweep" for a in attempts)
    token = {a["serial"]: a["token"] for a in attempts}
    for phone, log in zip(phones, _logs(labenv), strict=True):
        sessions = read_sessions(log)
        assert len(sessions) == len(LITE_FILES) * 3
        assert {s.token for s in sessions} == {token[phone.serial]}
    # the worker fetched the files from the lab database into its own cache
    fetched = list((labenv.tmp / "cache-worker-lab-a" / "lab-files").glob("*/*"))
    assert {f.name for f in fetched} >= {*LITE_FILES, sweep_binaries["lite"].name}
    # no lock left held: every job of the sweep succeeded
    for phone in phones:
        jobs = queue.jobs_on_lock(labenv.url, queue.device_lock(phone.serial))
        assert [j.status for j in jobs] == ["succeeded"]
    report = Path(out.strip().splitlines()[-1])
    assert report.is_file() and run_id in report.read_text()


def test_a_benchmark_failure_exits_1_and_a_quarantined_phone_is_not_run_exit_3(
    labenv: LabSweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phones = _phones(labenv, virtual_phone, 2)
    labenv.write_toml()
    labenv.init()
    labenv.worker()
    # wrong input rank for the conv: the benchmark itself fails (the phone is fine)
    bad = labenv.sweep_popen(
        small_variants,
        sweep_binaries["lite"],
        "--device",
        phones[0].serial,
        "--launches",
        "1",
        "--load-launches",
        "0",
        "--dims",
        "1,3,32",
    )
    _, err = bad.communicate(timeout=240)
    assert bad.returncode == 1, err
    run_id = _run_id(err)
    rows = labenv.rows("SELECT status FROM launches WHERE run_id = %s", (run_id,))
    assert any(r["status"] == "failed" for r in rows)
    (attempt,) = labenv.rows("SELECT outcome FROM benchorch_lab_attempts")
    assert attempt["outcome"] == "benchmark: failed"  # not counted against the phone

    q = labenv.run(
        "lab",
        "quarantine",
        phones[1].serial,
        "--reason",
        "swollen battery",
        "--config",
        str(labenv.toml),
    )
    assert q.returncode == 0, q.stderr
    mixed = labenv.sweep_popen(
        small_variants,
        sweep_binaries["lite"],
        "--all",
        "--launches",
        "1",
        "--load-launches",
        "0",
        "--json",
    )
    out, err = mixed.communicate(timeout=240)
    assert mixed.returncode == 3, err
    summary = json.loads(out)
    assert summary["devices"][phones[0].serial]["status"] == "ok"
    gone = summary["devices"][phones[1].serial]
    assert gone["status"] == "not run" and "swollen battery" in gone["message"]
    assert gone["done"] == 0
    assert not read_sessions(_logs(labenv)[1])  # nothing ever ran on it


def test_two_lab_sweeps_on_one_phone_never_overlap_and_both_store_everything(
    labenv: LabSweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    (phone,) = _phones(labenv, virtual_phone, 1)
    labenv.write_toml()
    labenv.init()
    labenv.worker()
    labenv.worker()  # two workers for one host: the lock, not the worker, keeps them apart
    args = ("--device", phone.serial, "--launches", "3", "--load-launches", "0")
    sweeps = [labenv.sweep_popen(small_variants, sweep_binaries["lite"], *args) for _ in range(2)]
    ends = [s.communicate(timeout=300) for s in sweeps]
    assert [s.returncode for s in sweeps] == [0, 0], [e for _, e in ends]
    runs = [_run_id(err) for _, err in ends]
    for run_id in runs:
        n = labenv.rows("SELECT count(*) AS n FROM launches WHERE run_id = %s", (run_id,))
        assert n[0]["n"] == len(LITE_FILES) * 3
    sessions = assert_no_overlap(_logs(labenv))[_logs(labenv)[0]]
    assert len(sessions) == 2 * len(LITE_FILES) * 3
    # the two attempts on the phone, one after the other
    a, b = labenv.rows("SELECT * FROM benchorch_lab_attempts ORDER BY token")
    assert a["ended_at"] <= b["started_at"]


def test_a_killed_workers_part_is_retried_and_resumes_without_storing_a_key_twice(
    labenv: LabSweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    (phone,) = _phones(labenv, virtual_phone, 1)
    labenv.write_toml()
    labenv.init()
    first = labenv.worker()
    sweep = labenv.sweep_popen(
        small_variants,
        sweep_binaries["lite"],
        "--device",
        phone.serial,
        "--launches",
        "8",
        "--load-launches",
        "0",
    )
    deadline = time.monotonic() + 120
    while _stored(labenv) < 3:
        assert time.monotonic() < deadline and sweep.poll() is None
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    labenv.worker()
    labenv.control("4s")
    _, err = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, err
    run_id = _run_id(err)
    rows = labenv.rows("SELECT launch_key, status FROM launches WHERE run_id = %s", (run_id,))
    keys = [r["launch_key"] for r in rows]
    assert len(keys) == len(set(keys)) == len(LITE_FILES) * 8  # each key once: resumed
    old, new = labenv.rows("SELECT * FROM benchorch_lab_attempts ORDER BY token")
    assert old["outcome"] == "superseded" and new["outcome"] == "ok"
    # the old attempt's processes and the new one's never overlapped on the phone
    sessions = assert_no_overlap(_logs(labenv))[_logs(labenv)[0]]
    assert {s.token for s in sessions} == {old["token"], new["token"]}
