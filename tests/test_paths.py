"""benchorch.paths owns the cache root: every user follows ``BENCHORCH_CACHE``."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import benchorch
from benchorch.build.cache import default_cache_dir
from benchorch.devices.local import default_workdir
from benchorch.devices.lock import default_lock_dir
from benchorch.paths import cache_root

PACKAGE = Path(benchorch.__file__).parent


def test_every_cache_user_follows_benchorch_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCHORCH_CACHE", str(tmp_path / "c"))
    monkeypatch.delenv("BENCHORCH_LOCK_DIR", raising=False)
    assert cache_root() == tmp_path / "c"
    assert default_workdir() == tmp_path / "c" / "local-device"
    assert default_lock_dir() == tmp_path / "c" / "locks"
    assert default_cache_dir() == tmp_path / "c" / "builds"


def test_the_local_device_pushes_under_benchorch_cache(tmp_path: Path) -> None:
    """A real process with only the environment variable set: the pushed file lands under it."""
    model = tmp_path / "m.ptl"
    model.write_bytes(b"model bytes")
    child = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from benchorch.devices.local import LocalDevice
        dev = LocalDevice()
        print(dev.push(Path(sys.argv[1]), "m.ptl").remote_path)
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "BENCHORCH_CACHE": str(tmp_path / "c"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", child, str(model)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    pushed = Path(proc.stdout.strip())
    assert (
        pushed.is_relative_to(tmp_path / "c" / "local-device")
        and pushed.read_bytes() == b"model bytes"
    )
    assert not (tmp_path / "home" / ".cache").exists()


def test_only_paths_knows_where_the_cache_is() -> None:
    """No module but benchorch/paths.py imports platformdirs or reads BENCHORCH_CACHE."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "paths.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [node.module]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                if any(n and n.split(".")[0] == "platformdirs" for n in names):
                    offenders.append(str(path.relative_to(PACKAGE)))
            if isinstance(node, ast.Constant) and node.value == "BENCHORCH_CACHE":
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []
