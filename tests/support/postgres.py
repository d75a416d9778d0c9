"""A real PostgreSQL server for the tests, one per test session (the lab's copy).

Debian's server binaries, ``initdb`` into a temporary folder (as the ``postgres``
user when the tests run as root: PostgreSQL refuses root), a free loopback port,
``fsync=off``; trusted local and loopback logins. ``url(new_database())`` gives
each test its own database. Stopped, and its postmaster killed by PID, at the end.
The results store's tests may bring their own; this one keeps the same names
(``pg_server``, ``PgServer.url``, ``PgServer.new_database``) so the two can merge.
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def pg_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin): make setup")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bindir: Path
    root: Path
    port: int
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def _as_postgres(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def url(self, dbname: str = "postgres", *, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        argv = [str(self.bindir / "psql"), "-h", str(self.root / "sock"), "-p", str(self.port)]
        argv += ["-U", "postgres", "-d", dbname, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]
        done = subprocess.run(
            self._as_postgres(argv), check=True, capture_output=True, text=True, timeout=60
        )
        return done.stdout.strip()

    def new_database(self) -> str:
        name = f"lab{os.getpid()}_{next(self._names)}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def pg_ctl(self, *args: str) -> None:
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), *args]
        subprocess.run(self._as_postgres(argv), check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c max_connections=200"
        )
        self.pg_ctl("-w", "-t", "60", "-l", str(self.root / "server.log"), "-o", opts, "start")

    def stop(self) -> None:
        pid = None
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.root / "data" / "postmaster.pid").read_text().split()[0])
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.pg_ctl("-w", "-t", "30", "-m", "immediate", "stop")
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # our own postmaster only, by its PID
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def pg_server() -> Iterator[PgServer]:
    bindir = pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="benchorch-pg-"))
    server = PgServer(bindir, root, _free_port())
    (root / "sock").mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(root / "sock", "postgres")
    try:
        init = [str(bindir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust"]
        init += ["-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
        subprocess.run(server._as_postgres(init), check=True, capture_output=True, timeout=180)
        for _ in range(3):
            try:
                server.start()
                break
            except subprocess.CalledProcessError:  # the port was taken meanwhile
                server.port = _free_port()
        else:
            raise RuntimeError(f"PostgreSQL did not start: see {root / 'server.log'}")
        yield server
    finally:
        server.stop()
