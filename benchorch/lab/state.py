"""benchorch's own lab tables on the lab's PostgreSQL (psycopg, plain SQL).

The queue's tables say which job runs; these say what benchorch trusts:

* ``benchorch_lab_devices``: each configured phone's state (good, suspect,
  quarantined, maintenance), why, its infrastructure failure streak, whether
  benchorch quarantined it (health checks may clear that) or a person did (only
  a person clears that), and its last health check.
* ``benchorch_lab_attempts``: every use of a phone, numbered by a fencing
  token. Beginning an attempt supersedes every open attempt on that phone, so
  the current attempt is the one with the phone's greatest token: an attempt
  whose worker was presumed dead and came back finds itself superseded before
  its next launch and before writing results.
* ``benchorch_lab_reservations``: an engineer's hold on a phone (a job that
  owns the phone's lock until released or expired).
* ``benchorch_lab_hosts``: each host's link as its worker last saw it: up, down or
  misconfigured, since when, why; beside it, the control worker's last probe.
* ``benchorch_lab_events``: the log of what happened to each phone (and host:
  ``host:<name>``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias, TypeVar

import psycopg
from psycopg.rows import dict_row

from benchorch.errors import InfraError, StoreUnavailable
from benchorch.lab.config import LabConfig, mask_url

__all__ = [
    "QUARANTINE_AFTER",
    "STATES",
    "Attempt",
    "DeviceRow",
    "HostRow",
    "Reservation",
    "connect",
    "db_away",
    "outlast",
]

log = logging.getLogger("benchorch.lab.state")
T = TypeVar("T")

Row: TypeAlias = dict[str, Any]
Conn: TypeAlias = "psycopg.Connection[Row]"

STATES = ("good", "suspect", "quarantined", "maintenance")
INIT_LOCK = 0x62656E63  # advisory lock key: one `lab init` at a time

SCHEMA = """
CREATE TABLE IF NOT EXISTS benchorch_lab_devices (
    serial text PRIMARY KEY,
    host text NOT NULL,
    model text NOT NULL,
    tags text[] NOT NULL DEFAULT '{}',
    state text NOT NULL DEFAULT 'good'
        CHECK (state IN ('good', 'suspect', 'quarantined', 'maintenance')),
    state_reason text,
    failure_streak integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS benchorch_lab_attempts (
    token bigserial PRIMARY KEY,
    serial text NOT NULL REFERENCES benchorch_lab_devices(serial),
    kind text NOT NULL,
    owner text NOT NULL,
    job_id bigint,
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    outcome text
);
CREATE INDEX IF NOT EXISTS benchorch_lab_attempts_open
    ON benchorch_lab_attempts (serial) WHERE ended_at IS NULL;
CREATE TABLE IF NOT EXISTS benchorch_lab_reservations (
    id bigserial PRIMARY KEY,
    serial text NOT NULL REFERENCES benchorch_lab_devices(serial),
    holder text NOT NULL,
    note text,
    ttl_s double precision NOT NULL,
    status text NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'held', 'released', 'expired', 'ended')),
    job_id bigint,
    token bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    held_at timestamptz,
    expires_at timestamptz,
    ended_at timestamptz,
    end_reason text
);
ALTER TABLE benchorch_lab_devices
    ADD COLUMN IF NOT EXISTS quarantine_auto boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS health jsonb,
    ADD COLUMN IF NOT EXISTS health_ok boolean,
    ADD COLUMN IF NOT EXISTS health_at timestamptz;
