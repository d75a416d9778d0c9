"""How a command ends on the virtual phone, as on a phone's adbd.

AOSP adbd (``shell_service.cpp``) starts each command in its own session; with
the shell protocol and no pty it signals nothing when the command exits, and
sends SIGHUP to the command's PID when the stream closes first. Without the
shell protocol (``exec:``, ``shell:`` v1) the command has a terminal, whose
hangup at the shell's exit reaches the shell's whole process group.
Everything here goes through Debian's adb CLI and server.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.adb_fixtures import AdbServer


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _read_pid(path: Path) -> int:
    assert _wait_for(lambda: path.exists() and path.read_text().strip() != "")
    return int(path.read_text())


def _shell_client(adb_server: AdbServer, serial: str, command: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["adb", "-P", str(adb_server.port), "-s", serial, "shell", command],
        env=adb_server.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_background_process_outlives_a_normal_exit(virtual_phone: Any) -> None:
    phone = virtual_phone()
    res = phone.shell(
        "sleep 1000 >/dev/null 2>&1 </dev/null & echo $! > /data/local/tmp/bg.pid; exit 3"
    )
    assert res.returncode == 3  # the command ended and its exit code came through
    pid = _read_pid(phone.root / "bg.pid")
    time.sleep(0.3)  # whatever the phone does at the end of a command is done by now
    assert _alive(pid), "a normal exit killed a background process"
    assert phone.shell(f"kill -9 {pid}").returncode == 0
    assert _wait_for(lambda: not _alive(pid))


def test_background_process_holding_stdout_keeps_the_stream_open(virtual_phone: Any) -> None:
    """adbd passes output until every writer is gone, not until the shell exits."""
    phone = virtual_phone()
    res = phone.shell("(sleep 0.5; echo late) & echo early")
    assert res.returncode == 0 and res.stdout == "early\nlate\n"


def test_killed_client_hangs_up_the_command(virtual_phone: Any, adb_server: AdbServer) -> None:
    phone = virtual_phone()
    client = _shell_client(
        adb_server, phone.serial, "echo $$ > /data/local/tmp/pid; exec sleep 1000"
    )
    pid = _read_pid(phone.root / "pid")
    assert _alive(pid)
    client.kill()
    client.wait()
    assert _wait_for(lambda: not _alive(pid)), "the command outlived its stream"


def test_command_ignoring_sighup_outlives_its_stream_until_killed_by_pid(
    virtual_phone: Any, adb_server: AdbServer
) -> None:
    """adbd sends one SIGHUP to the PID, nothing more: the device layer's kill by
    PID from a second shell is what stops such a command (on a timeout)."""
    phone = virtual_phone()
    client = _shell_client(
        adb_server, phone.serial, "trap '' HUP; echo $$ > /data/local/tmp/pid; exec sleep 1000"
    )
    pid = _read_pid(phone.root / "pid")
    client.kill()
    client.wait()
    time.sleep(0.5)
    assert _alive(pid)
    assert phone.shell(f"kill -9 -{pid}").returncode == 0
    assert _wait_for(lambda: not _alive(pid))


def test_hangup_reaches_the_pid_not_its_background_jobs(
    virtual_phone: Any, adb_server: AdbServer
) -> None:
    phone = virtual_phone()
    client = _shell_client(
        adb_server,
        phone.serial,
        "sleep 1000 >/dev/null 2>&1 </dev/null & echo $! > /data/local/tmp/bg.pid;"
        " echo $$ > /data/local/tmp/pid; exec sleep 1001",
    )
    pid, bg = _read_pid(phone.root / "pid"), _read_pid(phone.root / "bg.pid")
    client.kill()
    client.wait()
    assert _wait_for(lambda: not _alive(pid))
    assert _alive(bg)
    assert phone.shell(f"kill -9 {bg}").returncode == 0


def test_terminal_session_hangs_up_its_group_when_the_shell_exits(
    virtual_phone: Any, adb_server: AdbServer
) -> None:
    """``exec:`` has a terminal on adbd: the shell's exit hangs it up, and the
    shell's background job (same process group) gets SIGHUP."""
    phone = virtual_phone()
    # The shell waits until its job has exec'd sleep: a SIGHUP that lands between
    # the fork and the exec meets the shell's own handler in the child and is lost
    # (on a real adbd too), which a loaded CI host hit.
    res = adb_server.run(
        "-s",
        phone.serial,
        "exec-out",
        "sleep 1000 >/dev/null 2>&1 </dev/null & p=$!; echo $p > /data/local/tmp/bg.pid;"
        ' until [ "$(cat /proc/$p/comm 2>/dev/null)" = sleep ]; do :; done; echo done',
    )
    assert res.returncode == 0 and res.stdout == "done\n"
    bg = _read_pid(phone.root / "bg.pid")
    assert _wait_for(lambda: not _alive(bg)), "the terminal's hangup missed a background job"


def test_stopping_the_phone_kills_what_outlived_its_commands(virtual_phone: Any) -> None:
    phone = virtual_phone()
    phone.shell("sleep 1000 >/dev/null 2>&1 </dev/null & echo $! > /data/local/tmp/bg.pid")
    bg = _read_pid(phone.root / "bg.pid")
    assert _alive(bg)
    phone.stop()
    assert _wait_for(lambda: not _alive(bg))
