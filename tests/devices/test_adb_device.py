"""AdbDevice against Debian's real adb server and virtual phones (real adbd protocol).

The virtual phone stands in for a physical phone (none can exist here): it runs
the commands we send on this host in a sandbox, with getprop, dumpsys, sysfs
and taskset answering from its profile.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchorch.devices import list_devices, open_device
from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.devices.adbshell import AdbShell
from benchorch.devices.base import REMOTE_ROOT, Device
from benchorch.devices.cpumask import cpu_mask
from benchorch.errors import AbiMismatch, BatteryTooLow, DeviceNotFound, UsageError
from benchorch.virtualphone.profile import load_profile

pytestmark = pytest.mark.slow


def device(adb_server: Any, phone: Any) -> AdbDevice:
    return AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))


def test_three_phones_discovered_at_once_with_their_profiles_facts(
    adb_server: Any, virtual_phone: Any
) -> None:
    names = ("pixel8", "galaxy_a54", "x86_64_emulator")
    phones = {virtual_phone(profile=n).serial: load_profile(n) for n in names}
    infos = {i.serial: i for i in list_devices(f"127.0.0.1:{adb_server.port}")}
    assert infos["local"].state == "local"
    for serial, prof in phones.items():
        info = infos[serial]
        assert info.state == "device"
        assert info.model == prof.props["ro.product.model"]
        assert info.manufacturer == prof.props["ro.product.manufacturer"]
        soc_keys = ("ro.soc.model", "ro.board.platform", "ro.hardware")
        assert info.soc == next(prof.props[k] for k in soc_keys if prof.props.get(k))
        assert info.abis == prof.abis
        assert info.sdk == int(prof.props["ro.build.version.sdk"])
        assert info.android_release == prof.props["ro.build.version.release"]
        assert info.fingerprint == prof.props["ro.build.fingerprint"]
        assert info.battery_level == prof.battery_level
        assert info.battery_temp_c == pytest.approx(prof.battery_temp_c, abs=0.05)
        assert info.charging is (prof.battery_status == "Charging")
        assert info.rooted is prof.rooted
        assert info.free_bytes is not None and info.free_bytes > 0
        for zone in prof.thermal:
            assert info.thermal_zones[zone.type] == pytest.approx(zone.temp_c, abs=0.01)
        # Clusters derived from per-core max frequencies match the profile's.
        ours = sorted((c.cpus, c.max_khz) for c in info.clusters)
        assert ours == sorted((c.cpus, c.max_khz) for c in prof.clusters)
        fastest = max(prof.clusters, key=lambda c: c.max_khz)
        assert info.big_cpus == fastest.cpus


def test_open_device_unknown_serial_names_it(adb_server: Any) -> None:
    with pytest.raises(DeviceNotFound, match=r"no-such-phone: not attached") as err:
        open_device("no-such-phone", adb_addr=f"127.0.0.1:{adb_server.port}")
    assert err.value.serial == "no-such-phone"


def test_env_port_is_honoured(adb_server: Any, virtual_phone: Any, monkeypatch: Any) -> None:
    phone = virtual_phone(profile="x86_64_emulator")
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    dev = open_device(phone.serial)
    assert isinstance(dev, Device)
    assert dev.run(["echo", "hi"], timeout=20).stdout == "hi\n"


def test_push_second_time_sends_nothing_and_changes_are_sent(
    adb_server: Any, virtual_phone: Any, tmp_path: Path, capsys: Any
) -> None:
    phone = virtual_phone(profile="pixel8")
    dev = device(adb_server, phone)
    src = tmp_path / "model.ptl"
    src.write_bytes(os.urandom(300_000))
    first = dev.push(src, "model.ptl")
    second = dev.push(src, "model.ptl")
    print(f"first push sent {first.bytes_sent} bytes, second push sent {second.bytes_sent}")
    assert (first.bytes_sent, first.skipped) == (300_000, False)
    assert (second.bytes_sent, second.skipped) == (0, True)
    assert first.sha256 == second.sha256
    assert first.remote_path == f"{REMOTE_ROOT}/model.ptl"
    on_phone = phone.root / "benchorch" / "model.ptl"
    assert on_phone.read_bytes() == src.read_bytes()
    src.write_bytes(os.urandom(1000))
    third = dev.push(src, "model.ptl")
    assert third.bytes_sent == 1000 and not third.skipped
    assert on_phone.read_bytes() == src.read_bytes()
    src.write_bytes(os.urandom(1000))  # same size, other bytes: the hash decides
    fourth = dev.push(src, "model.ptl")
    assert fourth.bytes_sent == 1000 and fourth.sha256 != third.sha256
    assert on_phone.read_bytes() == src.read_bytes()
    assert "second push sent 0" in capsys.readouterr().out


def test_push_executable_is_chmod_755_even_when_deduplicated(
    adb_server: Any, virtual_phone: Any, tmp_path: Path
) -> None:
    phone = virtual_phone(profile="x86_64_emulator")
    dev = device(adb_server, phone)
    src = tmp_path / "tool"
    # /bin/sh: the sandbox runs commands on this host, which has no /system/bin/sh.
    src.write_text('#!/bin/sh\necho tool ran "$@"\n')
    dev.push(src, "tool")
    on_phone = phone.root / "benchorch" / "tool"
    assert stat.S_IMODE(on_phone.stat().st_mode) & 0o111 == 0
    again = dev.push(src, "tool", executable=True)
    assert again.skipped and stat.S_IMODE(on_phone.stat().st_mode) == 0o755
    res = dev.run(["./tool", "a b"], timeout=20, cwd=REMOTE_ROOT)
    assert res.ok and res.stdout == "tool ran a b\n"


def test_push_rejects_bad_names(adb_server: Any, virtual_phone: Any, tmp_path: Path) -> None:
    dev = device(adb_server, virtual_phone(profile="pixel8"))
    src = tmp_path / "f"
    src.write_text("x")
    for bad in ("", ".", "..", "a/b"):
        with pytest.raises(UsageError, match="bad remote file name"):
            dev.push(src, bad)


def test_exit_codes_come_through_with_streams_apart(adb_server: Any, virtual_phone: Any) -> None:
    dev = device(adb_server, virtual_phone(profile="pixel8"))
    res = dev.run(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout=20)
    assert (res.exit_code, res.stdout, res.stderr) == (7, "out\n", "err\n")
    assert res.complete and not res.timed_out and not res.ok
    ok = dev.run(["true"], timeout=20)
    assert ok.ok and ok.exit_code == 0 and ok.stderr == ""
    missing = dev.run(["definitely-not-a-command"], timeout=20)
    assert missing.exit_code == 127 and not missing.ok


def test_cwd_env_and_cpu_mask_reach_the_phone(adb_server: Any, virtual_phone: Any) -> None:
    dev = device(adb_server, virtual_phone(profile="pixel8"))
    res = dev.run(
        ["sh", "-c", 'pwd; echo "$GREETING"'],
        timeout=20,
        cwd="/data/local/tmp",
        env={"GREETING": "it's $(not) run; ok"},
    )
    assert res.ok and res.stdout == "/data/local/tmp\nit's $(not) run; ok\n"
    big = dev.info().big_cpus
    assert dev.run(["echo", "pinned"], timeout=20, cpu_mask=cpu_mask(big)).ok
    # A mask naming only CPUs the phone lacks is refused by taskset: proof it got there.
    bad = dev.run(["echo", "pinned"], timeout=20, cpu_mask=1 << 40)
    assert bad.exit_code == 1 and "Invalid argument" in bad.stderr


def _alive(dev: AdbDevice, pid: int) -> bool:
    """Whether ``pid`` exists on the phone and is not a zombie (asked through the phone)."""
    res = dev.run(["cat", f"/proc/{pid}/stat"], timeout=20)
    return res.exit_code == 0 and res.stdout.rsplit(")", 1)[-1].split()[0] != "Z"


def test_timeout_kills_the_process_on_the_phone(adb_server: Any, virtual_phone: Any) -> None:
    phone = virtual_phone(profile="pixel8")
    dev = device(adb_server, phone)
    started = time.monotonic()
    res = dev.run(
        ["sh", "-c", "echo $$ > /data/local/tmp/sleeper.pid; echo started; exec sleep 120"],
        timeout=1.5,
    )
    assert time.monotonic() - started < 30
    assert res.timed_out and not res.ok and not res.complete
    assert res.stdout == "started\n"
    pid = int((phone.root / "sleeper.pid").read_text())
    assert pid == dev.last_remote_pid
    deadline = time.monotonic() + 10
    while _alive(dev, pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(dev, pid)


def test_abi_check_names_both_abis(adb_server: Any, virtual_phone: Any, tmp_path: Path) -> None:
    arm = device(adb_server, virtual_phone(profile="pixel8"))
    x86 = device(adb_server, virtual_phone(profile="x86_64_emulator"))
    host_elf = Path(sys.executable).resolve()
    assert x86.check_binary_abi(host_elf) == "x86_64"
    with pytest.raises(AbiMismatch, match=r"built for x86_64 but the phone runs arm64-v8a") as err:
        arm.check_binary_abi(host_elf)
    assert err.value.serial == arm.serial
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(UsageError, match="not an ELF"):
        x86.check_binary_abi(script)


def test_battery_threshold(adb_server: Any, virtual_phone: Any) -> None:
    dev = device(adb_server, virtual_phone(profile="pixel8"))
    level = load_profile("pixel8").battery_level
    assert dev.ensure_battery(level).battery_level == level
    with pytest.raises(BatteryTooLow, match=rf"battery at {level}% is under the {level + 1}%"):
        dev.ensure_battery(level + 1)


def test_health_snapshot(adb_server: Any, virtual_phone: Any) -> None:
    prof = load_profile("galaxy_a54")
    dev = device(adb_server, virtual_phone(profile="galaxy_a54"))
    snap = dev.health()
    hottest = max(prof.thermal, key=lambda z: z.temp_c)
    assert (snap.hottest_zone, snap.hottest_zone_c) == (hottest.type, pytest.approx(hottest.temp_c))
    assert snap.online_cpus == tuple(sorted(c for cl in prof.clusters for c in cl.cpus))
    assert snap.cpu_cur_khz == {c: cl.cur_khz for cl in prof.clusters for c in cl.cpus}
    assert snap.battery_level == prof.battery_level


def test_devices_json_lists_the_phones(adb_server: Any, virtual_phone: Any) -> None:
    from benchorch.cli.main import cli

    phones = [virtual_phone(profile="pixel8"), virtual_phone(profile="x86_64_emulator")]
    result = CliRunner().invoke(cli, ["devices", "--json", "--adb", f"127.0.0.1:{adb_server.port}"])
    assert result.exit_code == 0, result.output
    listed = {d["serial"]: d for d in json.loads(result.output)}
    assert listed["local"]["state"] == "local"
    assert listed[phones[0].serial]["model"] == "Pixel 8"
    assert listed[phones[1].serial]["abis"] == ["x86_64"]
    table = CliRunner(env={"COLUMNS": "300"}).invoke(
        cli, ["devices", "--adb", f"127.0.0.1:{adb_server.port}"]
    )
    assert table.exit_code == 0 and phones[0].serial in table.output


def test_devices_with_unreachable_explicit_server_exits_3(adb_server: Any) -> None:
    from benchorch.cli.main import cli
    from tests.support.adb_fixtures import free_port

    result = CliRunner().invoke(cli, ["devices", "--adb", f"127.0.0.1:{free_port()}"])
    assert result.exit_code == 3
    assert "no adb server at 127.0.0.1:" in result.output


def test_kill_reaches_a_process_that_outlives_its_stream(
    adb_server: Any, virtual_phone: Any
) -> None:
    """Like adbd, the phone signals nothing when a command exits normally, so a
    background process it left outlives it; only our kill by PID stops it."""
    phone = virtual_phone(profile="pixel8")
    dev = device(adb_server, phone)
    line = "sleep 120 >/dev/null 2>&1 </dev/null & echo $! > /data/local/tmp/detached.pid"
    assert dev.run(["sh", "-c", line], timeout=20).ok
    pid = int((phone.root / "detached.pid").read_text())
    assert _alive(dev, pid)
    dev.conn.kill(pid)
    deadline = time.monotonic() + 10
    while _alive(dev, pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(dev, pid)


def test_timeout_calls_the_kill_with_the_commands_pid(
    adb_server: Any, virtual_phone: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = virtual_phone(profile="pixel8")
    dev = device(adb_server, phone)
    killed: list[int] = []
    real_kill = AdbShell.kill

    def spy(self: AdbShell, pid: int) -> None:
        killed.append(pid)
        real_kill(self, pid)

    monkeypatch.setattr(AdbShell, "kill", spy)
    res = dev.run(["sh", "-c", "echo $$ > /data/local/tmp/p.pid; exec sleep 120"], timeout=1.0)
    assert res.timed_out
    assert killed == [int((phone.root / "p.pid").read_text())]
