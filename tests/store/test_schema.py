"""Opening files: migrations, newer and corrupt files, bad locations, a locked database."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from benchorch.cli.exits import ExitCode, exit_code
from benchorch.errors import DatabaseLocked, OutputNotWritable, StoreError
from benchorch.store import Store
from benchorch.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate, user_version
from tests.store.factory import launch


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_new_file_has_current_schema_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "results.sqlite"  # folders are made
    with Store(path) as store:
        conn = store._conn
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    raw = _raw(path)
    assert user_version(raw) == SCHEMA_VERSION
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_older_file_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    raw = _raw(path)
    migrate(raw, MIGRATIONS[:1])
    raw.execute(
        "INSERT INTO runs (run_id, command, params, started_at) VALUES (?,?,?,?)",
        ("20250101-000000-0001", "benchorch sweep", '{"iter": 5}', 1.7e9),
    )
    raw.close()
    with Store(path) as store:
        assert store.run("20250101-000000-0001")["params"] == {"iter": 5}
        store.record_launch(launch("20250101-000000-0001"))
        assert len(store.launches("20250101-000000-0001")) == 1
    raw = _raw(path)
    assert user_version(raw) == SCHEMA_VERSION
    indexes = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"launches_run", "launches_time"} <= indexes
    raw.close()


def test_file_from_a_newer_benchorch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    raw = _raw(path)
    future = (*MIGRATIONS, ("ALTER TABLE runs ADD COLUMN note TEXT",))
    migrate(raw, future)
    raw.close()
    with pytest.raises(StoreError) as info:
        Store(path)
    text = str(info.value)
    assert str(path) in text and "newer" in text and "upgrade benchorch" in text
    assert exit_code(info.value) == ExitCode.INFRA
    assert "\n" not in text


def test_two_processes_migrating_at_once_both_succeed(tmp_path: Path) -> None:
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
    assert user_version(raw) == SCHEMA_VERSION
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
        blocker.execute("PRAGMA user_version = 0")  # pretend it needs migrating...
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
