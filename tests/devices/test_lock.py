"""DeviceLock with real flocks held by real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchorch.devices.lock import DeviceLock, default_lock_dir, lock_file_name
from benchorch.errors import DeviceBusy, InfraError
from benchorch.exits import ExitCode, exit_code

REPO = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent(
    """
    import subprocess, sys, time
    from benchorch.devices.lock import DeviceLock

    lock = DeviceLock(sys.argv[1], sys.argv[2]).acquire()
    # A launch still running when we die; close_fds=False: only non-inheritance protects us.
    child = subprocess.Popen(["sleep", "300"], close_fds=False)
    print("held", child.pid, flush=True)
    time.sleep(300)
    """
)


def test_second_holder_is_refused_until_release(tmp_path: Path) -> None:
    first = DeviceLock("R58M123", tmp_path)
    with first:
        assert first.held and first.path.read_text().strip() == str(os.getpid())
        with pytest.raises(DeviceBusy) as info:
            DeviceLock("R58M123", tmp_path).acquire()
        err = info.value
        assert err.serial == "R58M123" and exit_code(err) == ExitCode.INFRA
        assert f"pid {os.getpid()}" in str(err) and str(err).startswith("R58M123: ")
        assert "\n" not in str(err)
        DeviceLock("other-phone", tmp_path).acquire().release()  # other serials are free
    assert not first.held and first.path.read_text() == ""
    with DeviceLock("R58M123", tmp_path) as again:
        assert again.held


def test_lock_dies_with_its_holder_even_if_its_launch_lives_on(tmp_path: Path) -> None:
    serial = "127.0.0.1:5555"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, serial, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    grandchild = None
    try:
        assert proc.stdout is not None
        word, pid = proc.stdout.readline().split()
        assert word == "held"
        grandchild = int(pid)
        with pytest.raises(DeviceBusy, match=rf"pid {proc.pid}\b") as info:
            DeviceLock(serial, tmp_path).acquire()
        assert info.value.serial == serial
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # The holder is gone; its `sleep` child still runs but holds no lock.
        assert Path(f"/proc/{grandchild}").exists()
        with DeviceLock(serial, tmp_path) as lock:
            assert lock.held
    finally:
        proc.kill()
        proc.wait(timeout=30)
        if grandchild is not None:
            try:
                os.kill(grandchild, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_wait_s_waits_for_the_holder(tmp_path: Path) -> None:
    holder = DeviceLock("emulator-5554", tmp_path).acquire()
    released = threading.Event()

    def let_go() -> None:
        released.wait(5)
        holder.release()

    t = threading.Thread(target=let_go)
    t.start()
    waiter = DeviceLock("emulator-5554", tmp_path, wait_s=30)
    released.set()
    with waiter:
        assert waiter.held
    t.join()


def test_known_serials_map_to_readable_names() -> None:
    assert lock_file_name("127.0.0.1:5555") == "device-127.0.0.1%3A5555.lock"
    assert lock_file_name("local") == "device-local.lock"
    assert lock_file_name("../../etc/passwd") == "device-..%2F..%2Fetc%2Fpasswd.lock"
    assert lock_file_name("100%") != lock_file_name("100%25")


@given(st.text(max_size=400))
def test_any_serial_maps_to_one_safe_file_name(serial: str) -> None:
    name = lock_file_name(serial)
    assert re.fullmatch(r"device-[A-Za-z0-9._%~-]*\.lock", name)
    assert len(name.encode()) <= 255
    assert Path(name).name == name and name not in (".", "..")


@given(st.text(max_size=300), st.text(max_size=300))
def test_different_serials_never_share_a_lock(a: str, b: str) -> None:
    if a != b:
        assert lock_file_name(a) != lock_file_name(b)


def test_hostile_serial_stays_in_the_lock_dir(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    with DeviceLock("../../escape\n<script>", locks) as lock:
        assert lock.path.parent == locks
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locks"]


def test_lock_dir_choice_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHORCH_LOCK_DIR", str(tmp_path / "env-locks"))
    assert default_lock_dir() == tmp_path / "env-locks"
    with DeviceLock("local") as lock:
        assert lock.path.parent == tmp_path / "env-locks"
    monkeypatch.delenv("BENCHORCH_LOCK_DIR")
    assert default_lock_dir().name == "locks"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InfraError, match="BENCHORCH_LOCK_DIR"):
        DeviceLock("local", blocker).acquire()
