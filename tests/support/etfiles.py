"""ExecuTorch files for sweep tests and benchmarks: a runner copied with its libraries,
and a variants folder whose manifest lists only some of its files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def copy_runner(built: Path, folder: Path) -> Path:
    """``built`` (a runner in its build folder) copied into ``folder`` with the libraries and
    provenance beside it, not the build's hidden files: registering rewrites the sidecar,
    so a sweep gets a copy and the build cache is left alone."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in built.parent.iterdir():
        if f.is_file() and not f.name.startswith("."):
            shutil.copy2(f, folder / f.name)
    return folder / built.name


def keep_files(variants: Path, names: tuple[str, ...] | set[str]) -> Path:
    """Rewrite ``variants``' manifest to list only the files named ``names``."""
    manifest = variants / "manifest.json"
    data = json.loads(manifest.read_text())
    data["files"] = [f for f in data["files"] if f["name"] in names]
    manifest.write_text(json.dumps(data))
    return variants