CREATE TABLE IF NOT EXISTS benchorch_lab_hosts (
    name text PRIMARY KEY,
    mode text NOT NULL,
    status text NOT NULL,
    detail text,
    adb_version integer,
    since timestamptz NOT NULL DEFAULT now(),
    checked_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE benchorch_lab_hosts
    ALTER COLUMN status DROP NOT NULL,
    ADD COLUMN IF NOT EXISTS probe_status text,
    ADD COLUMN IF NOT EXISTS probe_detail text,
    ADD COLUMN IF NOT EXISTS probe_missing text[],
    ADD COLUMN IF NOT EXISTS probed_at timestamptz,
    ADD COLUMN IF NOT EXISTS probe_since timestamptz;
CREATE TABLE IF NOT EXISTS benchorch_lab_meta (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    lab_id text NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text)
);
INSERT INTO benchorch_lab_meta DEFAULT VALUES ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS benchorch_lab_events (
    id bigserial PRIMARY KEY,
    serial text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    event text NOT NULL,
    token bigint,
    detail text
);
"""


@dataclass(frozen=True)
class Attempt:
    token: int
    serial: str
    kind: str
    owner: str
    job_id: int | None
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None


@dataclass(frozen=True)
class DeviceRow:
    serial: str
    host: str
    model: str
    tags: tuple[str, ...]
    state: str
    state_reason: str | None
    failure_streak: int
    owner: Attempt | None  # the open attempt with the phone's greatest token
    host_status: str | None = None  # its host's link: up, down, misconfigured (None: never seen)
    quarantine_auto: bool = False  # quarantined by benchorch (a passing health check clears it)
    health: dict[str, Any] | None = None  # the last health check's snapshot
    health_ok: bool | None = None
    health_at: datetime | None = None


@dataclass(frozen=True)
class HostRow:
    name: str
    mode: str
    status: str | None  # what its worker's link last said (None: no worker recorded yet)
    detail: str | None
    adb_version: int | None
    since: datetime  # when it took this status
    checked_at: datetime
    # the control worker's probe (``lab worker --control``): up, down, misconfigured
    probe_status: str | None = None
    probe_detail: str | None = None
    probe_missing: list[str] | None = None  # configured phones its adb server did not list
    probed_at: datetime | None = None
    probe_since: datetime | None = None


@dataclass(frozen=True)
class Reservation:
    id: int
    serial: str
    holder: str
    note: str | None
    ttl_s: float
    status: str
    job_id: int | None
    token: int | None
    created_at: datetime
    held_at: datetime | None
    expires_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None


def connect(url: str) -> Conn:
    """An autocommit connection to the lab database; a refusal is one line (exit 3)."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10, row_factory=dict_row)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = StoreUnavailable if db_away(exc) else InfraError  # away: worth waiting for
        raise kind(
            f"lab database {mask_url(url)} refused the connection: {mask_url(first)}",
            hint="check [database] url in lab.toml (or BENCHORCH_DB) and that PostgreSQL runs",
        ) from None


#: How long lab code waits for its database to come back (a restart, a failover, a short
#: network cut) before giving up on what it was doing.
OUTAGE_S = 120.0
RETRY_S = 0.5


def db_away(exc: BaseException) -> bool:
    """True when ``exc`` says the database server cannot be reached now (down, restarting,
    the connection dropped), as opposed to refusing what was asked (auth, SQL, data)."""
    from benchorch.store.engine import driver_error, server_gone

    if isinstance(exc, StoreUnavailable):
        return True
    orig = driver_error(exc)
    if not isinstance(orig, (psycopg.OperationalError, psycopg.InterfaceError)):
        return False
    if type(orig).__name__ == "PoolTimeout":  # no pooled connection came back in time
        return True
    text = str(orig).lower()
    refused = ("password", "authentication", "does not exist", "permission denied")
    return server_gone(orig) and not any(word in text for word in refused)


def outlast(call: Callable[[], T], what: str, within_s: float = OUTAGE_S) -> T:
    """``call()``, tried again while the lab database is away (each try on a connection
    ``call`` opens), for at most ``within_s``; any other failure is raised at once."""
    deadline: float | None = None
    while True:
        try:
            return call()
        except Exception as exc:
            if not db_away(exc):
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + within_s
                log.warning("%s: the lab database is away (%s); waiting for it", what, exc)
            if now >= deadline:
                raise StoreUnavailable(
                    f"{what}: the lab database did not answer for {within_s:.0f} s",
                    hint="check that its PostgreSQL runs and is reachable from this machine",
                ) from exc
            time.sleep(RETRY_S)


