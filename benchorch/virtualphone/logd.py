"""The phone's log: a ``logd`` of our own, and the ``logcat`` and ``log`` commands on it.

Writers speak liblog's protocol to ``logd``'s write socket (a datagram unix
socket, ``STATE/dev/socket/logdw``; the phone's commands find it in
``$BENCHORCH_LOGDW``, as a phone's liblog uses ``/dev/socket/logdw``). One
datagram is one entry::

    u8 log id (0 main, 3 system, 4 crash) | u16 tid | u32 sec | u32 nsec   (little endian)
    u8 priority (2 V .. 7 F) | tag NUL | message NUL

The writer's pid is the kernel's (``SO_PASSCRED``), as logd takes it. The
buffer keeps the last ``MAX_ENTRIES`` entries.

``logcat`` (a shim on the phone's PATH) sends its arguments over the control
socket (``STATE/dev/socket/logd``) and copies what comes back to its stdout,
so ``adb logcat ...``, ``adb shell logcat -c`` and ``logcat -d | grep`` work as
on a phone. Answered here: ``-c`` (clear), ``-d`` (dump and exit; without it
logcat dumps and then follows until killed), ``-s`` (silence every tag not
named), ``-v FORMAT`` (``threadtime`` by default, ``brief``, ``time``, ``tag``,
``process``, ``raw``), ``-t N`` (the last N), ``-b BUFFER`` and filter specs
``TAG:PRIO`` (``V D I W E F S``; ``$ANDROID_LOG_TAGS`` when none is given).
Formats are logcat's (``logprint.cpp``): threadtime is
``MM-DD HH:MM:SS.mmm  PID  TID P TAG     : message``. ``log [-p PRIO] [-t TAG]
MESSAGE`` writes one entry, like toolbox's.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("benchorch.virtualphone")

ENV_LOGDW = "BENCHORCH_LOGDW"
MAX_ENTRIES = 20000
HEADER = struct.Struct("<BHII")  # log id, tid, realtime seconds, nanoseconds
UCRED = struct.Struct("iII")  # pid, uid, gid
PRIORITIES = "??VDIWEFS"  # index = android_LogPriority
BUFFERS = {"main": 0, "radio": 1, "events": 2, "system": 3, "crash": 4, "kernel": 5}
DEFAULT_BUFFERS = ("main", "system", "crash")
FORMATS = ("threadtime", "brief", "time", "tag", "process", "raw", "long")
SILENT = 8


@dataclass(frozen=True)
class Entry:
    buffer: int
    sec: int
    nsec: int
    pid: int
    tid: int
    priority: int
    tag: str
    message: str


def decode(packet: bytes, pid: int) -> Entry | None:
    """One liblog datagram as an entry (None when it is not one)."""
    if len(packet) < HEADER.size + 3:
        return None
    buffer, tid, sec, nsec = HEADER.unpack_from(packet)
    priority = packet[HEADER.size]
    tag, sep, rest = packet[HEADER.size + 1 :].partition(b"\0")
    if not sep:
        return None
    message = rest.split(b"\0", 1)[0]
    text = message.decode("utf-8", "replace").rstrip("\n")
    return Entry(buffer, sec, nsec, pid, tid, priority, tag.decode("utf-8", "replace"), text)


def encode(
    priority: int, tag: str, message: str, *, buffer: int = 0, tid: int = 0, at: float | None = None
) -> bytes:
    """A liblog datagram (what ``log`` sends; the C++ runner builds the same bytes)."""
    now = time.time() if at is None else at
    sec = int(now)
    head = HEADER.pack(buffer, tid & 0xFFFF, sec, int((now - sec) * 1e9))
    return head + bytes([priority]) + tag.encode() + b"\0" + message.encode() + b"\0"


class UsageProblem(Exception):
    """A logcat command line that logcat itself refuses (its message, exit 1)."""


@dataclass(frozen=True)
class Request:
    clear: bool = False
    dump: bool = False
    fmt: str = "threadtime"
    tail: int | None = None
    buffers: tuple[str, ...] = DEFAULT_BUFFERS
    default_priority: int = 2
    tags: tuple[tuple[str, int], ...] = ()

    def level(self, tag: str) -> int:
        for name, priority in self.tags:
            if name == tag:
                return priority
        return self.default_priority

    def shows(self, entry: Entry) -> bool:
        names = {BUFFERS[b] for b in self.buffers}
        return entry.buffer in names and entry.priority >= self.level(entry.tag)


def _priority(letter: str, spec: str) -> int:
    index = PRIORITIES.find(letter.upper()) if letter else 2
    if index < 2:
        raise UsageProblem(f"Invalid filter expression '{spec}'")
    return index


def _filters(specs: Iterable[str], request: Request) -> Request:
    default, tags = request.default_priority, list(request.tags)
    for spec in specs:
        tag, _, letter = spec.partition(":")
        priority = _priority(letter, spec) if letter else 2
        if tag == "*":
            default = priority
        elif tag:
            tags = [t for t in tags if t[0] != tag] + [(tag, priority)]
        else:
            raise UsageProblem(f"Invalid filter expression '{spec}'")
    return Request(
        request.clear,
        request.dump,
        request.fmt,
        request.tail,
        request.buffers,
        default,
        tuple(tags),
    )


def parse_args(args: Sequence[str], log_tags: str = "") -> Request:
    """A logcat command line (without ``logcat``) as a ``Request``."""
    clear = dump = silent = False
    fmt, tail = "threadtime", None
    buffers: list[str] = []
    specs: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            specs.append(arg)
            continue
        flags, value = arg[1:], None
        while flags:
            flag, flags = flags[0], flags[1:]
            if flag in "cdsD":
                clear |= flag == "c"
                dump |= flag == "d"
                silent |= flag == "s"
                continue
            if flag not in "vtTb":
                raise UsageProblem(f"logcat: invalid option -- '{flag}'")
            value, flags = (flags, "") if flags else (None, "")
            if value is None:
                if i >= len(args):
                    raise UsageProblem(f"logcat: option requires an argument -- '{flag}'")
                value, i = args[i], i + 1
            if flag == "v":
                if value not in FORMATS:
                    raise UsageProblem(f'Invalid parameter "{value}" to -v.')
                fmt = value
            elif flag in "tT":
                if not value.isdigit() or int(value) < 1:
                    raise UsageProblem(f'-{flag} "{value}" invalid (a count is expected here)')
                tail, dump = int(value), dump or flag == "t"
            else:
                for name in value.split(","):
                    if name == "all":
                        buffers.extend(BUFFERS)
                    elif name == "default":
                        buffers.extend(DEFAULT_BUFFERS)
                    elif name in BUFFERS:
                        buffers.append(name)
                    else:
                        raise UsageProblem(f"unknown buffer {name}")
    request = Request(clear, dump, fmt, tail, tuple(dict.fromkeys(buffers)) or DEFAULT_BUFFERS)
    if silent:
        request = _filters(["*:S"], request)
    if not specs and log_tags.strip():
        request = _filters(log_tags.split(), request)
    return _filters(specs, request)


def format_entry(entry: Entry, fmt: str) -> str:
    """One entry in a logcat format (a message of several lines repeats the prefix)."""
    letter = PRIORITIES[entry.priority] if 2 <= entry.priority < SILENT else "?"
    stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(entry.sec))
    when = f"{stamp}.{entry.nsec // 1_000_000:03d}"
    tag = f"{entry.tag:<8s}"
    prefix = {
        "threadtime": f"{when} {entry.pid:5d} {entry.tid:5d} {letter} {tag}: ",
        "brief": f"{letter}/{tag}({entry.pid:5d}): ",
        "time": f"{when} {letter}/{tag}({entry.pid:5d}): ",
        "tag": f"{letter}/{tag}: ",
        "process": f"{letter}({entry.pid:5d}) ",
        "raw": "",
    }
    if fmt == "long":
        head = f"[ {when} {entry.pid:5d}:{entry.tid:5d} {letter}/{entry.tag} ]\n"
        return head + entry.message + "\n\n"
    suffix = f"  ({entry.tag})" if fmt == "process" else ""
    return "".join(f"{prefix[fmt]}{line}{suffix}\n" for line in entry.message.split("\n"))


def render(entries: Iterable[Entry], request: Request, last_buffer: int | None = None) -> str:
    """The dump logcat prints: ``--------- beginning of BUFFER`` where the buffer changes."""
    names = {v: k for k, v in BUFFERS.items()}
    out: list[str] = []
    for entry in entries:
        if entry.buffer != last_buffer:
            out.append(f"--------- beginning of {names.get(entry.buffer, '?')}\n")
            last_buffer = entry.buffer
        out.append(format_entry(entry, request.fmt))
    return "".join(out)


class Logd:
    """The log daemon of one phone: its buffer and its two sockets under ``folder``."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.write_path = folder / "logdw"
        self.control_path = folder / "logd"
        for path in (self.write_path, self.control_path):
            if len(os.fsencode(path)) >= 108:
                raise OSError(f"socket path {path} is too long for a unix socket")
            path.unlink(missing_ok=True)
        self._entries: collections.deque[Entry] = collections.deque(maxlen=MAX_ENTRIES)
        self._serial = 0  # entries ever added, for followers
        self._changed = threading.Condition()
        self._closed = False
        self._writer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._writer.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._writer.bind(str(self.write_path))
        self._control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._control.bind(str(self.control_path))
        self._control.listen(16)
        for target, name in ((self._receive, "logd-write"), (self._accept, "logd-control")):
            threading.Thread(target=target, name=name, daemon=True).start()

    # --- the buffer ----------------------------------------------------------------
    def add(self, entry: Entry) -> None:
        with self._changed:
            self._entries.append(entry)
            self._serial += 1
            self._changed.notify_all()

    def clear(self, buffers: Iterable[str] = DEFAULT_BUFFERS) -> None:
        ids = {BUFFERS[b] for b in buffers}
        with self._changed:
            kept = [e for e in self._entries if e.buffer not in ids]
            self._entries.clear()
            self._entries.extend(kept)

    def entries(self) -> list[Entry]:
        with self._changed:
            return list(self._entries)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        for sock in (self._writer, self._control):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for path in (self.write_path, self.control_path):
            path.unlink(missing_ok=True)

    # --- logcat ----------------------------------------------------------------------
    def answer(self, args: Sequence[str], log_tags: str = "") -> tuple[int, str]:
        """What ``logcat ARGS`` prints and its exit code, for ``-c`` and ``-d`` (no follow)."""
        try:
            request = parse_args(args, log_tags)
        except UsageProblem as exc:
            return 1, f"{exc}\n"
        if request.clear:
            self.clear(request.buffers)
            return 0, ""
        shown = [e for e in self.entries() if request.shows(e)]
        if request.tail is not None:
            shown = shown[-request.tail :]
        return 0, render(shown, request)

    # --- sockets ---------------------------------------------------------------------
    def _receive(self) -> None:
        space = socket.CMSG_SPACE(UCRED.size)
        while not self._closed:
            try:
                data, ancillary, _flags, _addr = self._writer.recvmsg(65536, space)
            except OSError:
                return
            pid = 0
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = UCRED.unpack_from(value)[0]
            entry = decode(data, pid)
            if entry is not None:
                self.add(entry)

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._control.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        """One ``logcat``: a JSON line ``{"args": [...], "tags": "..."}`` in; out, a
        line ``exit N`` then its stdout (``-c``, ``-d``, an error), or ``follow``
        then entries as they come until the reader goes away."""
        with conn:
            try:
                line = conn.makefile("rb").readline()
                asked = json.loads(line or b"{}")
                args = [str(a) for a in asked.get("args", [])]
                tags = str(asked.get("tags", ""))
                try:
                    request = parse_args(args, tags)
                except UsageProblem as exc:
                    conn.sendall(f"exit 1\n{exc}\n".encode())
                    return
                if request.clear or request.dump:
                    code, text = self.answer(args, tags)
                    conn.sendall(f"exit {code}\n".encode() + text.encode())
                    return
                conn.sendall(b"follow\n")
                self._follow(conn, request)
            except (OSError, ValueError) as exc:
                log.debug("logcat client ended: %s", exc)

    def _follow(self, conn: socket.socket, request: Request) -> None:
        with self._changed:
            shown = [e for e in self._entries if request.shows(e)]
            seen = self._serial
        if request.tail is not None:
            shown = shown[-request.tail :]
        last = shown[-1].buffer if shown else None
        conn.sendall(render(shown, request).encode())
        while True:
            with self._changed:
                while self._serial == seen and not self._closed:
                    self._changed.wait(1.0)
                if self._closed:
                    return
                fresh = list(self._entries)[-(self._serial - seen) :]
                seen = self._serial
            fresh = [e for e in fresh if request.shows(e)]
            if fresh:
                conn.sendall(render(fresh, request, last).encode())
                last = fresh[-1].buffer


