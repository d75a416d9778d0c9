"""``benchorch lab ...``: the shared lab's schema, phones, reservations and workers.

Each subcommand reads lab.toml (``--config``, else ``BENCHORCH_LAB``). Nothing
here knows the job engine: ``benchorch.lab.queue`` does.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
from pathlib import Path

import click
import psycopg

from benchorch.domain import Outcome
from benchorch.errors import ConfigError, InfraError, UsageError
from benchorch.lab import parts, state
from benchorch.lab.config import LabConfig, load_lab_config, parse_duration

CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="lab.toml (default: BENCHORCH_LAB).",
)


def _holder() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def _open(config_path: Path | None) -> tuple[LabConfig, state.Conn]:
    config = load_lab_config(config_path)
    conn = state.connect(config.database_url)
    if not state.tables_exist(conn):
        conn.close()
        raise UsageError(
            "the lab database has no benchorch tables", hint="run `benchorch lab init` first"
        )
    state.sync_devices(conn, config)
    return config, conn


@click.group()
def lab() -> None:
    """The shared lab: phones on many hosts, one use of a phone at a time.

    \b
    Examples:
      benchorch lab init --config lab.toml
      benchorch lab devices --json
      benchorch lab reserve R58M123ABC --ttl 2h --note "perf bisect"
      benchorch lab release R58M123ABC
      benchorch lab worker --host lab-a
    """


@lab.command()
@CONFIG
def init(config_path: Path | None) -> None:
    """Create procrastinate's and benchorch's lab tables (idempotent).

    \b
    Example: benchorch lab init --config lab.toml
    """
    from benchorch.lab import queue

    config = load_lab_config(config_path)
    with state.connect(config.database_url) as conn, state.init_lock(conn):
        created = queue.init_schema(config.database_url)
        state.create_tables(conn)
        parts.create_tables(conn)
        state.sync_devices(conn, config)
    click.echo(
        f"lab database ready ({'queue schema created' if created else 'queue schema already there'}"
        f"; {len(config.phones)} phones on {len(config.hosts)} hosts)"
    )


def _health_text(d: state.DeviceRow) -> str:
    if d.health_at is None:
        return "health never checked"
    at = d.health_at.strftime("%Y-%m-%d %H:%M:%SZ")
    if d.health_ok:
        h = d.health or {}
        return f"health ok at {at} (battery {h.get('battery_level')}%, {h.get('temp_c')} C)"
    checks = (d.health or {}).get("checks", {})
    failed = [f"{k}: {v}" for k, v in checks.items() if v not in ("ok", "skipped")]
    return f"health FAILED at {at} ({'; '.join(failed)})"


def _owner_text(d: state.DeviceRow) -> str:
    if d.owner is None:
        return ""
    since = d.owner.started_at.strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{d.owner.kind} by {d.owner.owner} since {since} (token {d.owner.token})"


@lab.command()
@CONFIG
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
@click.option(
    "--trust-new",
    is_flag=True,
    help="Record a hub host's unknown SSH host key in its known_hosts (said on stderr); "
    "a changed key is still refused.",
)
def hosts(config_path: Path | None, as_json: bool, trust_new: bool) -> Outcome:
    """Probe each lab host: SSH reachable and the forward up (hub hosts), its adb server's
    version (first, and only if it matches this client's is anything else sent), the
    phones it sees against the configured ones; beside it, what the host's worker
    last recorded in the lab database (up, down, misconfigured, since when).

    Exit 3 when a host is down or misconfigured, or a configured phone is missing.

    \b
    Examples:
      benchorch lab hosts --json
      benchorch lab hosts --trust-new   # first contact with a new hub host
    """
    from benchorch.lab.hosts import probe_hosts

    config = load_lab_config(config_path)
    reports = probe_hosts(config, trust_new=trust_new)
    recorded = _recorded_hosts(config.database_url)
    if as_json:
        out = []
        for r in reports:
            row = recorded.get(r.name)
            out.append(
                {
                    **r.to_json(),
                    "worker_saw": None
                    if row is None or row.status is None
                    else {
                        "status": row.status,
                        "detail": row.detail,
                        "since": row.since.isoformat(),
                    },
                    "control_saw": None
                    if row is None or row.probe_status is None
                    else {
                        "status": row.probe_status,
                        "detail": row.probe_detail,
                        "missing": row.probe_missing or [],
                        "since": row.probe_since.isoformat() if row.probe_since else None,
                        "at": row.probed_at.isoformat() if row.probed_at else None,
                    },
                }
            )
        click.echo(json.dumps(out, indent=2))
    else:
        for r in reports:
            seen = f"{len(r.configured) - len(r.missing)}/{len(r.configured)} phones seen"
            missing = (
                f" (missing: {', '.join(r.missing)})" if r.missing and r.status == "up" else ""
            )
            version = "" if r.adb_version is None else f" adb {r.adb_version}"
            ssh = f"\tssh {r.ssh}" if r.ssh else ""
            row = recorded.get(r.name)
            worker = (
                ""
                if row is None or row.status is None
                else f"\tits worker: {row.status} since {row.since:%Y-%m-%d %H:%M:%SZ}"
            )
            if row is not None and row.probe_status is not None and row.probed_at is not None:
                worker += f"\tcontrol: {row.probe_status} at {row.probed_at:%H:%M:%SZ}"
            detail = f": {r.detail}" if r.detail else ""
            click.echo(
                f"{r.name}\t{r.mode}{ssh}\t{r.status}{version}\t{seen}{missing}{worker}{detail}"
            )
    bad = any(
        r.status in ("down", "misconfigured") or (r.status == "up" and r.missing) for r in reports
    )
    return Outcome.PARTIAL if bad else Outcome.OK


def _recorded_hosts(url: str) -> dict[str, state.HostRow]:
    """What each host's worker last recorded (best effort: `lab hosts` answers from the
    hosts themselves, with or without the database). Not overwritten here: a probe
    from a machine without the lab key must not mark a working host misconfigured."""
    try:
        with state.connect(url) as conn:
            return state.hosts(conn) if state.tables_exist(conn) else {}
    except (InfraError, psycopg.Error):
        return {}


@lab.command()
@CONFIG
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
def devices(config_path: Path | None, as_json: bool) -> None:
    """List the lab's phones: host (and its link's status when not up), model, tags, state,
    failure streak, last health check, current owner.

    A phone that fails for infrastructure reasons becomes `suspect`; `quarantine_after`
    (lab.toml, default 3) failures in a row make it `quarantined` (by benchorch): it
    gets only health checks (`lab worker --control`) until one passes, or a person
    runs `lab unquarantine`. A benchmark's own failure never counts.

    \b
    Example: benchorch lab devices --json
    """
    _config, conn = _open(config_path)
    with conn:
        rows = state.devices(conn)
        host_rows = state.hosts(conn)
    if as_json:
        out = [
            {
                "serial": d.serial,
                "host": d.host,
                "host_status": d.host_status,
                "host_detail": host_rows[d.host].detail if d.host in host_rows else None,
                "model": d.model,
                "tags": list(d.tags),
                "state": d.state,
                "state_reason": d.state_reason,
                "failure_streak": d.failure_streak,
                "quarantined_by": None
                if d.state != "quarantined"
                else ("benchorch" if d.quarantine_auto else "a person"),
                "health": None
                if d.health_at is None
                else {**(d.health or {}), "ok": d.health_ok, "at": d.health_at.isoformat()},
                "owner": None
                if d.owner is None
                else {
                    "kind": d.owner.kind,
                    "owner": d.owner.owner,
                    "token": d.owner.token,
                    "since": d.owner.started_at.isoformat(),
                },
            }
            for d in rows
        ]
        click.echo(json.dumps(out, indent=2))
        return
    for d in rows:
        reason = f" ({d.state_reason})" if d.state_reason else ""
        host = d.host if d.host_status in (None, "up") else f"{d.host} ({d.host_status})"
        click.echo(
            f"{d.serial}\t{host}\t{d.model}\t{','.join(d.tags)}\t{d.state}{reason}"
            f"\tstreak {d.failure_streak}\t{_health_text(d)}\t{_owner_text(d)}"
        )


@lab.command()
@CONFIG
@click.argument("serial")
@click.option("--ttl", default="2h", show_default=True, help="How long to hold it: 2h, 90m, 45s.")
@click.option("--note", default=None, help="Why, shown by `lab devices`.")
@click.option(
    "--wait",
    default="60s",
    show_default=True,
    help="How long to wait for the phone (a running job ends first); 0: queue and return.",
)
def reserve(config_path: Path | None, serial: str, ttl: str, note: str | None, wait: str) -> None:
    """Hold a phone for yourself: nothing else runs on it until you release it or the TTL ends.

    A reservation is a job holding the phone's lock at the highest priority: it
    starts once the phone's current job ends, served by the worker of the phone's host.

    \b
    Example: benchorch lab reserve R58M123ABC --ttl 2h --note "perf bisect"
    """
    from benchorch.lab import queue

    ttl_s = parse_duration(ttl)
    wait_s = 0.0 if wait.strip() == "0" else parse_duration(wait, what="--wait")
    config, conn = _open(config_path)
    phone = config.phone(serial)
    with conn:
        d = state.device(conn, serial)
        if d is not None and d.state in ("quarantined", "maintenance"):
            raise UsageError(
                f"{serial} is {d.state}" + (f" ({d.state_reason})" if d.state_reason else ""),
                hint=f"benchorch lab unquarantine {serial} first",
            )
        rid = state.create_reservation(conn, serial, _holder(), note, ttl_s)
        job_id = queue.defer_hold(config.database_url, serial, phone.host, rid)
        state.set_reservation_job(conn, rid, job_id)
        deadline = time.monotonic() + wait_s
        r = state.reservation(conn, rid)
        while r is not None and r.status == "waiting" and time.monotonic() < deadline:
            time.sleep(0.3)
            r = state.reservation(conn, rid)
    if r is not None and r.status == "held":
        assert r.expires_at is not None
        click.echo(f"{serial}: reserved by {r.holder} until {r.expires_at:%Y-%m-%d %H:%M:%SZ}")
        return
    if wait_s == 0:
        click.echo(f"{serial}: reservation {rid} queued (it starts when the phone is free)")
        return
    raise InfraError(
        f"{serial}: reservation {rid} not held after {wait}: the phone is busy or no worker "
        f"serves host {phone.host}; it stays queued",
        hint=f"start `benchorch lab worker --host {phone.host}`, "
        f"or `benchorch lab release {serial}`",
    )


@lab.command()
@CONFIG
@click.argument("serial")
@click.option("--force", is_flag=True, help="Release another person's reservation.")
def release(config_path: Path | None, serial: str, force: bool) -> None:
    """End your reservation of a phone (queued or held); the phone is free within a second.

    \b
    Example: benchorch lab release R58M123ABC
    """
    from benchorch.lab import queue

    config, conn = _open(config_path)
    config.phone(serial)
    me = _holder()
    with conn:
        mine = [r for r in state.active_reservations(conn, serial) if force or r.holder == me]
        if not mine:
            raise UsageError(
                f"{serial}: you ({me}) hold no reservation of it",
                hint="`benchorch lab devices` shows who holds it; --force releases theirs",
            )
        for r in mine:
            state.end_reservation(conn, r.id, "released", f"released by {me}")
            if r.status == "waiting" and r.job_id is not None:
                queue.cancel(config.database_url, r.job_id)
        # the hold job notices within a poll; wait for its attempt to end
        deadline = time.monotonic() + 10
        tokens = [r.token for r in mine if r.token is not None]
        while time.monotonic() < deadline and any(
            (a := state.attempt(conn, t)) is not None and a.ended_at is None for t in tokens
        ):
            time.sleep(0.2)
    click.echo(f"{serial}: released")


@lab.command(context_settings={"ignore_unknown_options": True})
@CONFIG
@click.argument("serial")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, required=True)
def adb(config_path: Path | None, serial: str, args: tuple[str, ...]) -> Outcome:
    """Run adb on a lab phone you hold (`lab reserve`); refused otherwise.

    A hub host's adb server is reached through its verified SSH forward. Its
    version is compared with this client's first: a mismatched client would kill
    the server.

    \b
    Example: benchorch lab adb R58M123ABC -- shell getprop ro.product.model
    """
    import shutil
    import subprocess

    from benchorch.lab.hosts import client_adb_version
    from benchorch.lab.link import HostLink

    config, conn = _open(config_path)
    phone = config.phone(serial)
    host = config.hosts[phone.host]
    me = _holder()
    with conn:
        held = [
            r
            for r in state.active_reservations(conn, serial)
            if r.status == "held"
            and r.holder == me
            and r.token is not None
            and state.is_current(conn, serial, r.token)
        ]
    if not held:
        raise UsageError(
            f"{serial}: you ({me}) do not hold it; lab adb runs only on a phone you reserved",
            hint=f"benchorch lab reserve {serial} --ttl 1h",
        )
    adb_path = shutil.which("adb")
    if adb_path is None:
        raise InfraError("no adb client on this machine", hint="install adb (tools/setup.sh)")
    with HostLink(host, client_adb_version()) as link:
        status = link.open(supervise=False, strict=True)
        if not status.up:
            raise InfraError(
                f"{serial}: host {host.name}'s adb server is {status.status}: {status.detail}",
                hint="benchorch lab hosts says more",
            )
        addr = link.addr  # the hub's forward, or the local server
        done = subprocess.run(
            [adb_path, "-H", addr.host, "-P", str(addr.port), "-s", serial, *args], check=False
        )
    return Outcome.OK if done.returncode == 0 else Outcome.FAILED


@lab.command()
@CONFIG
@click.argument("serial")
@click.option("--reason", required=True, help="Why: shown by `lab devices`.")
def quarantine(config_path: Path | None, serial: str, reason: str) -> None:
    """Take a phone out of service: it gets no sweeps or reservations until unquarantined.

    \b
    Example: benchorch lab quarantine R58M123ABC --reason "battery swollen"
    """
    config, conn = _open(config_path)
    config.phone(serial)
    with conn:
        state.set_state(conn, serial, "quarantined", reason)
    click.echo(f"{serial}: quarantined ({reason})")


@lab.command()
@CONFIG
@click.argument("serial")
def unquarantine(config_path: Path | None, serial: str) -> None:
    """Put a quarantined phone back in service (state good, failure streak 0).

    \b
    Example: benchorch lab unquarantine R58M123ABC
    """
    config, conn = _open(config_path)
    config.phone(serial)
    with conn:
        d = state.device(conn, serial)
        assert d is not None
        if d.state == "good":
            click.echo(f"{serial}: already good")
            return
        state.set_state(conn, serial, "good", f"cleared by {_holder()}")
    click.echo(f"{serial}: good")


@lab.command()
@CONFIG
@click.option("--host", "host_name", default=None, help="The lab host whose phones this serves.")
@click.option(
    "--control",
    is_flag=True,
    help="Run the control worker (the reaper, health checks, host probes) instead.",
)
@click.option(
    "--stalled-after",
    default="10s",
    show_default=True,
    help="--control: a worker silent this long is dead; its jobs are retried.",
)
@click.option(
    "--health-every",
    default="60s",
    show_default=True,
    help="--control: how often a suspect or quarantined phone gets a health check.",
)
@click.option(
    "--probe-every",
    default="30s",
    show_default=True,
    help="--control: how often each host is probed as `lab hosts` does (0: never).",
)
def worker(
    config_path: Path | None,
    host_name: str | None,
    control: bool,
    stalled_after: str,
    health_every: str,
    probe_every: str,
) -> None:
    """Serve a lab host's phones (one slot per phone), or with --control reap dead workers'
    jobs, schedule health checks of suspect and quarantined phones, and probe every host
    as `lab hosts` does (recorded beside what its worker records: `lab hosts` shows both;
    a host whose worker died with it is seen down too).

    Runs in the foreground; SIGTERM stops it. Hub mode (an `ssh` in its [hosts.NAME]):
    it runs anywhere and reaches the host's adb server through an SSH forward it
    supervises (checked every second, re-opened when it drops); edge mode: on the lab
    host itself, talking to the local adb server. The host's status (up, down,
    misconfigured) is recorded for `lab devices` and `lab hosts`. A host's worker
    serves reservations and the parts of `benchorch sweep --lab`; a running part stopped
    by SIGTERM finishes its launch and is handed back (retried at once, resuming).

    \b
    Examples:
      benchorch lab worker --config lab.toml --host lab-a
      benchorch lab worker --config lab.toml --control
    """
    from benchorch.lab import queue
    from benchorch.lab.hosts import client_adb_version
    from benchorch.lab.link import HostLink, LinkStatus

    if control == (host_name is not None):
        raise UsageError("pass exactly one of --host NAME and --control")
    config, conn = _open(config_path)
    conn.close()
    if control:
        _control(
            config,
            parse_duration(stalled_after, what="--stalled-after"),
            parse_duration(health_every, what="--health-every"),
            0.0
            if probe_every.strip() == "0"
            else parse_duration(probe_every, what="--probe-every"),
        )
        return
    assert host_name is not None
    if host_name not in config.hosts:
        raise ConfigError(
            f"--host {host_name!r} is not in {config.path}",
            hint=f"configured hosts: {', '.join(sorted(config.hosts)) or 'none'}",
        )
    url = config.database_url

    def record(status: LinkStatus) -> None:
        with state.connect(url) as c:
            state.set_host_status(
                c, host_name, status.mode, status.status, status.detail, status.adb_version
            )

    with HostLink(config.hosts[host_name], client_adb_version(), on_change=record) as link:
        link.open(strict=True)  # an unknown host key stops here, in one line
        queue.run_worker(
            url,
            host_name,
            len(config.phones_of(host_name)),
            {
                "adb_addr": str(link.addr),
                "host_link": link,
                "quarantine_after": config.quarantine_after,
                "phone_storage": {
                    p.serial: p.max_phone_storage for p in config.phones_of(host_name)
                },
            },
        )


def _control(
    config: LabConfig, stalled_after_s: float, health_every_s: float, probe_every_s: float
) -> None:
    import signal
    import threading

    from benchorch.lab.control import run_control

    with state.connect(config.database_url) as conn, state.init_lock(conn):
        state.create_tables(conn)  # a lab initialised before the host probes' columns
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_control(
        config.database_url,
        stalled_after_s,
        min(2.0, stalled_after_s / 2),
        stop,
        config,
        health_every_s,
        probe_every_s,
    )
