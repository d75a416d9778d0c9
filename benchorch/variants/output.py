"""The output folder of an export, and the noise torch makes while it runs.

``check_out`` refuses a ``--out`` that is a file or a non-empty folder that is
not an older variants folder; ``make_tmp`` makes the temporary folder beside
it (same file system, so the final ``os.replace`` is atomic); ``publish``
renames it into place, moving an older variants folder aside first.

``captured_fd2`` points fd 2 at a temporary file while torch runs: its C++
``[W ...]`` warnings are written there, not to the terminal. ``torch_notes``
turns those lines and the caught Python warnings into one note each.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

from benchorch.errors import OutputNotWritable
from benchorch.variants.manifest import MANIFEST_NAME


def check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputNotWritable(f"--out {out} is a file", hint="choose a folder path")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST_NAME).is_file():
        raise OutputNotWritable(
            f"--out {out} exists and is not a variants folder",
            hint="choose a new or empty folder",
        )
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputNotWritable(
            f"--out {out}: parent folder {parent} does not exist", hint="create it first"
        )


def make_tmp(out: Path) -> Path:
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it 0700; the result is an ordinary folder
        return tmp
    except OSError as exc:
        raise OutputNotWritable(
            f"--out {out}: cannot write in {out.parent} ({exc.strerror})",
            hint="choose a writable folder",
        ) from exc


def publish(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an older variants folder there is moved aside, then removed."""
    old: Path | None = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "v")
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def captured_fd2(sink: list[str]) -> Iterator[None]:
    """Send fd 2 (where torch's C++ ``[W ...]`` warnings go) to a file; keep its lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            sink.extend(tmp.read().decode("utf-8", "replace").splitlines())


def torch_notes(caught: list[warnings.WarningMessage], stderr_lines: list[str]) -> list[str]:
    seen: list[str] = []
    for w in caught:
        text = " ".join(str(w.message).split())[:300]
        item = f"torch {w.category.__name__}: {text}"
        if item not in seen:
            seen.append(item)
    for line in stderr_lines:
        if "Warning:" in line:
            text = line.split("Warning:", 1)[1].strip()
            item = f"torch warning: {' '.join(text.split())[:300]}"
            if item not in seen:
                seen.append(item)
    return seen
