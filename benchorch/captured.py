"""Captured benchmark logs, stored as launches: what ``benchorch import`` does.

Some phones cannot be driven from this host: an iPhone (PyTorch's iOS TestApp
prints the same ``Main run finished`` line, in milliseconds), or an Android
phone in a lab abroad whose ``speed_benchmark_torch`` output was captured by
hand. Each log becomes one ``latency`` launch, stored through the public
``Store`` API like any other, so ``report``, ``compare`` and ``trend`` show the
phone beside those benchorch drove.

Every log is read and parsed before anything is stored: a log that is not
text, larger than ``MAX_LOG_BYTES`` (never read past that), or not one
finished run is a ``UsageError`` naming the file, and nothing is written.

What a log cannot say comes from the options or is marked unknown:

* the device: ``--device-name`` is its serial and its model, ``--platform``
  is recorded with the run (and ``manufacturer`` is Apple on iOS);
* the variant: identified by the model file's sha256 when ``--model-file`` is
  given (with its size and format), else by the stable digest of
  ``benchorch import: variant NAME`` (so imports of one variant still pair
  across runs, but never with a real file);
* the binary: unknown; its identity is the digest of ``benchorch import:
  PLATFORM`` (so two imports of one phone compare with each other);
* dims, types and threads: ``--dims``/``--types``/``--threads``, else
  ``unknown``, ``unknown`` and 0; the memory format is ``unknown``;
* the time: each launch's start and end are its log's modification time.

An imported phone's device state is ``imported`` (``IMPORTED``): nothing can run
it again, so the confirm step (``sweep --confirm``, the nightly's) leaves its
suspects out and says so (``imported_labels``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from benchorch.domain import DeviceInfo, ModelFormat, ParseResult, Record
from benchorch.errors import BenchorchError, ModelError, UsageError
from benchorch.files import sha256_file
from benchorch.parse import parse_output

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from benchorch.store import Store

#: The most of a log that is read: a benchmark's output is kilobytes (1,000
#: observer lines are about 100 KB); a bigger file is not one launch's output.
MAX_LOG_BYTES = 8 * 1024 * 1024
#: The share of undecodable bytes above which a file is not text.
_MAX_BAD_SHARE = 0.01
_LOG_HINT = (
    "give the captured output of one finished run (speed_benchmark_torch or the iOS TestApp)"
)


#: The device state of a phone whose launches were imported from captured logs.
IMPORTED = "imported"
#: Why an imported phone's suspect is not measured again.
NOT_RERUNNABLE = (
    "not confirmed: imported from captured logs (benchorch cannot run this phone again;"
    " run the A/B there and import both sides)"
)


def imported_labels(
    store: Store, run_ids: Sequence[str], frames: Sequence[pd.DataFrame]
) -> set[str]:
    """The device labels (``stats.device_labels`` over ``frames``, the runs' launches) of the
    phones ``run_ids`` recorded as imported."""
    from benchorch.stats import device_labels

    serials: set[str] = set()
    for run_id in run_ids:
        devs = store.devices(run_id)
        serials |= set(devs.loc[devs["state"] == IMPORTED, "serial"].astype(str))
    return {
        label for (_m, serial), label in device_labels(frames).items() if str(serial) in serials
    }


class Platform(StrEnum):
    IOS = "ios"
    ANDROID = "android"


@dataclass(frozen=True)
class CapturedLog:
    """One log, read and parsed: always a finished run with a latency."""

    path: Path
    text: str
    sha256: str
    captured_at: float  # the file's modification time (unix seconds)
    result: ParseResult


@dataclass(frozen=True)
class ModelFile:
    path: Path
    sha256: str
    size_bytes: int
    format: ModelFormat


@dataclass(frozen=True)
class ImportRequest:
    """What ``benchorch import`` was asked (the click options, typed)."""

    device_name: str
    platform: Platform
    logs: tuple[Path, ...]
    model_file: Path | None = None
    variant: str | None = None
    dims: str = "unknown"
    types: str = "unknown"
    threads: int = 0
    run: str | None = None  # add to this stored run instead of a new one


def read_log(path: Path) -> CapturedLog:
    """``path`` read (at most ``MAX_LOG_BYTES``) and parsed; a ``UsageError``
    naming the file when it cannot be one finished run's output."""
    try:
        with path.open("rb") as fh:
            st = os.fstat(fh.fileno())
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0  # a pipe: read up to the cap
            data = fh.read(MAX_LOG_BYTES + 1) if size <= MAX_LOG_BYTES else b""
    except OSError as exc:
        raise UsageError(f"cannot read log {path}: {exc.strerror or exc}", hint=_LOG_HINT) from exc
    if size > MAX_LOG_BYTES or len(data) > MAX_LOG_BYTES:
        raise UsageError(
            f"log {path} is larger than {MAX_LOG_BYTES // 2**20} MiB, too big for one launch's"
            " output (read no further)",
            hint="cut it to one run's output, or split a long capture into one file per run",
        )
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    if b"\0" in data or bad > _MAX_BAD_SHARE * max(len(text), 1):
        where = data.find(b"\0")
        detail = f"a NUL byte at offset {where}" if where >= 0 else f"{bad} undecodable bytes"
        raise UsageError(f"log {path} is binary data, not text ({detail})", hint=_LOG_HINT)
    result = parse_output(text)
    if not result.ok:
        kind = result.error_kind.value if result.error_kind else result.status.value
        raise UsageError(
            f"log {path} is not a finished run ({kind}: {result.message})", hint=_LOG_HINT
        )
    if result.us_per_iter is None:
        raise UsageError(
            f"log {path} is a load-only run (--iter=0): it has no latency to import",
            hint="import the output of a run with iterations",
        )
    return CapturedLog(path, text, hashlib.sha256(data).hexdigest(), st.st_mtime, result)


def model_format(path: Path) -> ModelFormat:
    """What kind of TorchScript file ``path`` is, from its bytes (not its name):
    a FlatBuffer carries ``PTMF`` at offset 4; a zip with ``bytecode.pkl`` is a
    lite-interpreter file, any other zip a full-JIT one."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
        if head[4:8] == b"PTMF":
            return ModelFormat.FLATBUFFER
        if head[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
            lite = any(n.endswith("/bytecode.pkl") or n == "bytecode.pkl" for n in names)
            return ModelFormat.LITE if lite else ModelFormat.FULL_JIT
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(
            f"cannot read model file {path}: {getattr(exc, 'strerror', None) or exc}",
            hint="give --model-file the .pt, .ptl or FlatBuffer file the logs ran",
        ) from exc
    raise ModelError(
        f"model file {path} is not a TorchScript file (neither a zip nor a FlatBuffer)",
        hint="give --model-file the .pt, .ptl or FlatBuffer file the logs ran",
    )


def read_model_file(path: Path) -> ModelFile:
    fmt = model_format(path)
    return ModelFile(path, sha256_file(path), path.stat().st_size, fmt)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CapturedVariant(Record):
    """What the store records of an imported log's variant (no manifest entry exists)."""

    name: str
    variant: str
    format: str  # a ModelFormat value, or "unknown" without --model-file
    path: str | None
    sha256: str
    size_bytes: int | None
    steps: tuple[str, ...] = ()
    export: str = "import"


@dataclass(frozen=True)
class CheckedImport:
    """An import whose logs and model file all passed ``check_import``."""

    request: ImportRequest
    logs: tuple[CapturedLog, ...]
    model: ModelFile | None
    variant: str
    variant_sha256: str


def check_import(request: ImportRequest) -> CheckedImport:
    """Read and check every log and the model file, before any store is opened."""
    if not request.device_name.strip():
        raise UsageError("--device-name is empty", hint="name the phone, e.g. 'iPhone 12'")
    if not request.logs:
        raise UsageError("no LOG given", hint="benchorch import ... LOG [LOG...]")
    logs = tuple(read_log(p) for p in request.logs)
    model = read_model_file(request.model_file) if request.model_file is not None else None
    variant = request.variant or (model.path.stem if model else "imported")
    variant_sha = model.sha256 if model else _digest(f"benchorch import: variant {variant}")
    return CheckedImport(request, logs, model, variant, variant_sha)


def import_logs(store: Store, checked: CheckedImport) -> str:
    """Store the checked logs as launches of a new run (or of ``request.run``,
    left as it was); returns the run id."""
    request = checked.request
    existing = store.resolve_run_id(request.run) if request.run is not None else None
    run_id = existing or store.create_run("import", {"argv": reproduce_argv(request)})
    try:
        _store(store, run_id, checked)
    except BaseException:
        if existing is None:
            with contextlib.suppress(BenchorchError):
                store.finish_run(run_id, "failed")
        raise
    if existing is None:
        store.finish_run(run_id, "ok")
    return run_id


def reproduce_argv(request: ImportRequest) -> list[str]:
    """The ``benchorch import`` command line of ``request`` (the run's ``params["argv"]``)."""
    argv = ["import", "--device-name", request.device_name, "--platform", request.platform.value]
    if request.model_file is not None:
        argv += ["--model-file", str(request.model_file)]
    for flag, value, default in (
        ("--variant", request.variant, None),
        ("--dims", request.dims, "unknown"),
        ("--types", request.types, "unknown"),
        ("--threads", request.threads, 0),
        ("--run", request.run, None),
    ):
        if value != default:
            argv += [flag, str(value)]
    return [*argv, *(str(p) for p in request.logs)]


def _store(store: Store, run_id: str, checked: CheckedImport) -> None:
    from benchorch.store import LaunchRecord

    request, model = checked.request, checked.model
    serial = request.device_name
    store.record_device(
        run_id,
        DeviceInfo(
            serial=serial,
            state=IMPORTED,
            model=request.device_name,
            manufacturer="Apple" if request.platform is Platform.IOS else None,
        ),
    )
    file_name = model.path.name if model else ""
    fmt = model.format.value if model else "unknown"
    store.record_variant(
        run_id,
        CapturedVariant(
            name=file_name or checked.variant,
            variant=checked.variant,
            format=fmt,
            path=str(model.path) if model else None,
            sha256=checked.variant_sha256,
            size_bytes=model.size_bytes if model else None,
        ),
    )
    binary_sha = _digest(f"benchorch import: {request.platform.value}")
    for index, log in enumerate(checked.logs):
        res = log.result
        store.record_launch(
            LaunchRecord(
                run_id=run_id,
                launch_key=f"import:{serial}:{log.sha256[:16]}:{index}",
                device_serial=serial,
                variant=checked.variant,
                variant_file=file_name,
                variant_format=fmt,
                variant_sha256=checked.variant_sha256,
                binary_sha256=binary_sha,
                dims=request.dims,
                types=request.types,
                memory_format="unknown",
                threads=request.threads,
                kind="latency",
                launch_index=index,
                iters=len(res.samples_us),
                warmup=0,
                status=res.status.value,
                us_per_iter=res.us_per_iter,
                iters_per_sec=res.iters_per_sec,
                samples_us=res.samples_us,
                started_at=log.captured_at,
                finished_at=log.captured_at,
                wall_s=None,
                stdout=log.text,
                argv=("import", str(log.path)),
            )
        )
