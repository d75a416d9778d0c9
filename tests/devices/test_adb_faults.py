"""Injected faults on virtual phones give their documented errors, never a success.

Virtual phones (benchorch.virtualphone) stand in for physical phones, which
cannot exist here; the adb server between us and them is Debian's real one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.devices.base import REMOTE_ROOT
from benchorch.errors import (
    DeviceDropped,
    DeviceError,
    DeviceStorageFull,
    DeviceUnreachable,
)
from benchorch.virtualphone.profile import load_profile

pytestmark = pytest.mark.slow


def device(adb_server: Any, phone: Any) -> AdbDevice:
    return AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))


def test_drop_mid_push_is_device_dropped_then_reconnect_and_push_again(
    adb_server: Any, virtual_phone: Any, tmp_path: Path
) -> None:
    phone = virtual_phone(faults={"drop_after_push_bytes": 200_000, "drop_times": 1})
    dev = device(adb_server, phone)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(2_000_000))
    with pytest.raises(DeviceDropped, match=rf"{phone.serial}: push of big.bin") as err:
        dev.push(src, "big.bin")
    assert err.value.serial == phone.serial
    dev.reconnect(within_s=20)
    res = dev.push(src, "big.bin")
    assert res.bytes_sent == 2_000_000 and not res.skipped
    assert (phone.root / "benchorch" / "big.bin").read_bytes() == src.read_bytes()


def test_drop_mid_shell_is_never_a_success(adb_server: Any, virtual_phone: Any) -> None:
    phone = virtual_phone(faults={"drop_after_shell_seconds": 0.5, "drop_times": 1})
    dev = device(adb_server, phone)
    try:
        res = dev.run(["sh", "-c", "echo begin; sleep 3; echo end"], timeout=30)
    except DeviceDropped as exc:
        assert exc.serial == phone.serial
    else:
        assert not res.complete and not res.ok and res.exit_code is None
        assert "end" not in res.stdout
    dev.reconnect(within_s=20)
    after = dev.run(["echo", "back"], timeout=20)
    assert after.ok and after.stdout == "back\n"


def test_hang_times_out_is_killed_on_the_phone_and_the_phone_stays_usable(
    adb_server: Any, virtual_phone: Any
) -> None:
    dev = device(adb_server, virtual_phone(faults={"hang": "hang-me"}))
    res = dev.run(["hang-me", "--iter=10"], timeout=1.0)
    assert res.timed_out and not res.ok and not res.complete
    assert res.stdout == ""
    pid = dev.last_remote_pid
    assert pid is not None
    # Gone or a zombie awaiting its parent: either way no longer running.
    probe = f's=$(cat /proc/{pid}/stat 2>/dev/null) || {{ echo gone; exit; }}; echo "${{s##*) }}"'
    deadline = time.monotonic() + 10
    state = dev.run(["sh", "-c", probe], timeout=20).stdout
    while not (state == "gone\n" or state.startswith("Z")) and time.monotonic() < deadline:
        time.sleep(0.1)
        state = dev.run(["sh", "-c", probe], timeout=20).stdout
    assert state == "gone\n" or state.startswith("Z"), state
    assert dev.run(["echo", "fine"], timeout=20).stdout == "fine\n"


def test_full_disk_is_storage_full_and_df_shows_zero(
    adb_server: Any, virtual_phone: Any, tmp_path: Path
) -> None:
    phone = virtual_phone(faults={"full_disk": True})
    dev = device(adb_server, phone)
    src = tmp_path / "m.ptl"
    src.write_bytes(os.urandom(100_000))
    with pytest.raises(DeviceStorageFull, match="No space left on device") as err:
        dev.push(src, "m.ptl")
    assert err.value.serial == phone.serial and "free space" in str(err.value)
    assert dev.info().free_bytes == 0


def test_noexec_binary_fails_with_126(adb_server: Any, virtual_phone: Any, tmp_path: Path) -> None:
    dev = device(adb_server, virtual_phone(faults={"noexec": True}))
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\necho ran\n")
    dev.push(tool, "tool", executable=True)
    res = dev.run(["./tool"], timeout=20, cwd=REMOTE_ROOT)
    assert res.exit_code == 126 and not res.ok
    assert "Permission denied" in res.stderr and res.stdout == ""


def test_hot_phone_reads_hot_then_cools(adb_server: Any, virtual_phone: Any) -> None:
    prof = load_profile("pixel8")
    dev = device(adb_server, virtual_phone(faults={"hot_c": 80.0, "cool_rate_c_per_s": 4.0}))
    first = dev.health()
    time.sleep(1.0)
    second = dev.health()
    assert first.hottest_zone_c is not None and second.hottest_zone_c is not None
    assert first.hottest_zone_c > max(z.temp_c for z in prof.thermal)
    assert second.hottest_zone_c < first.hottest_zone_c
    assert first.max_temp_c is not None and first.max_temp_c >= first.hottest_zone_c


def test_vanished_phone_errors_then_comes_back(adb_server: Any, virtual_phone: Any) -> None:
    phone = virtual_phone(profile="galaxy_a54")
    dev = device(adb_server, phone)
    assert dev.run(["true"], timeout=20).ok
    phone.kill()
    with pytest.raises(DeviceError) as err:
        res = dev.run(["echo", "x"], timeout=5)
        # Should the server not have noticed yet, the result must still not be a success.
        assert not res.ok
        raise DeviceDropped("no output", serial=phone.serial)
    assert err.value.serial == phone.serial
    with pytest.raises(DeviceUnreachable, match="did not come back within 1 s"):
        dev.reconnect(within_s=1.0)
    phone.start(connect=False)
    dev.reconnect(within_s=20)
    assert dev.run(["echo", "again"], timeout=20).stdout == "again\n"
    assert adb_server.state(phone.serial) == "device"


def test_facts_script_that_hangs_is_a_device_timeout(
    adb_server: Any, virtual_phone: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import benchorch.devices.adb as adb_mod
    from benchorch.errors import DeviceTimeout

    dev = device(adb_server, virtual_phone(faults={"hang": "getprop"}))
    monkeypatch.setattr(adb_mod.AdbDevice, "_script_timeout_s", 1.0)
    with pytest.raises(DeviceTimeout, match="device facts took longer"):
        dev.info()
    assert dev.run(["echo", "ok"], timeout=20).ok


def test_abort_cuts_a_call_in_flight_and_fails_every_later_one_at_once(
    adb_server: Any, virtual_phone: Any
) -> None:
    """A host gone silent: ``abort`` from another thread ends a long command at once
    (not at its 60 s timeout), and every later call fails without waiting."""
    import threading

    phone = virtual_phone()
    dev = device(adb_server, phone)
    assert dev.run(["true"], timeout=20).complete
    outcome: list[object] = []

    def long_call() -> None:
        try:
            outcome.append(dev.run(["sleep", "30"], timeout=60))
        except DeviceError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=long_call)
    worker.start()
    time.sleep(1.0)
    start = time.monotonic()
    dev.abort("its host is down")
    worker.join(10)
    assert not worker.is_alive() and time.monotonic() - start < 5
    (got,) = outcome
    assert isinstance(got, DeviceError) or not got.complete  # type: ignore[attr-defined]
    start = time.monotonic()
    with pytest.raises(DeviceUnreachable, match="its host is down"):
        dev.run(["true"], timeout=20)
    assert time.monotonic() - start < 1
