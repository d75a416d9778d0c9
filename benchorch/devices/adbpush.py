"""Verified pushes to one phone over adb's sync protocol (hand-written, with a reason).

One ``sync:`` socket per push: ``STAT``; a same-size file is hashed on the
phone (one shell) and compared; else ``SEND`` (the host hashes the bytes as
they go) and ``STAT`` again (size, mtime); files up to
``HASH_VERIFY_MAX_BYTES`` are then hashed on the phone (one shell). See
``AdbPusher.push`` for what "verified" means. The first push also creates
``REMOTE_ROOT`` and picks the phone's hash tool: ``sha256sum``, else
``md5sum``, else size + mtime (the mtime is the one we send in ``DONE``).

Why not adbutils' ``sync.push``: it checks nothing after the send (no size,
mtime or hash), reports a full disk as an ``AdbError`` with an empty message,
and sleeps about 10 ms closing each stream; a verified push here is 1.02x an
``adb push`` in throughput (README "Speed", ``push_throughput.py``).
"""

from __future__ import annotations

import os
import shlex
import stat
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import NoReturn

from benchorch.devices import adbhost
from benchorch.devices.adbhost import HostFail, HostSocket, StreamLost
from benchorch.devices.adbshell import AdbShell
from benchorch.devices.base import REMOTE_ROOT
from benchorch.domain import PushResult
from benchorch.errors import DeviceDropped, DeviceStorageFull, PushFailed, UsageError

#: Pushed files up to this size are also hashed on the phone at once (see ``push``).
HASH_VERIFY_MAX_BYTES = 16 * 1024 * 1024

_DigestKey = tuple[str, int, int, int, str]


