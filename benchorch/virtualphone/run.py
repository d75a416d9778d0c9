"""Assemble and run one virtual phone: profile + faults + sandbox + server."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from benchorch.virtualphone.faults import Faults, FaultState
from benchorch.virtualphone.profile import Profile
from benchorch.virtualphone.sandbox import Sandbox
from benchorch.virtualphone.server import (
    FEATURES,
    Connection,
    PhoneServer,
    Resolver,
    Service,
    make_banner,
)
from benchorch.virtualphone.services import Phone
from benchorch.virtualphone.sessions import DEFAULT_MATCH, SessionLog

log = logging.getLogger("benchorch.virtualphone")


def _logged(phone: Phone) -> Resolver:
    """``phone.resolve``, saying each service opened on stdout, the session's log.

    One line per service (``vphone: service shell,v2,raw``: the name up to its
    first ``:``), so a test can count the adb services a sweep opens per launch.
    """

    def resolve(name: str, conn: Connection) -> Service | None:
        print(f"vphone: service {name.partition(':')[0]}", flush=True)
        return phone.resolve(name, conn)

    return resolve


def serve(
    profile: Profile,
    faults: Faults,
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    session_log: Path | None = None,
    session_match: str = DEFAULT_MATCH,
) -> None:
    """Serve until SIGTERM/SIGINT. Prints ``vphone: listening on HOST:PORT`` when ready.

    With ``session_log`` every benchmark process is logged there (``sessions.py``).
    """
    state = FaultState(faults)
    sandbox = Sandbox(profile, state, root)
    features = FEATURES if profile.features is None else profile.features
    sessions = None if session_log is None else SessionLog(session_log, session_match)
    phone = Phone(sandbox, state, shell_v2="shell_v2" in features, sessions=sessions)
    try:
        server = PhoneServer(host, port, make_banner(profile.props, features), _logged(phone))
    except OSError as exc:
        sandbox.close()
        from benchorch.errors import UsageError

        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror}", hint="pick a free --port"
        ) from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        server.close()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(
        f"vphone: listening on {host}:{server.port} profile={profile.name} root={sandbox.root}",
        flush=True,
    )
    if sessions is not None:
        sessions.phone("up")
    thread = threading.Thread(target=server.serve_forever, name="accept", daemon=True)
    thread.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.close()
        sandbox.close()  # every process it started is killed: no session outlives "down"
        if sessions is not None:
            sessions.phone("down")
        sys.stdout.flush()
