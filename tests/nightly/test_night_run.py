"""``benchorch nightly run`` / ``status`` end to end on virtual phones (x86_64
emulator profile) behind the real adb server, with the real host-built
speed_benchmark_torch and real exported variants; the night's claim in a real
SQLite file."""

from __future__ import annotations

import datetime as dt
import json
import signal
from collections.abc import Callable
from pathlib import Path

from tests.nightly.conftest import NightlyEnv, sweep_keys
from tests.support.adb_fixtures import VirtualPhone, wait_for

EMU = "x86_64_emulator"
PhoneFactory = Callable[..., VirtualPhone]


def _json(text: str) -> dict:
    return json.loads(text[text.index("{") :])


def test_a_night_runs_once_and_a_second_trigger_is_a_no_op(
    nightly_env: NightlyEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phones = [virtual_phone(profile=EMU), virtual_phone(profile=EMU)]
    cfg = nightly_env.config(
        devices=[p.serial for p in phones], **sweep_keys(small_variants, sweep_binaries["lite"])
    )
    first = nightly_env.invoke("run", "--config", str(cfg), "--night", "2026-12-01", "-q")
    assert first.exit_code == 0, first.output
    assert "2026-12-01" in first.stdout and ": ran" in first.stdout
    assert "coverage: 2/2 phones, 8/8 launches" in first.stdout

    again = nightly_env.invoke("run", "--config", str(cfg), "--night", "2026-12-01", "--json")
    assert again.exit_code == 0, again.output
    doc = _json(again.stdout)
    assert doc["action"] == "already complete" and doc["status"]["ran"] == 8
    assert len(nightly_env.rows("SELECT * FROM runs")) == 1
    assert nightly_env.rows("SELECT count(*) FROM launches")[0][0] == 8

    [row] = nightly_env.rows("SELECT * FROM nights")
    detail = json.loads(row["detail"])
    assert row["status"] == "complete" and row["night"] == "2026-12-01"
    assert detail["revisions"]["benchorch"]
    assert detail["revisions"]["pytorch"]  # from the registered binary's provenance
    assert sorted(detail["planned"]) == sorted(p.serial for p in phones)

    status = nightly_env.invoke("status", "--night", "latest")
    assert status.exit_code == 0, status.output
    for p in phones:
        assert f"{p.serial}: planned 4, done 4, failed 0" in status.stdout


def test_a_missing_phone_is_listed_and_exits_3(
    nightly_env: NightlyEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phone = virtual_phone(profile=EMU)
    gone = "127.0.0.1:9"  # never attached to this adb server
    cfg = nightly_env.config(
        devices=[phone.serial, gone], **sweep_keys(small_variants, sweep_binaries["lite"])
    )
    result = nightly_env.invoke("run", "--config", str(cfg), "-q")
    assert result.exit_code == 3, result.output
    assert f"{gone}: left out (missing: the adb server does not list it)" in result.stdout
    assert "BELOW MINIMUM" in result.stdout
    assert f"{phone.serial}: planned 4, done 4" in result.stdout
    # the healthy phone's launches are all stored
    assert nightly_env.rows("SELECT count(*) FROM launches")[0][0] == 4


def test_two_triggers_at_once_give_one_night(
    nightly_env: NightlyEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phone = virtual_phone(profile=EMU)
    cfg = nightly_env.config(
        devices=[phone.serial], **sweep_keys(small_variants, sweep_binaries["lite"])
    )
    args = ("run", "--config", str(cfg), "--night", "2026-12-10", "--json")
    procs = [nightly_env.popen(*args), nightly_env.popen(*args)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    actions = sorted(_json(out)["action"] for out, _err in outs)
    assert actions[1] == "ran" and actions[0] in ("already complete", "in progress elsewhere")
    assert len(nightly_env.rows("SELECT * FROM nights")) == 1
    assert len(nightly_env.rows("SELECT * FROM runs")) == 1
    keys = nightly_env.rows("SELECT launch_key FROM launches")
    assert len(keys) == 4 == len({k[0] for k in keys})


def test_a_killed_trigger_is_resumed_by_the_next_one_same_night(
    nightly_env: NightlyEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phone = virtual_phone(profile=EMU)
    keys = sweep_keys(small_variants, sweep_binaries["lite"], launches=10)
    cfg = nightly_env.config(devices=[phone.serial], **keys)
    args = ("run", "--config", str(cfg), "--night", "2026-12-11", "-q")
    proc = nightly_env.popen(*args)

    def some_stored() -> bool:
        try:
            return bool(nightly_env.rows("SELECT count(*) FROM launches")[0][0] >= 2)
        except Exception:
            return False

    wait_for(some_stored, 120, "the first launches")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stored = nightly_env.rows("SELECT count(*) FROM launches")[0][0]
    assert stored < 20

    again = nightly_env.invoke(*args)
    assert again.exit_code == 0, again.output
    assert ": resumed" in again.stdout
    assert len(nightly_env.rows("SELECT * FROM runs")) == 1
    keys_ = [k[0] for k in nightly_env.rows("SELECT launch_key FROM launches")]
    assert len(keys_) == 20 == len(set(keys_))


def test_the_deadline_cuts_the_night_and_lists_what_did_not_run(
    nightly_env: NightlyEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phone = virtual_phone(profile=EMU)
    keys = sweep_keys(small_variants, sweep_binaries["lite"], launches=60)
    cfg = nightly_env.config(devices=[phone.serial], **keys)
    soon = (dt.datetime.now() + dt.timedelta(seconds=3)).strftime("%H:%M:%S")
    result = nightly_env.invoke("run", "--config", str(cfg), "--deadline", soon, "--json")
    assert result.exit_code == 3, result.output
    doc = _json(result.stdout)["status"]
    assert doc["deadline_hit"] and not doc["coverage_met"]
    [p] = doc["phones"]
    assert p["planned"] == 120 and p["not_run"] > 0 and p["reason"] == "deadline"
    assert p["done"] + p["failed"] + p["not_run"] == 120
    assert nightly_env.rows("SELECT count(*) FROM launches")[0][0] == p["done"] + p["failed"]
    status = nightly_env.invoke("status")
    assert f"not run {p['not_run']} (deadline)" in status.stdout