class AdbPusher:
    """Pushes files into ``REMOTE_ROOT`` on one phone, deduplicated and verified."""

    def __init__(self, shell: AdbShell) -> None:
        self._sh = shell
        self._serial = shell.serial
        self._hash_tool: str | None = None  # "sha256sum" | "md5sum" | "stat"; None = unprepared
        self._local_hashes: dict[_DigestKey, str] = {}
        self._lock = threading.Lock()

    def _prepare(self) -> str:
        if self._hash_tool is not None:
            return self._hash_tool
        root = shlex.quote(REMOTE_ROOT)
        res = self._sh.shell(
            f"mkdir -p {root} || exit 3; for t in sha256sum md5sum; do "
            'if command -v "$t" >/dev/null 2>&1; then echo "$t"; exit 0; fi; done; echo stat',
            timeout=30.0,
        )
        self._sh.require_complete(res, f"creating {REMOTE_ROOT}")
        tool = res.stdout.strip().splitlines()[-1:] if res.ok else []
        if not tool or tool[0] not in ("sha256sum", "md5sum", "stat"):
            self._raise_storage(res.stderr, f"cannot create {REMOTE_ROOT}")
        self._hash_tool = tool[0]
        return self._hash_tool

    def _raise_storage(self, message: str, what: str) -> None:
        raise_storage(self._serial, message, what)

    def _digest_key(self, path: Path, st: os.stat_result, tool: str) -> _DigestKey:
        return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, tool)

    def _local_digest(self, path: Path, tool: str) -> str:
        """The host's digest of ``path`` as the phone's ``tool`` prints it (cached)."""
        st = path.stat()
        key = self._digest_key(path, st, tool)
        if key not in self._local_hashes:
            if tool == "sha256sum":
                self._local_hashes[key] = adbhost.file_sha256(path)
            elif tool == "md5sum":
                self._local_hashes[key] = adbhost.file_md5(path)
            else:
                self._local_hashes[key] = f"{st.st_size} {int(st.st_mtime)}"
        return self._local_hashes[key]

    def _remote_digest(self, remote: str, tool: str, *, chmod: bool) -> str:
        """The phone's ``tool`` digest of ``remote`` ("" when unreadable), after a
        ``chmod 755`` when asked."""
        q = shlex.quote(remote)
        pre = f"chmod 755 {q} 2>/dev/null; " if chmod else ""
        res = self._sh.shell(f"{pre}{tool} < {q} 2>/dev/null", timeout=120.0)
        self._sh.require_complete(res, f"hash check of {remote}")
        words = res.stdout.split()
        return words[0] if words else ""

    def _chmod_755(self, remote: str) -> None:
        res = self._sh.shell(f"chmod 755 {shlex.quote(remote)}", timeout=30.0)
        self._sh.require_complete(res, f"chmod of {remote}")
        if not res.ok:
            raise PushFailed(
                f"chmod 755 {remote} failed: {res.stderr.strip() or res.exit_code}",
                serial=self._serial,
            )

    def push(
        self,
        local: Path,
        name: str,
        *,
        executable: bool = False,
        verify_hash: bool | None = None,
    ) -> PushResult:
        """Copy ``local`` to ``REMOTE_ROOT/name`` unless the phone has the same file.

        Dedup: a sync ``STAT`` first; only a regular file of the same size is
        then hashed on the phone (``sha256sum``, else ``md5sum``; a phone with
        neither compares size and mtime) and compared with the host's digest.
        A match sends nothing (``skipped``). Since every call compares content,
        a file damaged on the phone since the last push (or one that arrived
        damaged) is sent again the next time it is pushed.

        What "verified" means for a file that was sent, in order:

        1. adbd answered the ``SEND`` with ``OKAY``: it received every byte,
           wrote it and closed the file without an error (a full disk or a
           write error is its ``FAIL``: ``DeviceStorageFull`` / ``PushFailed``);
        2. a sync ``STAT`` on the same connection right after shows a regular
           file with exactly the size and the mtime sent (catches truncation,
           a file that vanished or was replaced); an executable not already
           mode 755 is ``chmod 755``'ed;
        3. its hash on the phone equals the host's, when ``verify_hash`` is
           True, or None (the default) and the file is at most
           ``HASH_VERIFY_MAX_BYTES``: the phone re-reads a small file in
           milliseconds, but a large one costs as much as sending it again.

        A phone with neither hash tool gets 1 and 2 only. A file that fails
        2 or 3 raises ``PushFailed``. The host hashes the
        file while sending it (one read; cached by path, size, mtime, inode),
        and a file that changes while it is sent is refused.
        """
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise UsageError(
                f"bad remote file name {name!r}", hint="pass one path component, no '/' or NUL"
            )
        local = Path(local)
        if not local.is_file():
            raise UsageError(f"cannot push {local}: not a file", hint="check the path")
        remote = f"{REMOTE_ROOT}/{name}"
        with self._lock:
            tool = self._prepare()
        st = local.stat()
        size, mtime = st.st_size, int(st.st_mtime)
        what = f"push of {local.name} to {remote}"
        with self._sync(what) as hs:
            before = adbhost.sync_stat(hs, remote)
            if before.is_file and before.size_matches(size):
                if tool == "stat":
                    same = before.mtime == mtime & 0xFFFFFFFF
                    if same and executable and stat.S_IMODE(before.mode) != 0o755:
                        self._chmod_755(remote)
                else:
                    want = self._local_digest(local, tool)
                    same = self._remote_digest(remote, tool, chmod=executable) == want
                if same:
                    self._sh.log.debug("%s already there, not sent", remote)
                    return PushResult(remote, size, 0, True, self._local_digest(local, "sha256sum"))
            sent = self._send(hs, local, st, remote, executable=executable, tool=tool)
            after = adbhost.sync_stat(hs, remote)
        if not (after.is_file and after.size_matches(size) and after.mtime == mtime & 0xFFFFFFFF):
            found = (
                f"{after.size} bytes, mtime {after.mtime}" if after.is_file else "no regular file"
            )
            raise PushFailed(
                f"{remote} is not what was sent: the phone has {found}, "
                f"{size} bytes with mtime {mtime} were sent",
                serial=self._serial,
                hint="check free space on the phone and retry",
            )
        if verify_hash or (verify_hash is None and size <= HASH_VERIFY_MAX_BYTES):
            want = self._local_digest(local, tool)
            chmod = executable and stat.S_IMODE(after.mode) != 0o755
            got = self._remote_digest(remote, tool, chmod=chmod) if tool != "stat" else want
            if got != want:
                raise PushFailed(
                    f"{remote} does not match {local} after the push ({tool}: phone "
                    f"{got or 'none'}, host {want})",
                    serial=self._serial,
                    hint="check free space on the phone and retry",
                )
        elif executable and stat.S_IMODE(after.mode) != 0o755:
            self._chmod_755(remote)
        return PushResult(remote, size, sent, False, self._local_digest(local, "sha256sum"))

    def _send(
        self,
        hs: HostSocket,
        local: Path,
        st: os.stat_result,
        remote: str,
        *,
        executable: bool,
        tool: str,
    ) -> int:
        """One sync ``SEND`` of ``local`` (as ``st`` describes it); the host digests
        not yet cached are computed from the bytes as they are sent."""
        names = {"sha256sum": "sha256", "md5sum": "md5"}
        todo = [
            t
            for t in ("sha256sum", tool)
            if t in names and self._digest_key(local, st, t) not in self._local_hashes
        ]
        hasher = adbhost.StreamHasher([names[t] for t in dict.fromkeys(todo)])
        try:
            with local.open("rb") as src:
                outcome = adbhost.sync_send(
                    hs,
                    src,
                    remote,
                    mode=0o755 if executable else 0o644,
                    mtime=int(st.st_mtime),
                    on_data=hasher.feed if todo else None,
                )
            digests = hasher.hexdigests()
        finally:
            hasher.close()
        now = local.stat()
        if (now.st_size, now.st_mtime_ns, now.st_ino) != (st.st_size, st.st_mtime_ns, st.st_ino):
            raise PushFailed(
                f"{local} changed while it was being pushed",
                serial=self._serial,
                hint="push again once nothing writes to it",
            )
        for t in todo:
            self._local_hashes[self._digest_key(local, st, t)] = digests[names[t]]
        return outcome.bytes_sent

    def _sync(self, what: str) -> AbstractContextManager[HostSocket]:
        return sync_session(self._sh, what)


