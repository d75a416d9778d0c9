"""The adb *host* protocol, spoken on a plain socket to an adb server.

Why by hand and not through adbutils (2.12), measured on Debian's adb server
with a virtual phone (issue 10 item 11):

* every adbutils call sleeps about 10 ms closing its connection:
  ``host:devices-l`` takes 11.8 ms through ``AdbClient.list(extended=True)``
  and 0.19 ms here (median of 40); a device addressed by serial costs another
  ``host:version`` round trip;
* when the server does not answer, adbutils runs ``adb start-server`` (on the
  default port, whatever port was asked) and waits up to 20 s before failing,
  so listing the devices of a ``--adb HOST:PORT`` that is down would start a
  stray server instead of saying at once that the server is unreachable;
* the shell and push reasons are in ``adbshell`` and ``adbpush``.

adbutils keeps the rarely used administrative calls (``connect`` /
``disconnect`` in ``AdbDevice.reconnect``), where neither matters.

Protocol (AOSP ``adb/OVERVIEW.TXT``, ``SERVICES.TXT``, ``SYNC.TXT``,
``shell_protocol.h``):

* A request is 4 ASCII hex digits of length + the service name. The server
  answers ``OKAY`` or ``FAIL`` + 4 hex digits of length + a message.
* ``host:devices-l`` answers with one length-prefixed block, one device a line:
  ``SERIAL STATE key:value... transport_id:N``.
* ``host:transport-id:N`` switches the socket to that device (``OKAY``); the
  next request is a device service, e.g. ``shell,v2,raw:CMD`` or ``sync:``.
* Shell v2 packets: id (1 byte: 0 stdin, 1 stdout, 2 stderr, 3 exit,
  4 close-stdin, 5 window) + uint32 LE length + data. Exit carries one byte.
* Sync v1: 4-byte id + uint32 LE. ``SEND`` + len + ``path,mode``; then
  ``DATA`` + len + bytes (at most 64 KiB each); ``DONE`` + mtime; the device
  answers ``OKAY`` + 0 or ``FAIL`` + len + message. ``STAT`` + len + path is
  answered by ``STAT`` + mode, size, mtime (three uint32 LE; all 0 when there
  is no such file; size is the low 32 bits).

Errors here are low level (``HostFail``, ``StreamLost``); ``adb.AdbDevice``
maps them to ``benchorch.errors`` with the device serial.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import socket
import stat
import struct
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from benchorch.errors import AdbServerUnreachable, UsageError
from benchorch.files import md5_file, sha256_file

DEFAULT_PORT = 5037
SYNC_DATA_MAX = 64 * 1024

SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN = 0, 1, 2, 3, 4


class HostFail(Exception):
    """The server or the device answered ``FAIL`` with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StreamLost(Exception):
    """The socket closed or broke before the answer was complete."""