LOGCAT_SHIM = """
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect({control!r})
except OSError as exc:
    sys.stderr.write("logcat: Unable to connect to logd: %s\\n" % exc.strerror)
    sys.exit(1)
tags = os.environ.get("ANDROID_LOG_TAGS", "")
s.sendall(json.dumps({{"args": sys.argv[1:], "tags": tags}}).encode() + b"\\n")
f = s.makefile("rb")
head = f.readline().decode().split()
out = sys.stdout.buffer
try:
    if head[:1] == ["exit"]:
        data = f.read()
        (out if head[1] == "0" else sys.stderr.buffer).write(data)
        out.flush()
        sys.exit(int(head[1]))
    while True:
        data = f.read1(65536)
        if not data:
            break
        out.write(data)
        out.flush()
except (BrokenPipeError, KeyboardInterrupt):
    pass
"""

LOG_SHIM = """
import socket, struct, sys, threading, time
args, prio, tag = sys.argv[1:], "i", "log"
while args and args[0] in ("-p", "-t") and len(args) > 1:
    if args[0] == "-p":
        prio = args[1]
    else:
        tag = args[1]
    args = args[2:]
levels = "??vdiwefs"
if len(prio) != 1 or levels.find(prio.lower()) < 2:
    sys.stderr.write("log: invalid priority '%s'\\n" % prio)
    sys.exit(1)
if not args:
    sys.stderr.write("usage: log [-p PRIORITY] [-t TAG] MESSAGE\\n")
    sys.exit(1)
now = time.time()
head = struct.pack("<BHII", 0, threading.get_native_id() & 0xFFFF, int(now), int(now % 1 * 1e9))
packet = head + bytes([levels.find(prio.lower())]) + tag.encode() + b"\\0"
packet += " ".join(args).encode() + b"\\0"
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    s.sendto(packet, {write!r})
except OSError:
    pass
"""


def shims(python: str, logd: Logd) -> dict[str, str]:
    """The phone's ``logcat`` and ``log`` commands (Python scripts, stdlib only)."""
    head = f"#!{python} -IS\n"
    return {
        "logcat": head + LOGCAT_SHIM.format(control=str(logd.control_path)).lstrip("\n"),
        "log": head + LOG_SHIM.format(write=str(logd.write_path)).lstrip("\n"),
    }
