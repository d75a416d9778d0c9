"""``--db`` as a PostgreSQL URL against the session's real server: bad values,
unreachable servers, passwords (URL, PGPASSWORD, ~/.pgpass) masked everywhere,
roles without write permission, run ids across hosts, readers and writers."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from benchorch.cli.main import cli
from benchorch.errors import StoreError, StoreUnavailable
from benchorch.exits import ExitCode, exit_code
from benchorch.store import Store
from benchorch.store import store as store_module
from benchorch.store.encode import PG_NUL
from benchorch.store.location import mask, parse_db
from tests.store.factory import launch
from tests.support.postgres import PASSWORD, PgServer, _free_port

SECRET = "hunter2-Zq"


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def _error_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.startswith("benchorch: error:")]
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (f"postgresql://bench:{SECRET}@db.lab:notaport/results", "malformed"),
        (f"postgresql://bench:{SECRET}@/results", "malformed"),
        (f"postgresql://bench:{SECRET}@db.lab:5432/", "malformed"),
        (f"mysql://bench:{SECRET}@db.lab/results", "unknown database scheme 'mysql'"),
        (f"sqlite+weird://bench:{SECRET}@x/y", "unknown database scheme"),
    ],
)
def test_bad_url_is_exit_2_without_the_password(value: str, words: str) -> None:
    code, out = _cli("--db", value, "runs")
    assert code == ExitCode.USAGE, out
    line = _error_line(out)
    assert words in line and SECRET not in out
    code, out = _cli("runs", env={"BENCHORCH_DB": value})
    assert code == ExitCode.USAGE and SECRET not in out


def test_file_in_a_missing_folder_is_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "results.sqlite"
    for command in (["runs"], ["export", "latest"], ["trend", "-o", str(tmp_path / "t.html")]):
        code, out = _cli("--db", str(target), *command)
        assert code == ExitCode.USAGE, (command, out)
        assert str(target.parent) in _error_line(out)
    assert not (tmp_path / "no").exists()


def test_mask_hides_every_url_password() -> None:
    text = f"benchorch --db postgresql+psycopg://bench:{SECRET}@h:5/db x postgresql://a:b@c/d"
    assert (
        mask(text)
        == "benchorch --db postgresql+psycopg://bench:***@h:5/db x postgresql://a:***@c/d"
    )
    loc = parse_db(f"postgresql://bench:{SECRET}@db.lab:6543/results")
    assert loc.display == "postgresql://bench@db.lab:6543/results" and SECRET not in str(loc)
    assert loc.url is not None and loc.url.startswith("postgresql+psycopg://")
    assert parse_db("postgresql://db.lab/results").port == 5432


def test_refused_connection_is_exit_3_naming_host_port_and_database() -> None:
    port = _free_port()  # nothing listens there
    code, out = _cli("--db", f"postgresql://bench:{SECRET}@127.0.0.1:{port}/results", "runs")
    assert code == ExitCode.INFRA, out
    line = _error_line(out)
    assert f"127.0.0.1:{port}" in line and "'results'" in line and "cannot reach" in line
    assert SECRET not in out


def test_wrong_password_unknown_database_are_exit_3(postgres: PgServer) -> None:
    db = postgres.new_database()
    code, out = _cli("--db", postgres.bench_url(db, password=SECRET), "runs")
    assert code == ExitCode.INFRA, out
    line = _error_line(out)
    assert "refused the password of user 'bench'" in line
    assert f"127.0.0.1:{postgres.port}" in line and repr(db) in line and SECRET not in out
    code, out = _cli("--db", postgres.bench_url("no_such_db"), "runs")
    assert code == ExitCode.INFRA, out
    line = _error_line(out)
    assert "has no database 'no_such_db'" in line and str(postgres.port) in line
    assert PASSWORD not in out


def test_password_from_pgpassword_and_pgpass(
    postgres: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = postgres.new_database(owner="bench")
    bare = postgres.bench_url(db, password=None)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.pgpass yet
    monkeypatch.delenv("PGPASSFILE", raising=False)
    with pytest.raises(StoreError) as info:
        Store(bare)
    assert "password" in str(info.value) and exit_code(info.value) == ExitCode.INFRA
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with Store(bare) as store:
        store.create_run("from PGPASSWORD", {})
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / ".pgpass"
    pgpass.write_text(f"127.0.0.1:{postgres.port}:{db}:bench:{PASSWORD}\n")
    pgpass.chmod(0o600)
    with Store(bare) as store:
        assert list(store.runs()["command"]) == ["from PGPASSWORD"]
    code, out = _cli("--db", bare, "runs", "--json")
    assert code == 0 and "from PGPASSWORD" in out


def test_password_never_stored_or_printed(postgres: PgServer) -> None:
    url = postgres.bench_url()
    with Store(url) as store:
        rid = store.create_run(f"benchorch --db {url} sweep", {"db": url, "note": "x"})
        run = store.run(rid)
        assert PASSWORD not in str(run) and run["params"]["db"] == mask(url)
        assert PASSWORD not in store.where and PASSWORD not in repr(store.location)
    code, out = _cli("--db", url, "runs")
    assert code == 0 and PASSWORD not in out and "sweep" in out
    code, out = _cli("--db", url, "export", "nope")
    assert code == ExitCode.USAGE and PASSWORD not in out


def test_role_without_write_permission_is_exit_3(postgres: PgServer) -> None:
    db = postgres.new_database()
    Store(postgres.url(db)).close()  # the schema exists
    postgres.psql(f"CREATE ROLE reader LOGIN PASSWORD '{SECRET}'") if not postgres.psql(
        "SELECT 1 FROM pg_roles WHERE rolname = 'reader'"
    ) else None
    postgres.psql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader", db)
    url = postgres.url(db, user="reader", password=SECRET)
    with Store(url) as store:
        assert store.runs().empty  # reading is allowed
        with pytest.raises(StoreError) as info:
            store.create_run("sweep", {})
    text = str(info.value)
    assert exit_code(info.value) == ExitCode.INFRA and "\n" not in text
    assert "'reader' may not write" in text and str(postgres.port) in text and repr(db) in text
    assert SECRET not in text
    empty = postgres.new_database()
    postgres.psql("REVOKE CREATE ON SCHEMA public FROM PUBLIC", empty)
    with pytest.raises(StoreError, match="'reader' may not write"):
        Store(postgres.url(empty, user="reader", password=SECRET))  # cannot create the tables


def test_run_ids_unique_across_hosts_even_when_drawn_equal(
    postgres: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight "hosts" (own Store each) create runs at once, and the id source hands
    out each id twice: the database's key makes them draw again, never share."""
    url = postgres.bench_url()
    counter = itertools.count()
    lock = threading.Lock()

    def colliding_id(now: float | None = None) -> str:
        with lock:
            return f"20260101-000000-{next(counter) // 2:08x}"

    monkeypatch.setattr(store_module, "new_run_id", colliding_id)
    made: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def host() -> None:
        try:
            with Store(url) as store:
                barrier.wait()
                for _ in range(10):
                    made.append(store.create_run("sweep", {}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=host) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(made) == 80 and len(set(made)) == 80
    with Store(url) as store:
        assert store.counts()["runs"] == 80


def test_a_reader_in_a_long_transaction_never_blocks_the_writer(results_db: str) -> None:
    with Store(results_db) as store:
        rid = store.create_run("sweep", {})
        store.record_launch(launch(rid, 0))
    loc = parse_db(results_db)
    url = loc.url or f"sqlite:///{loc.path}"
    engine = sa.create_engine(url)
    with engine.connect() as reader:
        reader.begin()
        if loc.url is None:
            reader.exec_driver_sql("BEGIN")  # pysqlite opens none for a read
        else:
            reader.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        assert reader.exec_driver_sql("SELECT COUNT(*) FROM launches").scalar() == 1
        done: list[Any] = []
        writer = threading.Thread(
            target=lambda: done.append(Store(results_db, timeout_s=5).record_launch(launch(rid, 1)))
        )
        writer.start()
        writer.join(30)
        assert done, "the writer waited for the reader"
        # the reader's snapshot is unchanged until its transaction ends
        assert reader.exec_driver_sql("SELECT COUNT(*) FROM launches").scalar() == 1
        reader.rollback()
        assert reader.exec_driver_sql("SELECT COUNT(*) FROM launches").scalar() == 2
    engine.dispose()


def test_nul_in_output_is_kept_visible_on_postgresql(postgres: PgServer) -> None:
    with Store(postgres.bench_url()) as store:
        rid = store.create_run("sweep", {})
        store.record_launch(launch(rid, 0, stderr="Segmentation fault\x00 (core dumped)"))
        assert store.launches(rid).iloc[0]["stderr"] == f"Segmentation fault{PG_NUL} (core dumped)"


def test_a_server_restart_is_store_unavailable_then_the_store_reconnects(
    postgres: PgServer,
) -> None:
    with Store(postgres.bench_url()) as store:
        rid = store.create_run("sweep", {})
        store.record_launch(launch(rid, 0))
        postgres.restart_fast()
        try:
            store.record_launch(launch(rid, 1))
        except StoreUnavailable as exc:  # the dropped connection is reported once...
            assert f"127.0.0.1:{postgres.port}" in str(exc) and PASSWORD not in str(exc)
            assert exit_code(exc) == ExitCode.INFRA
            store.record_launch(launch(rid, 1))  # ...then a new one is opened
        assert store.run(rid)["launches"] == 2


def test_resume_from_a_missing_file_is_exit_2(tmp_path: Path) -> None:
    code, out = _cli("--db", str(tmp_path / "none.sqlite"), "sweep", "--resume", "x")
    assert code == ExitCode.USAGE, out
    assert "no results database at" in _error_line(out)
    assert not (tmp_path / "none.sqlite").exists()
