"""benchorch's folder on a phone stays under ``max_phone_storage`` (issue 12).

What is tracked, and where: a manifest in the folder itself
(``REMOTE_ROOT/.benchorch-pushed.json``) names every file benchorch pushed
there for a sweep and when a sweep last used it (this host's clock). It lives
on the phone because the phone is the one place every pusher meets: a lab
phone is served by its host's worker today and by a direct ``benchorch sweep``
tomorrow, each with its own store.

Before a sweep part pushes anything, ``PhoneFolder.make_room`` (one shell to
read the manifest, one sync connection for a ``STAT`` of each tracked file and
the manifest's rewrite, and one shell ``rm`` only when something goes):

* the part's own files (binaries and variant files, by the name they get on
  the phone) are never evicted; when they alone exceed the bound the sweep is
  refused with ``PhoneStorageBound`` (a usage error, exit 2) naming the bound;
* the other tracked files are evicted least recently used first until the
  part's files plus what stays fit the bound; sizes are the phone's (``STAT``),
  the part's are the host's (what the pushes will leave there);
* only files the manifest names, in the folder, are ever removed: never a file
  benchorch did not push (the lab's guard, a file someone put there, anything
  outside the folder). A name read back from the manifest is used only if it
  is one path component (the rule ``push`` enforces), and every path reaching
  the shell is ``shlex.quote``'d;
* the part's files are then marked used now.

Files a phone held before the manifest existed are not tracked (nothing can
say benchorch pushed them): they are left alone and not counted.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shlex
import time
from collections.abc import Callable, Mapping

from benchorch.devices import adbhost
from benchorch.devices.adbpush import sync_session
from benchorch.devices.adbshell import AdbShell
from benchorch.devices.base import REMOTE_ROOT
from benchorch.errors import ConfigError, PushFailed

log = logging.getLogger("benchorch.devices")

#: The bound when nothing sets one (issue 12: 2 GB).
DEFAULT_MAX_PHONE_STORAGE = 2 * 1000**3
#: The manifest's name in the folder (a dot file: no variant or binary is named so).
MANIFEST = ".benchorch-pushed.json"

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]*)$")
_SIZE_HINT = "write e.g. 2GB, 500MB or 1.5GiB (GB = 10^9 bytes, GiB = 2^30)"


class PhoneStorageBound(ConfigError):
    """A sweep part's own files do not fit the phone's ``max_phone_storage``."""


def parse_size(value: object, *, what: str = "max_phone_storage") -> int:
    """Bytes in ``2GB``, ``500MB``, ``1.5GiB``, ``750 kB`` or a whole number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        m = _SIZE.match(value.strip().lower())
        if m is None or m[2] not in _UNITS:
            raise ConfigError(f"{what} = {value!r} is not a size", hint=_SIZE_HINT)
        size = int(float(m[1]) * _UNITS[m[2]])
    else:
        raise ConfigError(f"{what} = {value!r} is not a size", hint=_SIZE_HINT)
    if size <= 0:
        raise ConfigError(f"{what} = {value!r} must be more than zero", hint=_SIZE_HINT)
    return size


