"""The ``sync:`` file service (AOSP ``SYNC.TXT``, ``file_sync_protocol.h``).

Requests are ``id:4 bytes, length:u32 LE, path`` (path <= 1024 bytes):

* ``STAT`` -> ``STAT mode:u32 size:u32 mtime:u32`` (all zero: no such file).
* ``STA2``/``LST2`` -> ``id error:u32 dev:u64 ino:u64 mode nlink uid gid:u32
  size:u64 atime mtime ctime:i64`` (error is an errno, the rest zero then).
* ``LIST``/``LIS2`` -> one ``DENT`` (``mode size mtime namelen:u32, name``) or
  ``DNT2`` (the STA2 body then ``namelen``, name) per entry, then ``DONE``
  with the same body zeroed.
* ``SEND path,mode`` then ``DATA len data`` chunks (<= 64 KiB) and ``DONE
  mtime`` -> ``OKAY 0`` or ``FAIL len message``. Parents are created
  (feature ``fixed_push_mkdir``).
* ``RECV path`` -> ``DATA`` chunks then ``DONE 0``, or ``FAIL``.
* ``QUIT`` ends the service.

Only ``/data/local/tmp`` (the phone folder) and ``/sdcard`` exist as files;
their ancestors stat as folders; everything else is ENOENT / read-only.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import struct
from pathlib import Path

from benchorch.virtualphone.faults import FaultState
from benchorch.virtualphone.sandbox import Sandbox
from benchorch.virtualphone.server import Stream, StreamClosed

log = logging.getLogger("benchorch.virtualphone")

REQ = struct.Struct("<4sI")
STAT_V1 = struct.Struct("<4s3I")
STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")
DENT_V1 = struct.Struct("<4s4I")
DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")
SYNC_DATA_MAX = 64 * 1024
SHELL_UID = 2000
VIRTUAL_DIRS = ("/", "/data", "/data/local", "/storage", "/storage/emulated")


class _Reader:
    """Exact reads over a stream's WRTE chunks."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.buf = bytearray()

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.stream.read()
            if chunk is None:
                raise StreamClosed
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def _fail(stream: Stream, message: str) -> None:
    data = message.encode()
    stream.write(REQ.pack(b"FAIL", len(data)) + data)


def _lstat(sandbox: Sandbox, path: str) -> os.stat_result | int:
    """lstat of a phone path, or an errno."""
    norm = os.path.normpath("/" + path.lstrip("/"))
    if norm in VIRTUAL_DIRS:
        return os.lstat(sandbox.root)
    host = sandbox.host_path(path)
    if host is None:
        return errno.ENOENT
    try:
        return os.lstat(host) if host != sandbox.root else os.stat(host)
    except OSError as exc:
        return exc.errno or errno.EIO


def _stat_v2_body(st: os.stat_result) -> tuple[int, ...]:
    return (
        0,
        st.st_dev,
        st.st_ino,
        st.st_mode,
        st.st_nlink,
        SHELL_UID,
        SHELL_UID,
        st.st_size,
        int(st.st_atime),
        int(st.st_mtime),
        int(st.st_ctime),
    )


