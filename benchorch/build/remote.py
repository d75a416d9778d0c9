"""An SSH build host (paramiko): verified host keys, quoted commands, live logs.

Host keys: the server's key is checked against a known_hosts file (default
``~/.ssh/known_hosts``; non-22 ports are looked up as ``[host]:port``). An
unknown key is refused (``HostKeyError``) unless ``trust_new_host_key``, which
appends ``<name> <type> <base64>`` to that file and says so on the log. A key
that differs from the recorded one is always refused.

Commands: every argument goes through ``shlex.quote``; a command runs as::

    echo benchorch-pid:$$; cd DIR && exec env -u NAME... K=V... ARGV...

OpenSSH starts each non-pty session in a new session (``setsid``), so the
shell's ``$$`` is also the process group of everything the command starts.
stdout and stderr are merged, streamed to the log as they arrive, and on a
timeout the whole group is killed with ``kill -TERM -- -PGID`` (then
``-KILL``) over a second channel.
"""

from __future__ import annotations

import getpass
import logging
import re
import shlex
import stat
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

import paramiko

from benchorch.errors import HostKeyError, RemoteError, UsageError

log = logging.getLogger("benchorch.build")
_PID_LINE = re.compile(rb"^benchorch-pid:(\d+)\n")


@dataclass(frozen=True)
class SshOptions:
    host: str
    port: int = 22
    user: str | None = None
    known_hosts: Path | None = None  # default ~/.ssh/known_hosts
    trust_new_host_key: bool = False
    identity: Path | None = None
    connect_timeout: float = 20.0
    work_dir: str | None = None  # remote scratch folder; default ~/.cache/benchorch
    #: how a person trusts a new host key with the command at hand (the refusal names it)
    trust_hint: str = "pass --trust-new-host-key or add it yourself"

    @classmethod
    def parse(cls, spec: str, **kwargs: Any) -> SshOptions:
        """``[USER@]HOST[:PORT]`` (IPv6 as ``[addr]:port``)."""
        match = re.fullmatch(r"(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?", spec.strip())
        if match is None:
            raise UsageError(f"--build-host {spec!r} is not USER@HOST[:PORT]")
        user, host, port = match.groups()
        return cls(host=host.strip("[]"), port=int(port or 22), user=user, **kwargs)

    @property
    def username(self) -> str:
        return self.user or getpass.getuser()

    @property
    def label(self) -> str:
        """``user@host`` (``:port`` when not 22): what provenance names."""
        port = "" if self.port == 22 else f":{self.port}"
        return f"{self.username}@{self.host}{port}"

    @property
    def known_hosts_path(self) -> Path:
        return (self.known_hosts or Path("~/.ssh/known_hosts")).expanduser()


def fingerprint(key: paramiko.PKey) -> str:
    import base64
    import hashlib

    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    def __init__(self, opts: SshOptions) -> None:
        self.opts = opts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        path = self.opts.known_hosts_path
        what = f"{key.get_name()} {fingerprint(key)}"
        if not self.opts.trust_new_host_key:
            raise HostKeyError(
                f"host key of {hostname} ({what}) is not in {path}",
                host=self.opts.host,
                hint=f"check its fingerprint, then {self.opts.trust_hint}",
            )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with path.open("a") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        path.chmod(0o600)
        # said on stderr whatever the log level: trusting a key is never silent
        print(
            f"benchorch: trusted the new host key of {hostname} ({what}) and added it to {path}",
            file=sys.stderr,
        )


