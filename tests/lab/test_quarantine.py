"""Quarantine and health checks on a real PostgreSQL: the streak rules of ``state.record_use``
and ``state.record_health``; then real workers (a host worker and ``lab worker --control``)
running health checks, each a job holding the phone's lock, on virtual phones behind
Debian's adb server: a healthy quarantined phone comes back ``good``, a phone whose storage
is full (the virtual phone's ``full_disk`` fault) stays quarantined with the failed check
shown by ``lab devices``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from benchorch.errors import ConfigError
from benchorch.lab import queue, state
from benchorch.lab.config import load_lab_config
from tests.lab.conftest import write_lab_toml
from tests.lab.test_lab_cli import BENCHORCH, _attempts, _url, lab
from tests.support.adb_fixtures import wait_for


def _device(config: Path, serial: str) -> dict[str, Any]:
    code, out = lab(config, "devices", "--json")
    assert code == 0, out
    return next(d for d in json.loads(out) if d["serial"] == serial)


def test_infrastructure_failures_in_a_row_quarantine_and_a_benchmarks_own_never_counts(
    ready: Path,
) -> None:
    with state.connect(_url(ready)) as conn:
        assert state.record_use(conn, "PHONE1", True, detail="dropped mid-run") == "suspect"
        d = state.device(conn, "PHONE1")
        assert d is not None and (d.state, d.failure_streak) == ("suspect", 1)
        # the benchmark's own failure (bad model, crash) is a use that worked, as far as
        # the phone goes: the streak ends and the suspicion with it
        assert state.record_use(conn, "PHONE1", False) == "good"
        for _ in (1, 2):
            assert state.record_use(conn, "PHONE1", True) == "suspect"
        assert state.record_use(conn, "PHONE1", True, detail="adb server lost it") == "quarantined"
        d = state.device(conn, "PHONE1")
        assert d is not None and d.failure_streak == 3 and d.quarantine_auto
        assert d.state_reason == "3 infrastructure failures in a row (last: adb server lost it)"
        # only a health check or a person clears a quarantine: a success does not
        assert state.record_use(conn, "PHONE1", False) == "quarantined"
        # a limit from lab.toml
        assert state.record_use(conn, "PHONE2", True, quarantine_after=1) == "quarantined"
        # a maintenance phone is counted but stays in maintenance
        state.set_state(conn, "PHONE3", "maintenance", "new cable")
        assert state.record_use(conn, "PHONE3", True, quarantine_after=1) == "maintenance"
    phone1 = _device(ready, "PHONE1")
    assert (phone1["state"], phone1["quarantined_by"], phone1["health"]) == (
        "quarantined",
        "benchorch",
        None,
    )
    code, out = lab(ready, "reserve", "PHONE1", "--wait", "0")
    assert code == 2 and "quarantined" in out  # it gets no work
    code, _ = lab(ready, "unquarantine", "PHONE1")
    assert code == 0
    assert (_device(ready, "PHONE1")["state"], _device(ready, "PHONE1")["failure_streak"]) == (
        "good",
        0,
    )


def test_health_results_clear_only_benchorchs_quarantine_and_say_when_one_is_due(
    ready: Path,
) -> None:
    passed = {"checks": {"adb": "ok", "shell": "ok", "battery": "ok", "storage": "ok"}}
    failed = {"checks": {"adb": "ok", "shell": "ok", "battery": "ok", "storage": "disk full"}}
    with state.connect(_url(ready)) as conn:
        for _ in range(3):
            state.record_use(conn, "PHONE1", True)
        state.set_state(conn, "PHONE2", "quarantined", "battery swollen")  # a person's
        state.record_use(conn, "PHONE3", True)  # suspect
        due = {d.serial for d in state.health_due(conn, 60)}
        assert due == {"PHONE1", "PHONE3"}  # a person's quarantine waits for a person

        assert state.record_health(conn, "PHONE1", False, failed) == "quarantined"
        d = state.device(conn, "PHONE1")
        assert d is not None and d.failure_streak == 4 and d.health_ok is False
        assert "PHONE1" not in {x.serial for x in state.health_due(conn, 60)}  # just checked
        assert "PHONE1" in {x.serial for x in state.health_due(conn, 0)}
        assert state.record_health(conn, "PHONE1", True, passed) == "good"
        assert state.record_health(conn, "PHONE2", True, passed) == "quarantined"
        assert state.record_health(conn, "PHONE3", True, passed) == "good"
        d = state.device(conn, "PHONE1")
        assert d is not None and (d.failure_streak, d.health_ok) == (0, True)
        assert state.health_due(conn, 0) == []
        kinds = [e["event"] for e in state.events(conn, "PHONE1")]
    assert kinds.count("health:failed") == 1 and "health:ok" in kinds
    _, out = lab(ready, "devices")
    line = next(ln for ln in out.splitlines() if ln.startswith("PHONE1\t"))
    assert "\tgood (a health check passed)\t" in line and "health ok at" in line


def test_quarantine_after_is_read_and_checked(tmp_path: Path) -> None:
    path = write_lab_toml(tmp_path, "postgresql://u@h/d")
    assert load_lab_config(path).quarantine_after == 3
    path.write_text("quarantine_after = 2\n" + path.read_text())
    assert load_lab_config(path).quarantine_after == 2
    path.write_text("quarantine_after = 0\n" + path.read_text().split("\n", 1)[1])
    with pytest.raises(ConfigError, match="quarantine_after = 0 must be"):
        load_lab_config(path)


@pytest.mark.slow
def test_control_worker_health_checks_quarantined_phones_through_their_host_worker(
    tmp_path: Path, lab_db: str, adb_server: Any, virtual_phone: Callable[..., Any]
) -> None:
    healthy = virtual_phone(profile="pixel8")
    full = virtual_phone(profile="pixel8", faults={"full_disk": True})
    config = write_lab_toml(
        tmp_path,
        lab_db,
        f"\n[hosts.edge]\nadb_port = {adb_server.port}\n"
        f'\n[phones."{healthy.serial}"]\nhost = "edge"\nmodel = "pixel_8"\n'
        f'\n[phones."{full.serial}"]\nhost = "edge"\nmodel = "pixel_8"\n',
    )
    assert lab(config, "init")[0] == 0
    url = _url(config)
    with state.connect(url) as conn:
        for serial in (healthy.serial, full.serial):
            for _ in range(3):
                state.record_use(conn, serial, True, detail="dropped")
    assert _device(config, healthy.serial)["state"] == "quarantined"
    procs = [
        subprocess.Popen(
            [*BENCHORCH, "lab", "worker", "--config", str(config), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for args in (["--host", "edge"], ["--control", "--health-every", "2s"])
    ]
    try:
        wait_for(lambda: _device(config, healthy.serial)["state"] == "good", 90, "healthy: good")
        good = _device(config, healthy.serial)
        assert good["health"]["ok"] is True and good["failure_streak"] == 0
        assert good["health"]["checks"] == {
            "adb": "ok",
            "shell": "ok",
            "battery": "ok",
            "storage": "ok",
        }
        assert isinstance(good["health"]["battery_level"], int)
        wait_for(lambda: _device(config, full.serial)["health"] is not None, 60, "full checked")
        bad = _device(config, full.serial)
        assert bad["state"] == "quarantined" and bad["health"]["ok"] is False
        assert bad["health"]["checks"]["storage"] not in ("ok", "skipped")
        assert bad["health"]["checks"]["shell"] == "ok"
        # checks go on (every 2 s) while it stays quarantined, each counted
        wait_for(lambda: _device(config, full.serial)["failure_streak"] >= 5, 60, "rechecked")
        _, out = lab(config, "devices")
        assert "health FAILED at" in out and "storage:" in out
        # every check was a job holding the phone's lock, one fenced attempt at a time
        jobs = queue.jobs_on_lock(url, queue.device_lock(full.serial))
        assert {j.task for j in jobs} == {"benchorch.lab.health"} and len(jobs) >= 2
        attempts = _attempts(config, full.serial)
        assert {a.kind for a in attempts} == {"health"}
        assert sum(a.ended_at is None for a in attempts) <= 1
        # the healthy phone is no longer due: it got no more checks after passing
        checks_then = len(_attempts(config, healthy.serial))
        assert lab(config, "unquarantine", full.serial)[0] == 0
        wait_for(
            lambda: not [
                j for j in queue.jobs_on_lock(url, queue.device_lock(full.serial))
                if j.status in ("todo", "doing")
            ],
            30,
            "the last check to end",
        )  # fmt: skip
        assert len(_attempts(config, healthy.serial)) == checks_then
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)
    assert CliRunner().invoke(cli, ["lab", "devices", "--config", str(config)]).exit_code == 0