def sync_service(stream: Stream, sandbox: Sandbox, faults: FaultState) -> None:
    reader = _Reader(stream)
    while True:
        ident, length = REQ.unpack(reader.read(REQ.size))
        if length > 1024:
            _fail(stream, "path too long")
            return
        path = reader.read(length).decode("utf-8", "surrogateescape")
        if ident == b"STAT":
            st = _lstat(sandbox, path)
            if isinstance(st, int):
                stream.write(STAT_V1.pack(b"STAT", 0, 0, 0))
            else:
                stream.write(
                    STAT_V1.pack(
                        b"STAT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime) & 0xFFFFFFFF
                    )
                )
        elif ident in (b"STA2", b"LST2"):
            st = _lstat(sandbox, path) if ident == b"LST2" else _stat_follow(sandbox, path)
            if isinstance(st, int):
                stream.write(STAT_V2.pack(ident, st, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
            else:
                stream.write(STAT_V2.pack(ident, *_stat_v2_body(st)))
        elif ident in (b"LIST", b"LIS2"):
            _list(stream, sandbox, path, v2=ident == b"LIS2")
        elif ident == b"SEND":
            if not _send(stream, reader, sandbox, faults, path):
                return
        elif ident == b"RECV":
            if not _recv(stream, sandbox, path):
                return
        elif ident == b"QUIT":
            return
        else:
            _fail(stream, f"unknown command {ident!r}")
            return


def _stat_follow(sandbox: Sandbox, path: str) -> os.stat_result | int:
    st = _lstat(sandbox, path)
    if isinstance(st, int) or not stat.S_ISLNK(st.st_mode):
        return st
    host = sandbox.host_path(path)
    try:
        return os.stat(host) if host is not None else errno.ENOENT
    except OSError as exc:
        return exc.errno or errno.EIO


def _list(stream: Stream, sandbox: Sandbox, path: str, *, v2: bool) -> None:
    host = sandbox.host_path(path)
    names: list[str] = []
    if host is not None and host.is_dir():
        names = sorted(os.listdir(host))
    for name in names:
        assert host is not None
        try:
            st = os.lstat(host / name)
        except OSError:
            continue
        raw = name.encode("utf-8", "surrogateescape")
        if v2:
            stream.write(DENT_V2.pack(b"DNT2", *_stat_v2_body(st), len(raw)) + raw)
        else:
            stream.write(
                DENT_V1.pack(
                    b"DENT",
                    st.st_mode,
                    st.st_size & 0xFFFFFFFF,
                    int(st.st_mtime) & 0xFFFFFFFF,
                    len(raw),
                )
                + raw
            )
    if v2:
        stream.write(DENT_V2.pack(b"DONE", *([0] * 12)))
    else:
        stream.write(DENT_V1.pack(b"DONE", 0, 0, 0, 0))


def _send(stream: Stream, reader: _Reader, sandbox: Sandbox, faults: FaultState, spec: str) -> bool:
    """One SEND; False when the service must end (the connection was dropped)."""
    path, _, mode_text = spec.rpartition(",")
    if not path:
        path, mode_text = spec, "33188"
    try:
        mode = int(mode_text)
    except ValueError:
        mode = 0o100644
    host = sandbox.host_path(path)
    error: str | None = None
    if host is None:
        error = f"couldn't create file: Read-only file system ({path})"
    elif faults.faults.full_disk:
        error = "write failed: No space left on device"
    elif host.is_dir():
        error = f"couldn't create file: Is a directory ({path})"
    out = None
    if error is None and host is not None:
        try:
            host.parent.mkdir(parents=True, exist_ok=True)
            if host.is_symlink() or (stat.S_ISREG(mode) and host.exists()):
                host.unlink()
            if not stat.S_ISLNK(mode):
                out = open(host, "wb")
        except OSError as exc:
            error = f"couldn't create file: {exc.strerror}"
    link_target = b""
    received = 0
    room = sandbox.fake.free_bytes()  # an old file at this path is already gone
    opened = out is not None
    limit = faults.faults.drop_after_push_bytes
    try:
        while True:
            ident, length = REQ.unpack(reader.read(REQ.size))
            if ident == b"DONE":
                mtime = length
                break
            if ident != b"DATA" or length > SYNC_DATA_MAX:
                _fail(stream, "invalid data message")
                return False
            data = reader.read(length)
            received += length
            if limit is not None and received > limit and faults.take_drop():
                log.info("dropping after %d pushed bytes (fault)", received)
                if out is not None:  # like adbd: the half-written file goes first
                    out.close()
                    out = None
                    if host is not None:
                        host.unlink(missing_ok=True)
                stream.conn.drop()
                raise StreamClosed
            if out is not None and received > room:
                error = "write failed: No space left on device"
                out.close()
                out = None
            if out is not None:
                try:
                    out.write(data)
                except OSError as exc:
                    error = f"write failed: {exc.strerror}"
                    out.close()
                    out = None
            elif stat.S_ISLNK(mode):
                link_target += data
    except StreamClosed:
        if out is not None:
            out.close()
            if host is not None:
                host.unlink(missing_ok=True)
        raise
    if out is not None:
        out.close()
    if error is not None:
        if opened and host is not None:
            host.unlink(missing_ok=True)
        _fail(stream, error)
        return True
    assert host is not None
    if stat.S_ISLNK(mode):
        os.symlink(link_target.decode("utf-8", "surrogateescape"), host)
    else:
        if faults.faults.damage_push is not None:
            _damage(host, received, faults.faults.damage_push)
        perm = stat.S_IMODE(mode) or 0o644
        if sandbox.noexec:
            perm &= ~0o111
        os.chmod(host, perm)
        os.utime(host, (mtime, mtime))
    stream.write(REQ.pack(b"OKAY", 0))
    return True


def _damage(host: Path, size: int, kind: str) -> None:
    """The ``damage_push`` fault: lose the second half, or invert the middle byte."""
    log.info("damaging %s (%s, fault)", host.name, kind)
    if kind == "truncate":
        os.truncate(host, size // 2)
    elif size:
        with open(host, "r+b") as fh:
            fh.seek(size // 2)
            byte = fh.read(1)
            fh.seek(size // 2)
            fh.write(bytes([byte[0] ^ 0xFF]))


def _recv(stream: Stream, sandbox: Sandbox, path: str) -> bool:
    host = sandbox.host_path(path)
    try:
        if host is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        f = open(host, "rb")
    except OSError as exc:
        _fail(stream, f"open failed: {exc.strerror}")
        return True
    # Several DATA messages per WRTE: fewer round trips of OKAY.
    per_write = max(1, stream.conn.max_payload // (SYNC_DATA_MAX + REQ.size))
    with f:
        while True:
            batch = bytearray()
            for _ in range(per_write):
                data = f.read(SYNC_DATA_MAX)
                if not data:
                    break
                batch += REQ.pack(b"DATA", len(data)) + data
            if not batch:
                break
            stream.write(bytes(batch))
    stream.write(REQ.pack(b"DONE", 0))
    return True
