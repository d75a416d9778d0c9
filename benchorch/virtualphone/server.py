"""The adbd side of the adb transport protocol, over TCP.

Wire format (AOSP ``adb/protocol.txt``): every message is a 24-byte
little-endian header ``command, arg0, arg1, data_length, data_check, magic``
followed by ``data_length`` bytes, where ``magic == command ^ 0xFFFFFFFF`` and
``data_check`` is the byte sum of the payload for protocol versions below
``0x01000001`` and 0 (unchecked) from that version on.

Handshake: the host sends ``CNXN(version, maxdata, "host::...")``; we answer
``CNXN(0x01000001, min(maxdata, 256K), banner)`` and never send AUTH.

Streams: ``OPEN(remote_id, 0, "service\\0")`` opens one; we answer
``OKAY(local_id, remote_id)`` or ``CLSE(0, remote_id)`` when no such service.
``WRTE(local, remote, data)`` carries bytes and must be acknowledged by
``OKAY`` before the sender may write again on that stream (one write in flight
per stream and direction). ``CLSE`` ends a stream; the peer does not answer it.

Each stream runs its service in its own thread; the connection's reader thread
only dispatches. The reader acknowledges a host WRTE when the service takes
the data out of the stream's inbox, which gives back-pressure to ``adb push``.
"""

from __future__ import annotations

import logging
import queue
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("benchorch.virtualphone")

A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257

VERSION = 0x01000001
VERSION_SKIP_CHECKSUM = 0x01000001
MAX_PAYLOAD = 256 * 1024
HEADER = struct.Struct("<6I")

#: Features we implement; ``fixed_push_mkdir`` means SEND creates parent folders.
FEATURES = ("shell_v2", "stat_v2", "ls_v2", "fixed_push_mkdir")


@dataclass(frozen=True)
class Message:
    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    def pack(self, *, checksum: bool) -> bytes:
        check = sum(self.data) & 0xFFFFFFFF if checksum else 0
        head = HEADER.pack(
            self.command,
            self.arg0,
            self.arg1,
            len(self.data),
            check,
            self.command ^ 0xFFFFFFFF,
        )
        return head + self.data


class ProtocolError(Exception):
    """The peer sent something that is not the adb protocol."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def read_message(sock: socket.socket) -> Message:
    command, arg0, arg1, length, _check, magic = HEADER.unpack(_recv_exact(sock, HEADER.size))
    if magic != command ^ 0xFFFFFFFF:
        raise ProtocolError(f"bad magic for command {command:#x}")
    if length > 16 * 1024 * 1024:
        raise ProtocolError(f"payload of {length} bytes is too large")
    data = _recv_exact(sock, length) if length else b""
    return Message(command, arg0, arg1, data)


class StreamClosed(Exception):
    """The stream (or the whole connection) is gone."""


class Stream:
    """One adb stream, seen from the service that runs on it."""

    def __init__(self, conn: Connection, local_id: int, remote_id: int, service: str) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.service = service
        self._inbox: queue.Queue[bytes | None] = queue.Queue()
        self._cond = threading.Condition()
        self._can_send = True
        self._closed = False
        self._close_callbacks: list[Callable[[], None]] = []

    # --- called by the connection's reader ------------------------------------
    def _on_okay(self) -> None:
        with self._cond:
            self._can_send = True
            self._cond.notify_all()

    def _on_data(self, data: bytes) -> None:
        self._inbox.put(data)

    def _on_close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            callbacks = list(self._close_callbacks)
        self._inbox.put(None)
        for cb in callbacks:
            try:
                cb()
            except Exception:  # a callback must never kill the reader thread
                log.exception("close callback failed")

    # --- used by services -------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once when the stream closes (either side or a drop)."""
        with self._cond:
            if not self._closed:
                self._close_callbacks.append(callback)
                return
        callback()

    def read(self, timeout: float | None = None) -> bytes | None:
        """Next chunk the host wrote, acknowledged now; None at close (or timeout)."""
        try:
            data = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return None
        if data is None:
            self._inbox.put(None)  # stay closed for later readers
            return None
        if not self._closed:
            self.conn.send(Message(A_OKAY, self.local_id, self.remote_id))
        return data

    def write(self, data: bytes) -> None:
        """Send bytes, at most maxdata per WRTE, each after the previous OKAY."""
        view = memoryview(data)
        step = self.conn.max_payload
        for start in range(0, len(view), step):
            with self._cond:
                while not self._can_send and not self._closed:
                    self._cond.wait()
                if self._closed:
                    raise StreamClosed
                self._can_send = False
            self.conn.send(
                Message(A_WRTE, self.local_id, self.remote_id, bytes(view[start : start + step]))
            )

    def close(self) -> None:
        """Close from our side: CLSE to the host, then the close callbacks."""
        self.conn._forget(self.local_id)
        try:
            if not self._closed:
                self.conn.send(Message(A_CLSE, self.local_id, self.remote_id))
        finally:
            self._on_close()


