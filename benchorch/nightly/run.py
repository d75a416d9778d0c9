"""``run_night``: the plain callable behind ``benchorch nightly run``.

1. ``nightly.toml`` validated fully (before the store opens);
2. the night claimed in the store (one row per night and configuration): a
   second trigger finds the row and resumes the same run when its holder is
   gone, says the night is being run when its holder lives (``--wait`` waits
   for it), and does nothing when the night is complete;
3. the revisions recorded (PyTorch's, benchorch's), the phones probed (every
   one left out named with why), the night's run started or resumed with the
   sweep (``run_sweep``: build or cached binary, exported or cached variants,
   every launch stored as it ends) and stopped at the deadline; with a lab
   (``lab = ...``) the night's store is the lab's database, and the sweep is the
   lab's, queued at nightly priority (``labnight``);
4. the night's account (``status.night_status``) and its outcome: ``PARTIAL``
   (exit 3) when coverage is under the minimum, ``FAILED`` (exit 1) when a
   launch failed, else ``OK``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchorch.domain import Outcome
from benchorch.errors import BenchorchError
from benchorch.nightly.config import NightlyConfig, load_nightly, night_db
from benchorch.nightly.night import config_hash, deadline_at, night_date, revisions
from benchorch.nightly.phones import pick_phones
from benchorch.nightly.status import NightStatus, night_status
from benchorch.store import Store
from benchorch.store.location import DbLocation
from benchorch.store.nights import COMPLETE, RUNNING, UNFINISHED, NightRow, NightStore
from benchorch.sweep.run import SweepHooks, _check_writable, run_sweep
from benchorch.sweep.settings import SweepConfig, merge

log = logging.getLogger("benchorch.nightly")

__all__ = ["NightResult", "run_night"]

#: how long a holder on another host is trusted without an update (seconds)
FOREIGN_HOLDER_S = 12 * 3600.0
WAIT_POLL_S = 0.5


@dataclass(frozen=True)
class NightResult:
    action: str  # ran | resumed | already complete | in progress elsewhere
    status: NightStatus | None
    outcome: Outcome
    night: str
    config_hash: str
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "night": self.night,
            "config_hash": self.config_hash,
            "action": self.action,
            "outcome": self.outcome.value,
            "message": self.message,
            "status": self.status.to_dict() if self.status else None,
        }

    def lines(self) -> list[str]:
        head = f"night {self.night} ({self.config_hash}): {self.action}"
        out = [head + (f": {self.message}" if self.message else "")]
        if self.status is not None:
            out += self.status.lines()[1:]
        return out


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_alive(row: NightRow, now: float) -> bool:
    """Whether the trigger holding ``row`` may still be running it."""
    host, _, pid = row.holder.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return now - row.updated_at < FOREIGN_HOLDER_S


def _outcome(status: NightStatus) -> Outcome:
    if not status.coverage_met:
        return Outcome.PARTIAL
    if status.failed:
        return Outcome.FAILED
    return Outcome.OK


def run_night(
    *,
    db: Path | DbLocation,
    config_file: Path,
    night: str | None,
    wait: bool,
    deadline: str | None,
    command: str,
    quiet: bool,
) -> NightResult:
    ncfg = load_nightly(config_file)
    cfg = merge(ncfg.sweep_values, {})
    db = night_db(db, ncfg)
    the_night = night_date(night)
    if deadline is not None:
        deadline_at(deadline, after=time.time(), what="--deadline")  # validated now
    chash = config_hash(cfg)
    _check_writable(Path(cfg.out or "reports"))
    with Store(db) as store:
        nights = NightStore(store)
        me = _holder()
        while True:
            if nights.claim(the_night, chash, me, {"min_coverage": ncfg.nightly.min_coverage}):
                row = nights.get(the_night, chash)
                assert row is not None
                break
            row = nights.get(the_night, chash)
            if row is None:  # pragma: no cover - rows are never deleted
                continue
            if row.status == COMPLETE:
                status = night_status(store, row, ncfg.nightly.min_coverage)
                return NightResult(
                    "already complete",
                    status,
                    _outcome(status),
                    the_night,
                    chash,
                    "nothing to do (this night ran already)",
                )
            if row.status == RUNNING and holder_alive(row, time.time()):
                if wait:
                    time.sleep(WAIT_POLL_S)
                    continue
                return NightResult(
                    "in progress elsewhere",
                    night_status(store, row, ncfg.nightly.min_coverage),
                    Outcome.OK,
                    the_night,
                    chash,
                    f"{row.holder} is running it; nothing started (--wait waits for it)",
                )
            if nights.take_over(the_night, chash, row.holder, me):
                row = nights.get(the_night, chash)
                assert row is not None
                break
        return _run_claimed(store, nights, row, ncfg, cfg, db, deadline, command, quiet)


def _run_claimed(
    store: Store,
    nights: NightStore,
    row: NightRow,
    ncfg: NightlyConfig,
    cfg: SweepConfig,
    db: Path | DbLocation,
    deadline_flag: str | None,
    command: str,
    quiet: bool,
) -> NightResult:
    detail: dict[str, Any] = dict(row.detail)
    detail["min_coverage"] = ncfg.nightly.min_coverage
    detail["revisions"] = revisions(cfg).to_dict()
    stop_at: float | None = None
    if deadline_flag is not None:
        stop_at = deadline_at(deadline_flag, after=time.time(), what="--deadline")
    elif detail.get("deadline_at") is not None:
        stop_at = float(detail["deadline_at"])
    elif ncfg.nightly.deadline is not None:
        stop_at = deadline_at(ncfg.nightly.deadline, after=row.claimed_at)
    detail["deadline_at"] = stop_at
    resume = row.run_id
    if resume is None:
        earlier = {s for r in nights.all(row.config_hash) for s in r.detail.get("healthy", [])}
        if ncfg.lab is not None:
            from benchorch.nightly.labnight import pick_lab_phones

            pick = pick_lab_phones(ncfg)
        else:
            pick = pick_phones(cfg, known=sorted(earlier))
        detail["healthy"] = list(pick.healthy)
        detail["left_out"] = [{"serial": p.serial, "reason": p.reason} for p in pick.left_out]
        for p in pick.left_out:
            log.warning("%s left out tonight: %s", p.serial, p.reason)
    nights.update(row.night, row.config_hash, detail=detail)
    healthy: list[str] = list(detail.get("healthy", []))
    action = "resumed" if resume else "ran"
    if not healthy:
        nights.update(row.night, row.config_hash, status=UNFINISHED, detail=detail)
        status = night_status(store, _reread(nights, row), ncfg.nightly.min_coverage)
        return NightResult(
            action,
            status,
            Outcome.PARTIAL,
            row.night,
            row.config_hash,
            "no healthy phone: nothing ran",
        )

    def on_run(run_id: str, planned: Mapping[str, int]) -> None:
        detail["planned"] = dict(planned)
        nights.update(row.night, row.config_hash, run_id=run_id, detail=detail)

    if resume is None:
        flags = {**cfg.to_dict(), "devices": healthy, "all": False}
    else:
        flags = {"adb_server": cfg.adb_server}
    hooks = SweepHooks(on_run=on_run, stop_at=stop_at)
    try:
        if ncfg.lab is not None:
            from benchorch.nightly import labnight

            summary = labnight.run_lab_night(
                ncfg, cfg, healthy, resume, command=command, quiet=quiet, hooks=hooks
            )
            assert summary.run_id is not None
            labnight.settle(ncfg, summary.run_id, detail)
        else:
            summary = run_sweep(
                db=db,
                flags=flags,
                flag_names={},
                config_file=None,
                resume_run=resume,
                command=command,
                quiet=quiet,
                hooks=hooks,
            )
    except (BenchorchError, KeyboardInterrupt) as exc:
        detail["error"] = str(exc) or type(exc).__name__
        nights.update(row.night, row.config_hash, status=UNFINISHED, detail=detail)
        raise
    ends = dict(detail.get("devices", {}))
    ends.update(
        {
            s: {"status": d["status"], "message": d.get("message") or ""}
            for s, d in summary.devices.items()
        }
    )
    detail["devices"] = ends
    cut = [s for s, d in summary.devices.items() if d["status"] == "interrupted"]
    detail["deadline_hit"] = bool(stop_at is not None and cut and time.time() >= stop_at)
    if detail["deadline_hit"]:
        for s in cut:
            ends[s]["message"] = "deadline"
    detail["report"] = str(summary.report_path) if summary.report_path else None
    finished = summary.status in (Outcome.OK, Outcome.FAILED)
    nights.update(
        row.night, row.config_hash, status=COMPLETE if finished else UNFINISHED, detail=detail
    )
    status = night_status(store, _reread(nights, row), ncfg.nightly.min_coverage)
    return NightResult(action, status, _outcome(status), row.night, row.config_hash)


def _reread(nights: NightStore, row: NightRow) -> NightRow:
    fresh = nights.get(row.night, row.config_hash)
    assert fresh is not None
    return fresh
