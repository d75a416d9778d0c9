"""Running a build step with its full log kept, and summarising a failure.

Every byte a build prints goes to ``build.log`` in its cache folder (and,
when asked, live to a stream such as stderr). A failure is reported as one
line: the step, its exit status, the last *meaningful* log line(s) (lines
naming an error win over progress noise) and the log's path.
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from benchorch.errors import BuildError

_MEANINGFUL = re.compile(
    r"error|fatal|undefined reference|not found|no such|cannot|failed|not set|permission denied",
    re.IGNORECASE,
)
_NOISE = re.compile(
    r"^\s*(\d+ errors? generated|compilation terminated|make\[\d+\]|ninja: build stopped)"
)


def meaningful_tail(text: str, count: int = 3) -> list[str]:
    """The last ``count`` lines that look like errors, else the last non-empty lines."""
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if _MEANINGFUL.search(ln) and not _NOISE.match(ln)]
    chosen = (errors or lines)[-count:]
    return [ln if len(ln) <= 240 else ln[:237] + "..." for ln in chosen]


def log_tail(log_path: Path, count: int = 3) -> list[str]:
    try:
        data = log_path.read_bytes()[-200_000:]
    except OSError:
        return []
    return meaningful_tail(data.decode(errors="replace"), count)


def failure(step: str, log_path: Path, status: str) -> BuildError:
    tail = " | ".join(log_tail(log_path)) or "no output"
    return BuildError(
        f"{step} failed ({status}): {tail}; full log: {log_path}",
        log_path=str(log_path),
    )


def run_logged(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    echo: TextIO | None = None,
    timeout: float | None = None,
    append: bool = False,
) -> int:
    """Run ``argv`` with stdout+stderr appended to ``log_path``; return its exit status.

    Raises ``BuildError`` when it cannot start or runs past ``timeout``
    (the whole process group is killed).
    """
    with log_path.open("ab" if append else "wb") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise BuildError(
                f"cannot run {argv[0]}: {exc.strerror}", log_path=str(log_path)
            ) from exc
        assert proc.stdout is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                if deadline is not None and wait == 0.0:
                    os.killpg(proc.pid, 9)
                    proc.wait()
                    raise BuildError(
                        f"{argv[0]} ran past its {timeout:g} s timeout and was killed; "
                        f"full log: {log_path}",
                        log_path=str(log_path),
                    )
                if not sel.select(wait):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                log.write(chunk)
                log.flush()
                if echo is not None:
                    echo.write(chunk.decode(errors="replace"))
                    echo.flush()
        proc.stdout.close()
        return proc.wait()
