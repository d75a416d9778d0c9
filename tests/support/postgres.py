"""The tests' PostgreSQL server: ``benchorch.store.pgserver`` (the benchmarks use it too)."""

from benchorch.store.pgserver import BENCH, PASSWORD, PgServer, _free_port, pg_bindir, pg_server

__all__ = ["BENCH", "PASSWORD", "PgServer", "_free_port", "pg_bindir", "pg_server"]