class RemoteHost:
    """One SSH connection to a build host, with SFTP."""

    def __init__(self, opts: SshOptions) -> None:
        self.opts = opts
        self.client = paramiko.SSHClient()
        path = opts.known_hosts_path
        if path.is_file():
            try:
                self.client.load_host_keys(str(path))
            except (OSError, paramiko.SSHException) as exc:
                raise HostKeyError(
                    f"cannot read known_hosts {path}: {exc}", host=opts.host
                ) from exc
        self.client.set_missing_host_key_policy(_HostKeyPolicy(opts))
        try:
            self.client.connect(
                opts.host,
                port=opts.port,
                username=opts.username,
                key_filename=str(opts.identity) if opts.identity else None,
                allow_agent=opts.identity is None,
                look_for_keys=opts.identity is None,
                timeout=opts.connect_timeout,
                banner_timeout=opts.connect_timeout,
                auth_timeout=opts.connect_timeout,
            )
        except HostKeyError:
            self.client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            self.client.close()
            raise HostKeyError(
                f"host key of {opts.label} CHANGED ({exc.key.get_name()} {fingerprint(exc.key)}, "
                f"known_hosts {path} has {fingerprint(exc.expected_key)}): refusing to connect",
                host=opts.host,
                hint="if the change is expected, remove the old line from known_hosts",
            ) from exc
        except paramiko.AuthenticationException as exc:
            self.client.close()
            raise RemoteError(
                f"{opts.label} refused our key ({exc})",
                host=opts.host,
                hint="pass --identity with a key in the build host's authorized_keys",
            ) from exc
        except (OSError, paramiko.SSHException, EOFError) as exc:
            self.client.close()
            raise RemoteError(f"cannot connect to {opts.label}: {exc}", host=opts.host) from exc
        self._sftp: paramiko.SFTPClient | None = None

    # --- context and files -----------------------------------------------------

    def __enter__(self) -> RemoteHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        self.client.close()

    def _error(self, what: str, exc: BaseException) -> RemoteError:
        return RemoteError(f"{self.opts.label}: {what}: {exc}", host=self.opts.host)

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = self.client.open_sftp()
            except (OSError, paramiko.SSHException) as exc:
                raise self._error("SFTP unavailable", exc) from exc
        return self._sftp

    def home(self) -> str:
        return self.sftp.normalize(".")

    def work_dir(self) -> str:
        return self.opts.work_dir or f"{self.home()}/.cache/benchorch"

    def exists(self, path: str) -> bool:
        try:
            self.sftp.stat(path)
        except OSError:
            return False
        return True

    def read(self, path: str) -> bytes | None:
        try:
            with self.sftp.open(path, "rb") as fh:
                return bytes(fh.read())
        except OSError:
            return None

    def makedirs(self, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        current = "" if path.startswith("/") else "."
        for part in parts:
            current = f"{current}/{part}"
            try:
                if not stat.S_ISDIR(self.sftp.stat(current).st_mode or 0):
                    raise RemoteError(
                        f"{self.opts.label}: {current} is not a folder", host=self.opts.host
                    )
            except FileNotFoundError:
                self.sftp.mkdir(current)

    def put(self, local: Path, remote: str) -> None:
        try:
            self.makedirs(remote.rsplit("/", 1)[0])
            self.sftp.put(str(local), remote)
        except OSError as exc:
            raise self._error(f"upload of {local} to {remote} failed", exc) from exc

    def get(self, remote: str, local: Path) -> None:
        try:
            self.sftp.get(remote, str(local))
        except OSError as exc:
            raise self._error(f"download of {remote} failed", exc) from exc

    def upload_tree(
        self, local: Path, remote: str, *, exclude: tuple[str, ...] = (), timeout: float = 3600
    ) -> int:
        """Copy the tree ``local`` to ``remote`` as one gzip'd tar stream; return the file count.

        One ``tar -xzf -`` on the far side instead of one SFTP round trip per
        file: a PyTorch tree has 10,000+ files. Top-level names in ``exclude``
        (build folders, ``.git``) are left out.
        """
        import tarfile

        count = 0

        def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            nonlocal count
            top = info.name.split("/", 1)[0]
            if top in exclude:
                return None
            count += info.isfile()
            return info

        command = f"mkdir -p {shlex.quote(remote)} && tar -xzf - -C {shlex.quote(remote)}"
        try:
            channel = self._transport().open_session()
            channel.set_combine_stderr(True)
            channel.exec_command(command)
            with channel.makefile("wb") as stream, tarfile.open(fileobj=stream, mode="w|gz") as tar:
                for child in sorted(local.iterdir()):
                    tar.add(str(child), arcname=child.name, filter=keep)
            channel.shutdown_write()
            channel.settimeout(timeout)
            output = channel.makefile("rb").read()
            status = channel.recv_exit_status()
            channel.close()
        except (OSError, paramiko.SSHException) as exc:
            raise self._error(f"sync of {local} to {remote} failed", exc) from exc
        if status != 0:
            raise RemoteError(
                f"{self.opts.label}: unpacking {local} into {remote} failed: "
                f"{output.decode(errors='replace').strip()[-200:]}",
                host=self.opts.host,
            )
        return count

    # --- commands --------------------------------------------------------------

    def _transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise RemoteError(
                f"{self.opts.label}: the SSH connection is closed", host=self.opts.host
            )
        return transport

    @staticmethod
    def command_line(
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
    ) -> str:
        """The shell text for ``argv``: every piece quoted; ``unset`` leave the environment."""
        parts = ["exec"]
        if env or unset:
            parts.append("env")
            for name in unset:
                parts += ["-u", shlex.quote(name)]
            parts += [shlex.quote(f"{k}={v}") for k, v in (env or {}).items()]
        parts += [shlex.quote(a) for a in argv]
        text = " ".join(parts)
        if cwd is not None:
            text = f"cd {shlex.quote(cwd)} && {text}"
        return f"echo benchorch-pid:$$; {text}"

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
        timeout: float | None = None,
        log_file: IO[bytes] | None = None,
        echo: TextIO | None = None,
    ) -> tuple[int, bytes]:
        """Run ``argv`` remotely; return (exit status, merged output).

        Output streams to ``log_file`` and ``echo`` as it arrives. Past
        ``timeout`` seconds the remote process group is killed (RemoteError).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            channel = self._transport().open_session()
            channel.set_combine_stderr(True)
            channel.exec_command(self.command_line(argv, cwd=cwd, env=env, unset=unset))
        except (OSError, paramiko.SSHException) as exc:
            raise self._error(f"cannot start {argv[0]}", exc) from exc
        channel.settimeout(0.25)
        pid: int | None = None
        head = b""
        output = bytearray()
        try:
            while True:
                if deadline is not None and time.monotonic() > deadline:
                    self._kill(pid)
                    raise RemoteError(
                        f"{self.opts.label}: {argv[0]} ran past its {timeout:g} s timeout "
                        f"and was killed (process group {pid})",
                        host=self.opts.host,
                    )
                try:
                    chunk = channel.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                if pid is None:
                    head += chunk
                    match = _PID_LINE.match(head)
                    if match is None:
                        if b"\n" in head:  # a shell that printed something first
                            chunk, head = head, b""
                            pid = -1
                        else:
                            continue
                    else:
                        pid = int(match.group(1))
                        chunk, head = head[match.end() :], b""
                output += chunk
                if log_file is not None:
                    log_file.write(chunk)
                    log_file.flush()
                if echo is not None and chunk:
                    echo.write(chunk.decode(errors="replace"))
                    echo.flush()
            while not channel.exit_status_ready():
                if deadline is not None and time.monotonic() > deadline:
                    self._kill(pid)
                    raise RemoteError(
                        f"{self.opts.label}: {argv[0]} did not exit", host=self.opts.host
                    )
                time.sleep(0.05)
            return channel.recv_exit_status(), bytes(output)
        except (OSError, paramiko.SSHException) as exc:
            raise self._error(f"{argv[0]} lost its connection", exc) from exc
        finally:
            channel.close()

    def run_capture(self, argv: Sequence[str], *, timeout: float = 60) -> tuple[int, str]:
        status, out = self.run(argv, timeout=timeout)
        return status, out.decode(errors="replace")

    def _kill(self, pid: int | None) -> None:
        if pid is None or pid <= 0:
            return
        group = shlex.quote(f"-{pid}")
        script = (
            f"kill -TERM -- {group} 2>/dev/null; sleep 1; kill -KILL -- {group} 2>/dev/null; true"
        )
        try:
            channel = self._transport().open_session()
            channel.exec_command(script)
            channel.settimeout(10)
            channel.recv_exit_status()
            channel.close()
        except (OSError, paramiko.SSHException) as exc:
            log.warning("could not kill process group %s on %s: %s", pid, self.opts.label, exc)
