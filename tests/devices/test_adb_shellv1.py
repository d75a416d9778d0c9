"""Phones without shell v2 (adbd before Android 7): ``shell:`` v1 with markers.

The parser is pure; the rest runs against Debian's adb server and a virtual
phone whose profile (``nexus5_android6``) announces no features and refuses
``shell,v2`` services, as an Android 6 adbd does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from benchorch.devices import shellv1
from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.devices.base import REMOTE_ROOT
from benchorch.errors import DeviceDropped
from benchorch.virtualphone.profile import load_profile

NONCE = "0123abcd"
EXIT = b"\n@@benchorch@@" + NONCE.encode() + b"@@exit@@"
END = b"\n@@benchorch@@" + NONCE.encode() + b"@@end@@\n"


def _stream(out: bytes, err: bytes, code: int, pid: int = 42) -> bytes:
    return b"@@benchorch-pid@@%d\n" % pid + out + EXIT + b"%d\n" % code + err + END


def test_parse_splits_stdout_stderr_and_exit_code() -> None:
    got = shellv1.parse(_stream(b"out\nno newline", b"err\n", 7), NONCE)
    assert (got.pid, got.stdout, got.stderr, got.exit_code, got.complete) == (
        42,
        b"out\nno newline",
        b"err\n",
        7,
        True,
    )


def test_parse_undoes_a_ptys_crlf() -> None:
    raw = _stream(b"a\nb\n", b"e\n", 0).replace(b"\n", b"\r\n")
    got = shellv1.parse(raw, NONCE)
    assert (got.stdout, got.stderr, got.exit_code, got.complete) == (b"a\nb\n", b"e\n", 0, True)
    assert shellv1.ended(raw, NONCE)


@pytest.mark.parametrize("cut", [0, 10, 25, 30, 60, 75, -1])
def test_parse_of_a_stream_cut_anywhere_is_never_complete(cut: int) -> None:
    full = _stream(b"result line\n", b"warning\n", 0)
    part = full[:cut] if cut >= 0 else full[:-1]
    got = shellv1.parse(part, NONCE)
    assert not got.complete and got.exit_code is None
    assert not shellv1.ended(part, NONCE)
    assert shellv1.parse(full, NONCE).complete


def test_markers_of_another_nonce_are_output() -> None:
    fake = b"\n@@benchorch@@ffffffff@@exit@@0\n"
    got = shellv1.parse(_stream(b"x" + fake, b"", 3), NONCE)
    assert got.stdout == b"x" + fake and got.exit_code == 3


def test_wrapped_line_never_contains_its_own_markers() -> None:
    line = shellv1.wrap("exec echo hi", NONCE).encode()
    assert EXIT.strip() not in line and END.strip() not in line


# --- against a phone -------------------------------------------------------------


@pytest.fixture
def old_phone(adb_server: Any, virtual_phone: Any) -> tuple[Any, AdbDevice]:
    phone = virtual_phone(profile="nexus5_android6")
    return phone, AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))


@pytest.mark.slow
def test_old_phone_refuses_shell_v2_and_the_device_layer_uses_v1(
    old_phone: tuple[Any, AdbDevice],
) -> None:
    phone, dev = old_phone
    assert "device" == phone.adb.state(phone.serial)
    assert not dev.conn.has_shell_v2()
    res = dev.run(["sh", "-c", "echo out; echo err >&2; printf tail; exit 7"], timeout=20)
    assert (res.exit_code, res.stdout, res.stderr) == (7, "out\ntail", "err\n")
    assert res.complete and not res.timed_out and not res.ok
    ok = dev.run(["true"], timeout=20)
    assert ok.ok and ok.stdout == "" and ok.stderr == ""
    assert dev.run(["definitely-not-a-command"], timeout=20).exit_code == 127
    # an `exit` ends only the child shell: the markers still come
    exits = dev.run(["sh", "-c", "exit 0"], timeout=20)
    assert exits.ok


@pytest.mark.slow
def test_old_phone_facts_push_and_cwd(old_phone: tuple[Any, AdbDevice], tmp_path: Path) -> None:
    _phone, dev = old_phone
    prof = load_profile("nexus5_android6")
    info = dev.info()
    assert (info.model, info.sdk, info.abis) == ("Nexus 5", 23, prof.abis)
    assert info.battery_level == prof.battery_level
    src = tmp_path / "tool"
    src.write_text('#!/bin/sh\necho tool ran "$@"\n')
    assert dev.push(src, "tool", executable=True).bytes_sent == src.stat().st_size
    assert dev.push(src, "tool", executable=True).skipped
    res = dev.run(["./tool", "a b"], timeout=20, cwd=REMOTE_ROOT)
    assert res.ok and res.stdout == "tool ran a b\n"


@pytest.mark.slow
def test_old_phone_timeout_kills_the_process(old_phone: tuple[Any, AdbDevice]) -> None:
    phone, dev = old_phone
    res = dev.run(
        ["sh", "-c", "echo $$ > /data/local/tmp/p.pid; echo started; exec sleep 120"], timeout=1.5
    )
    assert res.timed_out and not res.complete and not res.ok and res.exit_code is None
    assert res.stdout == "started\n"
    pid = int((phone.root / "p.pid").read_text())
    assert pid == dev.last_remote_pid
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z"


@pytest.mark.slow
def test_old_phone_drop_mid_shell_is_never_a_success(adb_server: Any, virtual_phone: Any) -> None:
    phone = virtual_phone(
        profile="nexus5_android6", faults={"drop_after_shell_seconds": 0.5, "drop_times": 1}
    )
    dev = AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))
    assert not dev.conn.has_shell_v2()
    try:
        res = dev.run(["sh", "-c", "echo begin; sleep 3; echo end"], timeout=30)
    except DeviceDropped as exc:
        assert exc.serial == phone.serial
    else:
        assert not res.complete and not res.ok and res.exit_code is None
        assert res.stdout == "begin\n"
    dev.reconnect(within_s=20)
    assert dev.run(["echo", "back"], timeout=20).stdout == "back\n"


@pytest.mark.slow
def test_adb_cli_falls_back_to_v1_on_the_old_phone(old_phone: tuple[Any, AdbDevice]) -> None:
    phone, _ = old_phone
    res = phone.shell("echo hi; exit 3")
    assert res.stdout == "hi\n"
    assert res.returncode == 0  # v1 has no exit status: what benchorch's markers are for
