"""The variants manifest: what ``benchorch variants`` wrote and how to benchmark it.

Torch-free on purpose: the sweep, the store and the report read manifests on
hosts that have no torch. The format (``schema`` 1) is fixed in
``docs/INTERNALS.md``; ``Manifest.load`` validates it and ``write_manifest``
writes it atomically (temporary file, then ``os.replace``).

Paths inside the manifest are relative to the folder holding ``manifest.json``
and may not leave it (no absolute paths, no ``..``), so a variants folder can
be moved or copied as a whole.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from benchorch.domain import ModelFormat, Record
from benchorch.errors import OutputNotWritable, UsageError
from benchorch.files import atomic_write

SCHEMA = 1
MANIFEST_NAME = "manifest.json"


class ManifestError(UsageError):
    """A manifest is missing, unreadable or not of this schema."""


@dataclass(frozen=True)
class Tolerance(Record):
    """A check passes when ``max_abs_err <= max_abs_err`` and ``cosine >= cosine``."""

    max_abs_err: float
    cosine: float


@dataclass(frozen=True)
class CheckResult(Record):
    """A variant's output compared with the eager float model's on the example inputs.

    ``kind`` is the tolerance class: ``float`` (exact rewrites such as fusion or
    scripting) or ``int8`` (quantised). ``error`` is set when the file did not
    load or run; then the numbers are ``None`` and ``passed`` is False.
    """

    passed: bool
    kind: str
    max_abs_err: float | None
    cosine: float | None
    tolerance: Tolerance
    error: str | None = None


@dataclass(frozen=True)
class Delegation(Record):
    """How much of an ExecuTorch program a delegate runs (``get_delegation_info``).

    ``backend`` is None for a portable program (every node on CPU kernels);
    ``cpu_ops`` names the operator types left on CPU kernels.
    """

    backend: str | None
    delegated_subgraphs: int
    delegated_nodes: int
    cpu_nodes: int
    cpu_ops: tuple[str, ...] = ()

    @property
    def coverage(self) -> float | None:
        """The share of nodes a delegate runs (None when the graph had no nodes)."""
        total = self.delegated_nodes + self.cpu_nodes
        return self.delegated_nodes / total if total else None


@dataclass(frozen=True)
class VariantFile(Record):
    """One exported file and how to benchmark it (``;``-joined per input)."""

    name: str
    variant: str
    steps: tuple[str, ...]
    format: ModelFormat
    path: str
    sha256: str
    size_bytes: int
    bytecode_version: int | None
    ops: tuple[str, ...]
    input_dims: str
    input_types: str
    memory_format: str
    check: CheckResult
    torch_version: str
    export: str  # "script" | "trace" | "file" | "torch.export"
    delegation: Delegation | None = None  # ExecuTorch files only
    runtime_version: str | None = None  # the ExecuTorch version that wrote a .pte

    def abspath(self, root: Path | str) -> Path:
        return Path(root) / self.path

    @property
    def passed(self) -> bool:
        return self.check.passed


@dataclass(frozen=True)
class SkippedVariant(Record):
    variant: str
    reason: str


@dataclass(frozen=True)
class Manifest(Record):
    model: str
    created_at: str
    torch_version: str
    xnnpack: bool
    inputs: dict[str, str]  # {"dims": ..., "types": ...}
    calibrated: bool
    files: tuple[VariantFile, ...]
    skipped: tuple[SkippedVariant, ...] = ()
    warnings: tuple[str, ...] = ()
    schema: int = SCHEMA
    root: Path = field(default=Path("."), compare=False)

    @classmethod
    def load(cls, where: Path | str) -> Manifest:
        """Read ``where`` (a variants folder or its ``manifest.json``)."""
        path = Path(where)
        if path.is_dir():
            path = path / MANIFEST_NAME
        fix = "run `benchorch variants MODEL --out DIR` to make one"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ManifestError(f"no variants manifest at {path}", hint=fix) from exc
        except OSError as exc:
            raise ManifestError(f"cannot read manifest {path}: {exc.strerror}", hint=fix) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(
                f"manifest {path} is not valid JSON (line {exc.lineno}: {exc.msg})", hint=fix
            ) from exc
        return cls.from_dict(data, root=path.parent, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, *, root: Path | str = ".", source: str = "manifest") -> Manifest:
        fix = "re-export it with `benchorch variants`"
        if not isinstance(data, Mapping):
            raise ManifestError(f"{source}: top level is not a JSON object", hint=fix)
        schema = data.get("schema")
        if schema != SCHEMA:
            raise ManifestError(
                f"{source}: schema {schema!r} is not supported (this benchorch reads {SCHEMA})",
                hint=fix,
            )
        try:
            files = tuple(_file_from_dict(f) for f in data.get("files", []))
            skipped = tuple(
                SkippedVariant(variant=str(s["variant"]), reason=str(s["reason"]))
                for s in data.get("skipped", [])
            )
            inputs = data["inputs"]
            return cls(
                model=str(data["model"]),
                created_at=str(data["created_at"]),
                torch_version=str(data["torch_version"]),
                xnnpack=bool(data.get("xnnpack", False)),
                inputs={"dims": str(inputs["dims"]), "types": str(inputs["types"])},
                calibrated=bool(data.get("calibrated", False)),
                files=files,
                skipped=skipped,
                warnings=tuple(str(w) for w in data.get("warnings", [])),
                schema=SCHEMA,
                root=Path(root),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"{source}: malformed entry ({exc!r})", hint=fix) from exc

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``manifest.json`` (``root`` is where it lies, not stored)."""
        return {
            "schema": self.schema,
            "model": self.model,
            "created_at": self.created_at,
            "torch_version": self.torch_version,
            "xnnpack": self.xnnpack,
            "inputs": dict(self.inputs),
            "calibrated": self.calibrated,
            "warnings": list(self.warnings),
            "files": [f.to_dict() for f in self.files],
            "skipped": [s.to_dict() for s in self.skipped],
        }

    def file(self, name: str) -> VariantFile:
        """The file entry called ``name`` (e.g. ``"fused+quantized.ptl"``)."""
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def passed_files(self) -> tuple[VariantFile, ...]:
        """The files whose check passed: what a sweep times by default."""
        return tuple(f for f in self.files if f.check.passed)


