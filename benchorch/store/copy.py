"""``benchorch db copy``: every run of one store into another, idempotent and verified.

A run is copied in one transaction on the destination (all its rows or none),
so an interrupted copy leaves whole runs behind and a rerun copies the rest.
Rows the destination already has are recognised by their natural keys (a
run by its id, a device by run and serial, a binary or variant file by
sha256, a run's variant by run, name and file, a skip by all its fields, a
launch by run, device, launch key and start time) and never copied twice; a
run still being written at the source gets its new launches and its final
status on the next copy.

Verified: a content checksum per run (``run_checksum``: every field of the
run and of its devices, binaries, variants, skips and launches, samples
included; a sum of row hashes, so row order and row ids do not matter) read
back from both sides once the run is copied, and at the end the row counts
of every table (the destination may hold more: runs of its own).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from benchorch.store.encode import PG_NUL
from benchorch.store.engine import dialect_insert, read, translated_at, write
from benchorch.store.store import Store
from benchorch.store.tables import (
    binaries,
    devices,
    launches,
    nights,
    run_binaries,
    run_variants,
    runs,
    skips,
    variant_files,
)

#: progress(runs done, runs in all, launches copied so far)
Progress = Callable[[int, int, int], None]
_BATCH = 2000


@dataclass(frozen=True)
class CopyResult:
    runs: int  # runs at the source
    runs_copied: int  # runs that got any new row
    launches_copied: int
    mismatched: tuple[str, ...]  # run ids whose checksums differ after the copy
    counts_src: dict[str, int]
    counts_dst: dict[str, int]

    @property
    def verified(self) -> bool:
        return not self.mismatched and all(
            self.counts_dst.get(k, 0) >= v for k, v in self.counts_src.items()
        )


def _rows(conn: sa.Connection, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(stmt)]


def _no_id(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "id"}


def _text_for(dst_is_pg: bool, row: dict[str, Any]) -> dict[str, Any]:
    if not dst_is_pg:
        return row
    return {k: v.replace("\x00", PG_NUL) if isinstance(v, str) else v for k, v in row.items()}


def _sum_rows(rows: Iterable[Sequence[Any]]) -> int:
    """The sum (mod 2**256) of each row's SHA-256: a checksum of the rows as a
    multiset, so neither side's row order or row ids matter.

    A row is hashed as the ``repr`` of its values (exact for floats, typed:
    ``1`` is not ``1.0`` nor ``True``), with NUL written as PostgreSQL keeps it
    (``encode.PG_NUL``)."""
    total = 0
    sha = hashlib.sha256
    nul = "\\x00"
    for row in rows:
        text = repr(tuple(row)).replace(nul, PG_NUL)
        total += int.from_bytes(sha(text.encode("utf-8", "surrogatepass")).digest(), "big")
    return total % (1 << 256)


def run_checksum(conn: sa.Connection, run_id: str) -> str:
    """A checksum of everything stored about ``run_id``: the run, its devices,
    binaries, variants, skips and launches (samples and output included), row
    ids left out."""
    parts = []
    for table in (runs, devices, run_binaries, run_variants, skips, launches):
        # Read through the driver (no per-value conversions: the checksum of a
        # 100,000-launch store reads every byte); booleans as 0/1 on both sides.
        cols = [
            sa.cast(c, sa.Integer) if isinstance(c.type, sa.Boolean) else c
            for c in table.c
            if c.name != "id"
        ]
        stmt = sa.select(*cols).where(table.c.run_id == run_id)
        sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        cursor = conn.exec_driver_sql(sql).cursor
        total = 0
        while batch := cursor.fetchmany(_BATCH):
            total += _sum_rows(batch)
        parts.append(f"{table.name}:{total % (1 << 256):064x}")
    return hashlib.sha256(";".join(parts).encode()).hexdigest()


def _insert_missing(
    conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> int:
    """Insert the ``rows`` whose ``key`` the destination lacks (``ON CONFLICT DO NOTHING``)."""
    if not rows:
        return 0
    stmt = dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(key))
    conn.execute(stmt, list(rows))
    return len(rows)


def _copy_run(src: sa.Connection, dst: sa.Connection, run_id: str, dst_is_pg: bool) -> int:
    """Everything about ``run_id`` the destination lacks, in the open transaction
    of ``dst``; returns the number of launches copied."""
    fix = _text_for
    (run_row,) = _rows(src, sa.select(runs).where(runs.c.run_id == run_id))
    insert = dialect_insert(dst, runs).values(fix(dst_is_pg, run_row))
    dst.execute(
        insert.on_conflict_do_update(
            index_elements=["run_id"],
            set_={"status": insert.excluded.status, "finished_at": insert.excluded.finished_at},
        )
    )
    dev = [
        fix(dst_is_pg, _no_id(r))
        for r in _rows(
            src, sa.select(devices).where(devices.c.run_id == run_id).order_by(devices.c.id)
        )
    ]
    _insert_missing(dst, devices, dev, ["run_id", "serial"])
    bins = _rows(
        src,
        sa.select(binaries)
        .join(run_binaries, run_binaries.c.sha256 == binaries.c.sha256)
        .where(run_binaries.c.run_id == run_id),
    )
    _insert_missing(dst, binaries, [fix(dst_is_pg, r) for r in bins], ["sha256"])
    _insert_missing(
        dst, run_binaries, [{"run_id": run_id, "sha256": r["sha256"]} for r in bins],
        ["run_id", "sha256"],
    )  # fmt: skip
    files = _rows(
        src,
        sa.select(variant_files).where(
            variant_files.c.sha256.in_(
                sa.select(run_variants.c.sha256).where(run_variants.c.run_id == run_id)
            )
        ),
    )
    _insert_missing(dst, variant_files, [fix(dst_is_pg, r) for r in files], ["sha256"])
    rvs = _rows(
        src,
        sa.select(run_variants).where(run_variants.c.run_id == run_id).order_by(run_variants.c.id),
    )
    _insert_missing(
        dst, run_variants, [fix(dst_is_pg, _no_id(r)) for r in rvs],
        ["run_id", "variant", "sha256"],
    )  # fmt: skip
    skip_cols = [c for c in skips.c if c.name != "id"]
    have_skips = {
        tuple(r.values()) for r in _rows(dst, sa.select(*skip_cols).where(skips.c.run_id == run_id))
    }
    new_skips = [
        r
        for r in (
            fix(dst_is_pg, _no_id(r))
            for r in _rows(
                src, sa.select(skips).where(skips.c.run_id == run_id).order_by(skips.c.id)
            )
        )
        if tuple(r.values()) not in have_skips
    ]
    if new_skips:
        dst.execute(skips.insert(), new_skips)
    have = {
        tuple(r)
        for r in dst.execute(
            sa.select(launches.c.device_serial, launches.c.launch_key, launches.c.started_at).where(
                launches.c.run_id == run_id
            )
        )
    }
    launch_cols = [c for c in launches.c if c.name != "id"]
    result = src.execute(
        sa.select(*launch_cols).where(launches.c.run_id == run_id).order_by(launches.c.id)
    )
    names = list(result.keys())
    copied = 0
    insert_launch = launches.insert()
    while batch := result.fetchmany(_BATCH):
        rows = [
            fix(dst_is_pg, dict(zip(names, row, strict=True)))
            for row in batch
            if (row.device_serial, row.launch_key, row.started_at) not in have
        ]
        if rows:
            dst.execute(insert_launch, rows)
            copied += len(rows)
    return copied


def _copy_nights(src: Store, dst: Store) -> None:
    """The nightly's claims (``nights``), each as the source has it now."""
    with src._lock, translated_at(src.location), read(src._live()) as s:
        rows = _rows(s, sa.select(nights))
    if not rows:
        return
    with dst._lock, translated_at(dst.location), write(dst._live(), lock_now=True) as d:
        insert = dialect_insert(d, nights)
        keep = {c.name: insert.excluded[c.name] for c in nights.c if not c.primary_key}
        d.execute(
            insert.on_conflict_do_update(index_elements=["night", "config_hash"], set_=keep),
            rows,
        )