@dataclass(frozen=True)
class ServerAddr:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT

    @classmethod
    def resolve(cls, text: str | None = None) -> ServerAddr:
        """``HOST:PORT`` (or ``PORT``) if given, else ``ANDROID_ADB_SERVER_HOST`` /
        ``ANDROID_ADB_SERVER_PORT``, else 127.0.0.1:5037."""
        if text:
            host, sep, port = text.strip().rpartition(":")
            if not sep:
                host, port = "", text.strip()
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise UsageError(
                    f"bad adb server address {text!r}",
                    hint="pass --adb HOST:PORT, e.g. 127.0.0.1:5037",
                )
            return cls(host.strip("[]") or "127.0.0.1", int(port))
        env_port = os.environ.get("ANDROID_ADB_SERVER_PORT", "").strip()
        if env_port and not env_port.isdigit():
            raise UsageError(
                f"ANDROID_ADB_SERVER_PORT={env_port!r} is not a port number",
                hint="set it to the adb server's port or unset it",
            )
        host = os.environ.get("ANDROID_ADB_SERVER_HOST", "").strip() or "127.0.0.1"
        return cls(host, int(env_port) if env_port else DEFAULT_PORT)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class HostSocket:
    """One connection to the adb server. Closing it never sleeps."""

    def __init__(self, addr: ServerAddr, *, timeout: float | None = 10.0) -> None:
        self.addr = addr
        try:
            self.sock = socket.create_connection((addr.host, addr.port), timeout=3.0)
        except OSError as exc:
            raise AdbServerUnreachable(
                f"no adb server at {addr}: {exc.strerror or exc}",
                hint="start one with `adb start-server` or pass --adb HOST:PORT",
            ) from exc
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)

    def __enter__(self) -> HostSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes | memoryview) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionError) as exc:
            raise StreamLost(f"connection to the adb server broke: {exc}") from exc

    def send_buffers(self, buffers: list[bytes | memoryview]) -> None:
        """``sendall`` for a list of buffers, with ``sendmsg`` (gathered writes)."""
        pending = [memoryview(b).cast("B") for b in buffers]
        try:
            while pending:
                done = self.sock.sendmsg(pending)
                while pending and done >= len(pending[0]):
                    done -= len(pending[0])
                    pending.pop(0)
                if pending and done:
                    pending[0] = pending[0][done:]
        except (BrokenPipeError, ConnectionError) as exc:
            raise StreamLost(f"connection to the adb server broke: {exc}") from exc

    def read_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionError as exc:
                raise StreamLost(f"connection broke: {exc}") from exc
            if not chunk:
                raise StreamLost(f"stream closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def read_some(self, n: int) -> bytes:
        """Up to ``n`` bytes as they come; ``b""`` once the peer closed."""
        try:
            return self.sock.recv(n)
        except ConnectionError as exc:
            raise StreamLost(f"connection broke: {exc}") from exc

    def read_block(self) -> str:
        size = int(self.read_exact(4), 16)
        return self.read_exact(size).decode("utf-8", "replace")

    def request(self, service: str) -> None:
        """Send one request and consume ``OKAY``; ``FAIL`` raises ``HostFail``."""
        payload = service.encode("utf-8")
        self.send(b"%04x" % len(payload) + payload)
        status = self.read_exact(4)
        if status == b"OKAY":
            return
        if status == b"FAIL":
            raise HostFail(self.read_block())
        raise StreamLost(f"unexpected answer {status!r} to {service.split(':', 1)[0]}")


def host_query(addr: ServerAddr, service: str, *, timeout: float = 10.0) -> str:
    """A ``host:`` request whose answer is one length-prefixed block."""
    with HostSocket(addr, timeout=timeout) as hs:
        hs.request(service)
        return hs.read_block()


@dataclass(frozen=True)
class DeviceEntry:
    serial: str
    state: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def transport_id(self) -> int | None:
        value = self.tags.get("transport_id", "")
        return int(value) if value.isdigit() else None


def parse_devices_l(text: str) -> list[DeviceEntry]:
    """``host:devices-l`` lines: ``SERIAL STATE [key:value ...]``."""
    entries = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        tags = dict(p.split(":", 1) for p in parts[2:] if ":" in p)
        entries.append(DeviceEntry(parts[0], parts[1], tags))
    return entries


def list_entries(addr: ServerAddr) -> list[DeviceEntry]:
    try:
        return parse_devices_l(host_query(addr, "host:devices-l"))
    except (HostFail, StreamLost, OSError) as exc:
        raise AdbServerUnreachable(f"adb server at {addr} did not list its devices: {exc}") from exc


def open_service(
    addr: ServerAddr,
    transport_id: int,
    service: str,
    *,
    timeout: float | None,
    track: Callable[[HostSocket], None] | None = None,
) -> HostSocket:
    """A socket switched to device ``transport_id`` with ``service`` opened on it;
    ``track`` hears of the socket before the handshake (so it can be aborted)."""
    hs = HostSocket(addr, timeout=timeout)
    if track is not None:
        track(hs)
    try:
        hs.request(f"host:transport-id:{transport_id}")
        hs.request(service)
    except BaseException:
        hs.close()
        raise
    return hs


def read_shell_packet(hs: HostSocket) -> tuple[int, bytes]:
    """One shell v2 packet: (id, data)."""
    kind, length = struct.unpack("<BI", hs.read_exact(5))
    return kind, hs.read_exact(length) if length else b""


def shell_packet(kind: int, data: bytes = b"") -> bytes:
    return struct.pack("<BI", kind, len(data)) + data


@dataclass(frozen=True)
class SendOutcome:
    bytes_sent: int


#: DATA frames gathered into one ``sendmsg`` (16 x 64 KiB = 1 MiB a system call).
FRAMES_PER_CALL = 16


@dataclass(frozen=True)
class RemoteStat:
    """A sync v1 ``STAT`` answer: ``mode`` 0 means no such file."""

    mode: int
    size: int  # low 32 bits of the size
    mtime: int

    @property
    def exists(self) -> bool:
        return self.mode != 0

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)

    def size_matches(self, size: int) -> bool:
        return self.size == size & 0xFFFFFFFF


