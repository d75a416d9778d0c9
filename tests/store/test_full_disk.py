"""A full disk and a read-only disk under the store: real tmpfs mounts in a private mount namespace.

Each test runs a child in ``unshare --mount`` (root in CI), so the small tmpfs
exists only for that child and vanishes with it; the host's mounts are untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import json, sqlite3, subprocess, sys
    from pathlib import Path
    from benchorch.exits import exit_code
    from benchorch.errors import BenchorchError
    from benchorch.store import Store
    from tests.store.factory import launch

    mnt, mode = Path(sys.argv[1]), sys.argv[2]
    db = mnt / "results.sqlite"
    out = {"committed": 0}
    store = Store(db)
    rid = store.create_run("sweep", {})
    if mode == "readonly":
        store.record_launch(launch(rid, 0))
        out["committed"] = 1
        store.close()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    try:
        if mode == "readonly":
            store = Store(db)
        for i in range(out["committed"], 100000):
            store.record_launch(launch(rid, i, stdout="x" * 20000))
            out["committed"] += 1
    except BenchorchError as exc:
        out.update(error=type(exc).__name__, exit_code=int(exit_code(exc)), text=str(exc))
    # On the read-only mount only immutable=1 opens a WAL database (no -shm can be made).
    flag = "immutable=1" if mode == "readonly" else "mode=ro"
    raw = sqlite3.connect(f"file:{db}?{flag}", uri=True)
    out["integrity"] = raw.execute("PRAGMA integrity_check").fetchone()[0]
    out["stored"] = raw.execute("SELECT COUNT(*) FROM launches").fetchone()[0]
    print(json.dumps(out))
    """
)


def _in_namespace(tmp_path: Path, mode: str, size: str) -> dict[str, object]:
    if not shutil.which("unshare") or os.geteuid() != 0:
        pytest.skip("needs root and unshare for a private tmpfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"no mount namespaces here: {probe.stderr.decode().strip()}")
    shell = (
        f"mount -t tmpfs -o size={size} tmpfs {mnt} && exec {sys.executable} {script} {mnt} {mode}"
    )
    res = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", shell],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    result: dict[str, object] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


def test_full_disk_is_a_store_error_and_keeps_what_was_committed(tmp_path: Path) -> None:
    out = _in_namespace(tmp_path, "full", "512k")
    assert out["error"] == "StoreError" and out["exit_code"] == 3
    assert "no space left" in str(out["text"]) and "results.sqlite" in str(out["text"])
    assert out["integrity"] == "ok"
    assert out["stored"] == out["committed"] and int(str(out["committed"])) > 0


def test_read_only_disk_is_a_usage_error(tmp_path: Path) -> None:
    out = _in_namespace(tmp_path, "readonly", "4m")
    assert out["error"] == "OutputNotWritable" and out["exit_code"] == 2
    assert "results.sqlite" in str(out["text"])
    assert out["integrity"] == "ok" and out["stored"] == 1
