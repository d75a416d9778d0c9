"""A new SQLite file without Alembic (``store/fresh.py``): the first new file on a
host is made by the revisions and its schema cached; the next one replays it,
the same schema statement for statement, in a process that never imports Alembic."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchorch.store import Store
from benchorch.store.schema import SCHEMA_VERSION
from tests.store.factory import launch

NEW_FILE = (
    "import sys; from benchorch.store import Store; Store(sys.argv[1]).close();"
    " print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
)


def _schema(path: Path) -> tuple[Any, ...]:
    raw = sqlite3.connect(path)
    try:
        return (
            raw.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
            ).fetchall(),
            raw.execute("PRAGMA user_version").fetchone(),
            raw.execute("SELECT version_num FROM alembic_version").fetchall(),
        )
    finally:
        raw.close()


def _new_file_elsewhere(path: Path, cache: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", NEW_FILE, str(path)],
        env={**os.environ, "BENCHORCH_CACHE": str(cache)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BENCHORCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_second_new_file_replays_the_revisions_schema_without_alembic(
    tmp_path: Path, cache: Path
) -> None:
    first, second = tmp_path / "first.sqlite", tmp_path / "second.sqlite"
    with Store(first) as store:
        assert store.upgraded == (0, SCHEMA_VERSION)  # made by the revisions
    assert len(list((cache / "store").glob("sqlite-schema-*.json"))) == 1  # its schema kept
    assert _new_file_elsewhere(second, cache) == "[]"  # no Alembic, no Mako
    assert _schema(second) == _schema(first)
    assert _schema(second)[1:] == ((SCHEMA_VERSION,), [(f"{SCHEMA_VERSION:04d}",)])
    with Store(second) as store:  # usable as any other: a run and a launch, read back
        assert store.upgraded is None and store.schema_version == SCHEMA_VERSION
        run_id = store.create_run(command="benchorch sweep", params={})
        store.record_launch(launch(run_id))
        assert len(store.launches(run_id)) == 1


@pytest.mark.parametrize(
    "text",
    ["not json", '{"revision": "0003", "statements": ["CREATE TABLE x (a)"]}', '{"x": 1}'],
)
def test_a_bad_cache_entry_is_ignored_and_rewritten(tmp_path: Path, cache: Path, text: str) -> None:
    first = tmp_path / "first.sqlite"
    Store(first).close()
    (entry,) = (cache / "store").glob("sqlite-schema-*.json")
    good = entry.read_text()
    entry.write_text(text)  # corrupt, another version's, or malformed
    second = tmp_path / "second.sqlite"
    with Store(second) as store:
        assert store.upgraded == (0, SCHEMA_VERSION)  # the revisions ran again
    assert _schema(second) == _schema(first)
    assert entry.read_text() == good


def test_no_writable_cache_still_makes_the_file(tmp_path: Path, cache: Path) -> None:
    cache.write_text("a file where the cache folder should be")
    path = tmp_path / "results.sqlite"
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    assert _schema(path)[2] == [(f"{SCHEMA_VERSION:04d}",)]
