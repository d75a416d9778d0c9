"""A lab host's adb server, reached from here: directly (edge) or through SSH (hub).

Edge mode (no ``ssh`` in ``[hosts.NAME]``): the adb server is on this machine at
``127.0.0.1:<adb_port>``. Hub mode: a paramiko connection to the host (its key
verified against the configured known_hosts, as the build host's is:
``benchorch.build.remote.RemoteHost``) and a local listener on ``127.0.0.1:<free
port>`` whose every connection is forwarded (``direct-tcpip``) to
``127.0.0.1:<adb_port>`` on the host. Either way :attr:`HostLink.addr` is what
this process's adb clients (``AdbDevice``, ``adb -H -P``) point at: the rest
of benchorch does not know which mode it is in.

A supervisor thread checks the link every ``interval_s`` with one
``host:version`` under a ``timeout_s`` deadline (the only request ever sent
before the versions are known to match: a client of another version kills the
server it talks to, docs/LAB.md; ``host:kill`` is never sent). A failed check
closes the SSH connection (a black-holed host answers nothing, so a dead
connection is noticed by the check, not by TCP) and the next round opens it
again; the local port never changes, so clients just reconnect. While the link
is not ``up`` the forward refuses connections (closes them at once) and
nothing reaches the host. ``on_change`` hears every change of status.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paramiko

from benchorch.build.remote import RemoteHost, SshOptions
from benchorch.devices.adbhost import HostFail, ServerAddr, StreamLost, host_query
from benchorch.errors import AdbServerUnreachable, HostKeyError, RemoteError
from benchorch.lab.config import HostConfig

__all__ = ["TRUST_HINT", "HostLink", "LinkStatus"]

log = logging.getLogger("benchorch.lab.link")

TRUST_HINT = "run `benchorch lab hosts --trust-new` to record it in the configured known_hosts"
INTERVAL_S = 1.0
TIMEOUT_S = 3.0


@dataclass(frozen=True)
class LinkStatus:
    mode: str  # edge | hub
    status: str  # up | down | misconfigured | starting
    detail: str = ""
    adb_version: int | None = None
    ssh: str = ""  # hub: connected | unreachable | refused (host key, auth); edge: ""

    @property
    def up(self) -> bool:
        return self.status == "up"


class _Unanswered(Exception):
    """The adb server did not answer ``host:version`` (refused, closed, timed out).

    ``ssh_alive``: SSH itself answered (sshd refused the forward: the adb server is
    down, not the host), so the connection is kept."""

    def __init__(self, message: str, *, ssh_alive: bool = False) -> None:
        super().__init__(message)
        self.ssh_alive = ssh_alive


def _read_exact(chan: paramiko.Channel, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = chan.recv(n - len(data))
        if not chunk:
            raise StreamLost("closed")
        data += chunk
    return data


def _version_over(transport: paramiko.Transport, port: int, timeout: float) -> int:
    """``host:version`` of the adb server at the host's ``127.0.0.1:port``, through SSH."""
    try:
        chan = transport.open_channel(
            "direct-tcpip", ("127.0.0.1", port), ("127.0.0.1", 0), timeout=timeout
        )
    except paramiko.ChannelException as exc:  # sshd could not connect there, or may not
        raise _Unanswered(
            f"SSH up, but 127.0.0.1:{port} on the host refused the forward: {exc}",
            ssh_alive=True,
        ) from exc
    try:
        chan.settimeout(timeout)
        chan.sendall(b"000chost:version")
        head = _read_exact(chan, 4)
        if head == b"FAIL":
            size = int(_read_exact(chan, 4), 16)
            raise HostFail(_read_exact(chan, size).decode(errors="replace"))
        if head != b"OKAY":
            raise StreamLost(f"unexpected answer {head!r}")
        size = int(_read_exact(chan, 4), 16)
        return int(_read_exact(chan, size), 16)
    finally:
        chan.close()