@contextlib.contextmanager
def init_lock(conn: Conn) -> Iterator[None]:
    """Serialise concurrent ``lab init`` calls (the second finds everything there)."""
    conn.execute("SELECT pg_advisory_lock(%s)", (INIT_LOCK,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (INIT_LOCK,))


def create_tables(conn: Conn) -> None:
    conn.execute(SCHEMA)


def lab_id(conn: Conn) -> str:
    """This lab's id, made once by ``lab init`` (the phones' guards carry it: fencing
    tokens are ordered within one lab's database only); "" for a lab initialised before
    ids existed."""
    row = conn.execute("SELECT to_regclass('benchorch_lab_meta') IS NOT NULL AS ok").fetchone()
    if not (row and row["ok"]):
        return ""
    got = conn.execute("SELECT lab_id FROM benchorch_lab_meta").fetchone()
    return str(got["lab_id"]) if got else ""


def tables_exist(conn: Conn) -> bool:
    row = conn.execute("SELECT to_regclass('benchorch_lab_devices') IS NOT NULL AS ok").fetchone()
    return bool(row and row["ok"])


def sync_devices(conn: Conn, config: LabConfig) -> None:
    """Every configured phone has a row; host, model and tags follow lab.toml (state is kept)."""
    with conn.transaction():
        for p in config.phones.values():
            conn.execute(
                "INSERT INTO benchorch_lab_devices (serial, host, model, tags) VALUES (%s,%s,%s,%s)"
                " ON CONFLICT (serial) DO UPDATE SET host = EXCLUDED.host,"
                " model = EXCLUDED.model, tags = EXCLUDED.tags",
                (p.serial, p.host, p.model, list(p.tags)),
            )


def log_event(
    conn: Conn, serial: str, event: str, detail: str | None = None, token: int | None = None
) -> None:
    conn.execute(
        "INSERT INTO benchorch_lab_events (serial, event, token, detail) VALUES (%s,%s,%s,%s)",
        (serial, event, token, detail),
    )


def events(conn: Conn, serial: str) -> list[dict[str, object]]:
    return list(
        conn.execute(
            "SELECT event, token, detail, at FROM benchorch_lab_events"
            " WHERE serial = %s ORDER BY id",
            (serial,),
        ).fetchall()
    )


def _attempt(row: Row | None) -> Attempt | None:
    return None if row is None else Attempt(**row)


def devices(conn: Conn) -> list[DeviceRow]:
    rows = conn.execute(
        "SELECT d.*, a.token AS a_token, a.kind AS a_kind, a.owner AS a_owner,"
        " a.job_id AS a_job_id, a.started_at AS a_started_at, h.status AS host_status"
        " FROM benchorch_lab_devices d LEFT JOIN benchorch_lab_hosts h ON h.name = d.host"
        " LEFT JOIN LATERAL ("
        "   SELECT * FROM benchorch_lab_attempts x WHERE x.serial = d.serial"
        "   AND x.ended_at IS NULL ORDER BY x.token DESC LIMIT 1) a ON true"
        " ORDER BY d.host, d.serial"
    ).fetchall()
    out = []
    for r in rows:
        owner = None
        if r["a_token"] is not None:
            owner = Attempt(
                r["a_token"],
                r["serial"],
                r["a_kind"],
                r["a_owner"],
                r["a_job_id"],
                r["a_started_at"],
                None,
                None,
            )
        out.append(
            DeviceRow(
                r["serial"],
                r["host"],
                r["model"],
                tuple(r["tags"]),
                r["state"],
                r["state_reason"],
                r["failure_streak"],
                owner,
                r["host_status"],
                r["quarantine_auto"],
                r["health"],
                r["health_ok"],
                r["health_at"],
            )
        )
    return out


def device(conn: Conn, serial: str) -> DeviceRow | None:
    return next((d for d in devices(conn) if d.serial == serial), None)


def set_state(conn: Conn, serial: str, state: str, reason: str | None) -> None:
    """A person's decision (``lab quarantine``/``unquarantine``): only a person undoes it."""
    assert state in STATES
    with conn.transaction():
        conn.execute(
            "UPDATE benchorch_lab_devices SET state = %s, state_reason = %s, updated_at = now(),"
            " quarantine_auto = false,"
            " failure_streak = CASE WHEN %s = 'good' THEN 0 ELSE failure_streak END"
            " WHERE serial = %s",
            (state, reason, state, serial),
        )
        log_event(conn, serial, f"state:{state}", reason)


# --- quarantine: infrastructure failures in a row ----------------------------------

#: infrastructure failures in a row that quarantine a phone (lab.toml ``quarantine_after``)
QUARANTINE_AFTER = 3


def _move(conn: Conn, serial: str, state: str, reason: str | None, *, auto: bool) -> None:
    conn.execute(
        "UPDATE benchorch_lab_devices SET state = %s, state_reason = %s, quarantine_auto = %s,"
        " updated_at = now() WHERE serial = %s",
        (state, reason, auto, serial),
    )
    log_event(conn, serial, f"state:{state}", reason)


def _count(
    conn: Conn, serial: str, infra_failed: bool, quarantine_after: int, detail: str | None
) -> str:
    """The streak rule, inside the caller's transaction with the device row locked."""
    row = conn.execute(
        "SELECT state, failure_streak FROM benchorch_lab_devices WHERE serial = %s FOR UPDATE",
        (serial,),
    ).fetchone()
    if row is None:
        raise KeyError(serial)
    state, streak = str(row["state"]), int(row["failure_streak"])
    if not infra_failed:
        conn.execute(
            "UPDATE benchorch_lab_devices SET failure_streak = 0 WHERE serial = %s", (serial,)
        )
        if state == "suspect":
            _move(conn, serial, "good", "a use succeeded", auto=False)
            return "good"
        return state
    streak += 1
    conn.execute(
        "UPDATE benchorch_lab_devices SET failure_streak = %s WHERE serial = %s", (streak, serial)
    )
    last = f" (last: {detail})" if detail else ""
    if state in ("good", "suspect") and streak >= max(1, quarantine_after):
        _move(
            conn, serial, "quarantined",
            f"{streak} infrastructure failures in a row{last}", auto=True,
        )  # fmt: skip
        return "quarantined"
    if state == "good":
        _move(conn, serial, "suspect", f"an infrastructure failure{last}", auto=False)
        return "suspect"
    return state


def record_use(
    conn: Conn,
    serial: str,
    infra_failed: bool,
    *,
    quarantine_after: int = QUARANTINE_AFTER,
    detail: str | None = None,
) -> str:
    """Count one use of a phone; its state after (good, suspect, quarantined, maintenance).

    ``infra_failed``: the phone or its link failed (dropped, unreachable, adb or storage
    errors), never the benchmark's own failure (a bad model, a crash: pass False, or
    do not call). A failure makes a good phone ``suspect`` (it gets health checks);
    ``quarantine_after`` in a row make it ``quarantined`` (only health checks until one
    passes, or a person clears it). A success ends the streak and clears ``suspect``
    (a quarantined phone is cleared only by a health check or a person).
    """
    with conn.transaction():
        return _count(conn, serial, infra_failed, quarantine_after, detail)


def record_health(
    conn: Conn,
    serial: str,
    ok: bool,
    snapshot: dict[str, Any],
    *,
    quarantine_after: int = QUARANTINE_AFTER,
    token: int | None = None,
) -> str:
    """Store a health check's result as the phone's last snapshot; its state after.

    A pass makes a suspect or benchorch-quarantined phone ``good`` (streak 0); a
    person's quarantine and maintenance stay. A failure counts as an infrastructure
    failure (``record_use``).
    """
    import json

    with conn.transaction():
        conn.execute(
            "UPDATE benchorch_lab_devices SET health = %s::jsonb, health_ok = %s,"
            " health_at = now() WHERE serial = %s",
            (json.dumps(snapshot), ok, serial),
        )
        failed = ", ".join(k for k, v in snapshot.get("checks", {}).items() if v != "ok")
        log_event(conn, serial, "health:ok" if ok else "health:failed", failed or None, token)
        if not ok:
            return _count(conn, serial, True, quarantine_after, f"health check: {failed}")
        row = conn.execute(
            "SELECT state, quarantine_auto FROM benchorch_lab_devices WHERE serial = %s FOR UPDATE",
            (serial,),
        ).fetchone()
        assert row is not None
        conn.execute(
            "UPDATE benchorch_lab_devices SET failure_streak = 0 WHERE serial = %s", (serial,)
        )
        if row["state"] == "suspect" or (row["state"] == "quarantined" and row["quarantine_auto"]):
            _move(conn, serial, "good", "a health check passed", auto=False)
            return "good"
        return str(row["state"])


def health_due(conn: Conn, every_s: float) -> list[DeviceRow]:
    """Phones that want a health check: suspect, or quarantined by benchorch, whose last
    check is older than ``every_s`` or than their current state."""
    due = conn.execute(
        "SELECT serial FROM benchorch_lab_devices WHERE"
        " (state = 'suspect' OR (state = 'quarantined' AND quarantine_auto))"
        " AND (health_at IS NULL OR health_at < updated_at"
        "      OR health_at < now() - %s * interval '1 second')",
        (every_s,),
    ).fetchall()
    serials = {r["serial"] for r in due}
    return [d for d in devices(conn) if d.serial in serials]


# --- hosts -------------------------------------------------------------------


def _record_host(
    conn: Conn,
    name: str,
    column: str,
    status: str,
    detail: str | None,
    upsert: str,
    args: tuple[Any, ...],
) -> bool:
    """Lock the host's row, run ``upsert``, log ``<column's kind>:<status>`` on a change."""
    with conn.transaction():
        row = conn.execute(
            f"SELECT {column} FROM benchorch_lab_hosts WHERE name = %s FOR UPDATE",  # noqa: S608
            (name,),
        ).fetchone()
        changed = row is None or row[column] != status
        conn.execute(upsert, args)
        if changed:
            kind = "probe" if column == "probe_status" else "host"
            log_event(conn, f"host:{name}", f"{kind}:{status}", detail or None)
    return changed


def set_host_status(
    conn: Conn, name: str, mode: str, status: str, detail: str | None, adb_version: int | None
) -> bool:
    """Record a host's link status; True (and an event ``host:<status>``) when it changed."""
    return _record_host(
        conn,
        name,
        "status",
        status,
        detail,
        "INSERT INTO benchorch_lab_hosts (name, mode, status, detail, adb_version)"
        " VALUES (%s,%s,%s,%s,%s) ON CONFLICT (name) DO UPDATE SET mode = EXCLUDED.mode,"
        " status = EXCLUDED.status, detail = EXCLUDED.detail,"
        " adb_version = EXCLUDED.adb_version, checked_at = now(),"
        " since = CASE WHEN benchorch_lab_hosts.status = EXCLUDED.status"
        " THEN benchorch_lab_hosts.since ELSE now() END",
        (name, mode, status, detail or None, adb_version),
    )


def set_host_probe(
    conn: Conn, name: str, mode: str, status: str, detail: str | None, missing: list[str]
) -> bool:
    """Record the control worker's probe of a host, beside (never over) what its worker
    records; True (and an event ``probe:<status>``) when the probe's answer changed."""
    return _record_host(
        conn,
        name,
        "probe_status",
        status,
        detail,
        "INSERT INTO benchorch_lab_hosts (name, mode, status, probe_status, probe_detail,"
        " probe_missing, probed_at, probe_since) VALUES (%s,%s,NULL,%s,%s,%s,now(),now())"
        " ON CONFLICT (name) DO UPDATE SET probe_status = EXCLUDED.probe_status,"
        " probe_detail = EXCLUDED.probe_detail, probe_missing = EXCLUDED.probe_missing,"
        " probed_at = now(), probe_since = CASE WHEN"
        " benchorch_lab_hosts.probe_status IS NOT DISTINCT FROM EXCLUDED.probe_status"
        " THEN benchorch_lab_hosts.probe_since ELSE now() END",
        (name, mode, status, detail or None, missing),
    )


def hosts(conn: Conn) -> dict[str, HostRow]:
    rows = conn.execute("SELECT * FROM benchorch_lab_hosts ORDER BY name").fetchall()
    return {r["name"]: HostRow(**r) for r in rows}


# --- attempts: the fencing tokens ------------------------------------------------


def begin_attempt(conn: Conn, serial: str, kind: str, owner: str, job_id: int | None) -> int:
    """A new attempt on ``serial``; every open attempt on it is superseded. Returns its token."""
    with conn.transaction():
        conn.execute("SELECT 1 FROM benchorch_lab_devices WHERE serial = %s FOR UPDATE", (serial,))
        conn.execute(
            "UPDATE benchorch_lab_attempts SET ended_at = now(), outcome = 'superseded'"
            " WHERE serial = %s AND ended_at IS NULL",
            (serial,),
        )
        row = conn.execute(
            "INSERT INTO benchorch_lab_attempts (serial, kind, owner, job_id)"
            " VALUES (%s,%s,%s,%s) RETURNING token",
            (serial, kind, owner, job_id),
        ).fetchone()
        assert row is not None
        token = int(row["token"])
        log_event(conn, serial, f"attempt:{kind}", owner, token)
    return token


#: (serial, token, token) -> ok: the attempt ``token`` is the open one with the greatest token
CURRENT_SQL = (
    "SELECT (SELECT max(token) FROM benchorch_lab_attempts WHERE serial = %s) = %s"
    " AND (SELECT ended_at IS NULL FROM benchorch_lab_attempts WHERE token = %s) AS ok"
)
#: (serial,): taken by a fenced write before ``CURRENT_SQL`` in its own transaction, so
#: ``begin_attempt`` (which locks the row for update) waits for the write to commit, and a
#: write after it sees the new attempt: no result of a superseded attempt is ever stored
SHARE_DEVICE_SQL = "SELECT 1 FROM benchorch_lab_devices WHERE serial = %s FOR SHARE"


def is_current(conn: Conn, serial: str, token: int) -> bool:
    """True while ``token`` is the open attempt with ``serial``'s greatest token."""
    row = conn.execute(CURRENT_SQL, (serial, token, token)).fetchone()
    return bool(row and row["ok"])


def fence(url: str, serial: str, token: int) -> Callable[[], bool]:
    """The executor's fence for one attempt: True while ``token`` is current on ``serial``.

    Fails closed: when the database cannot say (down, restarted), the attempt is
    treated as superseded, so nothing is launched or stored unfenced.
    """

    def current() -> bool:
        try:
            with connect(url) as conn:
                return is_current(conn, serial, token)
        except (InfraError, psycopg.Error):
            return False

    return current


def end_attempt(conn: Conn, token: int, outcome: str) -> None:
    conn.execute(
        "UPDATE benchorch_lab_attempts SET ended_at = now(), outcome = %s"
        " WHERE token = %s AND ended_at IS NULL",
        (outcome, token),
    )


def attempt(conn: Conn, token: int) -> Attempt | None:
    return _attempt(
        conn.execute("SELECT * FROM benchorch_lab_attempts WHERE token = %s", (token,)).fetchone()
    )


# --- reservations ------------------------------------------------------------


def create_reservation(conn: Conn, serial: str, holder: str, note: str | None, ttl_s: float) -> int:
    row = conn.execute(
        "INSERT INTO benchorch_lab_reservations (serial, holder, note, ttl_s)"
        " VALUES (%s,%s,%s,%s) RETURNING id",
        (serial, holder, note, ttl_s),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def set_reservation_job(conn: Conn, rid: int, job_id: int) -> None:
    conn.execute("UPDATE benchorch_lab_reservations SET job_id = %s WHERE id = %s", (job_id, rid))


def reservation(conn: Conn, rid: int) -> Reservation | None:
    row = conn.execute("SELECT * FROM benchorch_lab_reservations WHERE id = %s", (rid,)).fetchone()
    return None if row is None else Reservation(**row)


def active_reservations(conn: Conn, serial: str) -> list[Reservation]:
    rows = conn.execute(
        "SELECT * FROM benchorch_lab_reservations WHERE serial = %s"
        " AND status IN ('waiting', 'held') ORDER BY id",
        (serial,),
    ).fetchall()
    return [Reservation(**r) for r in rows]


def hold_reservation(conn: Conn, rid: int, token: int) -> Reservation | None:
    """The reservation's job got the phone: held from now for its TTL (None: it was released)."""
    row = conn.execute(
        "UPDATE benchorch_lab_reservations SET status = 'held', token = %s, held_at = now(),"
        " expires_at = now() + ttl_s * interval '1 second'"
        " WHERE id = %s AND status = 'waiting' RETURNING *",
        (token, rid),
    ).fetchone()
    return None if row is None else Reservation(**row)


def retake_reservation(conn: Conn, rid: int, token: int) -> Reservation | None:
    """A retried hold job (its worker died) takes its held reservation over with a new token;
    None when the reservation is no longer held or its time ran out."""
    row = conn.execute(
        "UPDATE benchorch_lab_reservations SET token = %s"
        " WHERE id = %s AND status = 'held' AND expires_at > now() RETURNING *",
        (token, rid),
    ).fetchone()
    return None if row is None else Reservation(**row)


def end_reservation(conn: Conn, rid: int, status: str, reason: str) -> bool:
    """Ends a waiting or held reservation; False when it had already ended."""
    row = conn.execute(
        "UPDATE benchorch_lab_reservations SET status = %s, ended_at = now(), end_reason = %s"
        " WHERE id = %s AND status IN ('waiting', 'held') RETURNING serial, token",
        (status, reason, rid),
    ).fetchone()
    if row is not None:
        log_event(conn, row["serial"], f"reservation:{status}", reason, row["token"])
    return row is not None
