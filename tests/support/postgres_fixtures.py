"""Fixtures for tests that run on both store backends (owned by the store area).

``postgres``: one real PostgreSQL server for the whole session (see
``tests/support/postgres.py``), started the first time a test asks for it.
``results_db``: a fresh results database per test, on SQLite (a file) and on
PostgreSQL (a new database on that server): tests that take it run twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PgServer, pg_server

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    with pg_server() as server:
        yield server


def new_results_db(request: pytest.FixtureRequest, backend: str, folder: Path) -> str:
    """A fresh, empty results database on ``backend``, as ``--db`` takes it."""
    if backend == "sqlite":
        return str(folder / "results.sqlite")
    server: PgServer = request.getfixturevalue("postgres")
    return server.bench_url()


@pytest.fixture(params=BACKENDS)
def results_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return new_results_db(request, request.param, tmp_path)
