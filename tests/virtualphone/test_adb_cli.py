"""The virtual phone driven by Debian's real adb CLI through a real adb server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.support.adb_fixtures import AdbServer


def test_attaches_with_banner_facts(virtual_phone, adb_server: AdbServer) -> None:
    phone = virtual_phone(profile="galaxy_a54")
    listing = adb_server.run("devices", "-l").stdout
    line = next(x for x in listing.splitlines() if x.startswith(phone.serial))
    assert " device " in line
    assert "model:SM_A546B" in line  # adb replaces spaces/dashes in -l output
    assert "device:a54x" in line


def test_shell_output_and_getprop(virtual_phone) -> None:
    phone = virtual_phone(profile="pixel8")
    res = phone.shell("echo hi")
    assert (res.returncode, res.stdout) == (0, "hi\n")
    assert phone.shell("getprop ro.product.model").stdout == "Pixel 8\n"
    assert phone.shell("getprop ro.build.version.sdk").stdout == "34\n"
    assert phone.shell("getprop no.such.prop").stdout == "\n"
    assert "[ro.soc.model]: [Tensor G3]" in phone.shell("getprop").stdout


def test_exit_codes_and_stderr_through_shell_v2(virtual_phone, adb_server: AdbServer) -> None:
    phone = virtual_phone()
    assert phone.shell("exit 7").returncode == 7
    assert phone.shell("false").returncode == 1
    res = phone.shell("echo out; echo err >&2; exit 3")
    assert (res.returncode, res.stdout, res.stderr) == (3, "out\n", "err\n")
    missing = phone.shell("./no_such_binary")
    assert missing.returncode == 127
    assert missing.stderr == "/system/bin/sh: ./no_such_binary: inaccessible or not found\n"


def test_stdin_reaches_the_command(virtual_phone, adb_server: AdbServer) -> None:
    phone = virtual_phone()
    res = adb_server.run("-s", phone.serial, "shell", "tr a-z A-Z", input=b"hello phone\n")
    assert (res.returncode, res.stdout) == (0, "HELLO PHONE\n")


def test_v1_shell_service_merges_output(virtual_phone, adb_server: AdbServer) -> None:
    """``adb shell -x`` disables shell v2: the v1 ``shell:`` service, one byte stream."""
    phone = virtual_phone()
    res = adb_server.run("-s", phone.serial, "shell", "-x", "echo one; echo two >&2; exit 5")
    assert sorted(res.stdout.split()) == ["one", "two"]
    assert res.returncode == 0  # v1 has no exit status: why the device layer uses v2


def test_push_pull_round_trip_is_byte_identical(
    virtual_phone, adb_server: AdbServer, tmp_path: Path
) -> None:
    phone = virtual_phone()
    blob = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "blob.bin"
    src.write_bytes(blob)
    os.chmod(src, 0o755)
    res = adb_server.run("-s", phone.serial, "push", str(src), "/data/local/tmp/deep/er/blob.bin")
    assert res.returncode == 0, res.stderr
    on_phone = phone.root / "deep/er/blob.bin"
    assert on_phone.read_bytes() == blob
    assert on_phone.stat().st_mode & 0o777 == 0o755
    assert int(on_phone.stat().st_mtime) == int(src.stat().st_mtime)
    back = tmp_path / "back.bin"
    res = adb_server.run("-s", phone.serial, "pull", "/data/local/tmp/deep/er/blob.bin", str(back))
    assert res.returncode == 0, res.stderr
    assert back.read_bytes() == blob
    digest = phone.shell("sha256sum /data/local/tmp/deep/er/blob.bin").stdout
    assert digest == f"{hashlib.sha256(blob).hexdigest()}  /data/local/tmp/deep/er/blob.bin\n"


def test_pull_of_missing_file_fails(virtual_phone, adb_server: AdbServer, tmp_path: Path) -> None:
    phone = virtual_phone()
    res = adb_server.run("-s", phone.serial, "pull", "/data/local/tmp/nope", str(tmp_path / "x"))
    assert res.returncode != 0
    assert "No such file or directory" in res.stdout + res.stderr
    assert not (tmp_path / "x").exists()


def test_push_a_folder_and_list_it(virtual_phone, adb_server: AdbServer, tmp_path: Path) -> None:
    phone = virtual_phone()
    folder = tmp_path / "models"
    folder.mkdir()
    for i in range(3):
        (folder / f"m{i}.ptl").write_bytes(bytes([i]) * (1000 + i))
    res = adb_server.run("-s", phone.serial, "push", str(folder), "/data/local/tmp/")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (phone.root / "models").iterdir()) == [
        "m0.ptl",
        "m1.ptl",
        "m2.ptl",
    ]
    out = tmp_path / "out"
    res = adb_server.run("-s", phone.serial, "pull", "/data/local/tmp/models", str(out))
    assert res.returncode == 0, res.stderr
    assert (out / "m2.ptl").read_bytes() == bytes([2]) * 1002


def test_concurrent_streams_on_one_connection(virtual_phone, adb_server: AdbServer) -> None:
    import concurrent.futures

    phone = virtual_phone()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: phone.shell(f"sleep 0.3; echo {i}; exit {i}"), range(8)))
    assert [(r.returncode, r.stdout) for r in results] == [(i, f"{i}\n") for i in range(8)]


def test_large_output_arrives_whole(virtual_phone) -> None:
    phone = virtual_phone()
    res = phone.shell("seq 1 200000")
    assert res.returncode == 0
    assert res.stdout.splitlines() == [str(i) for i in range(1, 200001)]


def test_unknown_service_is_refused(virtual_phone, adb_server: AdbServer) -> None:
    phone = virtual_phone()
    res = adb_server.run("-s", phone.serial, "reverse", "--list")
    assert res.returncode != 0
    assert phone.shell("echo still here").stdout == "still here\n"


def test_restart_comes_back(virtual_phone, adb_server: AdbServer) -> None:
    phone = virtual_phone()
    (phone.root / "keep").write_text("x")
    phone.kill()
    adb_server.wait_state(phone.serial, "offline")
    phone.restart()
    assert phone.shell("cat /data/local/tmp/keep").stdout == "x"