#: A service: runs in its own thread on an open stream and closes it when done.
Service = Callable[[Stream], None]
#: Resolves a service name to a handler, or None when the phone has no such service.
Resolver = Callable[[str, "Connection"], Service | None]


class Connection:
    """One TCP connection from an adb server: the reader loop and the streams."""

    def __init__(self, sock: socket.socket, banner: bytes, resolver: Resolver) -> None:
        self.sock = sock
        self.banner = banner
        self.resolver = resolver
        self.max_payload = MAX_PAYLOAD
        self.peer_version = VERSION
        self._send_lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._streams_lock = threading.Lock()
        self._next_id = 1
        self._dead = False

    @property
    def dead(self) -> bool:
        return self._dead

    def send(self, msg: Message) -> None:
        data = msg.pack(checksum=self.peer_version < VERSION_SKIP_CHECKSUM)
        with self._send_lock:
            if self._dead:
                raise StreamClosed
            try:
                self.sock.sendall(data)
            except OSError as exc:
                raise StreamClosed from exc

    def drop(self) -> None:
        """Break the TCP connection abruptly, like a cable pulled (fault injection)."""
        log.info("dropping the connection")
        self._dead = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _forget(self, local_id: int) -> None:
        with self._streams_lock:
            self._streams.pop(local_id, None)

    def serve(self) -> None:
        """Read and dispatch until EOF; then close every stream (killing its work)."""
        try:
            while True:
                msg = read_message(self.sock)
                self._dispatch(msg)
        except (EOFError, OSError, ProtocolError, StreamClosed) as exc:
            log.debug("connection ended: %r", exc)
        finally:
            self._dead = True
            with self._streams_lock:
                streams = list(self._streams.values())
                self._streams.clear()
            for stream in streams:
                stream._on_close()
            try:
                self.sock.close()
            except OSError:
                pass

    def _dispatch(self, msg: Message) -> None:
        cmd = msg.command
        if cmd == A_CNXN:
            self.peer_version = min(msg.arg0, VERSION)
            self.max_payload = max(4096, min(msg.arg1 or MAX_PAYLOAD, MAX_PAYLOAD))
            self.send(Message(A_CNXN, VERSION, self.max_payload, self.banner))
        elif cmd == A_OPEN:
            self._open(msg.arg0, msg.data.rstrip(b"\0").decode("utf-8", "replace"))
        elif cmd in (A_OKAY, A_WRTE, A_CLSE):
            with self._streams_lock:
                stream = self._streams.get(msg.arg1)
            if stream is None:
                if cmd == A_WRTE:  # unknown stream: tell the host it is gone
                    self.send(Message(A_CLSE, 0, msg.arg0))
                return
            if cmd == A_OKAY:
                stream._on_okay()
            elif cmd == A_WRTE:
                stream._on_data(msg.data)
            else:
                self._forget(stream.local_id)
                stream._on_close()
        # AUTH and anything else: ignored (we never ask for AUTH).

    def _open(self, remote_id: int, name: str) -> None:
        handler = self.resolver(name, self)
        if handler is None:
            log.info("no such service: %r", name)
            self.send(Message(A_CLSE, 0, remote_id))
            return
        with self._streams_lock:
            local_id = self._next_id
            self._next_id += 1
            stream = Stream(self, local_id, remote_id, name)
            self._streams[local_id] = stream
        self.send(Message(A_OKAY, local_id, remote_id))
        threading.Thread(
            target=self._run_service, args=(handler, stream), name=f"svc-{local_id}", daemon=True
        ).start()

    def _run_service(self, handler: Service, stream: Stream) -> None:
        try:
            handler(stream)
        except StreamClosed:
            pass
        except Exception:
            log.exception("service %r failed", stream.service)
        finally:
            try:
                stream.close()
            except StreamClosed:
                stream._on_close()


def make_banner(props: dict[str, str], features: tuple[str, ...] = FEATURES) -> bytes:
    """``device::ro.product.name=..;ro.product.model=..;ro.product.device=..;features=..``
    (no ``features=`` at all when there are none, like adbd before Android 7)."""
    parts = [
        f"{key}={props.get(key, '')}"
        for key in ("ro.product.name", "ro.product.model", "ro.product.device")
    ]
    if features:
        parts.append("features=" + ",".join(features))
    return ("device::" + ";".join(parts) + ("" if features else ";")).encode()


class PhoneServer:
    """Accepts adb server connections on one TCP port and serves each in a thread."""

    def __init__(self, host: str, port: int, banner: bytes, resolver: Resolver) -> None:
        self.banner = banner
        self.resolver = resolver
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(8)
        self.port: int = self.listener.getsockname()[1]
        self.connections: list[Connection] = []
        self._lock = threading.Lock()

    def serve_forever(self) -> None:
        while True:
            try:
                sock, _addr = self.listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock, self.banner, self.resolver)
            with self._lock:
                self.connections = [c for c in self.connections if not c.dead] + [conn]
            threading.Thread(target=conn.serve, name="adb-conn", daemon=True).start()

    def close(self) -> None:
        try:
            self.listener.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self.connections)
        for conn in conns:
            conn.drop()