def copy_store(src: Store, dst: Store, progress: Progress | None = None) -> CopyResult:
    """Copy every run of ``src`` that ``dst`` lacks (or lacks part of), oldest first,
    one destination transaction per run; then verify counts and checksums."""
    report = progress or (lambda done, total, n: None)
    dst_is_pg = dst.path is None
    run_ids = [
        str(r["run_id"])
        for r in src._read(sa.select(runs.c.run_id).order_by(runs.c.started_at, runs.c.run_id))
    ]
    copied_runs = copied_launches = 0
    sums: dict[str, tuple[str, str]] = {}  # run id -> (source, destination) checksum
    report(0, len(run_ids), 0)
    for i, run_id in enumerate(run_ids, 1):
        with src._lock, dst._lock, translated_at(src.location), read(src._live()) as s:
            with translated_at(dst.location), read(dst._live()) as d:
                known = d.execute(sa.select(runs.c.run_id).where(runs.c.run_id == run_id)).first()
                if known is not None:
                    pair = (run_checksum(s, run_id), run_checksum(d, run_id))
                    if pair[0] == pair[1]:
                        sums[run_id] = pair
                        report(i, len(run_ids), copied_launches)
                        continue
            with translated_at(dst.location), write(dst._live(), lock_now=True) as d:
                copied_launches += _copy_run(s, d, run_id, dst_is_pg)
            copied_runs += 1
            with translated_at(dst.location), read(dst._live()) as d:
                sums[run_id] = (run_checksum(s, run_id), run_checksum(d, run_id))
        report(i, len(run_ids), copied_launches)
    _copy_nights(src, dst)
    mismatched = [run_id for run_id, (a, b) in sums.items() if a != b]
    return CopyResult(
        runs=len(run_ids),
        runs_copied=copied_runs,
        launches_copied=copied_launches,
        mismatched=tuple(mismatched),
        counts_src=src.counts(),
        counts_dst=dst.counts(),
    )
