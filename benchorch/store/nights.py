"""The ``nights`` table: who runs a nightly night, and what it recorded.

A night is claimed by inserting its row (primary key: night, configuration
hash); the database's own uniqueness decides between two triggers, on SQLite
and PostgreSQL alike. A claim whose holder died is taken over by a
compare-and-set on ``holder``, so of two triggers finding the same dead holder
exactly one wins.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from benchorch.store.engine import dialect_insert
from benchorch.store.store import Store
from benchorch.store.tables import nights

__all__ = ["NightRow", "NightStore"]

#: night statuses
RUNNING = "running"  # a trigger holds it (or held it and died: see holder)
COMPLETE = "complete"  # every planned launch ran (or was left out with a reason)
UNFINISHED = "unfinished"  # stopped early (deadline, a phone lost, Ctrl-C): a trigger resumes it


@dataclass(frozen=True)
class NightRow:
    night: str
    config_hash: str
    run_id: str | None
    status: str
    holder: str
    claimed_at: float
    updated_at: float
    detail: Mapping[str, Any]


def _row(values: Mapping[str, Any]) -> NightRow:
    return NightRow(
        night=str(values["night"]),
        config_hash=str(values["config_hash"]),
        run_id=values["run_id"],
        status=str(values["status"]),
        holder=str(values["holder"]),
        claimed_at=float(values["claimed_at"]),
        updated_at=float(values["updated_at"]),
        detail=json.loads(values["detail"] or "{}"),
    )


class NightStore:
    """Claims and updates of nights on an open ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def claim(self, night: str, config_hash: str, holder: str, detail: Mapping[str, Any]) -> bool:
        """Insert the night's row; False when it exists already (another trigger's)."""
        now = time.time()
        row = {
            "night": night,
            "config_hash": config_hash,
            "run_id": None,
            "status": RUNNING,
            "holder": holder,
            "claimed_at": now,
            "updated_at": now,
            "detail": json.dumps(dict(detail), sort_keys=True),
        }
        with self.store._writing(run_id=night) as conn:
            stmt = dialect_insert(conn, nights).values(row).on_conflict_do_nothing()
            return bool(conn.execute(stmt).rowcount)

    def take_over(self, night: str, config_hash: str, old_holder: str, holder: str) -> bool:
        """Become the holder if ``old_holder`` still is (compare-and-set)."""
        with self.store._writing(run_id=night) as conn:
            done = conn.execute(
                nights.update()
                .where(
                    nights.c.night == night,
                    nights.c.config_hash == config_hash,
                    nights.c.holder == old_holder,
                )
                .values(holder=holder, status=RUNNING, updated_at=time.time())
            )
            return bool(done.rowcount)

    def update(
        self,
        night: str,
        config_hash: str,
        *,
        status: str | None = None,
        run_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {"updated_at": time.time()}
        if status is not None:
            values["status"] = status
        if run_id is not None:
            values["run_id"] = run_id
        if detail is not None:
            values["detail"] = json.dumps(dict(detail), sort_keys=True)
        with self.store._writing(run_id=night) as conn:
            conn.execute(
                nights.update()
                .where(nights.c.night == night, nights.c.config_hash == config_hash)
                .values(values)
            )

    def get(self, night: str, config_hash: str) -> NightRow | None:
        rows = self.store._read(
            sa.select(nights).where(nights.c.night == night, nights.c.config_hash == config_hash)
        )
        return _row(rows[0]) if rows else None

    def all(self, config_hash: str | None = None) -> list[NightRow]:
        """Every night (of one configuration), oldest first."""
        stmt = sa.select(nights).order_by(nights.c.night, nights.c.claimed_at)
        if config_hash is not None:
            stmt = stmt.where(nights.c.config_hash == config_hash)
        return [_row(r) for r in self.store._read(stmt)]
