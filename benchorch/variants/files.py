"""Facts of an exported file: hash, operators, bytecode version; lowering it.

* ``ops``: lite files list their own operators (``_get_model_ops_and_info``);
  full-JIT and FlatBuffer files, which that reader cannot open, the scripted
  module's (``torch.jit.export_opnames``).
* ``bytecode``: ``_get_model_bytecode_version`` (FlatBuffer files report 9).
* ``lower``: ``_backport_for_mobile`` to an exact version; it returns False
  (no exception) when it cannot, which becomes a ``UsageError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchorch.domain import ModelFormat
from benchorch.errors import UsageError
from benchorch.files import atomic_path

FLATBUFFER_VERSION = 9


def ops(path: Path, fmt: ModelFormat, scripted: Any) -> tuple[str, ...]:
    import torch

    if fmt is ModelFormat.LITE:
        from torch.jit.mobile import _get_model_ops_and_info

        return tuple(sorted(_get_model_ops_and_info(str(path))))
    return tuple(sorted(torch.jit.export_opnames(scripted)))


def bytecode(path: Path, fmt: ModelFormat) -> int | None:
    if fmt is ModelFormat.FULL_JIT:
        return None
    from torch.jit.mobile import _get_model_bytecode_version

    return int(_get_model_bytecode_version(str(path)))


def lower(path: Path, version: int) -> None:
    from torch.jit.mobile import _backport_for_mobile, _get_model_bytecode_version

    current = int(_get_model_bytecode_version(str(path)))
    if current == version:
        return
    with atomic_path(path) as lowered:
        if current < version or not _backport_for_mobile(str(path), str(lowered), version):
            raise UsageError(
                f"--bytecode-version {version}: {path.name} (bytecode {current}) cannot be "
                f"lowered to {version}",
                hint="pick a version this torch can write or lower to",
            )


def probe_bytecode_version(version: int, workdir: Path) -> int:
    """Validate ``--bytecode-version`` on a tiny module; returns the version torch writes."""
    import torch
    from torch.jit.mobile import _backport_for_mobile, _get_model_bytecode_version

    path = workdir / ".probe.ptl"
    torch.jit.script(torch.nn.Linear(2, 2))._save_for_lite_interpreter(str(path))
    try:
        current = int(_get_model_bytecode_version(str(path)))
        if version == current:
            return current
        lowest = current
        while lowest > 1 and _backport_for_mobile(str(path), str(path) + ".b", lowest - 1):
            lowest -= 1
        if not lowest <= version <= current:
            raise UsageError(
                f"--bytecode-version {version} is impossible with torch {torch.__version__}",
                hint=f"it writes bytecode {current} and lowers files down to {lowest}",
            )
        return current
    finally:
        path.unlink(missing_ok=True)
        Path(str(path) + ".b").unlink(missing_ok=True)
