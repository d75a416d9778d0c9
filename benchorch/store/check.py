"""``benchorch db check``'s integrity check, on either backend.

SQLite's own checks (``PRAGMA quick_check`` of every page and index,
``PRAGMA foreign_key_check``), then, on both backends, the references the
schema cannot enforce: launches or variants of a run that does not exist
(problems), and launches naming a binary or a variant file the store has no
facts about (notes: ``benchorch import`` stores launches of binaries it never
saw; the report then lacks their flavour).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from benchorch.store.engine import read, translated_at
from benchorch.store.store import Store
from benchorch.store.tables import binaries, launches, run_variants, runs, variant_files


def _orphans(child: sa.Table, column: str, parent: sa.Table, key: str) -> sa.Select[Any]:
    return (
        sa.select(sa.func.count())
        .select_from(child)
        .where(~sa.exists().where(parent.c[key] == child.c[column]))
    )


_REFERENCES = (
    ("launches naming a run that does not exist", launches, "run_id", runs, "run_id"),
    ("variants naming a run that does not exist", run_variants, "run_id", runs, "run_id"),
)


def integrity_problems(store: Store) -> tuple[list[str], list[str]]:
    """(problems, notes) found, each one line; no problems: the database is sound."""
    problems: list[str] = []
    notes: list[str] = []
    with store._lock, translated_at(store.location), read(store._live()) as conn:
        if conn.dialect.name == "sqlite":
            for (line,) in conn.exec_driver_sql("PRAGMA quick_check"):
                if line != "ok":
                    problems.append(f"sqlite: {line}")
            for row in conn.exec_driver_sql("PRAGMA foreign_key_check"):
                problems.append(f"table {row[0]} row {row[1]} names a missing {row[2]}")
        for text, child, column, parent, key in _REFERENCES:
            n = int(conn.execute(_orphans(child, column, parent, key)).scalar_one())
            if n:
                problems.append(f"{n} {text}")
        for what, column, parent in (
            ("binary", "binary_sha256", binaries),
            ("variant file", "variant_sha256", variant_files),
        ):
            n = int(conn.execute(_orphans(launches, column, parent, "sha256")).scalar_one())
            if n:
                notes.append(f"{n} launches name a {what} the store has no facts about")
    return problems, notes
