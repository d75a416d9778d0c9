"""Debian's Python venv (``.venv-debian``: Debian's torch, no executorch) for tests of what
benchorch says where the executorch extra is not installed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEBIAN = ROOT / ".venv-debian" / "bin" / "python"


def benchorch_without_executorch(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m benchorch ARGS`` (this checkout's) in Debian's venv, after checking that
    the venv has no executorch; skips the test where the venv is not set up."""
    if not DEBIAN.exists():
        pytest.skip("Debian's venv (.venv-debian) is not set up")
    probe = subprocess.run(
        [str(DEBIAN), "-c", "import importlib.util as u; print(u.find_spec('executorch'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "None", "the Debian venv must not have executorch"
    return subprocess.run(
        [str(DEBIAN), "-m", "benchorch", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=cwd,
        timeout=120,
    )
