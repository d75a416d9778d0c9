"""``DeviceLock``: one sweep per device at a time, across processes.

The lock is ``fcntl.flock(LOCK_EX | LOCK_NB)`` on a file per serial. The kernel
drops an flock when the last descriptor of its open file goes away, so the lock
dies with its holder however it dies (exit, crash, SIGKILL): there are no stale
lock files to clean. The descriptor is not inherited by child processes
(Python opens files non-inheritable), so a benchmark left running cannot keep
a device locked after the sweep is gone. Two ``DeviceLock`` objects in one
process also exclude each other (each opens the file anew).

The holder writes its PID into the file (truncated again before it lets go),
so ``DeviceBusy`` can say who holds the device.

File names: ``device-`` + the serial with every byte outside ``[A-Za-z0-9._-]``
written as ``%XX`` (so ``127.0.0.1:5555`` → ``device-127.0.0.1%3A5555.lock``,
and ``../x`` or control characters can never leave the folder or clash with
another serial); a very long serial is cut and suffixed with its sha256.

Folder: ``lock_dir``, else ``$BENCHORCH_LOCK_DIR``, else
``benchorch.paths.cache_root()/locks``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import string
import time
from pathlib import Path
from types import TracebackType

from benchorch.errors import DeviceBusy, InfraError
from benchorch.paths import cache_root

_SAFE = frozenset((string.ascii_letters + string.digits + "._-").encode())
_MAX_NAME = 160


def default_lock_dir() -> Path:
    env = os.environ.get("BENCHORCH_LOCK_DIR")
    if env:
        return Path(env)
    return cache_root() / "locks"


def lock_file_name(serial: str) -> str:
    """A file name that only ``serial`` maps to, made of ``[A-Za-z0-9._%-]``."""
    raw = serial.encode("utf-8", errors="surrogateescape")
    body = "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in raw)
    if len(body) > _MAX_NAME:
        body = f"{body[:100]}~{hashlib.sha256(raw).hexdigest()}"
    return f"device-{body}.lock"


class DeviceLock:
    """``with DeviceLock(serial): ...`` holds the device or raises ``DeviceBusy`` (exit 3).

    ``wait_s`` > 0 retries for that long before giving up.
    """

    def __init__(
        self, serial: str, lock_dir: Path | str | None = None, *, wait_s: float = 0.0
    ) -> None:
        self.serial = serial
        self.path = Path(lock_dir or default_lock_dir()) / lock_file_name(serial)
        self.wait_s = wait_s
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"DeviceLock({self.serial!r}, held={self.held})"

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> DeviceLock:
        if self._fd is not None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise InfraError(
                f"cannot create the lock file {self.path} for device {self.serial} "
                f"({exc.strerror or exc})",
                hint="set BENCHORCH_LOCK_DIR to a writable folder",
            ) from exc
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_pid(fd)
                    os.close(fd)
                    raise DeviceBusy(
                        f"in use by another benchorch process (pid {holder or 'unknown'})",
                        serial=self.serial,
                        hint="wait for that sweep to finish, or choose another device",
                    ) from None
                time.sleep(0.05)
            except OSError:
                os.close(fd)
                raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # before unlocking: never erase the next holder's PID
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> DeviceLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
