"""The lab guard on a virtual phone (the real adbd protocol, mksh, real processes).

An older attempt's launch still running when a newer attempt claims the phone is
killed; a superseded attempt's next launch does not start; a newer guard is never
taken by an older token.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.domain import ShellResult
from benchorch.errors import DeviceError
from benchorch.lab import guard

pytestmark = pytest.mark.slow


def _wait_for_a_pid(dev: AdbDevice) -> None:
    """Until a launch inside the guard has registered its PID."""
    pids = f"{guard.guard_path(dev)}/pids"
    for _ in range(100):
        if dev.run(["cat", pids], timeout=10).stdout.strip():
            return
        threading.Event().wait(0.1)
    raise AssertionError("the old launch never registered its pid")


def test_a_newer_attempt_kills_the_leftovers_and_fences_the_older_one(
    adb_server: Any, virtual_phone: Any
) -> None:
    phone = virtual_phone(profile="pixel8")
    dev = AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))
    try:
        assert guard.claim(dev, 1) == guard.GuardClaim(1, 0)
        results: list[ShellResult] = []
        old = threading.Thread(
            target=lambda: results.append(
                dev.run(guard.wrapped(dev, 1, ["sleep", "120"]), timeout=180)
            )
        )
        old.start()
        _wait_for_a_pid(dev)

        assert guard.claim(dev, 2) == guard.GuardClaim(2, 1)  # the leftover was killed
        old.join(60)
        assert not old.is_alive() and results[0].exit_code != 0  # long before its 120 s

        late = dev.run(guard.wrapped(dev, 1, ["echo", "ran"]), timeout=10)
        assert late.exit_code == guard.SUPERSEDED_EXIT and "ran" not in late.stdout
        hostile = "it's; rm -rf / $(x) `y`"
        ok = dev.run(guard.wrapped(dev, 2, ["echo", hostile]), timeout=10)
        assert ok.exit_code == 0 and ok.stdout.strip() == hostile

        with pytest.raises(DeviceError, match="newer lab attempt"):
            guard.claim(dev, 1)
        guard.release(dev, 1)  # not the owner: the guard stays
        assert dev.run(["cat", f"{guard.guard_path(dev)}/token"], timeout=10).stdout.strip() == "2"
        guard.release(dev, 2)
        assert dev.run(["ls", guard.guard_path(dev)], timeout=10).exit_code != 0
    finally:
        dev.close()


def test_a_guard_another_lab_left_is_stale_whatever_its_token(
    adb_server: Any, virtual_phone: Any
) -> None:
    """Tokens are ordered within one lab: a lab set up again on a new database counts
    from 1 again, and a guard its predecessor never released (a host crash) must not
    refuse it; within one lab a newer token still wins."""
    phone = virtual_phone(profile="pixel8")
    dev = AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))
    try:
        assert guard.claim(dev, 7, "old-lab") == guard.GuardClaim(7, 0)  # never released
        leftover = threading.Thread(
            target=lambda: dev.run(guard.wrapped(dev, 7, ["sleep", "120"]), timeout=180)
        )
        leftover.start()
        _wait_for_a_pid(dev)
        assert guard.claim(dev, 1, "new-lab") == guard.GuardClaim(1, 1)  # stale: killed
        leftover.join(60)
        assert not leftover.is_alive()
        with pytest.raises(DeviceError, match="newer lab attempt"):
            guard.claim(dev, 0, "new-lab")  # the same lab's newer token still wins
        guard.release(dev, 1)
    finally:
        dev.close()