def sync_stat(hs: HostSocket, remote_path: str) -> RemoteStat:
    """``STAT`` of ``remote_path`` over an open ``sync:`` socket (one round trip)."""
    path = remote_path.encode("utf-8")
    hs.send(b"STAT" + struct.pack("<I", len(path)) + path)
    ident, mode, size, mtime = struct.unpack("<4s3I", hs.read_exact(16))
    if ident != b"STAT":
        raise StreamLost(f"unexpected sync answer {ident!r} to STAT")
    return RemoteStat(mode, size, mtime)


def sync_send(
    hs: HostSocket,
    src: BinaryIO,
    remote_path: str,
    *,
    mode: int,
    mtime: int,
    progress: Callable[[int], None] | None = None,
    on_data: Callable[[memoryview], None] | None = None,
) -> SendOutcome:
    """Stream ``src`` to ``remote_path`` over an open ``sync:`` socket (see module doc).

    The file is read a MiB at a time and sent as 64 KiB ``DATA`` frames with
    scatter/gather I/O (no copy into frames). ``on_data`` sees every block read,
    in order, before it is sent (e.g. to hash the file in the same pass); it may
    keep reading a block until its next call returns (blocks alternate).
    ``HostFail`` carries the device's ``FAIL`` message; ``StreamLost`` means
    the connection broke with no message (a dropped device).
    """
    target = f"{remote_path},{0o100000 | mode}".encode()
    hs.send(b"SEND" + struct.pack("<I", len(target)) + target)
    # Two blocks in turn: on_data may still be reading one while the next is filled.
    blocks = [memoryview(bytearray(SYNC_DATA_MAX * FRAMES_PER_CALL)) for _ in range(2)]
    sent = 0
    try:
        for turn in itertools.count():
            view = blocks[turn % 2]
            n = src.readinto(view)  # type: ignore[attr-defined]
            if not n:
                break
            if on_data is not None:
                on_data(view[:n])
            buffers: list[bytes | memoryview] = []
            for off in range(0, n, SYNC_DATA_MAX):
                part = view[off : min(off + SYNC_DATA_MAX, n)]
                buffers += [b"DATA" + struct.pack("<I", len(part)), part]
            hs.send_buffers(buffers)
            sent += n
            if progress is not None:
                progress(sent)
        hs.send(b"DONE" + struct.pack("<I", mtime & 0xFFFFFFFF))
    except StreamLost:
        # The device may have said why (FAIL) before closing: read it if so.
        _read_sync_status(hs, quick=True)
        raise
    _read_sync_status(hs, quick=False)
    return SendOutcome(sent)


def _read_sync_status(hs: HostSocket, *, quick: bool) -> None:
    if quick:
        hs.sock.settimeout(2.0)
    try:
        head = hs.read_exact(8)
    except (StreamLost, TimeoutError, OSError):
        if quick:
            return
        raise
    status, length = head[:4], struct.unpack("<I", head[4:])[0]
    if status == b"OKAY":
        return
    if status == b"FAIL":
        raise HostFail(hs.read_exact(length).decode("utf-8", "replace").strip())
    raise StreamLost(f"unexpected sync answer {status!r}")


class StreamHasher:
    """Digests (``hashlib`` names) of a stream fed block by block to ``feed``.

    Each block is hashed on a helper thread while the caller sends it
    (``hashlib`` releases the GIL on large blocks); ``feed`` first waits for
    the previous block, so a caller may reuse a block once the call after
    next begins (``sync_send`` alternates two blocks).
    """

    def __init__(self, names: list[str]) -> None:
        self._hashes = {n: hashlib.new(n, usedforsecurity=False) for n in names}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="push-hash")
        self._job: Future[None] | None = None

    def _update(self, block: memoryview) -> None:
        for h in self._hashes.values():
            h.update(block)

    def _wait(self) -> None:
        if self._job is not None:
            self._job.result()
            self._job = None

    def feed(self, block: memoryview) -> None:
        self._wait()
        self._job = self._pool.submit(self._update, block)

    def hexdigests(self) -> dict[str, str]:
        """Wait for the last block; then ``{name: hex digest}``."""
        self.close()
        return {n: h.hexdigest() for n, h in self._hashes.items()}

    def close(self) -> None:
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)


file_sha256 = sha256_file  # the push's names for benchorch.files' digests
file_md5 = md5_file


TCP_SERIAL = re.compile(r"^(?:\[[0-9a-fA-F:]+\]|[\w.-]+):\d+$")
