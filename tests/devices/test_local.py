"""LocalDevice with real processes, real files and this host's real /proc and /sys."""

from __future__ import annotations

import hashlib
import os
import platform
import stat
import sys
import time
from pathlib import Path

import pytest

from benchorch.devices.base import Device
from benchorch.devices.local import LocalDevice
from benchorch.errors import DeviceError, PushFailed, UsageError
from benchorch.parse import parse_output


@pytest.fixture
def dev(tmp_path: Path) -> LocalDevice:
    return LocalDevice(tmp_path / "device")


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] not in ("Z", "X")


def _wait_dead(pid: int, within_s: float = 5.0) -> bool:
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.01)
    return not _alive(pid)


def test_is_a_device(dev: LocalDevice, tmp_path: Path) -> None:
    assert isinstance(dev, Device)
    assert dev.serial == "local"
    assert dev.workdir == str(tmp_path / "device")
    dev.reconnect(within_s=0.1)
    dev.close()


# --- push --------------------------------------------------------------------------


def test_push_copies_then_dedups_by_content(dev: LocalDevice, tmp_path: Path) -> None:
    src = tmp_path / "model.ptl"
    payload = os.urandom(3 * (1 << 20) + 17)
    src.write_bytes(payload)
    first = dev.push(src, "model v1 (ü).ptl")
    dest = Path(first.remote_path)
    assert dest.parent == Path(dev.workdir) and dest.name == "model v1 (ü).ptl"
    assert dest.read_bytes() == payload
    assert (first.bytes_sent, first.skipped) == (len(payload), False)
    assert first.sha256 == hashlib.sha256(payload).hexdigest() == first.sha256
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    again = dev.push(src, "model v1 (ü).ptl")
    assert (again.bytes_sent, again.skipped, again.sha256) == (0, True, first.sha256)
    # Same size, different bytes on the device: copied again.
    dest.write_bytes(os.urandom(len(payload)))
    fixed = dev.push(src, "model v1 (ü).ptl")
    assert fixed.bytes_sent == len(payload) and dest.read_bytes() == payload
    # A new source version is copied.
    src.write_bytes(payload + b"more")
    assert dev.push(src, "model v1 (ü).ptl").bytes_sent == len(payload) + 4
    assert [p.name for p in Path(dev.workdir).iterdir()] == ["model v1 (ü).ptl"]  # no temp files


def test_pushed_executable_runs(dev: LocalDevice, tmp_path: Path) -> None:
    script = tmp_path / "bench.sh"
    script.write_text('#!/bin/sh\necho ran with "$1"\n')
    script.chmod(0o600)
    res = dev.push(script, "bench", executable=True)
    assert stat.S_IMODE(Path(res.remote_path).stat().st_mode) == 0o755
    out = dev.run([res.remote_path, "--iter=3"], timeout=10)
    assert out.ok and out.stdout == "ran with --iter=3\n"
    Path(res.remote_path).chmod(0o644)
    assert dev.push(script, "bench", executable=True).skipped  # identical: mode fixed only
    assert stat.S_IMODE(Path(res.remote_path).stat().st_mode) == 0o755


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../escape", "nul\0byte"])
def test_push_refuses_names_that_are_not_one_component(
    dev: LocalDevice, tmp_path: Path, name: str
) -> None:
    src = tmp_path / "f"
    src.write_text("x")
    with pytest.raises(UsageError, match="bad device file name"):
        dev.push(src, name)
    assert not (tmp_path / "escape").exists()


