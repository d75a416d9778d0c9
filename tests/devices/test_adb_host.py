"""The adb host-protocol helpers: server address, device list, shell v2 framing, sync SEND.

The framing tests use a socketpair as the far end; the socket layer is real,
only the adb server is replaced by a few lines that speak its side of SYNC.TXT.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import threading
from pathlib import Path

import pytest

from benchorch.devices import adbhost
from benchorch.devices.adbhost import HostFail, HostSocket, ServerAddr, StreamLost
from benchorch.errors import AdbServerUnreachable, UsageError


def test_server_addr_from_flag_env_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANDROID_ADB_SERVER_PORT", raising=False)
    monkeypatch.delenv("ANDROID_ADB_SERVER_HOST", raising=False)
    assert ServerAddr.resolve() == ServerAddr("127.0.0.1", 5037)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "5099")
    assert ServerAddr.resolve() == ServerAddr("127.0.0.1", 5099)
    assert ServerAddr.resolve("lab-host:6000") == ServerAddr("lab-host", 6000)
    assert ServerAddr.resolve("6001") == ServerAddr("127.0.0.1", 6001)
    assert ServerAddr.resolve("[::1]:6002") == ServerAddr("::1", 6002)
    for bad in ("host:", "host:port", "host:70000", "host:0"):
        with pytest.raises(UsageError, match="bad adb server address"):
            ServerAddr.resolve(bad)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "fifty")
    with pytest.raises(UsageError, match="ANDROID_ADB_SERVER_PORT='fifty'"):
        ServerAddr.resolve()


def test_devices_l_parsing() -> None:
    text = (
        "127.0.0.1:5555         device product:shiba model:Pixel_8 device:shiba transport_id:3\n"
        "R58N12ABCDE            unauthorized usb:1-1 transport_id:7\n"
        "emulator-5554          offline transport_id:1\n"
        "\n"
    )
    entries = adbhost.parse_devices_l(text)
    assert [(e.serial, e.state, e.transport_id) for e in entries] == [
        ("127.0.0.1:5555", "device", 3),
        ("R58N12ABCDE", "unauthorized", 7),
        ("emulator-5554", "offline", 1),
    ]
    assert entries[0].tags["model"] == "Pixel_8"
    assert adbhost.DeviceEntry("x", "device").transport_id is None


def test_tcp_serials() -> None:
    for tcp in ("127.0.0.1:5555", "phone.lab:5555", "[fe80::1]:5555"):
        assert adbhost.TCP_SERIAL.match(tcp)
    for usb in ("R58N12ABCDE", "emulator-5554", "adb-XYZ._adb-tls-connect._tcp"):
        assert not adbhost.TCP_SERIAL.match(usb)


def test_no_server_is_unreachable_naming_the_address() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(AdbServerUnreachable, match=rf"no adb server at 127.0.0.1:{port}"):
            adbhost.list_entries(ServerAddr("127.0.0.1", port))


def _pair() -> tuple[HostSocket, socket.socket]:
    ours, theirs = socket.socketpair()
    hs = HostSocket.__new__(HostSocket)
    hs.addr = ServerAddr()
    hs.sock = ours
    ours.settimeout(5)
    theirs.settimeout(5)
    return hs, theirs


def _read(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, "closed early"
        buf += chunk
    return buf


def test_request_okay_fail_and_garbage() -> None:
    hs, far = _pair()
    far.sendall(b"OKAY")
    hs.request("host:version")
    assert _read(far, 16) == b"000chost:version"
    far.sendall(b"FAIL000edevice offline")
    with pytest.raises(HostFail, match="device offline"):
        hs.request("host:transport-id:9")
    far.sendall(b"WHAT")
    with pytest.raises(StreamLost, match="unexpected answer"):
        hs.request("host:devices-l")


def test_shell_packets_round_trip_and_truncation() -> None:
    hs, far = _pair()
    far.sendall(adbhost.shell_packet(1, b"out") + adbhost.shell_packet(3, b"\x07"))
    assert adbhost.read_shell_packet(hs) == (1, b"out")
    assert adbhost.read_shell_packet(hs) == (3, b"\x07")
    far.sendall(struct.pack("<BI", 1, 10) + b"half")
    far.close()
    with pytest.raises(StreamLost, match="after 4 of 10 bytes"):
        adbhost.read_shell_packet(hs)


def _sync_peer(far: socket.socket, answer: bytes, got: dict[str, object]) -> None:
    """The device side of one SEND: collect frames, then answer."""
    head = _read(far, 8)
    assert head[:4] == b"SEND"
    got["target"] = _read(far, struct.unpack("<I", head[4:])[0]).decode()
    data = bytearray()
    sizes = []
    while True:
        frame = _read(far, 8)
        n = struct.unpack("<I", frame[4:])[0]
        if frame[:4] == b"DONE":
            got["mtime"] = n
            break
        assert frame[:4] == b"DATA"
        sizes.append(n)
        data += _read(far, n)
    got["data"], got["sizes"] = bytes(data), sizes
    far.sendall(answer)


@pytest.mark.parametrize("size", [0, 1, 65536, 65537, 3 * 1024 * 1024 + 5])
def test_sync_send_frames_at_most_64k_and_sends_every_byte(size: int) -> None:
    hs, far = _pair()
    payload = os.urandom(size)
    got: dict[str, object] = {}
    peer = threading.Thread(target=_sync_peer, args=(far, b"OKAY\0\0\0\0", got))
    peer.start()
    out = adbhost.sync_send(hs, io.BytesIO(payload), "/data/local/tmp/a b,c", mode=0o755, mtime=42)
    peer.join()
    assert out.bytes_sent == size
    assert got["data"] == payload
    assert got["target"] == f"/data/local/tmp/a b,c,{0o100755}"
    assert got["mtime"] == 42
    sizes = got["sizes"]
    assert isinstance(sizes, list) and all(0 < n <= adbhost.SYNC_DATA_MAX for n in sizes)


def test_sync_send_fail_message_is_raised() -> None:
    hs, far = _pair()
    msg = b"write failed: No space left on device"
    got: dict[str, object] = {}
    answer = b"FAIL" + struct.pack("<I", len(msg)) + msg
    peer = threading.Thread(target=_sync_peer, args=(far, answer, got))
    peer.start()
    with pytest.raises(HostFail, match="No space left on device"):
        adbhost.sync_send(hs, io.BytesIO(b"x" * 1000), "/data/local/tmp/f", mode=0o644, mtime=1)
    peer.join()


def test_local_digests(tmp_path: Path) -> None:
    import hashlib

    f = tmp_path / "f"
    f.write_bytes(b"abc" * 1_000_000)
    assert adbhost.file_sha256(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    assert adbhost.file_md5(f) == hashlib.md5(f.read_bytes()).hexdigest()
