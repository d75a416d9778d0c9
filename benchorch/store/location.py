"""Where the results live: ``--db`` / ``BENCHORCH_DB`` parsed, and passwords masked.

A value is either a file path (SQLite, the embedded default) or a URL:
``postgresql://user@host:port/dbname`` or ``postgresql+psycopg://...``. The
password may be in the URL, or come from ``PGPASSWORD`` or ``~/.pgpass``
(libpq reads those itself). It never leaves this module unmasked:
``DbLocation.display`` has no password at all, and ``mask`` replaces one in
any text (a stored command line, an error message) with ``***``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from benchorch.errors import UsageError

SCHEMES = ("postgresql", "postgresql+psycopg")
DEFAULT_PORT = 5432
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*):[^@\s]*@")
_SCHEME = re.compile(r"^([a-zA-Z][\w+.-]*)://")


def mask(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1:***@", text)


@dataclass(frozen=True)
class DbLocation:
    """A SQLite file (``path``) or a PostgreSQL database (``url``, password inside)."""

    path: Path | None = None
    #: The full URL (may hold the password): give it only to the driver.
    url: str | None = field(default=None, repr=False)
    host: str = ""
    port: int = DEFAULT_PORT
    database: str = ""
    user: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.path is not None

    @property
    def display(self) -> str:
        """How messages name it: the path, or the URL without its password."""
        if self.path is not None:
            return str(self.path)
        user = f"{self.user}@" if self.user else ""
        return f"postgresql://{user}{self.host}:{self.port}/{self.database}"

    @property
    def server(self) -> str:
        """``host``, ``port`` and ``database``, as connection errors name them."""
        return f"{self.host}:{self.port} database {self.database!r}"

    def __str__(self) -> str:
        return self.display

    def exists(self) -> bool:
        """A file: whether it exists; a server's database: assumed (connecting tells)."""
        return self.path.exists() if self.path is not None else True


def parse_db(value: str | Path | DbLocation) -> DbLocation:
    """A ``--db`` value as a location; a malformed URL or an unknown scheme is a
    ``UsageError`` (exit 2) that never shows the password."""
    if isinstance(value, DbLocation):
        return value
    if isinstance(value, Path):
        return DbLocation(path=value)
    text = value.strip()
    scheme = _SCHEME.match(text)
    if scheme is None:
        if "://" in text or not text:
            raise UsageError(
                f"--db {mask(text)!r} is neither a file path nor a database URL",
                hint="give a file (results.sqlite) or postgresql://user@host:port/dbname",
            )
        return DbLocation(path=Path(text))
    if scheme.group(1).lower() not in SCHEMES:
        raise UsageError(
            f"--db: unknown database scheme {scheme.group(1)!r} in {mask(text)!r}",
            hint="use a file path (SQLite) or postgresql://user@host:port/dbname",
        )
    return _parse_url(text)


def _parse_url(text: str) -> DbLocation:
    import sqlalchemy as sa

    bad = UsageError(
        f"--db: malformed database URL {mask(text)!r}",
        hint="write it as postgresql://user@host:port/dbname (password from PGPASSWORD or"
        " ~/.pgpass, or user:password@ in the URL)",
    )
    try:
        url = sa.engine.make_url(text)
        port = url.port
    except (sa.exc.ArgumentError, ValueError):
        raise bad from None  # the driver's message may quote the password
    if not url.host or not url.database or "/" in url.database:
        raise bad
    return DbLocation(
        url=url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False),
        host=url.host,
        port=port or DEFAULT_PORT,
        database=url.database,
        user=url.username,
    )
