"""``benchorch sweep`` when things go wrong: a phone that never comes back, Ctrl-C and
``--resume``, a busy phone, a wrong ABI, a full disk, a bad ``sweep.toml``."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.adb_fixtures import VirtualPhone, _children
from tests.sweep.conftest import SweepEnv, common_args, run_id_of

EMU = "x86_64_emulator"
PhoneFactory = Callable[..., VirtualPhone]


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _status(env: SweepEnv, run_id: str) -> str:
    return str(env.rows("SELECT status FROM runs WHERE run_id = ?", (run_id,))[0]["status"])


def test_phone_that_never_comes_back_others_finish_exit_3_partial(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
    tmp_path: Path,
) -> None:
    good, doomed = virtual_phone(profile=EMU), virtual_phone(profile=EMU)
    config = tmp_path / "sweep.toml"
    config.write_text("retries = 1\nreconnect_timeout = 1.0\n")

    def kill_after_first_launch() -> None:
        _wait_for(lambda: sweep_env.count(doomed.serial) >= 1, 120, "a launch on the doomed phone")
        doomed.kill()  # SIGKILL: gone for good, mid-sweep

    killer = threading.Thread(target=kill_after_first_launch, daemon=True)
    killer.start()
    result = sweep_env.invoke(
        "--device",
        good.serial,
        "--device",
        doomed.serial,
        "--config",
        str(config),
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches",
        "3",
        "--load-launches",
        "0",
    )
    killer.join(5)
    assert result.exit_code == 3, result.output
    run_id = run_id_of(result.stderr)
    assert _status(sweep_env, run_id) == "partial"
    assert f"{doomed.serial}: lost" in result.stderr
    assert f"--resume {run_id}" in result.stderr

    rows = [
        dict(r)
        for r in sweep_env.rows("SELECT * FROM launches WHERE run_id = ? ORDER BY id", (run_id,))
    ]
    planned = 2 * 3  # two .ptl files x three launches
    ok_good = [r for r in rows if r["device_serial"] == good.serial and r["status"] == "ok"]
    assert len(ok_good) == planned  # the other phone finished everything
    ok_doomed = [r for r in rows if r["device_serial"] == doomed.serial and r["status"] == "ok"]
    assert 1 <= len(ok_doomed) < planned  # what it finished before it died is kept
    lost = [r for r in rows if r["device_serial"] == doomed.serial and r["status"] != "ok"]
    assert all(r["error_kind"] == "device_lost" for r in lost)


def test_ctrl_c_then_resume_runs_only_the_missing_launches(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phone = virtual_phone(profile=EMU)
    args = [
        "--device",
        phone.serial,
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches",
        "4",
        "--load-launches",
        "0",
    ]
    planned = 2 * 4
    proc = sweep_env.popen(*args)
    try:
        _wait_for(lambda: sweep_env.count(phone.serial) >= 1, 120, "the first stored launch")

        # meanwhile the phone is locked: a second sweep on it is refused at once
        busy = sweep_env.invoke(*args)
        assert busy.exit_code == 3, busy.output
        assert phone.serial in busy.stderr and "in use by another benchorch process" in busy.stderr
        assert f"pid {proc.pid}" in busy.stderr

        # Ctrl-C while a launch is running on the phone: it must finish and be stored.
        stored_before = sweep_env.count(phone.serial)
        _wait_for(
            lambda: any("speed_benchmark_torch-" in _cmdline(p) for p in _tree(phone.pid)),
            60,
            "a launch in flight",
        )
        os.kill(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    run_id = run_id_of(err)
    assert f"run {run_id}: interrupted" in err
    assert f"benchorch sweep --resume {run_id}" in err
    assert _status(sweep_env, run_id) == "interrupted"
    first = [
        dict(r)
        for r in sweep_env.rows("SELECT * FROM launches WHERE run_id = ? ORDER BY id", (run_id,))
    ]
    assert stored_before + 1 <= len(first) < planned  # the launch in flight was kept
    # ... by the sweep before it closed the run (not by a worker left running behind it)
    closed = float(sweep_env.rows("SELECT finished_at FROM runs WHERE run_id = ?", (run_id,))[0][0])
    assert max(float(r["finished_at"]) for r in first) <= closed
    assert all(r["status"] == "ok" for r in first)  # the launch in flight finished and was stored

    resumed = sweep_env.invoke("--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    assert _status(sweep_env, run_id) == "ok"
    rows = [
        dict(r)
        for r in sweep_env.rows("SELECT * FROM launches WHERE run_id = ? ORDER BY id", (run_id,))
    ]
    assert len(rows) == planned
    assert len({r["launch_key"] for r in rows}) == planned  # each planned launch exactly once
    assert all(r["status"] == "ok" for r in rows)
    # the first part's rows are untouched; the resume only appended the missing ones
    assert [r["id"] for r in rows[: len(first)]] == [r["id"] for r in first]
    assert {r["launch_key"] for r in rows[len(first) :]}.isdisjoint(
        {r["launch_key"] for r in first}
    )


def test_wrong_abi_binary_is_refused_naming_both_abis(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phone = virtual_phone(profile="pixel8")
    result = sweep_env.invoke(
        "--device", phone.serial, *common_args(small_variants, sweep_binaries["lite"])
    )
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert phone.serial in line and "x86_64" in line and "arm64-v8a" in line
    assert not list(phone.root.rglob("speed_benchmark_torch*"))  # nothing was pushed


def test_full_disk_phone_is_refused_with_a_clear_status(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    good, full = virtual_phone(profile=EMU), virtual_phone(profile=EMU, faults={"full_disk": True})
    result = sweep_env.invoke(
        "--device",
        good.serial,
        "--device",
        full.serial,
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches",
        "1",
        "--load-launches",
        "0",
    )
    assert result.exit_code == 3, result.output
    run_id = run_id_of(result.stderr)
    assert _status(sweep_env, run_id) == "partial"
    full_line = next(ln for ln in result.stderr.splitlines() if full.serial in ln)
    assert "refused" in full_line and "No space left" in full_line
    assert sweep_env.count(full.serial) == 0
    assert sweep_env.count(good.serial) == 2


def test_config_with_an_unknown_key_is_a_usage_error_naming_it(
    sweep_env: SweepEnv, small_variants: Path, sweep_binaries: dict[str, Path], tmp_path: Path
) -> None:
    config = tmp_path / "sweep.toml"
    config.write_text("launches = 2\nlaunchez = 3\n")
    result = sweep_env.invoke(
        "--device", "127.0.0.1:9", "--config", str(config), "--variants", str(small_variants)
    )
    assert result.exit_code == 2, result.output
    assert "launchez" in result.stderr and str(config) in result.stderr
    assert "did you mean 'launches'" in result.stderr
    assert not sweep_env.db.exists() or not sweep_env.rows("SELECT * FROM runs")


def test_second_ctrl_c_stops_at_once_without_waiting_for_a_hung_launch(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    # Every benchmark command hangs; the launch timeout (600 s) is far away.
    phone = virtual_phone(profile=EMU, faults={"hang": r"speed_benchmark_torch-\w+ --model"})
    proc = sweep_env.popen(
        "--device",
        phone.serial,
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches",
        "1",
        "--load-launches",
        "0",
        "--timeout",
        "600",
    )
    try:
        _wait_for(
            lambda: any("sleep 2147483647" in _cmdline(pid) for pid in _tree(phone.pid)),
            60,
            "the hung launch on the phone",
        )
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # the first Ctrl-C waits for the launch in flight
        os.kill(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=60)  # far less than the 600 s launch timeout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert "stopped now" in err
    run_id = run_id_of(err)
    assert _status(sweep_env, run_id) == "interrupted"
    assert f"benchorch sweep --resume {run_id}" in err
    assert sweep_env.count() == 0  # nothing half-measured was stored


def _tree(root: int) -> list[int]:
    """``root``'s descendants (the phone's commands and what they exec)."""
    found: list[int] = []
    todo = [root]
    while todo:
        kids = _children(todo.pop())
        found += kids
        todo += kids
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