def raise_storage(serial: str, message: str, what: str) -> NoReturn:
    """A phone's refusal to store a file as ours: full (``DeviceStorageFull``) or not."""
    text = " ".join(message.split())
    if not text:  # adb often fails a push without a word (adbutils: empty AdbError)
        raise PushFailed(
            f"{what} failed and the phone gave no reason",
            serial=serial,
            hint="check free space and permissions under /data/local/tmp, and the connection",
        )
    if any(s in text.lower() for s in ("no space", "enospc", "disk full", "out of space")):
        raise DeviceStorageFull(
            f"{what}: {text}",
            serial=serial,
            hint=f"free space on the phone, e.g. `adb -s {serial} shell rm -r {REMOTE_ROOT}`",
        )
    raise PushFailed(f"{what}: {text}", serial=serial)


@contextmanager
def sync_session(sh: AdbShell, what: str) -> Iterator[HostSocket]:
    """A ``sync:`` socket on ``sh``'s phone; its errors leave as ours (``what`` names
    the work: a push, the storage bound's bookkeeping)."""
    hs = sh.open("sync:", timeout=60.0)
    try:
        yield hs
    except HostFail as exc:
        raise_storage(sh.serial, exc.message, what)
    except (StreamLost, OSError) as exc:
        raise DeviceDropped(
            f"{what} broke off: {exc}",
            serial=sh.serial,
            hint="reconnect the phone; the push is retried from scratch",
        ) from exc
    finally:
        try:
            hs.send(b"QUIT\0\0\0\0")
        except (StreamLost, OSError):
            pass
        hs.close()
