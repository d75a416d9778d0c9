"""A throwaway OpenSSH server (Debian's sshd) on a loopback port, for the build host's and
the lab's tests and the lab's benchmarks (as ``store/pgserver.py`` is for PostgreSQL;
``tests/support/sshd.py`` re-exports it). Never used by a lab itself.

``SshdServer(folder, key_options=...)`` generates its own host key and a client
key with ssh-keygen, writes ``authorized_keys`` as ``<key_options> <client key>``
(e.g. the lab's ``restrict,port-forwarding,permitopen="127.0.0.1:5037"``), and
runs ``sshd -D -e`` in its own process group. It can be stopped and started
again on the same port and keys, paused (SIGSTOP to the listener and every
session: a black-holed host) and resumed, and its sessions killed (a dropped
connection) while the listener stays. ``SetEnv`` passes the test's PATH into
sessions so stand-in tools are found remotely too.

``Sshd`` is the frozen record the tests read (port, user, host key, client key).
Every process is killed by its PID (or its own group) at ``stop``.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchorch.virtualphone.harness import child_pids, free_port

__all__ = ["SSHD", "Sshd", "SshdServer", "hub_host_toml", "keygen", "restricted_to"]

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    port: int
    user: str
    host_pub: str  # "ssh-ed25519 AAAA..."
    client_key: Path
    folder: Path

    @property
    def spec(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def known_hosts(self, path: Path) -> Path:
        path.write_text(f"[127.0.0.1]:{self.port} {self.host_pub}\n")
        return path


def keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "benchorch-test", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def restricted_to(*ports: int) -> str:
    """The lab's authorized_keys options (README "Lab"): the key may only forward to
    these ports of the host's loopback."""
    opens = ",".join(f'permitopen="127.0.0.1:{p}"' for p in ports)
    return f"restrict,port-forwarding,{opens}"


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = child_pids(todo.pop())
        out.extend(kids)
        todo.extend(kids)
    return out


class SshdServer:
    """One sshd; ``start()`` waits until it accepts connections."""

    def __init__(self, folder: Path, *, key_options: str = "") -> None:
        if not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None:
            raise RuntimeError("openssh-server is not installed (tools/setup.sh installs it)")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        keygen(folder / "host_key")
        keygen(folder / "client_key")
        client_pub = (folder / "client_key.pub").read_text().strip()
        line = f"{key_options} {client_pub}" if key_options else client_pub
        (folder / "authorized_keys").write_text(line + "\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        self.port = free_port()
        self.log_path = folder / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.info = Sshd(
            port=self.port,
            user=getpass.getuser(),
            host_pub=" ".join((folder / "host_key.pub").read_text().split()[:2]),
            client_key=folder / "client_key",
            folder=folder,
        )
        (folder / "sshd_config").write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {folder / 'host_key'}",
                    f"PidFile {folder / 'sshd.pid'}",
                    f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                    "StrictModes no",
                    "UsePAM no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    "Subsystem sftp internal-sftp",
                    f"SetEnv PATH={os.environ['PATH']}",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 15) -> SshdServer:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.folder / "sshd_config")],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log_path.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not listen within {timeout:.0f} s") from None
                time.sleep(0.05)

    def kill_sessions(self) -> list[int]:
        """Kill every connection's sshd (the forwards drop); the listener stays."""
        pids = child_pids(self.pid)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        return pids

    def pause(self) -> None:
        """SIGSTOP the listener and every session: connections hang, nothing answers."""
        for pid in [self.pid, *_descendants(self.pid)]:
            _signal(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in [self.pid, *_descendants(self.pid)]:
            _signal(pid, signal.SIGCONT)

    def stop(self) -> None:
        """Kill the listener and its sessions (a host crash, as far as SSH goes)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pids = [self.pid, *_descendants(self.pid)]
        for pid in pids:
            _signal(pid, signal.SIGCONT)
        for pid in reversed(pids):
            _signal(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def hub_host_toml(name: str, sshd: Sshd, adb_port: int, known_hosts: Path) -> str:
    """A lab.toml ``[hosts.NAME]`` table for a hub host behind ``sshd``."""
    return (
        f"\n[hosts.{name}]\n"
        f'ssh = "{sshd.spec}"\n'
        f'ssh_key = "{sshd.client_key}"\n'
        f'known_hosts = "{known_hosts}"\n'
        f"adb_port = {adb_port}\n"
    )
