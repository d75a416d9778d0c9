"""A night's account: per phone planned, done, failed and not run (with the reason).

A lab night also names each phone's host, and a host that was down or
misconfigured when the night ended in the reason of its phones' launches not run.

Read from the store alone (the ``nights`` row and the run's launches), so
``nightly status`` tells the same story from any process, during the night
or after it. Coverage is two shares, both held to ``min_coverage``: phones
(configured phones whose every planned launch ran) and launches (stored of
planned, counting a left-out phone's launches as not run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from benchorch.store.nights import COMPLETE, NightRow
from benchorch.store.store import Store
from benchorch.store.tables import launches

__all__ = ["NightStatus", "PhoneStatus", "night_status"]

NOT_RUN_DEADLINE = "deadline"


@dataclass(frozen=True)
class PhoneStatus:
    serial: str
    planned: int | None  # None: left out before its plan was made
    done: int  # stored and ok
    failed: int  # stored, failed
    not_run: int | None
    reason: str  # why some or all of its launches did not run ("" when all ran)
    host: str = ""  # the lab host it is on (a lab night), else ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class NightStatus:
    night: str
    config_hash: str
    run_id: str | None
    state: str  # the night row's status
    phones: tuple[PhoneStatus, ...]
    revisions: dict[str, Any]
    deadline_hit: bool
    min_coverage: float

    @property
    def planned(self) -> int:
        per_phone = [p.planned for p in self.phones if p.planned is not None]
        known = sum(per_phone)
        # a left-out phone would have had a healthy phone's share of the plan
        share = max(per_phone, default=0)
        return known + share * sum(1 for p in self.phones if p.planned is None)

    @property
    def ran(self) -> int:
        return sum(p.done + p.failed for p in self.phones)

    @property
    def phones_complete(self) -> int:
        return sum(1 for p in self.phones if p.planned is not None and p.not_run == 0)

    @property
    def launch_coverage(self) -> float:
        return self.ran / self.planned if self.planned else 0.0

    @property
    def phone_coverage(self) -> float:
        return self.phones_complete / len(self.phones) if self.phones else 0.0

    @property
    def coverage_met(self) -> bool:
        return (
            self.launch_coverage >= self.min_coverage and self.phone_coverage >= self.min_coverage
        )

    @property
    def failed(self) -> int:
        return sum(p.failed for p in self.phones)

    @property
    def complete(self) -> bool:
        return self.state == COMPLETE

    def to_dict(self) -> dict[str, Any]:
        return {
            "night": self.night,
            "config_hash": self.config_hash,
            "run_id": self.run_id,
            "state": self.state,
            "revisions": self.revisions,
            "deadline_hit": self.deadline_hit,
            "planned": self.planned,
            "ran": self.ran,
            "failed": self.failed,
            "launch_coverage": round(self.launch_coverage, 4),
            "phone_coverage": round(self.phone_coverage, 4),
            "min_coverage": self.min_coverage,
            "coverage_met": self.coverage_met,
            "phones": [p.to_dict() for p in self.phones],
        }

    def lines(self) -> list[str]:
        out = [
            f"night {self.night} (configuration {self.config_hash}): {self.state}, "
            f"run {self.run_id or '-'}",
            f"  PyTorch {self.revisions.get('pytorch', '?')}, "
            f"benchorch {self.revisions.get('benchorch', '?')}",
            f"  coverage: {self.phones_complete}/{len(self.phones)} phones, "
            f"{self.ran}/{self.planned} launches (minimum {self.min_coverage:.0%})"
            + ("" if self.coverage_met else "  BELOW MINIMUM"),
        ]
        for p in self.phones:
            name = f"{p.serial} on {p.host}" if p.host else p.serial
            if p.planned is None:
                out.append(f"  {name}: left out ({p.reason})")
                continue
            line = f"  {name}: planned {p.planned}, done {p.done}, failed {p.failed}"
            if p.not_run:
                line += f", not run {p.not_run} ({p.reason})"
            out.append(line)
        return out


def _counts(store: Store, run_id: str) -> dict[str, tuple[int, int]]:
    """serial -> (ok launches, failed launches) of the run."""
    ok = sa.func.sum(sa.case((launches.c.status == "ok", 1), else_=0))
    stmt = (
        sa.select(launches.c.device_serial, ok.label("ok"), sa.func.count().label("n"))
        .where(launches.c.run_id == run_id)
        .group_by(launches.c.device_serial)
    )
    return {
        str(r["device_serial"]): (int(r["ok"] or 0), int(r["n"]) - int(r["ok"] or 0))
        for r in store._read(stmt)
    }


def night_status(store: Store, row: NightRow, min_coverage: float | None = None) -> NightStatus:
    detail = row.detail
    planned: dict[str, int] = dict(detail.get("planned", {}))
    counts = _counts(store, row.run_id) if row.run_id else {}
    ends: dict[str, dict[str, Any]] = dict(detail.get("devices", {}))
    deadline_hit = bool(detail.get("deadline_hit"))
    hosts: dict[str, str] = dict(detail.get("hosts", {}))  # a lab night: serial -> host
    trouble: dict[str, str] = dict(detail.get("host_trouble", {}))  # host -> down (why)
    moved: dict[str, list[str]] = dict(detail.get("moved", {}))  # serial -> where its part went
    phones: list[PhoneStatus] = []
    for serial in detail.get("healthy", []):
        n = planned.get(serial, 0)
        done, failed = counts.get(serial, (0, 0))
        not_run = max(0, n - done - failed)
        reason = ""
        if not_run:
            end = ends.get(serial, {})
            if deadline_hit and end.get("status") in (None, "interrupted", "pending"):
                reason = NOT_RUN_DEADLINE
            elif end.get("message"):
                reason = f"{end.get('status')}: {end['message']}"
            elif row.status == COMPLETE:
                reason = "not run"
            else:
                reason = "not run yet: `benchorch nightly run` again resumes the night"
            host = hosts.get(serial, "")
            if host in trouble:
                reason += f"; its host {host} is {trouble[host]}"
            if serial in moved:
                reason += f"; moved to {', '.join(moved[serial])}"
        phones.append(PhoneStatus(serial, n, done, failed, not_run, reason, hosts.get(serial, "")))
    for left in detail.get("left_out", []):
        phones.append(PhoneStatus(left["serial"], None, 0, 0, None, left["reason"]))
    return NightStatus(
        night=row.night,
        config_hash=row.config_hash,
        run_id=row.run_id,
        state=row.status,
        phones=tuple(phones),
        revisions=dict(detail.get("revisions", {})),
        deadline_hit=deadline_hit,
        min_coverage=float(
            min_coverage if min_coverage is not None else detail.get("min_coverage", 1.0)
        ),
    )
