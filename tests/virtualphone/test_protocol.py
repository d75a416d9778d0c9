"""The adbd wire protocol itself, with a raw TCP client (no adb server in between).

The adb server would hide some mistakes (it tolerates a few); these tests hold
the phone to ``protocol.txt``: the CNXN answer, one WRTE in flight per stream,
checksums for old peers, CLSE for unknown services, shell v2 framing.
"""

from __future__ import annotations

import socket
import struct

import pytest

from benchorch.virtualphone.server import (
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_WRTE,
    HEADER,
    MAX_PAYLOAD,
    VERSION,
    Message,
    read_message,
)


class RawHost:
    def __init__(self, port: int, version: int = VERSION, maxdata: int = 1024 * 1024) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.version = version
        self.send(Message(A_CNXN, version, maxdata, b"host::features=shell_v2"))
        self.banner = self.recv()

    def send(self, msg: Message) -> None:
        self.sock.sendall(msg.pack(checksum=self.version < 0x01000001))

    def recv(self) -> Message:
        return read_message(self.sock)

    def recv_raw(self) -> tuple[Message, int]:
        head = self._exact(HEADER.size)
        cmd, a0, a1, length, check, _magic = HEADER.unpack(head)
        return Message(cmd, a0, a1, self._exact(length) if length else b""), check

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            assert chunk, "connection closed"
            buf += chunk
        return buf

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def phone_port(virtual_phone) -> int:
    return virtual_phone(profile="pixel8", connect=False).port


def test_cnxn_is_answered_with_cnxn_and_the_banner(phone_port: int) -> None:
    host = RawHost(phone_port)
    assert host.banner.command == A_CNXN
    assert host.banner.arg0 == VERSION
    assert host.banner.arg1 == MAX_PAYLOAD  # min(host's 1 MiB, ours)
    assert host.banner.data.startswith(b"device::ro.product.name=shiba;")
    small = RawHost(phone_port, maxdata=64 * 1024)
    assert small.banner.arg1 == 64 * 1024


def test_old_peers_get_checksums(phone_port: int) -> None:
    host = RawHost(phone_port, version=0x01000000, maxdata=4096)
    host.send(Message(A_OPEN, 7, 0, b"shell:echo checked\0"))
    okay, _ = host.recv_raw()
    assert okay.command == A_OKAY
    wrte, check = host.recv_raw()
    assert wrte.command == A_WRTE and wrte.data == b"checked\n"
    assert check == sum(wrte.data)


def test_unknown_service_gets_clse(phone_port: int) -> None:
    host = RawHost(phone_port)
    host.send(Message(A_OPEN, 9, 0, b"reboot:\0"))
    msg = host.recv()
    assert (msg.command, msg.arg0, msg.arg1) == (A_CLSE, 0, 9)


def test_one_write_in_flight_and_shell_v2_framing(phone_port: int) -> None:
    host = RawHost(phone_port, maxdata=4096)
    host.send(Message(A_OPEN, 5, 0, b"shell,v2,raw:seq 1 3000; echo oops >&2; exit 9\0"))
    okay = host.recv()
    assert okay.command == A_OKAY and okay.arg1 == 5
    local = okay.arg0
    stream = b""
    host.sock.settimeout(0.3)
    while True:
        msg = host.recv()
        assert msg.arg0 == local and msg.arg1 == 5
        if msg.command == A_CLSE:
            break
        assert msg.command == A_WRTE and len(msg.data) <= 4096
        stream += msg.data
        # before our OKAY the phone must not send another WRTE on this stream
        # (a CLSE may follow the last one at once, as adbd does)
        try:
            peeked = host.sock.recv(HEADER.size, socket.MSG_PEEK | socket.MSG_WAITALL)
        except TimeoutError:
            peeked = b""
        if peeked:
            assert HEADER.unpack(peeked)[0] == A_CLSE
        host.send(Message(A_OKAY, 5, local))
    out: dict[int, bytes] = {1: b"", 2: b"", 3: b""}
    pos = 0
    while pos < len(stream):
        kind, length = struct.unpack_from("<BI", stream, pos)
        out[kind] += stream[pos + 5 : pos + 5 + length]
        pos += 5 + length
    assert out[1].decode().split() == [str(i) for i in range(1, 3001)]
    assert out[2] == b"oops\n"
    assert out[3] == bytes([9])


def test_streams_are_independent(phone_port: int) -> None:
    host = RawHost(phone_port)
    host.send(Message(A_OPEN, 1, 0, b"shell,v2,raw:sleep 1; echo slow\0"))
    host.send(Message(A_OPEN, 2, 0, b"shell,v2,raw:echo fast\0"))
    first_data = None
    while first_data is None:
        msg = host.recv()
        if msg.command == A_WRTE:
            first_data = msg
    assert first_data.arg1 == 2 and b"fast" in first_data.data