def test_push_errors(dev: LocalDevice, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a file"):
        dev.push(tmp_path / "missing", "x")
    src = tmp_path / "f"
    src.write_text("x")
    (Path(dev.workdir) / "taken").mkdir(parents=True)  # a folder where the file should go
    with pytest.raises(PushFailed) as info:
        dev.push(src, "taken")
    assert info.value.serial == "local" and str(info.value).startswith("local: ")


# --- run ---------------------------------------------------------------------------


def test_run_keeps_streams_apart_and_the_exit_code(dev: LocalDevice) -> None:
    res = dev.run(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout=10)
    assert (res.stdout, res.stderr, res.exit_code) == ("out\n", "err\n", 7)
    assert res.complete and not res.timed_out and not res.ok
    assert res.argv == ("sh", "-c", "echo out; echo err >&2; exit 7")


def test_run_passes_argv_without_a_shell(dev: LocalDevice, tmp_path: Path) -> None:
    hostile = ["a b", "$(touch pwned)", "; rm -rf /", "'quoted'", "*"]
    res = dev.run(["printf", "%s\\n", *hostile], timeout=10, cwd=str(tmp_path))
    assert res.stdout.splitlines() == hostile
    assert not (tmp_path / "pwned").exists()


def test_run_env_and_cwd(dev: LocalDevice, tmp_path: Path) -> None:
    res = dev.run(["sh", "-c", 'echo "$BENCH_X"; pwd'], timeout=10, env={"BENCH_X": "1 2"})
    assert res.stdout.splitlines() == ["1 2", dev.workdir]
    res = dev.run(["pwd"], timeout=10, cwd=str(tmp_path))
    assert res.stdout.strip() == str(tmp_path)
    gone = dev.run(["pwd"], timeout=10, cwd=str(tmp_path / "gone"))
    assert gone.exit_code == 2 and "gone" in gone.stderr and gone.stdout == ""
    with pytest.raises(UsageError):
        dev.run(["true"], timeout=10, env={"A=B": "c"})
    with pytest.raises(UsageError):
        dev.run([], timeout=10)


def test_timeout_kills_the_whole_process_group(dev: LocalDevice) -> None:
    # The launch starts a grandchild in the background, reports both PIDs, then hangs.
    res = dev.run(["sh", "-c", "sleep 300 & echo $$ $!; sleep 300"], timeout=0.5)
    assert res.timed_out and not res.complete and not res.ok
    assert res.exit_code == 128 + 9  # SIGKILL, as a shell reports it
    leader, grandchild = (int(p) for p in res.stdout.split())
    assert _wait_dead(leader) and _wait_dead(grandchild)


def test_signal_exit_is_128_plus_n_and_parses_as_a_crash(dev: LocalDevice) -> None:
    res = dev.run(["sh", "-c", "echo Starting benchmark.; kill -SEGV $$"], timeout=10)
    assert res.exit_code == 128 + 11 and res.complete
    parsed = parse_output(res.stdout, res.stderr, res.exit_code)
    assert not parsed.ok and parsed.error_kind is not None and parsed.error_kind.value == "crash"


def test_programs_that_cannot_start_answer_like_a_shell(dev: LocalDevice, tmp_path: Path) -> None:
    missing = dev.run([str(tmp_path / "nope")], timeout=10)
    assert missing.exit_code == 127 and "not found" in missing.stderr
    plain = tmp_path / "not-exec"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    if os.geteuid() == 0 and os.access(plain, os.X_OK):  # pragma: no cover
        pytest.skip("root may execute anything here")
    denied = dev.run([str(plain)], timeout=10)
    assert denied.exit_code == 126 and "Permission denied" in denied.stderr
    parsed = parse_output(denied.stdout, denied.stderr, denied.exit_code)
    assert parsed.error_kind is not None and parsed.error_kind.value == "not_executable"


AFFINITY = [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]


@pytest.mark.parametrize("use_taskset", [True, False])
def test_cpu_mask_pins_the_process(
    dev: LocalDevice, monkeypatch: pytest.MonkeyPatch, use_taskset: bool
) -> None:
    if not use_taskset:  # the fallback for hosts without util-linux's taskset
        monkeypatch.setattr("benchorch.devices.local.shutil.which", lambda _name: None)
    cpus = sorted(os.sched_getaffinity(0))
    for cpu in (cpus[0], cpus[-1]):
        res = dev.run(AFFINITY, timeout=30, cpu_mask=1 << cpu)
        assert res.ok, res.stderr
        assert res.stdout.strip() == str([cpu])
    res = dev.run(AFFINITY, timeout=30)
    assert res.stdout.strip() == str(cpus)


def test_cpu_mask_outside_this_host_is_a_device_error(dev: LocalDevice) -> None:
    with pytest.raises(DeviceError, match="cpu mask 0x10000000000") as info:
        dev.run(["true"], timeout=10, cpu_mask=1 << 40)
    assert info.value.serial == "local"
    with pytest.raises(DeviceError):
        dev.run(["true"], timeout=10, cpu_mask=0)


# --- facts -------------------------------------------------------------------------


def test_info_and_health_of_this_host(dev: LocalDevice) -> None:
    info = dev.info()
    assert (info.serial, info.state) == ("local", "local")
    assert info.fingerprint and os.uname().release in info.fingerprint
    machine = platform.machine()
    assert info.abis == {"x86_64": ("x86_64",), "aarch64": ("arm64-v8a",)}.get(machine, info.abis)
    online = sorted(c for cl in info.clusters for c in cl.cpus)
    assert online == sorted(os.sched_getaffinity(0)) or set(online) >= os.sched_getaffinity(0)
    assert info.big_cpus  # "big" or "all": something to pin to
    assert info.free_bytes is not None and info.free_bytes > 0
    assert info.rooted == (os.geteuid() == 0)
    health = dev.health()
    assert set(health.online_cpus) >= os.sched_getaffinity(0)
    assert abs(health.taken_at - time.time()) < 60


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


@pytest.fixture
def phone_like_root(tmp_path: Path) -> Path:
    """A /proc and /sys tree of a big.LITTLE board with a battery.

    This VM has no cpufreq, thermal zones or battery, so their files are written
    here in the kernel's own formats (kHz, millidegrees, tenths of a degree).
    """
    root = tmp_path / "root"
    cpu = root / "sys/devices/system/cpu"
    _write(cpu / "online", "0-7")
    for n in range(8):
        max_khz = 1_800_000 if n < 4 else 2_400_000 if n < 7 else 3_000_000
        _write(cpu / f"cpu{n}/cpufreq/cpuinfo_max_freq", str(max_khz))
        _write(cpu / f"cpu{n}/cpufreq/scaling_cur_freq", str(max_khz // 2))
    _write(root / "proc/cpuinfo", "processor\t: 0\nHardware\t: Qualcomm SM8550\nCPU part\t: 0xd46")
    _write(root / "proc/device-tree/model", "Test Board Rev 2\0")
    _write(root / "sys/class/thermal/thermal_zone0/type", "cpu-big")
    _write(root / "sys/class/thermal/thermal_zone0/temp", "61500")
    _write(root / "sys/class/thermal/thermal_zone1/type", "skin")
    _write(root / "sys/class/thermal/thermal_zone1/temp", "35000")
    _write(root / "sys/class/power_supply/usb/type", "USB")
    _write(root / "sys/class/power_supply/battery/type", "Battery")
    _write(root / "sys/class/power_supply/battery/capacity", "76")
    _write(root / "sys/class/power_supply/battery/status", "Charging")
    _write(root / "sys/class/power_supply/battery/temp", "312")
    _write(root / "etc/os-release", 'NAME="Test"\nPRETTY_NAME="Test OS 1"')
    return root


def test_clusters_thermal_and_battery_from_sysfs(phone_like_root: Path, tmp_path: Path) -> None:
    dev = LocalDevice(tmp_path / "wd", root=phone_like_root)
    info = dev.info()
    assert [(c.name, c.cpus, c.max_khz) for c in info.clusters] == [
        ("big", (7,), 3_000_000),
        ("mid", (4, 5, 6), 2_400_000),
        ("little", (0, 1, 2, 3), 1_800_000),
    ]
    assert info.big_cpus == (7,)
    assert info.soc == "Qualcomm SM8550" and info.model == "Test Board Rev 2"
    assert info.fingerprint is not None and info.fingerprint.startswith("Test OS 1/")
    assert info.thermal_zones == {"cpu-big": 61.5, "skin": 35.0}
    assert (info.battery_level, info.charging, info.battery_temp_c) == (76, True, 31.2)
    health = dev.health()
    assert (health.hottest_zone, health.hottest_zone_c) == ("cpu-big", 61.5)
    assert health.online_cpus == tuple(range(8))
    assert health.cpu_cur_khz[7] == 1_500_000 and health.cpu_cur_khz[0] == 900_000
    assert health.max_temp_c == 61.5


def test_host_without_cpufreq_is_one_cluster(phone_like_root: Path, tmp_path: Path) -> None:
    for n in range(8):
        for f in (phone_like_root / f"sys/devices/system/cpu/cpu{n}/cpufreq").iterdir():
            f.unlink()
    (phone_like_root / "sys/class/power_supply/battery").rename(phone_like_root / "gone")
    info = LocalDevice(tmp_path / "wd", root=phone_like_root).info()
    assert [(c.name, c.cpus) for c in info.clusters] == [("all", tuple(range(8)))]
    assert (info.battery_level, info.charging) == (None, None)


PUSH_CHILD = """
import sys
from pathlib import Path
from benchorch.devices.local import LocalDevice
from benchorch.exits import exit_code
from benchorch.errors import DeviceError
dev = LocalDevice(Path(sys.argv[1]) / "device")
try:
    dev.push(Path(sys.argv[2]), "model.ptl")
except DeviceError as exc:
    leftovers = sorted(p.name for p in (Path(sys.argv[1]) / "device").iterdir())
    print(type(exc).__name__, int(exit_code(exc)), leftovers, exc)
"""


def test_push_to_a_full_disk_is_storage_full(tmp_path: Path) -> None:
    """A 256 kB tmpfs in a private mount namespace (root in CI) stands in for a full disk."""
    import shutil
    import subprocess

    if not shutil.which("unshare") or os.geteuid() != 0:
        pytest.skip("needs root and unshare for a private tmpfs")
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("no mount namespaces here")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    big = tmp_path / "big.ptl"
    big.write_bytes(os.urandom(1 << 20))
    shell = (
        f"mount -t tmpfs -o size=256k tmpfs {mnt} && "
        f"exec {sys.executable} -c '{PUSH_CHILD}' {mnt} {big}"
    )
    res = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", shell],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("DeviceStorageFull 3 [] local: ")  # no half-written file left
    assert "no space left" in res.stdout
