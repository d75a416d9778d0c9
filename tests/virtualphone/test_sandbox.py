"""Commands in the phone's sandbox: phone paths, the profile's facts, process control.

Everything goes through Debian's adb CLI and server; the expected values come
from the loaded profile, not from copies in the test.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from benchorch.virtualphone.profile import load_profile
from tests.support.adb_fixtures import AdbServer


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.parametrize("name", ["pixel8", "galaxy_a54", "x86_64_emulator"])
def test_sysfs_and_props_come_from_the_profile(virtual_phone, name: str) -> None:
    profile = load_profile(name)
    phone = virtual_phone(profile=name)
    # one combined line, the way a device layer asks for health
    out = phone.shell(
        "cat /sys/devices/system/cpu/online; echo --;"
        " for c in /sys/devices/system/cpu/cpu[0-9]*; do"
        " echo ${c##*/} $(cat $c/cpufreq/cpuinfo_max_freq)"
        " $(cat $c/cpufreq/scaling_cur_freq); done;"
        " echo --; cat /sys/class/thermal/thermal_zone*/type; echo --;"
        " cat /sys/class/thermal/thermal_zone*/temp; echo --; getprop ro.product.cpu.abilist"
    ).stdout
    online, freqs, types, temps, abilist = (part.strip() for part in out.split("--"))
    ncpu = sum(len(c.cpus) for c in profile.clusters)
    assert online == f"0-{ncpu - 1}"
    expected = {f"cpu{c}": (cl.max_khz, cl.cur_khz) for cl in profile.clusters for c in cl.cpus}
    got = {}
    for line in freqs.splitlines():
        cpu, mx, cur = line.split()
        got[cpu] = (int(mx), int(cur))
    assert got == expected
    assert types.splitlines() == [z.type for z in profile.thermal]
    assert [int(t) for t in temps.splitlines()] == [round(z.temp_c * 1000) for z in profile.thermal]
    assert abilist == profile.props["ro.product.cpu.abilist"]


def test_dumpsys_battery_df_and_id(virtual_phone) -> None:
    profile = load_profile("galaxy_a54")
    phone = virtual_phone(profile="galaxy_a54")
    battery = phone.shell("dumpsys battery").stdout
    fields = dict(line.strip().split(": ", 1) for line in battery.splitlines()[1:])
    assert int(fields["level"]) == profile.battery_level
    assert int(fields["temperature"]) == round(profile.battery_temp_c * 10)
    assert fields["status"] == "2"  # Charging
    df = phone.shell("df /data/local/tmp").stdout.splitlines()
    assert df[0].split()[:4] == ["Filesystem", "1K-blocks", "Used", "Available"]
    dev, size_k, used_k, avail_k, _pct, mount = df[1].split()
    assert (dev, mount) == (profile.block_device, "/data")
    assert int(avail_k) == profile.free_bytes // 1024
    assert int(size_k) == int(used_k) + int(avail_k)
    assert phone.shell("id").stdout.startswith("uid=2000(shell)")
    su = phone.shell("su 0 id")
    assert su.returncode == 127 and "inaccessible or not found" in su.stderr


def test_rooted_profile_has_su(virtual_phone) -> None:
    phone = virtual_phone(profile="x86_64_emulator")
    assert phone.shell("id").stdout.startswith("uid=0(root)")
    assert phone.shell("su 0 sh -c 'echo $((6*7))'").stdout == "42\n"


def test_phone_paths_map_to_the_phone_folder(virtual_phone) -> None:
    phone = virtual_phone()
    res = phone.shell(
        "cd /data/local/tmp && pwd && mkdir -p bench && echo data > /data/local/tmp/bench/f.txt"
        " && ls /data/local/tmp/bench && echo $TMPDIR && readlink -f bench/f.txt"
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "/data/local/tmp",
        "f.txt",
        "/data/local/tmp",
        "/data/local/tmp/bench/f.txt",
    ]
    assert (phone.root / "bench/f.txt").read_text() == "data\n"
    # a path that only *contains* the prefix is not touched
    assert (
        phone.shell("echo /x/data/local/tmp /data/local/tmpfoo").stdout
        == "/x/data/local/tmp /data/local/tmpfoo\n"
    )


def test_executes_a_pushed_binary_with_chmod(virtual_phone, adb_server: AdbServer) -> None:
    phone = virtual_phone(profile="x86_64_emulator")
    res = adb_server.run("-s", phone.serial, "push", "/bin/echo", "/data/local/tmp/bin/myecho")
    assert res.returncode == 0, res.stderr
    out = phone.shell(
        "chmod 755 /data/local/tmp/bin/myecho && cd /data/local/tmp/bin && ./myecho pushed"
    )
    assert (out.returncode, out.stdout) == (0, "pushed\n")


def test_taskset_checks_masks_against_the_profile_cores(virtual_phone) -> None:
    profile = load_profile("pixel8")
    phone = virtual_phone(profile="pixel8")
    big = next(c for c in profile.clusters if c.name == "big")
    mask = sum(1 << c for c in big.cpus)
    ok = phone.shell(f"taskset {mask:x} echo pinned")
    assert (ok.returncode, ok.stdout) == (0, "pinned\n")
    beyond = 1 << profile.ncpus
    bad = phone.shell(f"taskset {beyond:x} echo never")
    assert bad.returncode == 1 and bad.stdout == ""
    assert "Invalid argument" in bad.stderr


def test_kill_through_a_second_shell_by_process_group(virtual_phone, adb_server: AdbServer) -> None:
    """What a device layer does on a timeout: kill -9 -PGID from another shell."""
    phone = virtual_phone()
    client = subprocess.Popen(
        [
            *_adb(adb_server),
            "-s",
            phone.serial,
            "shell",
            "echo $$ > /data/local/tmp/pid; exec sleep 1000",
        ],
        env=adb_server.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    pidfile = phone.root / "pid"
    assert _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
    pid = int(pidfile.read_text())
    cmdline = phone.shell(f"cat /proc/{pid}/cmdline | tr '\\0' ' '").stdout
    assert cmdline.startswith("sleep 1000")
    assert str(pid) in phone.shell(f"ps -o pid= -p {pid}").stdout
    assert phone.shell(f"kill -9 -{pid}").returncode == 0
    client.wait(timeout=20)
    assert client.returncode == 137  # 128 + SIGKILL, through shell v2
    assert not _alive(pid)


def test_interactive_shell_reads_stdin(virtual_phone, adb_server: AdbServer) -> None:
    phone = virtual_phone()
    res = adb_server.run(
        "-s", phone.serial, "shell", input=b"cd /data/local/tmp\necho made > m.txt\npwd\nexit 4\n"
    )
    assert "/data/local/tmp" in res.stdout
    assert (phone.root / "m.txt").read_text() == "made\n"


def _adb(server: AdbServer) -> list[str]:
    return ["adb", "-P", str(server.port)]


def test_quoted_paths_survive_rewriting(virtual_phone) -> None:
    phone = virtual_phone()
    name = "a b;$(touch canary)'\"x"
    (phone.root / name).write_text("ok")
    res = phone.shell("cat " + shlex.quote(f"/data/local/tmp/{name}"))
    assert res.stdout == "ok"
    assert not (phone.root / "canary").exists()
    assert re.fullmatch(r"\d+\n", phone.shell("echo $$").stdout)


@pytest.mark.parametrize("name", ["pixel8", "x86_64_emulator"])
def test_uname_nproc_and_cpuinfo_follow_the_profile(virtual_phone, name: str) -> None:
    profile = load_profile(name)
    phone = virtual_phone(profile=name)
    out = phone.shell("uname -m; uname -r; nproc; grep -c ^processor /proc/cpuinfo").stdout.split()
    assert out[:3] == [profile.machine, profile.kernel, str(profile.ncpus)]
    if profile.machine == "aarch64":
        assert out[3] == str(profile.ncpus)


def test_battery_level_override(virtual_phone) -> None:
    phone = virtual_phone(profile="pixel8", faults={"battery_level": 4})
    assert "  level: 4\n" in phone.shell("dumpsys battery").stdout
    assert phone.shell("cat /sys/class/power_supply/battery/capacity").stdout == "4\n"


def test_system_bin_sh_is_the_phones_shell(virtual_phone) -> None:
    phone = virtual_phone()
    res = phone.shell(
        "/system/bin/sh -c './nope; exit 3'; echo rc=$?;"
        " sh -c 'echo $0'; /system/bin/getprop ro.hardware"
    )
    assert res.stdout.splitlines() == [
        "rc=3",
        "/system/bin/sh",
        load_profile("pixel8").props["ro.hardware"],
    ]
    assert res.stderr == "/system/bin/sh: ./nope: inaccessible or not found\n"
    assert phone.shell("/system/bin/ls /data/local/tmp").returncode == 0
