"""Opening files: migrations, newer and corrupt files, bad locations, a locked database."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from benchorch.errors import DatabaseLocked, OutputNotWritable, StoreError
from benchorch.exits import ExitCode, exit_code
from benchorch.store import Store
from benchorch.store.schema import SCHEMA_VERSION, head_revision
from benchorch.store.tables import TABLES
from tests.store.factory import launch


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_new_file_has_current_schema_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "results.sqlite"  # folders are made
    with Store(path) as store:
        conn = store._conn
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        conn.rollback()
    raw = _raw(path)
    assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [("0004",)]
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_shipped_revisions_end_at_schema_version_and_build_the_tables(tmp_path: Path) -> None:
    """The Alembic scripts (package data) and ``tables.py`` describe one schema."""
    assert head_revision() == f"{SCHEMA_VERSION:04d}"
    Store(tmp_path / "fresh.sqlite").close()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    with engine.connect() as conn:
        found = sa.inspect(conn)
        assert set(found.get_table_names()) == {t.name for t in TABLES} | {"alembic_version"}
        for table in TABLES:
            assert [c["name"] for c in found.get_columns(table.name)] == list(table.c.keys())
            indexes = {i["name"] for i in found.get_indexes(table.name)}
            assert indexes == {i.name for i in table.indexes}, table.name
    engine.dispose()


def _future_file(path: Path, revision: str) -> None:
    Store(path).close()
    raw = _raw(path)
    raw.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    raw.close()


@pytest.mark.parametrize("revision", ["0005", "1f2e3d4c5b6a"])
def test_file_from_a_newer_benchorch_is_refused(tmp_path: Path, revision: str) -> None:
    path = tmp_path / "new.sqlite"
    _future_file(path, revision)
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        Store(path)
    text = str(info.value)
    found = str(int(revision)) if revision.isdigit() else revision
    assert f"schema version {found}" in text and f"knows ({SCHEMA_VERSION})" in text
    assert str(path) in text and "newer" in text and "upgrade benchorch" in text
    assert exit_code(info.value) == ExitCode.INFRA
    assert "\n" not in text
    assert path.read_bytes() == before  # left alone


def test_legacy_file_newer_than_known_is_refused(tmp_path: Path) -> None:
    """A pre-Alembic file whose user_version is above ours (no alembic_version table)."""
    path = tmp_path / "legacy-new.sqlite"
    raw = _raw(path)
    raw.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY)")
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    raw.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 5}"):
        Store(path)


def test_two_threads_creating_at_once_both_succeed(tmp_path: Path) -> None:
    path = tmp_path / "race.sqlite"
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def opener() -> None:
        barrier.wait()
        try:
            Store(path).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    raw = _raw(path)
    assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [("0004",)]
    raw.close()


def test_corrupt_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError) as info:
        Store(path)
    assert str(path) in str(info.value) and "not a valid SQLite file" in str(info.value)
    assert path.read_bytes().startswith(b"these are my notes")  # left alone


def test_folder_or_impossible_location_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(OutputNotWritable, match="is a folder") as info:
        Store(tmp_path)
    assert exit_code(info.value) == ExitCode.USAGE
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritable) as info2:
        Store(blocker / "results.sqlite")  # its "folder" is a file: cannot exist
    assert str(blocker / "results.sqlite") in str(info2.value)
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()


def test_locked_database_is_database_locked(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite"
    with Store(path) as store:
        rid = store.create_run("sweep", {})
    holder = _raw(path)
    holder.execute("BEGIN IMMEDIATE")  # another writer, mid-transaction
    try:
        with Store(path, timeout_s=0.2) as store:
            # Readers are not blocked by the writer (WAL).
            assert store.run(rid)["status"] == "running"
            with pytest.raises(DatabaseLocked) as info:
                store.record_launch(launch(rid))
        assert exit_code(info.value) == ExitCode.INFRA
        assert str(path) in str(info.value) and "--db" in str(info.value)
        fresh = tmp_path / "fresh.sqlite"
        Store(fresh).close()
        blocker = _raw(fresh)
        blocker.execute("DROP TABLE alembic_version")  # pretend it needs migrating...
        blocker.execute("PRAGMA user_version = 2")
        blocker.execute("BEGIN IMMEDIATE")  # ...while someone writes
        with pytest.raises(DatabaseLocked):
            Store(fresh, timeout_s=0.2)
        blocker.execute("ROLLBACK")
        blocker.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Store(path) as store:  # once released, writes work again
        store.record_launch(launch(rid))
        assert len(store.launches(rid)) == 1
