"""A throwaway PostgreSQL server in a temporary folder: the tests' (one per
session, shared by the store's and the lab's: ``tests/support/postgres.py``)
and the benchmarks' (``benchmarks/store_backends.py``). Debian's ``postgresql`` package
(installed by ``make setup``); ``initdb`` into a temporary folder, run as the
``postgres`` user when the tests run as root (PostgreSQL refuses root), on a
free loopback port with ``fsync=off``. The superuser ``postgres`` is trusted
(socket and loopback: ``url(db)``, what the lab's tests use); every other
role must give its password over TCP, so the store's tests connect as
``bench`` (``bench_url``, password ``PASSWORD``) and exercise passwords.
Stopped, and its postmaster killed by PID if it lingers, at the session's end.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "s3cret-Pw_42"  # noqa: S105 (the ``bench`` role's, on a throwaway server)
BENCH = "bench"
_HBA = (
    "local all all trust\n"
    "host all postgres 127.0.0.1/32 trust\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
)


def pg_bindir() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian keeps them versioned)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run `make setup`"
        )
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running server: ``url(db)`` is what benchorch's ``--db`` takes."""

    bindir: Path
    root: Path
    port: int
    _counter: itertools.count[int]

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def sockdir(self) -> Path:
        return self.root / "sock"

    def url(
        self, dbname: str = "postgres", *, user: str = "postgres", password: str | None = None
    ) -> str:
        auth = f"{user}:{password}" if password is not None else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def bench_url(self, dbname: str | None = None, *, password: str | None = PASSWORD) -> str:
        """``bench``'s URL (with its password) to a database it owns, a new one by default."""
        return self.url(dbname or self.new_database(owner=BENCH), user=BENCH, password=password)

    def _as_postgres(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL through the local socket (trusted) as the superuser."""
        out = subprocess.run(
            self._as_postgres(
                [
                    str(self.bindir / "psql"),
                    "-h",
                    str(self.sockdir),
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-d",
                    dbname,
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qAtc",
                    sql,
                ]
            ),
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout.strip()

    def new_database(self, owner: str = "postgres") -> str:
        """A fresh, empty database's name."""
        name = f"t{os.getpid()}_{next(self._counter)}"
        self.psql(f"CREATE DATABASE {name} OWNER {owner}")
        return name

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            self._as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args]),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def options(self) -> str:
        return (
            f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )

    def start(self) -> None:
        self.pg_ctl(
            "-w", "-t", "60", "-l", str(self.root / "server.log"), "-o", self.options(), "start"
        )

    def restart_fast(self) -> None:
        """``pg_ctl restart -m fast``: every connection is dropped."""
        self.pg_ctl(
            "-w",
            "-t",
            "60",
            "-m",
            "fast",
            "-l",
            str(self.root / "server.log"),
            "-o",
            self.options(),
            "restart",
        )

    def postmaster_pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(pidfile.read_text().splitlines()[0])
        return None

    def stop(self) -> None:
        pid = self.postmaster_pid()
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.pg_ctl("-w", "-t", "30", "-m", "immediate", "stop")
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # only our own postmaster, by its PID
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def pg_server() -> Iterator[PgServer]:
    """Start a server in a temporary folder; stop it and remove the folder afterwards."""
    bindir = pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="benchorch-pg-"))
    server = PgServer(bindir, root, _free_port(), itertools.count())
    server.sockdir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(server.sockdir, "postgres")
    try:
        subprocess.run(
            server._as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(server.datadir),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=180,
        )
        subprocess.run(
            server._as_postgres(["tee", str(server.datadir / "pg_hba.conf")]),
            input=_HBA,
            text=True,
            check=True,
            capture_output=True,
            timeout=30,
        )
        for _attempt in range(3):
            try:
                server.start()
                break
            except subprocess.CalledProcessError:  # the port was taken meanwhile
                server.port = _free_port()
        else:
            raise RuntimeError(f"PostgreSQL did not start: see {root / 'server.log'}")
        deadline = time.monotonic() + 30
        while True:
            try:
                server.psql("SELECT 1")
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        server.psql(f"CREATE ROLE {BENCH} LOGIN CREATEDB PASSWORD '{PASSWORD}'")
        yield server
    finally:
        server.stop()
