"""Files on this machine: their content hash, and writing them atomically.

The one owner of both rules (binaries, model variants, pushed files, reports,
manifests, provenance records, the virtual phone's sysfs all use it):

* :func:`sha256_file` / :func:`file_digest`: a file's digest, read in blocks
  (files can be GBs);
* :func:`atomic_path`, :func:`atomic_open`, :func:`atomic_write`: a new file
  appears whole or not at all. It is written to a temporary file in the
  target's folder (same file system, so the final ``os.replace`` is atomic)
  that is removed on any failure, and it gets the mode a freshly created file
  would get, ``0666 & ~umask`` (``0777 & ~umask`` for an executable), not
  ``mkstemp``'s 0600, which is too private for a CI artifact or a shared
  reports folder; ``mode=`` fixes it instead;
* :func:`read_toml`: a settings file read whole, every way it can fail said
  in one line naming the file (sweep.toml, nightly.toml and lab.toml use it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from benchorch.errors import ConfigError


def file_digest(path: Path | str, algorithm: str | Callable[[], Any] = "sha256") -> str:
    """Hex digest of a file's bytes with ``algorithm`` (a hashlib name or constructor)."""
    with Path(path).open("rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file's bytes."""
    return file_digest(path, "sha256")


def md5_file(path: Path | str) -> str:
    """Hex md5 of a file's bytes (what an old phone's ``md5sum`` prints; not for security)."""
    return file_digest(path, lambda: hashlib.md5(usedforsecurity=False))


def umask() -> int:
    """The process umask, read from /proc when possible (setting it is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(*, executable: bool = False) -> int:
    """The mode ``open()`` (or a linker, for an executable) would give a new file."""
    return (0o777 if executable else 0o666) & ~umask()


@contextlib.contextmanager
def atomic_path(
    target: Path | str, *, mode: int | None = None, executable: bool = False
) -> Iterator[Path]:
    """A temporary path beside ``target`` for someone else to write (a compiler, a download).

    On a clean exit the file gets its mode and replaces ``target``; on an
    exception it is removed and ``target`` is untouched.
    """
    target = Path(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.name[:200]}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, new_file_mode(executable=executable) if mode is None else mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(
    target: Path | str, *, mode: int | None = None, executable: bool = False
) -> Iterator[IO[bytes]]:
    """A binary file object whose content replaces ``target`` when the block ends cleanly."""
    with atomic_path(target, mode=mode, executable=executable) as tmp, tmp.open("wb") as fh:
        yield fh


def atomic_write(
    target: Path | str, data: bytes | str, *, mode: int | None = None, encoding: str = "utf-8"
) -> Path:
    """Write ``data`` (text is encoded with ``encoding``) to ``target`` atomically."""
    raw = data.encode(encoding) if isinstance(data, str) else data
    with atomic_open(target, mode=mode) as fh:
        fh.write(raw)
    return Path(target)


def read_toml(path: Path, *, hint: str = "check --config") -> dict[str, Any]:
    """The TOML file at ``path`` as a dict; ``ConfigError`` (one line naming the
    file) when it is missing, unreadable, not UTF-8 or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file", hint=hint) from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
