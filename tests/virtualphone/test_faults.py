"""Each injected fault, seen through Debian's real adb CLI and server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchorch.virtualphone.profile import load_profile
from tests.support.adb_fixtures import AdbServer


def _wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_drop_after_push_bytes_cuts_the_push_then_comes_back(
    virtual_phone, adb_server: AdbServer, tmp_path: Path
) -> None:
    phone = virtual_phone(faults={"drop_after_push_bytes": 200_000, "drop_times": 1})
    src = tmp_path / "big.bin"
    blob = os.urandom(2_000_000)
    src.write_bytes(blob)
    res = adb_server.run("-s", phone.serial, "push", str(src), "/data/local/tmp/big.bin")
    assert res.returncode != 0
    assert not (phone.root / "big.bin").exists()  # the half-written file is removed
    adb_server.wait_state(phone.serial, "offline")
    # disconnect + connect brings a TCP device back at once; the fault fired its once
    adb_server.run("disconnect", phone.serial)
    phone.connect()
    res = adb_server.run("-s", phone.serial, "push", str(src), "/data/local/tmp/big.bin")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (phone.root / "big.bin").read_bytes() == blob


def test_small_push_under_the_limit_is_not_dropped(
    virtual_phone, adb_server: AdbServer, tmp_path: Path
) -> None:
    phone = virtual_phone(faults={"drop_after_push_bytes": 200_000})
    src = tmp_path / "small.bin"
    src.write_bytes(b"x" * 1000)
    assert adb_server.run("-s", phone.serial, "push", str(src), "/data/local/tmp/s").returncode == 0
    assert adb_server.state(phone.serial) == "device"


def test_drop_after_shell_seconds_ends_the_output_early(
    virtual_phone, adb_server: AdbServer
) -> None:
    phone = virtual_phone(faults={"drop_after_shell_seconds": 0.5})
    res = phone.shell("echo $$ > /data/local/tmp/pid; echo started; sleep 30; echo finished")
    assert "started" in res.stdout
    assert "finished" not in res.stdout
    adb_server.wait_state(phone.serial, "offline")
    pid = int((phone.root / "pid").read_text())
    assert _wait_for(lambda: not Path(f"/proc/{pid}").exists()), (
        "the command outlived the dropped transport"
    )


def test_hang_matches_commands_and_hangs_them_for_real(
    virtual_phone, adb_server: AdbServer
) -> None:
    phone = virtual_phone(faults={"hang": r"speed_benchmark"})
    assert phone.shell("echo not hanging").stdout == "not hanging\n"
    client = subprocess.Popen(
        [
            *("adb", "-P", str(adb_server.port), "-s", phone.serial, "shell"),
            "echo $$ > /data/local/tmp/pid; echo before;"
            " exec taskset 1 ./speed_benchmark_torch --iter=5",
        ],
        env=adb_server.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    pidfile = phone.root / "pid"
    assert _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
    pid = int(pidfile.read_text())
    # the rest of the line ran; the matched program is a real process that never ends
    assert _wait_for(lambda: "sleep" in phone.shell(f"ps -o args= -p {pid}").stdout)
    try:
        client.wait(timeout=1.5)
        raise AssertionError("a hung command returned")
    except subprocess.TimeoutExpired:
        pass
    # the device layer's move on a timeout: kill the group from a second shell
    assert phone.shell(f"kill -9 -{pid}").returncode == 0
    client.wait(timeout=20)
    assert client.returncode == 137
    assert client.stdout is not None and client.stdout.read() == b"before\n"


def test_hot_state_cools_towards_the_profile(virtual_phone) -> None:
    profile = load_profile("pixel8")
    base = [round(z.temp_c * 1000) for z in profile.thermal]
    phone = virtual_phone(faults={"hot_c": 85.0, "cool_rate_c_per_s": 2.0})
    first = [
        int(t) for t in phone.shell("cat /sys/class/thermal/thermal_zone*/temp").stdout.split()
    ]
    battery_first = int(phone.shell("cat /sys/class/power_supply/battery/temp").stdout)
    time.sleep(1.0)
    second = [
        int(t) for t in phone.shell("cat /sys/class/thermal/thermal_zone*/temp").stdout.split()
    ]
    assert all(b < f <= 85_000 for f, b in zip(first, base, strict=True))
    assert all(s < f for f, s in zip(first, second, strict=True))
    assert battery_first > round(profile.battery_temp_c * 10)
    # hot clocks are throttled below the profile's current frequency
    big = next(c for c in profile.clusters if c.name == "big")
    cur = int(
        phone.shell(f"cat /sys/devices/system/cpu/cpu{big.cpus[0]}/cpufreq/scaling_cur_freq").stdout
    )
    assert big.min_khz <= cur < big.cur_khz
    dumpsys = phone.shell("dumpsys battery").stdout
    assert "temperature: " in dumpsys
    fast = virtual_phone(faults={"hot_c": 85.0, "cool_rate_c_per_s": 10_000.0})
    time.sleep(0.1)
    cooled = [
        int(t) for t in fast.shell("cat /sys/class/thermal/thermal_zone*/temp").stdout.split()
    ]
    assert cooled == base


def test_full_disk_fails_push_and_df_shows_no_space(
    virtual_phone, adb_server: AdbServer, tmp_path: Path
) -> None:
    phone = virtual_phone(faults={"full_disk": True})
    src = tmp_path / "m.ptl"
    src.write_bytes(b"model" * 1000)
    res = adb_server.run("-s", phone.serial, "push", str(src), "/data/local/tmp/m.ptl")
    assert res.returncode != 0
    assert "No space left on device" in res.stdout + res.stderr
    assert not (phone.root / "m.ptl").exists()
    df = phone.shell("df /data/local/tmp").stdout.splitlines()[1].split()
    assert df[3] == "0"
    assert adb_server.state(phone.serial) == "device"  # a full disk is not a drop


def test_noexec_refuses_to_execute_with_androids_message(
    virtual_phone, adb_server: AdbServer, tmp_path: Path
) -> None:
    phone = virtual_phone(profile="x86_64_emulator", faults={"noexec": True})
    script = tmp_path / "x"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o755)
    assert (
        adb_server.run("-s", phone.serial, "push", str(script), "/data/local/tmp/x").returncode == 0
    )
    res = phone.shell("chmod 755 /data/local/tmp/x; cd /data/local/tmp && ./x")
    assert res.returncode == 126
    assert res.stdout == ""
    assert res.stderr == "/system/bin/sh: ./x: can't execute: Permission denied\n"
    pinned = phone.shell("taskset 1 /data/local/tmp/x")
    assert pinned.returncode == 126 and "Permission denied" in pinned.stderr
    # reading is still allowed, as on a noexec mount
    assert phone.shell("sh /data/local/tmp/x").stdout == "ran\n"


def test_flags_override_profile_and_bad_values_are_usage_errors(tmp_path: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchorch.virtualphone",
            "--port",
            "0",
            "--hang",
            "(unclosed",
            "--root",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert res.returncode == 2
    assert "--hang" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchorch.virtualphone",
            "--profile",
            "no_such_phone",
            "--root",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert res.returncode == 2
    assert "no_such_phone" in res.stderr and "pixel8" in res.stderr


def test_pushes_use_up_the_free_space(virtual_phone, adb_server: AdbServer, tmp_path: Path) -> None:
    """A profile with 1 MiB free: df shrinks as files arrive, and a push past it fails."""
    text = (
        Path(__file__).resolve().parents[2] / "benchorch/virtualphone/profiles/pixel8.toml"
    ).read_text()
    small = tmp_path / "tiny_disk.toml"
    small.write_text(re.sub(r"free_bytes = [\d_]+", "free_bytes = 1_048_576", text))
    phone = virtual_phone(profile=str(small))

    def avail_k() -> int:
        return int(phone.shell("df /data/local/tmp").stdout.splitlines()[1].split()[3])

    assert avail_k() == 1024
    part = tmp_path / "part.bin"
    part.write_bytes(os.urandom(300 * 1024))
    assert (
        adb_server.run("-s", phone.serial, "push", str(part), "/data/local/tmp/a.bin").returncode
        == 0
    )
    assert avail_k() == 1024 - 300
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(800 * 1024))
    res = adb_server.run("-s", phone.serial, "push", str(big), "/data/local/tmp/b.bin")
    assert res.returncode != 0
    assert "No space left on device" in res.stdout + res.stderr
    assert not (phone.root / "b.bin").exists()
    # replacing a file frees its old space first
    assert (
        adb_server.run("-s", phone.serial, "push", str(big), "/data/local/tmp/a.bin").returncode
        == 0
    )
    assert avail_k() == 1024 - 800


def test_slow_pct_makes_matching_launches_run_longer_for_real(virtual_phone) -> None:
    """``slow_pct = 200``: a launch (a command line with ``--model=``) that
    ``slow_match`` names shares its CPU with a busy process, its priority
    lowered, and takes 2-3 times as long as the same work named otherwise
    (3x on an idle host, about 2x on a busy one), interleaved on the same
    phone (the phone's own clock, ``date``); commands that are no launch are
    never slowed; the busy process ends with the launch."""
    phone = virtual_phone(faults={"slow_pct": 200, "slow_match": "slowme"})
    loop = "i=0; while [ $i -lt 40000 ]; do i=$((i+1)); done"

    def wall(tail: str) -> float:
        timed = f"s=$(date +%s%N); {loop}; e=$(date +%s%N); echo $(( (e - s) / 1000 ))"
        res = phone.shell(f"{timed} {tail}")
        return int(res.stdout.split()[0]) / 1e6

    slow, plain, other = [], [], []
    for _ in range(3):
        slow.append(wall("--model=slowme.ptl"))
        plain.append(wall("--model=other.ptl"))
        other.append(wall("slowme"))  # no launch
    ratio = sorted(slow)[1] / sorted(plain)[1]
    assert 1.5 < ratio < 5.0, (slow, plain)
    assert sorted(other)[1] < 1.5 * sorted(plain)[1], (other, plain)
    # the phone's busy loops ended with their launches (this phone's children only)
    from benchorch.virtualphone.harness import child_pids

    def busy() -> list[int]:
        out = []
        for pid in child_pids(phone.pid):
            try:
                if b"while :" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    out.append(pid)
            except OSError:
                pass  # gone meanwhile
        return out

    assert _wait_for(lambda: not busy(), timeout=5), busy()
