"""``benchorch sweep`` end to end: virtual phones (x86_64 emulator profile) behind the
real adb server, the real host-built speed_benchmark_torch, real exported variants."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.adb_fixtures import VirtualPhone, _children
from tests.sweep.conftest import (
    PEP_RE,
    SMALL_FILES,
    US_RE,
    SweepEnv,
    common_args,
    run_id_of,
)

EMU = "x86_64_emulator"
PhoneFactory = Callable[..., VirtualPhone]
LITE_FILES = tuple(f for f in SMALL_FILES if not f.endswith(".pt"))


def _launches(env: SweepEnv, run_id: str) -> list[dict[str, object]]:
    return [
        dict(r) for r in env.rows("SELECT * FROM launches WHERE run_id = ? ORDER BY id", (run_id,))
    ]


def _status(env: SweepEnv, run_id: str) -> str:
    return str(env.rows("SELECT status FROM runs WHERE run_id = ?", (run_id,))[0]["status"])


def _samples(blob: bytes) -> list[float]:
    import struct

    return list(struct.unpack(f"<{len(blob) // 8}d", blob))


@pytest.mark.parametrize("flavour", ["lite", "full_jit"])
def test_clean_sweep_two_phones_stores_the_binarys_own_numbers(
    flavour: str,
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phones = [virtual_phone(profile=EMU), virtual_phone(profile=EMU)]
    launches, load_launches = 2, 1
    result = sweep_env.invoke(
        *[a for p in phones for a in ("--device", p.serial)],
        *common_args(small_variants, sweep_binaries[flavour]),
        "--launches",
        str(launches),
        "--load-launches",
        str(load_launches),
        "--out",
        str(sweep_env.out),
    )
    assert result.exit_code == 0, result.output
    run_id = run_id_of(result.stderr)
    assert _status(sweep_env, run_id) == "ok"

    files = LITE_FILES if flavour == "lite" else SMALL_FILES
    rows = _launches(sweep_env, run_id)
    for phone in phones:
        mine = [r for r in rows if r["device_serial"] == phone.serial]
        # every planned launch stored exactly once, all ok
        assert len(mine) == len(files) * (launches + load_launches)
        assert len({r["launch_key"] for r in mine}) == len(mine)
        assert sorted({str(r["variant_file"]) for r in mine}) == sorted(files)
        assert all(r["status"] == "ok" for r in mine), [r["message"] for r in mine]

    for r in rows:
        stdout = str(r["stdout"])
        argv = json.loads(str(r["argv"]))
        if r["kind"] == "load":
            assert "--iter=0" in argv
            assert r["load_s"] is not None and float(str(r["load_s"])) > 0
            continue
        assert "--iter=3" in argv and "--report_pep=true" in argv
        # the stored numbers are the binary's own lines, not ours
        own = US_RE.findall(stdout)
        assert len(own) == 1, stdout
        assert r["us_per_iter"] == pytest.approx(float(own[0]))
        pep = [float(json.loads(m)["value"]) for m in PEP_RE.findall(stdout)]
        assert len(pep) == 3
        assert _samples(r["samples"]) == pytest.approx(pep)  # type: ignore[arg-type]

    # health before and after every launch, read in the launch's own shell
    # (test_sweep_services counts the round trips): each launch has its own two
    for phone in phones:
        mine = sorted(
            (r for r in rows if r["device_serial"] == phone.serial),
            key=lambda r: float(str(r["started_at"])),
        )
        before = [json.loads(str(r["health_before"])) for r in mine]
        after = [json.loads(str(r["health_after"])) for r in mine]
        assert all(h["battery_level"] == 100 and h["hottest_zone_c"] for h in before + after)
        for r, b, a in zip(mine, before, after, strict=True):
            assert float(str(r["started_at"])) <= b["taken_at"] < a["taken_at"]
        assert len({h["taken_at"] for h in before + after}) == 2 * len(mine)

    # the phones ran at the same time, not one after the other
    spans = {
        p.serial: (
            min(float(str(r["started_at"])) for r in rows if r["device_serial"] == p.serial),
            max(float(str(r["finished_at"])) for r in rows if r["device_serial"] == p.serial),
        )
        for p in phones
    }
    assert max(s for s, _ in spans.values()) < min(f for _, f in spans.values())

    report = Path(result.stdout.strip().splitlines()[-1])
    assert report.is_file() and report.parent == sweep_env.out
    html = report.read_text()
    assert run_id in html
    assert all(p.serial in html for p in phones)


def test_lite_binary_plans_pt_files_away_with_the_reason_in_store_and_report(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phone = virtual_phone(profile=EMU)
    result = sweep_env.invoke(
        "--device",
        phone.serial,
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches",
        "1",
        "--load-launches",
        "0",
        "--out",
        str(sweep_env.out),
    )
    assert result.exit_code == 0, result.output
    run_id = run_id_of(result.stderr)
    assert "skipped as incompatible" in result.stderr

    skips = sweep_env.rows(
        "SELECT * FROM skips WHERE run_id = ? AND variant = ?", (run_id, "baseline.pt")
    )
    assert [s["device"] for s in skips] == [phone.serial]
    reason = str(skips[0]["reason"])
    assert "lite" in reason and "full-JIT" in reason
    rows = _launches(sweep_env, run_id)
    assert rows and not [r for r in rows if str(r["variant_file"]).endswith(".pt")]

    html = Path(result.stdout.strip().splitlines()[-1]).read_text()
    import html as html_mod

    assert html_mod.escape(reason) in html or reason in html


def test_phone_dropped_mid_launch_is_reconnected_and_the_launch_retried(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The connection is cut 1 s into the first shell that runs that long: a launch
    # (about a second to load libtorch, then 600 iterations of over a millisecond);
    # facts, health and pushes take tens of ms, so even a loaded CI host leaves
    # them alone. Once only, so the retry can succeed.
    phone = virtual_phone(profile=EMU, faults={"drop_after_shell_seconds": 1.0, "drop_times": 1})
    caplog.set_level(logging.WARNING, logger="benchorch")
    result = sweep_env.invoke(
        "--device",
        phone.serial,
        *common_args(small_variants, sweep_binaries["lite"]),
        "--iter",
        "600",
        "--launches",
        "1",
        "--load-launches",
        "0",
    )
    assert result.exit_code == 0, result.output
    run_id = run_id_of(result.stderr)
    messages = [r.getMessage() for r in caplog.records]
    assert any("output ended early" in m for m in messages)  # the fault really fired
    assert any("dropped during a launch; reconnecting" in m for m in messages)

    rows = _launches(sweep_env, run_id)
    assert len(rows) == 2  # two .ptl files x one launch, nothing lost
    assert len({r["launch_key"] for r in rows}) == len(rows)
    assert all(r["status"] == "ok" and r["us_per_iter"] for r in rows)
    assert all(len(_samples(r["samples"])) == 600 for r in rows)  # type: ignore[arg-type]
    assert _status(sweep_env, run_id) == "ok"


def test_phone_dropped_mid_push_is_reconnected_and_the_push_redone(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The cable is pulled 20 kB into the first push (the binary, about 95 kB).
    phone = virtual_phone(profile=EMU, faults={"drop_after_push_bytes": 20_000, "drop_times": 1})
    caplog.set_level(logging.WARNING, logger="benchorch")
    result = sweep_env.invoke(
        "--device",
        phone.serial,
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches",
        "1",
        "--load-launches",
        "0",
    )
    assert result.exit_code == 0, result.output
    assert any("dropped while preparing" in r.getMessage() for r in caplog.records)
    run_id = run_id_of(result.stderr)
    rows = _launches(sweep_env, run_id)
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)
    pushed = phone.root / "benchorch"
    binaries = list(pushed.glob("speed_benchmark_torch-*"))
    assert len(binaries) == 1
    assert binaries[0].read_bytes() == sweep_binaries["lite"].read_bytes()


def test_phone_killed_and_restarted_mid_sweep_loses_nothing(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    # The phone vanishes (SIGKILL) wherever the sweep is (a launch, a health
    # snapshot, a store write) and comes back on the same port a moment later
    # without anyone re-attaching it: the sweep must reconnect by itself.
    phone = virtual_phone(profile=EMU)
    events: list[str] = []

    def bounce() -> None:
        deadline = time.monotonic() + 120
        while sweep_env.count(phone.serial) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        phone.kill()
        events.append("killed")
        time.sleep(0.5)
        phone.start(connect=False)
        events.append("restarted")

    bouncer = threading.Thread(target=bounce, daemon=True)
    bouncer.start()
    result = sweep_env.invoke(
        "--device",
        phone.serial,
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches",
        "3",
        "--load-launches",
        "0",
    )
    bouncer.join(30)
    assert events == ["killed", "restarted"]
    assert result.exit_code == 0, result.output
    run_id = run_id_of(result.stderr)
    rows = _launches(sweep_env, run_id)
    assert len(rows) == 2 * 3
    assert len({r["launch_key"] for r in rows}) == len(rows)
    assert all(r["status"] == "ok" for r in rows)
    assert _status(sweep_env, run_id) == "ok"


def test_hung_launch_is_killed_on_the_phone_and_stored_as_timeout(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Only the benchmark's command line has the binary followed by --model.
    phone = virtual_phone(profile=EMU, faults={"hang": r"speed_benchmark_torch-\w+ --model"})
    caplog.set_level(logging.WARNING, logger="benchorch")
    result = sweep_env.invoke(
        "--device",
        phone.serial,
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches",
        "1",
        "--load-launches",
        "0",
        "--timeout",
        "1.5",
    )
    assert result.exit_code == 1, result.output  # a launch failed
    run_id = run_id_of(result.stderr)
    assert _status(sweep_env, run_id) == "failed"
    rows = _launches(sweep_env, run_id)
    assert len(rows) == 2
    for r in rows:
        assert r["status"] == "failed"
        assert r["error_kind"] == "timeout"
        assert r["timed_out"] == 1
        assert r["us_per_iter"] is None
        assert r["stdout"] == ""  # the hang program prints nothing: it never ran the model
    # killed by its PID on the phone (a second shell), not only abandoned on the host
    killed = [m for r in caplog.records if "timed out after" in (m := r.getMessage())]
    assert len(killed) == 2 and all(re.search(r"killed pid \d+$", m) for m in killed), killed
    # nothing the phone started is left running (the hang program sleeps forever)
    assert _children(phone.pid) == []


def test_cooldown_waits_for_a_cooling_phone_and_marks_launches_on_a_hot_one(
    sweep_env: SweepEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    # Cooling: every zone reads 80 - 8 t degrees (t: seconds since the phone started),
    # so it is under 45 after about 4.4 s; hot: 80 degrees for good.
    cooling = virtual_phone(profile=EMU, faults={"hot_c": 80.0, "cool_rate_c_per_s": 8.0})
    hot = virtual_phone(profile=EMU, faults={"hot_c": 80.0})
    args = [
        *common_args(small_variants, sweep_binaries["lite"]),
        "--launches",
        "1",
        "--load-launches",
        "0",
        "--cooldown-temp",
        "45",
    ]
    first = sweep_env.invoke("--device", cooling.serial, *args, "--cooldown-max-wait", "60")
    assert first.exit_code == 0, first.output
    rows = _launches(sweep_env, run_id_of(first.stderr))
    assert len(rows) == 2
    for r in rows:
        assert r["hot"] == 0 and r["status"] == "ok"
        before = json.loads(str(r["health_before"]))
        assert before["hottest_zone_c"] <= 45  # it ran only once the phone had cooled

    second = sweep_env.invoke("--device", hot.serial, *args, "--cooldown-max-wait", "0.5")
    assert second.exit_code == 0, second.output  # hot launches still run and count
    rows = _launches(sweep_env, run_id_of(second.stderr))
    assert len(rows) == 2
    for r in rows:
        assert r["hot"] == 1 and r["status"] == "ok" and r["us_per_iter"]
        assert json.loads(str(r["health_before"]))["hottest_zone_c"] >= 79