def _safe_relpath(path: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"path {path!r} must be relative and stay inside the folder")
    return str(p)


def _file_from_dict(d: Mapping[str, Any]) -> VariantFile:
    c = d["check"]
    tol = c["tolerance"]
    check = CheckResult(
        passed=bool(c["passed"]),
        kind=str(c["kind"]),
        max_abs_err=None if c.get("max_abs_err") is None else float(c["max_abs_err"]),
        cosine=None if c.get("cosine") is None else float(c["cosine"]),
        tolerance=Tolerance(max_abs_err=float(tol["max_abs_err"]), cosine=float(tol["cosine"])),
        error=None if c.get("error") is None else str(c["error"]),
    )
    bv = d.get("bytecode_version")
    dg = d.get("delegation")
    delegation = (
        None
        if dg is None
        else Delegation(
            backend=None if dg.get("backend") is None else str(dg["backend"]),
            delegated_subgraphs=int(dg["delegated_subgraphs"]),
            delegated_nodes=int(dg["delegated_nodes"]),
            cpu_nodes=int(dg["cpu_nodes"]),
            cpu_ops=tuple(str(o) for o in dg.get("cpu_ops", [])),
        )
    )
    rv = d.get("runtime_version")
    return VariantFile(
        name=str(d["name"]),
        variant=str(d["variant"]),
        steps=tuple(str(s) for s in d.get("steps", [])),
        format=ModelFormat(d["format"]),
        path=_safe_relpath(str(d["path"])),
        sha256=str(d["sha256"]),
        size_bytes=int(d["size_bytes"]),
        bytecode_version=None if bv is None else int(bv),
        ops=tuple(str(o) for o in d.get("ops", [])),
        input_dims=str(d["input_dims"]),
        input_types=str(d["input_types"]),
        memory_format=str(d["memory_format"]),
        check=check,
        torch_version=str(d["torch_version"]),
        export=str(d.get("export", "script")),
        delegation=delegation,
        runtime_version=None if rv is None else str(rv),
    )


def write_manifest(manifest: Manifest, directory: Path | str) -> Path:
    """Write ``directory/manifest.json`` atomically; returns its path."""
    target = Path(directory) / MANIFEST_NAME
    text = json.dumps(manifest.to_dict(), indent=2, sort_keys=False) + "\n"
    try:
        atomic_write(target, text)
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot write {target}: {exc.strerror}", hint="choose a writable --out folder"
        ) from exc
    return target