def format_size(size: int) -> str:
    """``2 GB``, ``512.5 MB``, ``900 B``: decimal units, as the bound is usually written."""
    for unit, factor in (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if size >= factor:
            return f"{size / factor:.4g} {unit}"
    return f"{size} B"


def check_fits(serial: str, needed: Mapping[str, int], bound: int) -> None:
    """``PhoneStorageBound`` when the part's own files alone exceed ``bound``."""
    total = sum(needed.values())
    if total > bound:
        raise PhoneStorageBound(
            f"{serial}: this sweep's files need {format_size(total)} on the phone "
            f"({len(needed)} files), more than max_phone_storage = {format_size(bound)}",
            hint=f"raise it to at least {format_size(total)} (sweep --max-phone-storage, "
            "max_phone_storage in sweep.toml, or in lab.toml for a lab phone), "
            "or sweep fewer variant files at once",
        )


def good_name(name: object) -> bool:
    """One path component, as ``push`` accepts it (nothing read back may name another path)."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..", MANIFEST)
        and "/" not in name
        and "\0" not in name
    )


class PhoneFolder:
    """benchorch's folder on one phone, as the bound sees it."""

    def __init__(
        self, shell: AdbShell, *, root: str = REMOTE_ROOT, clock: Callable[[], float] = time.time
    ) -> None:
        self._sh = shell
        self._serial = shell.serial
        self._root = root.rstrip("/")
        self._clock = clock

    def _path(self, name: str) -> str:
        return f"{self._root}/{name}"

    def tracked(self) -> dict[str, float]:
        """The manifest: file name -> when a sweep last used it (empty when absent or bad)."""
        res = self._sh.shell(
            f"mkdir -p {shlex.quote(self._root)} 2>/dev/null; "
            f"cat {shlex.quote(self._path(MANIFEST))} 2>/dev/null; exit 0",
            timeout=30.0,
        )
        self._sh.require_complete(res, "reading benchorch's file manifest")
        text = res.stdout.strip()
        if not text:
            return {}
        try:
            files = json.loads(text)["files"]
            out = {n: float(t) for n, t in files.items() if good_name(n)}
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("%s: %s is not readable; starting it again", self._serial, MANIFEST)
            return {}
        if len(out) != len(files):
            log.warning("%s: %s names paths outside the folder; ignored", self._serial, MANIFEST)
        return out

    def make_room(self, needed: Mapping[str, int], bound: int) -> tuple[str, ...]:
        """Evict least recently used tracked files so ``needed`` fits ``bound``; mark
        ``needed`` used. Returns the names evicted, oldest first (module doc)."""
        for name in needed:
            if not good_name(name):
                raise ConfigError(f"bad file name {name!r} for the phone", hint="one component")
        check_fits(self._serial, needed, bound)
        used = self.tracked()
        what = f"keeping {self._root} under {format_size(bound)}"
        with sync_session(self._sh, what) as hs:
            sizes: dict[str, int] = {}
            for name in used:
                if name in needed:
                    continue
                st = adbhost.sync_stat(hs, self._path(name))
                if st.is_file:  # gone (or not a file any more): no longer tracked
                    sizes[name] = st.size
            total = sum(needed.values()) + sum(sizes.values())
            evict: list[str] = []
            for name in sorted(sizes, key=lambda n: (used[n], n)):
                if total <= bound:
                    break
                evict.append(name)
                total -= sizes[name]
            if evict:
                self._remove(evict)
                log.info(
                    "%s: evicted %d least recently used files (%s) to stay under %s",
                    self._serial,
                    len(evict),
                    ", ".join(map(repr, evict)),
                    format_size(bound),
                )
            now = self._clock()
            keep = {n: used[n] for n in sizes if n not in evict}
            keep.update({n: now for n in needed})
            body = json.dumps({"version": 1, "files": keep}, sort_keys=True).encode()
            adbhost.sync_send(
                hs, io.BytesIO(body), self._path(MANIFEST), mode=0o644, mtime=int(now)
            )
        return tuple(evict)

    def _remove(self, names: list[str]) -> None:
        """``rm -f`` (never ``-r``) of ``names`` in the folder, each path quoted."""
        for start in range(0, len(names), 64):
            paths = " ".join(shlex.quote(self._path(n)) for n in names[start : start + 64])
            res = self._sh.shell(f"rm -f -- {paths}", timeout=60.0)
            self._sh.require_complete(res, "evicting old files")
            if not res.ok:
                raise PushFailed(
                    f"could not evict old files from {self._root}: "
                    f"{res.stderr.strip() or res.exit_code}",
                    serial=self._serial,
                    hint=f"check the folder's permissions: adb -s {self._serial} shell ls -l "
                    f"{shlex.quote(self._root)}",
                )
