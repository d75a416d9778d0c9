"""The virtual phone's session log: when each benchmark process ran, and for whom.

With ``--session-log PATH`` (or ``BENCHORCH_VPHONE_SESSION_LOG``) the phone
appends one JSON line per event to PATH, so a test can prove that no two
benchmark processes ever ran on one phone at once (the lab's first rule):

* ``{"event": "up", "boot": B, "mono": M, "wall": W}`` when the phone listens;
  ``"down"`` when it stops cleanly (every process it started killed first).
* ``{"event": "start", "boot": B, "sid": N, "pid": P, "mono": M, "wall": W,
  "token": T, "argv": [...], "command": "..."}`` when a shell command that is
  a benchmark process starts: its line matches ``--session-match`` (default
  ``--model=`` or ``--model_path=``: how speed_benchmark_torch and the
  ExecuTorch runners are given their model).
* ``{"event": "end", "boot": B, "sid": N, "pid": P, "mono": M, "wall": W,
  "exit": CODE}`` when that command's process has exited (after a hang-up or
  a kill too: the phone waits for it).

``mono`` is ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every process
of the machine, so sessions of several phone processes compare); ``wall`` is
``time.time()``. ``token`` is the lab attempt's fencing token: the number after
the guard folder in the lab guard's wrapper (``sh -c SCRIPT sh .../lab-guard
TOKEN ARGV...``, ``benchorch.lab.guard.wrapped``) or a ``BENCHORCH_LAB_TOKEN=N``
word; null when the command carries neither. ``argv`` is the command's last
simple command (after the last ``;``/``&&``/``||``/``|``), past the guard
wrapper when there is one. ``boot`` is random per phone process, ``sid``
counts that process's sessions. Each line is one ``write`` to a file opened
``O_APPEND``, so lines of several writers never interleave.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import shlex
import threading
import time
from pathlib import Path

__all__ = ["DEFAULT_MATCH", "ENV_SESSION_LOG", "SessionLog", "parse_command"]

ENV_SESSION_LOG = "BENCHORCH_VPHONE_SESSION_LOG"
DEFAULT_MATCH = r"(?:^|\s|['\"])--model(?:_path)?="
_OPERATORS = frozenset({";", "&&", "||", "|", "&", "(", ")"})
_ENV_TOKEN = re.compile(r"^BENCHORCH_LAB_TOKEN=(\d+)$")


def parse_command(command: str) -> tuple[int | None, list[str]]:
    """The fencing token a command line carries (None: none) and its benchmark argv."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:  # unbalanced quotes: keep the raw line
        return None, [command]
    simple: list[list[str]] = [[]]
    for w in words:
        if w in _OPERATORS:
            simple.append([])
        else:
            simple[-1].append(w)
    # the benchmark's own simple command: the last that names a model (a launch that
    # reads the phone's health in its own round trip runs more commands after it)
    argv = next(
        (
            c
            for c in reversed(simple)
            if any(w.startswith(("--model=", "--model_path=")) for w in c)
        ),
        simple[-1],
    )
    token = None
    for i, word in enumerate(argv):
        m = _ENV_TOKEN.match(word)
        if m:
            token = int(m.group(1))
        elif word.endswith("/lab-guard") and i + 1 < len(argv) and argv[i + 1].isdigit():
            token, argv = int(argv[i + 1]), argv[i + 2 :]
            break
    return token, argv


class SessionLog:
    """Appends the phone's benchmark sessions to ``path`` (thread-safe)."""

    def __init__(self, path: Path, match: str = DEFAULT_MATCH) -> None:
        self.path = path
        self.match = re.compile(match)
        self.boot = secrets.token_hex(4)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _write(self, event: str, **fields: object) -> None:
        line = {"event": event, "boot": self.boot, "mono": time.monotonic(), "wall": time.time()}
        line.update(fields)
        data = (json.dumps(line, sort_keys=True) + "\n").encode()
        with self._lock:
            if self._fd is not None:
                os.write(self._fd, data)

    def phone(self, event: str) -> None:
        """``up`` or ``down``: the phone process itself."""
        self._write(event)

    def started(self, command: str, pid: int) -> int | None:
        """A command began; its session id when it is a benchmark process, else None."""
        if not command or not self.match.search(command):
            return None
        sid = next(self._ids)
        token, argv = parse_command(command)
        self._write("start", sid=sid, pid=pid, token=token, argv=argv, command=command)
        return sid

    def ended(self, sid: int | None, pid: int, exit_code: int | None) -> None:
        if sid is not None:
            self._write("end", sid=sid, pid=pid, exit=exit_code)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
