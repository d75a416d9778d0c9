"""Reading virtual phones' session logs (``benchorch/virtualphone/sessions.py``) and
proving that no two benchmark processes ever ran on one phone at once.

A session whose end line is missing (its phone process was killed: a host
crash, a phone pulled) is taken to have run until that log's next ``up`` or
``down`` line (a phone's restart; every process of a crashed test host dies
with it), or forever when there is none, so it overlaps every later session
on that phone: the check errs towards finding an overlap, never towards
hiding one. The one session left out is the lab guard's wrapper that refused
to start its benchmark (a token, exit ``guard.SUPERSEDED_EXIT``): it checked
the guard on the phone, found a newer attempt's token, and ran nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from benchorch.lab.guard import SUPERSEDED_EXIT

__all__ = ["Session", "assert_no_overlap", "overlaps", "read_sessions"]


@dataclass(frozen=True)
class Session:
    log: Path  # one phone's session log
    boot: str
    sid: int
    pid: int
    token: int | None
    argv: tuple[str, ...]
    start: float  # time.monotonic() of the phone's machine
    end: float  # math.inf: still running, as far as the log says
    wall: float
    exit: int | None  # None: no end line

    @property
    def ended(self) -> bool:
        return self.exit is not None

    @property
    def refused(self) -> bool:
        """The guard's wrapper of a superseded attempt: it ran no benchmark."""
        return self.token is not None and self.exit == SUPERSEDED_EXIT

    def describe(self) -> str:
        end = "running" if math.isinf(self.end) else f"{self.end:.3f}"
        return (
            f"{self.log.name} boot {self.boot} session {self.sid} pid {self.pid} token "
            f"{self.token} [{self.start:.3f}, {end}] {' '.join(self.argv)[:120]}"
        )


def read_sessions(log: Path) -> list[Session]:
    """The sessions of one phone's log, in start order (an absent log has none)."""
    if not log.exists():
        return []
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    starts: dict[tuple[str, int], dict[str, object]] = {}
    ends: dict[tuple[str, int], dict[str, object]] = {}
    boundaries: list[float] = []
    for line in lines:
        event = line["event"]
        if event == "start":
            starts[(line["boot"], line["sid"])] = line
        elif event == "end":
            ends[(line["boot"], line["sid"])] = line
        elif event in ("up", "down"):
            boundaries.append(float(line["mono"]))
    out = []
    for key, s in starts.items():
        start = float(s["mono"])  # type: ignore[arg-type]
        e = ends.get(key)
        if e is not None:
            end = float(e["mono"])  # type: ignore[arg-type]
            code = e["exit"]
        else:
            end = min((b for b in boundaries if b > start), default=math.inf)
            code = None
        out.append(
            Session(
                log=log,
                boot=str(s["boot"]),
                sid=int(s["sid"]),  # type: ignore[call-overload]
                pid=int(s["pid"]),  # type: ignore[call-overload]
                token=s["token"],  # type: ignore[arg-type]
                argv=tuple(s["argv"]),  # type: ignore[call-overload]
                start=start,
                end=end,
                wall=float(s["wall"]),  # type: ignore[arg-type]
                exit=None if code is None else int(code),  # type: ignore[call-overload]
            )
        )
    return sorted(out, key=lambda x: x.start)


def overlaps(sessions: Iterable[Session]) -> list[tuple[Session, Session]]:
    """Pairs of one phone's sessions that ran at the same time (refused ones ran nothing)."""
    ordered = sorted((x for x in sessions if not x.refused), key=lambda x: x.start)
    found = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.start >= a.end:
                break
            found.append((a, b))
    return found


def assert_no_overlap(logs: Iterable[Path]) -> dict[Path, list[Session]]:
    """Every phone's sessions, after asserting that none of a phone's overlap."""
    by_log = {log: read_sessions(log) for log in logs}
    bad = [pair for sessions in by_log.values() for pair in overlaps(sessions)]
    assert not bad, "sessions overlap on a phone:\n" + "\n".join(
        f"  {a.describe()}\n  {b.describe()}" for a, b in bad
    )
    return by_log
