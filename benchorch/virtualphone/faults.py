"""Injected faults: what can go wrong with a phone, on demand.

Sources: the profile's ``[faults]`` table, overridden by CLI flags.

* ``drop_after_push_bytes = N``: the TCP connection is cut once a single
  ``SEND`` has received more than N bytes of file data (a cable pulled mid-push).
* ``drop_after_shell_seconds = S``: the connection is cut S seconds after a
  shell command starts (``shell:``/``shell,v2``/``exec:``); the command gets
  SIGHUP, as from adbd when its transport dies (``services.py``).
* ``drop_times = K``: each drop fault fires at most K times in the phone's life
  (0 or absent: every time), so a test can watch a phone drop and come back.
* ``drop_launch_every = N``: every Nth benchmark launch (a command whose line
  gives a model, ``--model=`` or ``--model_path=``: what the session log counts,
  ``sessions.py``) loses the connection just after it starts, like a flaky
  cable: N = 2 is a phone that fails every other launch.
* ``hang = REGEX``: in a command line, each shell word REGEX matches
  (``re.search``) is replaced by a program that sleeps forever and prints
  nothing (``exec sleep``: a real host process, so ``ps``, ``kill -9 PID`` and
  ``kill -9 -PGID`` work, and ``echo $$ > pidfile; exec ...`` keeps its PID).
* ``hot_c = T0, cool_rate_c_per_s = R``: every thermal zone and the battery
  read ``max(base, T0 - R * t)`` where t is seconds since the phone started;
  current clocks are throttled meanwhile (``fakesys.FakeSys.throttled_khz``).
* ``damage_push = "truncate" | "flip"``: storage that lies. Every ``SEND``
  still answers ``OKAY``, but the file it wrote has lost its second half
  (``truncate``) or has one byte inverted in the middle (``flip``, same size
  and mtime): what a verified push must catch.
* ``full_disk = true``: SEND fails with ``write failed: No space left on device``
  and ``df`` shows 0 available.
* ``noexec = true``: the phone folder refuses to execute files
  (``/system/bin/sh: ./x: can't execute: Permission denied``, exit 126).
* ``battery_level = N``: the battery reads N percent (e.g. a nearly flat phone).
* ``slow_pct = P`` (with ``slow_match = REGEX``, default every benchmark
  launch): each launch whose command line matches shares its CPU with a
  busy process (``Hog``) and runs about P% longer, every iteration alike: a
  phone that drifted (a runaway app, ``slow_pct`` alone), or one binary or
  file slower on one phone (a ``slow_match`` naming the pushed binary
  ``speed_benchmark_torch-SHA12`` or the file).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, fields, replace
from typing import Any

from benchorch.errors import UsageError
from benchorch.virtualphone.sessions import DEFAULT_MATCH as LAUNCH_MATCH

#: what ``damage_push`` can do to a pushed file
DAMAGE_KINDS = ("truncate", "flip")
#: characters that end a shell word
_WORD_END = frozenset(" \t\n;&|()<>'\"`")


@dataclass(frozen=True)
class Faults:
    drop_after_push_bytes: int | None = None
    drop_after_shell_seconds: float | None = None
    drop_times: int = 0
    drop_launch_every: int | None = None
    hang: str | None = None
    hot_c: float | None = None
    cool_rate_c_per_s: float = 0.0
    damage_push: str | None = None
    full_disk: bool = False
    noexec: bool = False
    battery_level: int | None = None
    slow_pct: float | None = None
    slow_match: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(
                f"unknown fault key(s) {', '.join(unknown)}",
                hint="known: " + ", ".join(sorted(known)),
            )
        faults = cls(**data)
        faults.validate()
        return faults

    def merged(self, **overrides: Any) -> Faults:
        """These faults with every non-None override applied."""
        merged = replace(self, **{k: v for k, v in overrides.items() if v is not None})
        merged.validate()
        return merged

    def validate(self) -> None:
        if self.drop_after_push_bytes is not None and self.drop_after_push_bytes < 0:
            raise UsageError("--drop-after-push-bytes must be >= 0", hint="give a byte count")
        if self.drop_after_shell_seconds is not None and self.drop_after_shell_seconds < 0:
            raise UsageError("--drop-after-shell-seconds must be >= 0", hint="give seconds")
        if self.drop_launch_every is not None and self.drop_launch_every < 1:
            raise UsageError("--drop-launch-every must be >= 1", hint="2: every other launch")
        if self.battery_level is not None and not 0 <= self.battery_level <= 100:
            raise UsageError("--battery-level must be 0..100", hint="a percentage")
        if self.cool_rate_c_per_s < 0:
            raise UsageError("--cool-rate must be >= 0", hint="degrees C per second")
        if self.damage_push not in (None, *DAMAGE_KINDS):
            raise UsageError(
                f"--damage-push {self.damage_push!r} is not one of {', '.join(DAMAGE_KINDS)}",
                hint="truncate: half the file is lost; flip: one byte is inverted",
            )
        if self.slow_pct is not None and not 0 < self.slow_pct <= 1000:
            raise UsageError(
                "--slow-pct must be over 0 and at most 1000",
                hint="100: launches take about twice as long",
            )
        for flag, pattern in (("--slow-match", self.slow_match), ("--hang", self.hang)):
            if pattern is None:
                continue
            try:
                re.compile(pattern)
            except re.error as exc:
                raise UsageError(
                    f"{flag} {pattern!r} is not a valid regex: {exc}", hint="fix the pattern"
                ) from exc


class FaultState:
    """The live side of the faults: counters and the clock of the hot state."""

    def __init__(self, faults: Faults, *, started_at: float | None = None) -> None:
        self.faults = faults
        self.started_at = time.monotonic() if started_at is None else started_at
        self._drops = 0
        self._launches = 0
        self._lock = threading.Lock()
        self._hang = re.compile(faults.hang) if faults.hang else None

    def take_drop(self) -> bool:
        """Whether a drop fault may fire now; counts it when it does."""
        with self._lock:
            if self.faults.drop_times and self._drops >= self.faults.drop_times:
                return False
            self._drops += 1
            return True

    def take_launch_drop(self, command: str) -> bool:
        """Whether this command is a launch that ``drop_launch_every`` drops (counts it)."""
        every = self.faults.drop_launch_every
        if every is None or not re.search(LAUNCH_MATCH, command):
            return False
        with self._lock:
            self._launches += 1
            return self._launches % every == 0

    def drops_left(self) -> bool:
        with self._lock:
            return not self.faults.drop_times or self._drops < self.faults.drop_times

    def slows(self, command: str) -> float:
        """The share (P/100) a launch of ``command`` is slowed by, else 0."""
        pct = self.faults.slow_pct
        if not pct or not re.search(LAUNCH_MATCH, command):
            return 0.0
        if self.faults.slow_match and not re.search(self.faults.slow_match, command):
            return 0.0
        return pct / 100.0

    def hangs(self, command: str) -> bool:
        return self._hang is not None and self._hang.search(command) is not None

    def substitute_hang(self, command: str, program: str) -> str:
        """Replace each shell word the hang pattern matches by ``program``.

        A word is the match widened to the nearest blank, quote or shell
        operator on each side, so ``exec taskset f0 ./bin/bench --x`` with the
        pattern ``bench`` becomes ``exec taskset f0 PROGRAM --x``: everything
        around it (``echo $$ > pidfile``, ``exec``) still runs, so the process
        keeps the PID and process group a device layer would kill.
        """
        if self._hang is None:
            return command
        out: list[str] = []
        pos = 0
        for m in self._hang.finditer(command):
            if m.start() < pos:
                continue
            start, end = m.start(), max(m.end(), m.start() + 1)
            while start > pos and command[start - 1] not in _WORD_END:
                start -= 1
            while end < len(command) and command[end] not in _WORD_END:
                end += 1
            out.append(command[pos:start])
            out.append(program)
            pos = end
        out.append(command[pos:])
        return "".join(out)

    def temp_c(self, base_c: float, now: float | None = None) -> float:
        """``max(base, T0 - rate * t)`` when hot, else ``base``."""
        if self.faults.hot_c is None:
            return base_c
        elapsed = (time.monotonic() if now is None else now) - self.started_at
        return max(base_c, self.faults.hot_c - self.faults.cool_rate_c_per_s * elapsed)


class Hog(threading.Thread):
    """A busy process sharing the launch's CPU while it runs: the launch (its
    process group's leader, and so what it starts) and a busy loop are pinned
    to one CPU, with scheduler weights (nice levels, of their sessions too:
    ``_nice``) in the ratio ``1 : share``: the loop at nice 0 and the launch
    lowered (``share`` over 1), or the loop lowered (``share`` under 1). On an
    otherwise idle CPU the launch gets ``1 / (1 + share)`` of it and runs
    ``share`` longer; on a busy host, where other processes share that CPU
    too, a lowered launch (``share`` over 1) stays about ``share`` slower, the
    loop's part alone (``share`` up to 1) is diluted. The loop is killed (by
    its PID) when the launch ends, or with the phone's other process groups.
    Stopping the launch now and then (SIGSTOP/SIGCONT) does not slow it on a
    busy host: the scheduler lets a resumed process catch up."""

    def __init__(self, launch: subprocess.Popen[bytes], share: float) -> None:
        super().__init__(daemon=True, name=f"vphone-hog-{launch.pid}")
        self.launch, self.share = launch, share
        cpu = max(os.sched_getaffinity(0))
        # nice steps of about 1.25x weight; before the leader starts the benchmark
        steps = round(abs(math.log(share)) / math.log(1.25))
        os.sched_setaffinity(launch.pid, {cpu})
        _nice(launch.pid, min(19, steps) if share > 1 else 0)
        #: the busy loop, a process group of its own (the phone kills it when it goes away)
        self.loop = subprocess.Popen(
            ["sh", "-c", "while :; do :; done"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.sched_setaffinity(self.loop.pid, {cpu})
        _nice(self.loop.pid, min(19, steps) if share < 1 else 0)

    def run(self) -> None:
        try:
            while self.launch.poll() is None:
                time.sleep(0.05)
        finally:
            self.loop.kill()
            self.loop.wait()


def _nice(pid: int, level: int) -> None:
    """``pid`` (a session leader) and its session at nice ``level``: with the
    kernel's autogroups (``/proc/PID/autogroup``) the scheduler shares a CPU
    among sessions first, so the session's nice is the one that counts."""
    os.setpriority(os.PRIO_PROCESS, pid, level)
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(f"{level}\n")
    except OSError:
        pass  # no autogroups (or not allowed): the process's own nice decides
