"""``AdbDevice.run_with_health``: a launch and its two health snapshots in one
shell (one adb service), on virtual phones behind Debian's adb server, over
shell v2 and over v1 (an Android 6 profile)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.virtualphone.harness import AdbServer, VirtualPhone

# Output that looks like the health script's own sections, without a final newline.
TRICKY = "x\n@@benchorch@@battery\nlevel: 1\ntemperature: 990\n@@benchorch@@thermal\nz\tcpu\t99000"


@pytest.mark.parametrize("profile", ["x86_64_emulator", "nexus5_android6"])
def test_the_commands_output_is_cut_out_exactly_and_never_read_as_health(
    profile: str, adb_server: AdbServer, virtual_phone: Callable[..., VirtualPhone]
) -> None:
    phone = virtual_phone(profile=profile)
    device = AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))
    run = device.run_with_health(
        ["sh", "-c", 'printf %s "$1"; echo err >&2; exit 7', "sh", TRICKY], timeout=30
    )
    assert run.shell.exit_code == 7 and run.shell.complete
    if profile == "x86_64_emulator":  # v2 keeps the streams apart; v1 merges them
        assert run.shell.stdout == TRICKY
        assert run.shell.stderr == "err\n"
    else:
        assert TRICKY in run.shell.stdout
    assert run.before is not None and run.after is not None
    real = device.health()
    for snap in (run.before, run.after):  # the phone's, not the command's look-alike
        assert snap.battery_level == real.battery_level != 1
        assert snap.hottest_zone_c == real.hottest_zone_c
    assert run.before.taken_at < run.after.taken_at


def test_a_command_killed_at_its_timeout_gives_no_after_snapshot(
    adb_server: AdbServer, virtual_phone: Callable[..., VirtualPhone]
) -> None:
    phone = virtual_phone(profile="x86_64_emulator")
    device = AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))
    run = device.run_with_health(["sh", "-c", "echo started; sleep 30"], timeout=1.5)
    assert run.shell.timed_out and not run.shell.complete
    assert run.shell.stdout == "started\n"
    assert run.before is not None and run.after is None
