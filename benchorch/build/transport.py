"""Where a build runs: this machine or an SSH build host, behind one small protocol.

The host and android flows (``host.py``, ``android.py``) are written once
against :class:`Transport`; what differs between building here and on a build
host is only how these few operations are done:

================ ============================== ==================================
operation        :class:`LocalTransport`         :class:`SshTransport` (paramiko)
================ ============================== ==================================
``run``          subprocess, output captured    a remote command, every argument
                                                ``shlex.quote``'d
``run_logged``   ``buildlog.run_logged``        streamed live into the same log
``exists/read``  the file system                SFTP
``place``        the folder itself (no copy)    uploaded once under the work dir
                                                (files by SFTP, a tree as one tar
                                                stream), keyed by content
``get``          a copy                         SFTP
``scratch``      the cache entry's folder       ``<work dir>/out/<entry>``
``resolve``      ``~`` expanded, links resolved  SFTP ``realpath``
================ ============================== ==================================

``label`` is ``None`` here and ``user@host[:port]`` on a build host: it goes
into the cache key and the provenance, so two machines never share an entry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from benchorch.build import buildlog
from benchorch.build.cache import CacheEntry
from benchorch.errors import BuildError

if TYPE_CHECKING:
    from benchorch.build.remote import RemoteHost, SshOptions

#: top-level folders of a PyTorch tree never sent to a build host
SYNC_EXCLUDE = (".git", "build", "build_android", "build_host_protoc", "__pycache__")
_SYNCED = ".benchorch-synced"


class Transport(Protocol):
    """The operations a build needs of the machine it runs on."""

    @property
    def label(self) -> str | None:
        """``user@host[:port]`` of a build host; ``None`` for this machine."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> tuple[int, str]:
        """Run a short command; (exit status, merged output). 127 when it does not exist."""
        ...

    def run_logged(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
        echo: TextIO | None = None,
        timeout: float | None = None,
    ) -> int:
        """Run a build step, all its output into ``log_path`` (and ``echo``); its exit status.

        ``env`` is set and ``unset`` removed on top of the machine's own environment.
        """
        ...

    def exists(self, path: str) -> bool: ...

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when it cannot be read."""
        ...

    def place(self, local: Path, rels: Sequence[str] | None, key: str) -> str:
        """The folder on the build machine holding ``rels`` of ``local`` (None: the whole tree).

        ``key`` names the content (a digest), so a copy is made once.
        """
        ...

    def get(self, path: str, local: Path) -> None:
        """Copy the build machine's ``path`` to this machine's ``local``."""
        ...

    def scratch(self, entry: CacheEntry) -> str:
        """The folder on the build machine where ``entry``'s build works."""
        ...

    def resolve(self, path: str) -> str:
        """``path`` made absolute (links resolved) on the build machine."""
        ...


class LocalTransport:
    """This machine: sources are used where they are, outputs land in the cache entry."""

    label: str | None = None

    @staticmethod
    def _env(env: Mapping[str, str] | None, unset: Sequence[str] = ()) -> dict[str, str] | None:
        if not env and not unset:
            return None
        merged = {k: v for k, v in os.environ.items() if k not in unset}
        merged.update(env or {})
        return merged

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> tuple[int, str]:
        try:
            out = subprocess.run(
                list(argv),
                cwd=cwd,
                env=self._env(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            return 127, f"{argv[0]}: not found"
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuildError(f"cannot run {argv[0]}: {exc}") from exc
        return out.returncode, out.stdout.decode(errors="replace")

    def run_logged(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
        echo: TextIO | None = None,
        timeout: float | None = None,
    ) -> int:
        return buildlog.run_logged(
            argv,
            log_path=log_path,
            env=self._env(env, unset),
            cwd=Path(cwd) if cwd is not None else None,
            echo=echo,
            timeout=timeout,
        )

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def read(self, path: str) -> bytes | None:
        try:
            return Path(path).read_bytes()
        except OSError:
            return None

    def place(self, local: Path, rels: Sequence[str] | None, key: str) -> str:
        return str(local)

    def get(self, path: str, local: Path) -> None:
        shutil.copyfile(path, local)

    def scratch(self, entry: CacheEntry) -> str:
        return str(entry.folder)

    def resolve(self, path: str) -> str:
        return str(Path(path).expanduser().resolve())


class SshTransport:
    """A build host over one SSH connection; ``env`` is added to every command's environment."""

    def __init__(self, host: RemoteHost, env: Mapping[str, str] | None = None) -> None:
        self.host = host
        self.env = dict(env or {})
        self._work: str | None = None

    @property
    def label(self) -> str | None:
        return self.host.opts.label

    def work_dir(self) -> str:
        if self._work is None:
            self._work = self.host.work_dir()
        return self._work

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> tuple[int, str]:
        status, out = self.host.run(argv, cwd=cwd, env={**self.env, **(env or {})}, timeout=timeout)
        return status, out.decode(errors="replace")

    def run_logged(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
        echo: TextIO | None = None,
        timeout: float | None = None,
    ) -> int:
        with log_path.open("wb") as log_file:
            log_file.write(f"# on {self.label}\n$ {' '.join(argv)}\n".encode())
            log_file.flush()
            status, _ = self.host.run(
                argv,
                cwd=cwd,
                env={**self.env, **(env or {})},
                unset=unset,
                timeout=timeout,
                log_file=log_file,
                echo=echo,
            )
        return status

    def exists(self, path: str) -> bool:
        return self.host.exists(path)

    def read(self, path: str) -> bytes | None:
        return self.host.read(path)

    def place(self, local: Path, rels: Sequence[str] | None, key: str) -> str:
        folder = f"{self.work_dir()}/{key}"
        if rels is None:
            if not self.host.exists(f"{folder}/{_SYNCED}"):
                self.host.upload_tree(local, folder, exclude=SYNC_EXCLUDE)
                self.host.run(["touch", f"{folder}/{_SYNCED}"])
            return folder
        for rel in rels:
            if not self.host.exists(f"{folder}/{rel}"):
                self.host.put(local / rel, f"{folder}/{rel}")
        return folder

    def get(self, path: str, local: Path) -> None:
        self.host.get(path, local)

    def scratch(self, entry: CacheEntry) -> str:
        return f"{self.work_dir()}/out/{entry.folder.name}"

    def resolve(self, path: str) -> str:
        try:
            return str(self.host.sftp.normalize(path))
        except OSError:
            return path


@contextmanager
def ssh_transport(opts: SshOptions, env: Mapping[str, str] | None = None) -> Iterator[SshTransport]:
    """Connect to ``opts``'s build host (its key verified) for the length of the block."""
    from benchorch.build.remote import RemoteHost

    with RemoteHost(opts) as host:
        yield SshTransport(host, env)
