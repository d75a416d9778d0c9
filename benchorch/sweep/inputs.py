"""Resolve a sweep's inputs: the variants to time and the binary for each device.

Kept apart from the executor so a lab host that passes ``--variants DIR`` and
``--binary PATH`` never imports torch: only ``--model`` (export) and the host
runner on ``--device local`` need it.

``--device local`` times the real ``speed_benchmark_torch`` (``local_binary``):
a full-JIT host build (it loads ``.pt``, ``.ptl`` and FlatBuffer files) of the
PyTorch source (``$BENCHORCH_PYTORCH_SRC``, else the tree ``make setup`` fetched
into ``.cache/pytorch-src``) against the installed libtorch, through
``build.build`` (the ``--build-from`` path), cached after the first
use. The host runner (``python -m benchorch.hostrunner``, a Python stand-in) is
the labelled fallback: asked for with ``--runner python``, or taken with a
warning when no source, libtorch or compiler is here. The binary's provenance
``origin`` (``hostrunner`` or ``built``/``cached``) records which one timed a run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from benchorch.abi import require_runs
from benchorch.build.provenance import Provenance, accepted_bytecode
from benchorch.domain import DeviceInfo, Flavour
from benchorch.errors import BenchorchError, UsageError
from benchorch.files import sha256_file
from benchorch.sweep.settings import RUNNER_CHOICES
from benchorch.variants.manifest import Manifest
from benchorch.variants.steps import DEFAULT_RECIPE


@dataclass(frozen=True)
class Binary:
    """The benchmark program for one device, from its provenance to the plan and the store.

    ``local_path`` is pushed to the device (``None`` for the host runner, whose
    ``argv_prefix`` is complete already); ``extra_files`` go beside it
    (``libc++_shared.so`` for ``ANDROID_STL_SHARED`` builds).
    """

    provenance: Provenance
    local_path: Path | None
    argv_prefix: tuple[str, ...] = ()
    extra_files: tuple[Path, ...] = ()

    @classmethod
    def from_provenance(cls, prov: Provenance) -> Binary:
        """A built or registered binary file, pushed with its extra files."""
        extra = tuple(Path(p) for p in prov.extra_files)
        return cls(provenance=prov, local_path=Path(prov.path), extra_files=extra)

    @property
    def sha256(self) -> str:
        return self.provenance.sha256

    @property
    def flavour(self) -> Flavour:
        return Flavour(self.provenance.flavour or Flavour.LITE.value)

    @property
    def bytecode_min(self) -> int | None:
        """The oldest lite bytecode the binary loads; None: unknown."""
        return self.provenance.bytecode_min

    @property
    def bytecode_max(self) -> int | None:
        """The newest lite bytecode the binary loads; None: unknown."""
        return self.provenance.bytecode_max


def variants_cache_key(
    model: str, dims: str, types: str, recipe: tuple[str, ...], bytecode_version: int | None = None
) -> str:
    """Identity of an export: model spec (and file content), inputs, recipe, bytecode
    version and torch version."""
    h = hashlib.sha256()
    key = [model, dims, types, list(recipe), bytecode_version, _torch_version()]
    h.update(json.dumps(key).encode())
    path = Path(model)
    if path.is_file():
        h.update(bytes.fromhex(sha256_file(path)))
    return h.hexdigest()[:16]


def resolve_variants(
    *,
    variants_dir: Path | None,
    model: str | None,
    dims: str | None,
    types: str | None,
    recipe: tuple[str, ...] | None,
    cache_dir: Path,
    bytecode_version: int | None = None,
) -> Manifest:
    """Load ``--variants DIR`` or export ``--model`` (cached by content) and load that."""
    if variants_dir is not None:
        return Manifest.load(variants_dir)
    if model is None:
        raise UsageError(
            "no model to benchmark", hint="pass --model demo:mobilenet_v2 or --variants DIR"
        )
    from benchorch.variants.export import ExportOptions, export_variants  # torch lives here

    steps = tuple(recipe) if recipe else DEFAULT_RECIPE
    key = variants_cache_key(model, dims or "", types or "", steps, bytecode_version)
    out = cache_dir / "variants" / key
    if (out / "manifest.json").is_file():
        return Manifest.load(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    opts = ExportOptions(
        model=model,
        out=out,
        dims=dims,
        types=types,
        recipe=",".join(steps),
        bytecode_version=bytecode_version,
    )
    return export_variants(opts)


def _torch_version() -> str | None:
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        try:  # Debian's python3-torch has no dist-info pip can see in every layout
            import torch

            return str(torch.__version__)
        except ImportError:
            return None


def hostrunner_binary() -> Binary:
    """The host runner (``python -m benchorch.hostrunner``) as a benchmark binary."""
    import benchorch.hostrunner as hr

    source = Path(hr.__file__).read_bytes()
    version = _torch_version()
    if version is None:
        raise UsageError(
            "--device local without --binary runs the host runner, which needs torch",
            hint="pip install 'benchorch[torch]', or pass --binary PATH",
        )
    lo, hi = accepted_bytecode(version)
    sha = hashlib.sha256(source + version.encode()).hexdigest()
    provenance = Provenance(
        path=f"{sys.executable} -m benchorch.hostrunner",
        sha256=sha,
        size_bytes=None,
        origin="hostrunner",
        target="host",
        abi=None,
        flavour=Flavour.FULL_JIT.value,
        pytorch_version=version,
        bytecode_min=lo,
        bytecode_max=hi,
    )
    return Binary(
        provenance=provenance,
        local_path=None,
        argv_prefix=(sys.executable, "-m", "benchorch.hostrunner"),
    )


#: the flavour of the local build: full-JIT loads every format the recipe exports
LOCAL_FLAVOUR = Flavour.FULL_JIT.value
#: a build that has not answered after this long is compiling (a cache hit takes
#: milliseconds, a build 15-60 s): say so
_PROGRESS_AFTER_S = 2.0

log = logging.getLogger("benchorch.sweep")


def pytorch_source() -> Path | None:
    """The PyTorch source tree to build the local binary from, or None.

    ``$BENCHORCH_PYTORCH_SRC`` when set (it must hold the benchmark's source),
    else the tree ``make setup`` fetched (``.cache/pytorch-src/pytorch-*`` in the
    benchorch checkout).
    """
    env = os.environ.get("BENCHORCH_PYTORCH_SRC")
    if env:
        root = Path(env).expanduser()
        return root if _has_benchmark(root) else None
    fetched = Path(__file__).resolve().parents[2] / ".cache" / "pytorch-src"
    trees = sorted(fetched.glob("pytorch-*"), reverse=True) if fetched.is_dir() else []
    return next((t for t in trees if _has_benchmark(t)), None)


def _has_benchmark(root: Path) -> bool:
    return (root / "binaries" / "speed_benchmark_torch.cc").is_file()


def local_binary(runner: str = "auto", *, echo: TextIO | None = None) -> Binary:
    """The benchmark program for ``--device local`` (see the module docstring).

    ``runner``: ``auto`` (the real binary when it can be built, else the host
    runner with a warning on ``echo``), ``binary`` (the real one or an error),
    ``python`` (the host runner).
    """
    out = echo if echo is not None else sys.stderr
    if runner not in RUNNER_CHOICES:
        raise UsageError(f"--runner {runner!r}: not a runner", hint="use auto, binary or python")
    if runner == "python":
        return hostrunner_binary()
    source = pytorch_source()
    try:
        if source is None:
            raise UsageError(
                "no PyTorch source to build speed_benchmark_torch from",
                hint="run make setup, or set BENCHORCH_PYTORCH_SRC to a PyTorch 1.13 tree",
            )
        return _host_build(source, out)
    except BenchorchError as exc:
        if runner == "binary":
            raise
        print(
            "benchorch: warning: --device local times the Python host runner, a stand-in for "
            f"speed_benchmark_torch (the report says so): {exc}",
            file=out,
        )
        return hostrunner_binary()


def _host_build(source: Path, out: TextIO) -> Binary:
    """The ``--build-from`` build (``build.build``, cached); one still going after
    two seconds prints a progress line."""
    from benchorch.build import BuildRequest, build

    result: list[Any] = []
    request = BuildRequest(target="host", flavour=LOCAL_FLAVOUR, pytorch_root=source)

    def run_build() -> None:
        try:
            result.append(build(request))
        except BaseException as exc:  # handed to the caller's thread below
            result.append(exc)

    started = time.monotonic()
    worker = threading.Thread(target=run_build, name="local-build", daemon=True)
    worker.start()
    worker.join(_PROGRESS_AFTER_S)
    building = worker.is_alive()
    if building:
        print(
            f"benchorch: building speed_benchmark_torch for this host from {source} "
            "(first use; cached after) ...",
            file=out,
            flush=True,
        )
        worker.join()
    (value,) = result
    if isinstance(value, BaseException):
        raise value
    if building and value.origin == "built":
        print(f"benchorch: built in {time.monotonic() - started:.0f} s: {value.path}", file=out)
    return Binary.from_provenance(value)


def check_abi(binary: Binary, info: DeviceInfo) -> None:
    """Refuse a binary whose ELF the device cannot run, naming both ABIs."""
    abi = binary.provenance.abi
    if binary.local_path is None or not abi or not info.abis:
        return
    require_runs(abi, info.abis, serial=info.serial, what="the binary")
