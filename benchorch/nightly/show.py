"""Finding nights in the store: ``--night latest`` or a date, one configuration or all."""

from __future__ import annotations

from pathlib import Path

from benchorch.errors import RunNotFound
from benchorch.nightly.config import load_nightly, night_db
from benchorch.nightly.night import config_hash, night_date
from benchorch.nightly.status import NightStatus, night_status
from benchorch.store import Store
from benchorch.store.location import DbLocation
from benchorch.store.nights import NightRow, NightStore
from benchorch.sweep.settings import merge

__all__ = ["find_nights", "night_statuses"]


def find_nights(store: Store, night: str, config_file: Path | None) -> list[NightRow]:
    """The rows of ``night`` (a date or ``latest``), of one configuration or all."""
    chash = None
    if config_file is not None:
        chash = config_hash(merge(load_nightly(config_file).sweep_values, {}))
    rows = NightStore(store).all(chash)
    if not rows:
        raise RunNotFound(
            f"no nightly night in results database {store.path}"
            + (f" for configuration {chash}" if chash else ""),
            hint="run one with `benchorch nightly run --config nightly.toml`",
        )
    wanted = rows[-1].night if night == "latest" else night_date(night)
    found = [r for r in rows if r.night == wanted]
    if not found:
        raise RunNotFound(
            f"no nightly night {wanted} in results database {store.path}",
            hint="see the nights with `benchorch nightly status --night latest`",
        )
    return found


def night_statuses(
    db: Path | DbLocation, night: str, config_file: Path | None
) -> list[NightStatus]:
    if config_file is not None:
        db = night_db(db, load_nightly(config_file))
    if not db.exists():
        raise RunNotFound(f"no results database at {db}", hint="pass --db / BENCHORCH_DB")
    with Store(db, create=False) as store:
        return [night_status(store, row) for row in find_nights(store, night, config_file)]