def _nodelay(sock: Any) -> None:
    """adb's requests are small writes answered at once: Nagle's algorithm with delayed
    ACKs would add about 40 ms to each round trip through the forward."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _pump(client: socket.socket, chan: paramiko.Channel, stop: threading.Event) -> None:
    """Copy both ways until either side closes (or the link is closed)."""
    both: list[Any] = [client, chan]  # a paramiko Channel has a fileno() select can wait on
    try:
        while not stop.is_set():
            ready, _, _ = select.select(both, [], [], 0.5)
            if client in ready:
                data = client.recv(65536)
                if not data:
                    break
                chan.sendall(data)
            if chan in ready:
                data = chan.recv(65536)
                if not data:
                    break
                client.sendall(data)
    except (OSError, EOFError, paramiko.SSHException):
        pass
    finally:
        chan.close()
        with contextlib.suppress(OSError):
            client.close()


class HostLink:
    """The adb server of one lab host at a local address, supervised. Use as a context.

    ``client_version``: this machine's adb client's (``hosts.client_adb_version``);
    None when there is no adb client here (then any server version is accepted:
    benchorch's own adb protocol code never sends ``host:kill``).
    """

    def __init__(
        self,
        host: HostConfig,
        client_version: int | None,
        *,
        trust_new: bool = False,
        on_change: Callable[[LinkStatus], None] | None = None,
        interval_s: float = INTERVAL_S,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.host = host
        self.client_version = client_version
        self.trust_new = trust_new
        self.on_change = on_change
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.mode = "edge" if host.ssh is None else "hub"
        self._status = LinkStatus(self.mode, "starting")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._changed = threading.Condition(self._lock)
        self._ssh: RemoteHost | None = None
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.reconnects = 0  # SSH connections opened after the first

    # --- life cycle ----------------------------------------------------------

    @property
    def addr(self) -> ServerAddr:
        """Where this process's adb clients reach the host's adb server."""
        if self._listener is None:
            return ServerAddr("127.0.0.1", self.host.adb_port)
        return ServerAddr("127.0.0.1", int(self._listener.getsockname()[1]))

    @property
    def status(self) -> LinkStatus:
        with self._lock:
            return self._status

    def open(self, *, supervise: bool = True, strict: bool = False) -> LinkStatus:
        """Check the link once (opening the forward in hub mode); then keep checking it
        in a thread when ``supervise``. ``strict``: an unknown or changed host key
        raises ``HostKeyError`` instead of leaving the link ``misconfigured``."""
        if self.host.ssh is not None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
            self._listener = listener
            self._spawn(self._accept, "accept")
        first = self.check(strict=strict)
        if supervise:
            self._spawn(self._supervise, "supervise")
        return first

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        self._drop_ssh()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def __enter__(self) -> HostLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_for(self, predicate: Callable[[LinkStatus], bool], timeout: float) -> LinkStatus:
        """Block until the status satisfies ``predicate`` (or ``timeout``); the last status."""
        with self._changed:
            self._changed.wait_for(lambda: predicate(self._status), timeout)
            return self._status

    def _spawn(self, target: Callable[[], None], what: str) -> None:
        thread = threading.Thread(target=target, name=f"lab-link-{self.host.name}-{what}")
        thread.daemon = True
        thread.start()
        self._threads.append(thread)

    # --- checking ------------------------------------------------------------

    def _set(self, status: LinkStatus) -> None:
        with self._lock:
            before = self._status
            self._status = status
            self._changed.notify_all()
        if before.status != status.status:
            level = logging.INFO if status.up else logging.WARNING
            log.log(level, "host %s: %s %s", self.host.name, status.status, status.detail)
            if self.on_change is not None:
                try:
                    self.on_change(status)
                except Exception:  # a failing listener never stops the supervision
                    log.exception("host %s: recording its status failed", self.host.name)

    def _drop_ssh(self) -> None:
        with self._lock:
            ssh, self._ssh = self._ssh, None
        if ssh is not None:
            ssh.close()

    def _connect(self) -> RemoteHost:
        target = self.host.ssh
        assert target is not None
        opts = SshOptions(
            host=target.host,
            port=target.port,
            user=target.user,
            known_hosts=self.host.known_hosts,
            trust_new_host_key=self.trust_new,
            identity=self.host.ssh_key,
            connect_timeout=self.timeout_s,
            trust_hint=TRUST_HINT,
        )
        ssh = RemoteHost(opts)
        transport = ssh.client.get_transport()
        if transport is not None:
            transport.set_keepalive(max(1, int(self.interval_s)))
            _nodelay(transport.sock)
        return ssh

    def _version(self) -> int:
        if self.host.ssh is None:
            addr = ServerAddr("127.0.0.1", self.host.adb_port)
            try:
                return int(host_query(addr, "host:version", timeout=self.timeout_s), 16)
            except (AdbServerUnreachable, HostFail, StreamLost, OSError, ValueError) as exc:
                raise _Unanswered(f"adb server at {addr}: {exc}") from exc
        with self._lock:
            ssh = self._ssh
        transport = None if ssh is None else ssh.client.get_transport()
        if transport is None or not transport.is_active():
            raise _Unanswered("SSH connection lost")
        try:
            return _version_over(transport, self.host.adb_port, self.timeout_s)
        except (HostFail, StreamLost, OSError, ValueError, EOFError, paramiko.SSHException) as exc:
            raise _Unanswered(
                f"adb server at 127.0.0.1:{self.host.adb_port} on the host did not answer "
                f"host:version within {self.timeout_s:g}s: {exc or type(exc).__name__}"
            ) from exc

    def check(self, *, strict: bool = False) -> LinkStatus:
        """One round: (re)connect when needed, then ``host:version``. The new status."""
        ssh_state = ""
        if self.host.ssh is not None:
            with self._lock:
                ssh = self._ssh
            transport = None if ssh is None else ssh.client.get_transport()
            if transport is None or not transport.is_active():
                self._drop_ssh()
                try:
                    new = self._connect()
                except HostKeyError as exc:
                    if strict:
                        raise
                    status = LinkStatus(self.mode, "misconfigured", str(exc), None, "refused")
                    self._set(status)
                    return status
                except RemoteError as exc:
                    refused = "refused our key" in exc.message
                    status = LinkStatus(
                        self.mode,
                        "misconfigured" if refused else "down",
                        str(exc),
                        None,
                        "refused" if refused else "unreachable",
                    )
                    self._set(status)
                    return status
                with self._lock:
                    if self._ssh is not None or self._stop.is_set():
                        new.close()
                    else:
                        self._ssh = new
                        if self._status.status != "starting":
                            self.reconnects += 1
            ssh_state = "connected"
        try:
            version = self._version()
        except _Unanswered as exc:
            if self.host.ssh is not None and not exc.ssh_alive:
                self._drop_ssh()  # black-holed or dead: open a new connection next round
                ssh_state = "unreachable"
            status = LinkStatus(self.mode, "down", str(exc), None, ssh_state)
            self._set(status)
            return status
        if self.client_version is not None and version != self.client_version:
            status = LinkStatus(
                self.mode,
                "misconfigured",
                f"its adb server is version {version}, this client is {self.client_version}: "
                "nothing is sent to it (a mismatched client would kill it); install the same "
                "adb on both",
                version,
                ssh_state,
            )
        else:
            status = LinkStatus(self.mode, "up", "", version, ssh_state)
        self._set(status)
        return status

    def _supervise(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # the supervisor outlives any one surprise
                log.exception("host %s: link check failed", self.host.name)

    # --- the forward ---------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            _nodelay(client)
            self._forward(client)

    def _forward(self, client: socket.socket) -> None:
        with self._lock:
            ssh = self._ssh if self._status.up else None
        transport: Any = None if ssh is None else ssh.client.get_transport()
        try:
            if transport is None or not transport.is_active():
                raise paramiko.SSHException("the link is not up")
            chan = transport.open_channel(
                "direct-tcpip",
                ("127.0.0.1", self.host.adb_port),
                client.getpeername(),
                timeout=self.timeout_s,
            )
        except (OSError, EOFError, paramiko.SSHException) as exc:
            log.debug("host %s: forward refused: %s", self.host.name, exc)
            with contextlib.suppress(OSError):
                client.close()
            return
        thread = threading.Thread(
            target=_pump, args=(client, chan, self._stop), name="lab-link-pump", daemon=True
        )
        thread.start()
