"""Lab hosts seen from the controller: a host crash, a black-holed host, a host back after a
restart, an adb server of another version (a fake: one adb version exists here); the
control worker's host probes."""

from __future__ import annotations

import json
import time

import pytest

from benchorch.lab import state
from tests.lab.test_hosts import OtherVersionAdbServer
from tests.lab_e2e.lab import Lab, until

pytestmark = [pytest.mark.lab_e2e, pytest.mark.slow]


def _hosts(lab: Lab) -> tuple[int, dict[str, dict[str, object]]]:
    code, out = lab.cli("lab", "hosts", "--json")
    start = out.index("[")
    return code, {r["host"]: r for r in json.loads(out[start : out.rindex("]") + 1])}


def test_each_host_sees_only_its_own_two_phones(lab: Lab) -> None:
    lab.fresh()
    code, reports = _hosts(lab)
    assert code == 0, reports
    for name, host in lab.hosts.items():
        r = reports[name]
        assert r["status"] == "up" and r["missing"] == []
        assert r["seen"] == {p.serial: "device" for p in host.phones}
    lab.check()


def test_a_crashed_host_is_down_and_comes_back_after_a_restart(lab: Lab) -> None:
    lab.fresh()
    crashed = lab.hosts["lab-b"]
    crashed.crash()
    code, reports = _hosts(lab)
    assert code == 3
    assert reports["lab-b"]["status"] == "down"
    assert [reports[h]["status"] for h in ("lab-a", "lab-c")] == ["up", "up"]
    crashed.start()
    code, reports = _hosts(lab)
    assert code == 0 and reports["lab-b"]["status"] == "up", reports["lab-b"]
    assert reports["lab-b"]["seen"] == {p.serial: "device" for p in crashed.phones}
    lab.check()


def test_a_black_holed_host_is_down_within_seconds(lab: Lab) -> None:
    lab.fresh()
    host = lab.hosts["lab-c"]
    assert host.blackhole()
    try:
        start = time.monotonic()
        code, reports = _hosts(lab)
        took = time.monotonic() - start
    finally:
        host.resume()
    assert code == 3 and reports["lab-c"]["status"] == "down", reports["lab-c"]
    assert took < 60  # every call has a timeout: a hung server never hangs the probe
    assert [reports[h]["status"] for h in ("lab-a", "lab-b")] == ["up", "up"]
    code, reports = _hosts(lab)
    assert code == 0, reports
    lab.check()


def test_an_adb_server_of_another_version_is_never_killed(lab: Lab) -> None:
    lab.fresh()
    host = lab.hosts["lab-a"]
    host.stop()
    odd = OtherVersionAdbServer(port=host.adb_port)
    try:
        code, reports = _hosts(lab)
    finally:
        odd.sock.close()
    assert code == 3 and reports["lab-a"]["status"] == "misconfigured"
    assert "version 32" in str(reports["lab-a"]["detail"])
    assert odd.asked == ["host:version"]  # no listing, never host:kill
    host.start()
    lab.check()


def _probed(lab: Lab) -> dict[str, str | None]:
    with state.connect(lab.url) as conn:
        return {name: row.probe_status for name, row in state.hosts(conn).items()}


def test_the_control_worker_probes_each_host_and_records_what_it_saw(lab: Lab) -> None:
    """No host worker at all (as when a host's worker died with it): the control
    worker's probes (``--probe-every 1s``) see a crashed host down and back up after its
    restart, and a black-holed one down within its probe's deadline; ``lab hosts`` shows
    what the control saw beside what a worker recorded (none here)."""
    lab.fresh()
    lab.worker("--control", "--probe-every", "1s")
    every_up = {name: "up" for name in lab.hosts}
    until(lambda: _probed(lab) == every_up, 60, "every host probed up")
    lab.hosts["lab-b"].crash()
    until(lambda: _probed(lab)["lab-b"] == "down", 30, "lab-b probed down")
    assert _probed(lab) == {**every_up, "lab-b": "down"}
    lab.hosts["lab-b"].start()
    until(lambda: _probed(lab) == every_up, 30, "lab-b probed up again")
    lab.hosts["lab-c"].blackhole()
    try:
        start = time.monotonic()
        until(lambda: _probed(lab)["lab-c"] == "down", 30, "lab-c probed down")
        took = time.monotonic() - start
    finally:
        lab.hosts["lab-c"].resume()
    assert took < 20  # a probe's deadline (5 s) and the next round, not a hung call
    until(lambda: _probed(lab) == every_up, 30, "lab-c probed up again")
    code, reports = _hosts(lab)
    assert code == 0, reports
    for name in lab.hosts:
        assert reports[name]["control_saw"]["status"] == "up"
        assert reports[name]["worker_saw"] is None  # no worker recorded anything
    with state.connect(lab.url) as conn:
        events = [e["event"] for e in state.events(conn, "host:lab-b")]
    assert events == ["probe:up", "probe:down", "probe:up"]
    lab.check()
