"""``benchorch variants``: export every recipe variant, check each file, write the manifest.

Order of work:

1. Validate the call (recipe steps, output folder, bytecode version) before any
   torch work, so usage errors are instant.
2. Load the model, parse ``--dims``/``--types`` and run the reference (the
   eager float model, else the TorchScript file) on seeded check inputs: a
   model that does not run on those dims is a ``ModelError`` naming the inputs.
3. For each variant plan (``recipe.py``): build the module, script it (traced
   when scripting fails, recorded as ``export: trace``), ``optimize_for_mobile``
   when asked, save as ``.pt``, ``.ptl`` and FlatBuffer ``.ff.ptl``, lower lite
   files with ``_backport_for_mobile`` for ``--bytecode-version``, load each
   file back, run it and compare (``check.py``).
4. For 4-D float inputs, the baseline and the deepest quantised stack are
   listed again as ``<variant>+channels_last_input`` (hard links to the same
   files, so the same sha256, to be run with
   ``--input_memory_format=channels_last``, checked with NHWC inputs).

Everything is written into a temporary folder beside ``--out`` and renamed at
the end (an older variants folder there is replaced), so a half-written folder
never looks complete. Python warnings and the C++ ``[W ...]`` lines torch
prints are captured, not shown, and recorded once each in the manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchorch.domain import ModelFormat
from benchorch.errors import ModelError, OutputNotWritable, UsageError
from benchorch.variants import check as checks
from benchorch.variants.inputs import (
    InputSpec,
    check_inputs,
    format_dims,
    format_types,
    memory_formats,
    parse_inputs,
    to_memory_format,
)
from benchorch.variants.manifest import (
    MANIFEST_NAME,
    Manifest,
    SkippedVariant,
    VariantFile,
    write_manifest,
)

Progress = Callable[[str], None]
FLATBUFFER_VERSION = 9
FORMATS: tuple[tuple[str, ModelFormat, str], ...] = (
    ("pt", ModelFormat.FULL_JIT, ".pt"),
    ("lite", ModelFormat.LITE, ".ptl"),
    ("flatbuffer", ModelFormat.FLATBUFFER, ".ff.ptl"),
)


@dataclass(frozen=True)
class ExportOptions:
    model: str
    out: Path
    dims: str | None = None
    types: str | None = None
    calibration: Path | None = None
    recipe: str | None = None
    bytecode_version: int | None = None


@dataclass
class _State:
    tmp: Path
    specs: tuple[InputSpec, ...]
    inputs: tuple[Any, ...]
    reference: Any
    torch_version: str
    steps: tuple[str, ...]
    bytecode_version: int | None
    files: list[VariantFile] = field(default_factory=list)
    skipped: list[SkippedVariant] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- output folder ---------------------------------------------------------------


def _check_out(out: Path) -> None:
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


def _make_tmp(out: Path) -> Path:
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


def _publish(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an older variants folder there is moved aside, then removed."""
    old: Path | None = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "v")
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --- noise capture ---------------------------------------------------------------


@contextlib.contextmanager
def _captured_fd2(sink: list[str]) -> Iterator[None]:
    """Send fd 2 (where torch's C++ ``[W ...]`` warnings go) to a file; keep its lines."""
    import sys

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


def _torch_notes(caught: list[warnings.WarningMessage], stderr_lines: list[str]) -> list[str]:
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


# --- scripting ---------------------------------------------------------------------


def _failing_layer(module: Any) -> str:
    """The deepest submodule that does not script on its own ("" = the top forward)."""
    import torch

    name = ""
    current = module
    while True:
        for child_name, child in current.named_children():
            try:
                torch.jit.script(child)
            except Exception:  # scripting raises many types; any means "this one"
                name = f"{name}.{child_name}" if name else child_name
                current = child
                break
        else:
            return name


def script_module(module: Any, inputs: tuple[Any, ...], variant: str) -> tuple[Any, str]:
    """A ScriptModule for ``module`` and how it was made: script, trace or file."""
    import torch

    if isinstance(module, torch.jit.ScriptModule):
        return module, "file"
    try:
        return torch.jit.script(module), "script"
    except Exception as script_exc:  # torch.jit.frontend errors are not one class
        script_err = checks.first_line(script_exc)
        try:
            with torch.no_grad():
                traced = torch.jit.trace(module, inputs, check_trace=False)
            return traced, "trace"
        except Exception as trace_exc:
            layer = _failing_layer(module) or type(module).__name__ + ".forward"
            raise ModelError(
                f"variant {variant}: cannot script (layer {layer}: {script_err}) "
                f"or trace ({checks.first_line(trace_exc)}) the model",
                hint="make that layer TorchScript-compatible or traceable",
            ) from trace_exc


def _mobile(scripted: Any) -> Any:
    from torch.utils.mobile_optimizer import optimize_for_mobile

    return optimize_for_mobile(scripted)


# --- files -------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _ops(path: Path, fmt: ModelFormat, scripted: Any) -> tuple[str, ...]:
    import torch

    if fmt is ModelFormat.LITE:
        from torch.jit.mobile import _get_model_ops_and_info

        return tuple(sorted(_get_model_ops_and_info(str(path))))
    return tuple(sorted(torch.jit.export_opnames(scripted)))


def _bytecode(path: Path, fmt: ModelFormat) -> int | None:
    if fmt is ModelFormat.FULL_JIT:
        return None
    from torch.jit.mobile import _get_model_bytecode_version

    return int(_get_model_bytecode_version(str(path)))


def _lower(path: Path, version: int) -> None:
    from torch.jit.mobile import _backport_for_mobile, _get_model_bytecode_version

    current = int(_get_model_bytecode_version(str(path)))
    if current == version:
        return
    lowered = path.with_name(path.name + ".lowered")
    if current < version or not _backport_for_mobile(str(path), str(lowered), version):
        lowered.unlink(missing_ok=True)
        raise UsageError(
            f"--bytecode-version {version}: {path.name} (bytecode {current}) cannot be "
            f"lowered to {version}",
            hint="pick a version this torch can write or lower to",
        )
    os.replace(lowered, path)


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


def _save_formats(state: _State, scripted: Any, plan_name: str) -> list[tuple[Path, ModelFormat]]:
    wanted = [f for f in FORMATS if f[0] == "pt" or f[0] in state.steps]
    saved: list[tuple[Path, ModelFormat]] = []
    for key, fmt, suffix in wanted:
        path = state.tmp / f"{plan_name}{suffix}"
        if key == "pt":
            scripted.save(str(path))
        elif key == "lite":
            scripted._save_for_lite_interpreter(str(path))
            if state.bytecode_version is not None:
                _lower(path, state.bytecode_version)
        else:
            if state.bytecode_version is not None and state.bytecode_version < FLATBUFFER_VERSION:
                reason = (
                    f"FlatBuffer files are bytecode {FLATBUFFER_VERSION}; "
                    f"--bytecode-version {state.bytecode_version} asks for an older runtime"
                )
                skip = SkippedVariant(f"{plan_name} (flatbuffer)", reason)
                if skip not in state.skipped:
                    state.skipped.append(skip)
                continue
            scripted._save_for_lite_interpreter(str(path), _use_flatbuffer=True)
        saved.append((path, fmt))
    return saved


def _entry(
    state: _State,
    path: Path,
    fmt: ModelFormat,
    scripted: Any,
    variant: str,
    steps: tuple[str, ...],
    kind: str,
    export: str,
) -> VariantFile:
    result = checks.check_file(path, fmt, state.inputs, state.reference, kind)
    return VariantFile(
        name=path.name,
        variant=variant,
        steps=steps,
        format=fmt,
        path=path.name,
        sha256=_sha256(path),
        size_bytes=path.stat().st_size,
        bytecode_version=_bytecode(path, fmt),
        ops=_ops(path, fmt, scripted),
        input_dims=format_dims(state.specs),
        input_types=format_types(state.specs),
        memory_format=memory_formats(state.specs, channels_last=False),
        check=result,
        torch_version=state.torch_version,
        export=export,
    )


def _nhwc_entry(state: _State, f: VariantFile) -> VariantFile:
    nhwc = to_memory_format(state.inputs, state.specs, channels_last=True)
    result = checks.check_file(state.tmp / f.path, f.format, nhwc, state.reference, f.check.kind)
    stem, _, rest = f.name.partition(".")
    name = f"{stem}+channels_last_input.{rest}"
    # its own name on disk too (a hard link: same bytes, same sha256), so name == path
    try:
        os.link(state.tmp / f.path, state.tmp / name)
    except OSError:
        shutil.copyfile(state.tmp / f.path, state.tmp / name)
    return replace(
        f,
        name=name,
        path=name,
        variant=f"{f.variant}+channels_last_input",
        steps=(*f.steps, "channels_last_input"),
        memory_format=memory_formats(state.specs, channels_last=True),
        check=result,
    )


# --- the driver --------------------------------------------------------------------


def _reference(
    loaded: Any, spec: str, specs: tuple[InputSpec, ...], inputs: tuple[Any, ...]
) -> Any:
    import torch

    try:
        with torch.no_grad():
            return checks.flatten(loaded.reference(*inputs))
    except Exception as exc:  # the model's own code can raise anything
        shapes = "; ".join(
            f"input {i} {','.join(map(str, s.shape))} {s.type}" for i, s in enumerate(specs)
        )
        raise ModelError(
            f"{spec} (the float model, before any variant) does not run on {shapes}: "
            f"{checks.first_line(exc)}",
            hint="pass --dims/--types that fit the model's forward",
        ) from exc


def export_variants(opts: ExportOptions, progress: Progress | None = None) -> Manifest:
    from benchorch.variants.recipe import parse_recipe

    say = progress or (lambda _msg: None)
    steps = parse_recipe(opts.recipe)
    if opts.bytecode_version is not None and opts.bytecode_version < 1:
        raise UsageError(
            f"--bytecode-version {opts.bytecode_version} is not a bytecode version",
            hint="give a positive integer such as 7",
        )
    out = opts.out.absolute()
    _check_out(out)
    tmp = _make_tmp(out)
    caught: list[warnings.WarningMessage] = []
    stderr_lines: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            manifest = _export(opts, steps, tmp, say, stderr_lines)
            caught = list(record)
        notes = _torch_notes(caught, stderr_lines)
        manifest = replace(manifest, warnings=(*manifest.warnings, *notes))
        say("manifest")
        write_manifest(manifest, tmp)
        _publish(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputNotWritable(
            f"--out {out}: writing failed ({exc.strerror or exc})",
            hint="check free space and permissions of the output folder",
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return replace(manifest, root=out)


def _export(
    opts: ExportOptions, steps: tuple[str, ...], tmp: Path, say: Progress, stderr: list[str]
) -> Manifest:
    import torch

    from benchorch.variants.calibration import (
        UNCALIBRATED,
        load_calibration,
        merge_batches,
        random_calibration,
    )
    from benchorch.variants.load import load_model
    from benchorch.variants.recipe import RecipeBuilder, xnnpack_available

    if opts.bytecode_version is not None:
        with _captured_fd2(stderr):
            probe_bytecode_version(opts.bytecode_version, tmp)
    say(f"loading {opts.model}")
    with _captured_fd2(stderr):
        loaded = load_model(opts.model)
    dims = opts.dims or loaded.default_dims
    if dims is None:
        raise UsageError(
            f"--dims is required for {opts.model}", hint="e.g. --dims 1,3,224,224 --types float"
        )
    types = opts.types
    if types is None:
        n = len(dims.split(";"))
        default = loaded.default_types
        types = default if default and len(default.split(";")) == n else ";".join(["float"] * n)
    specs = parse_inputs(dims, types)
    inputs = check_inputs(specs)
    reference = _reference(loaded, opts.model, specs, inputs)

    if opts.calibration is not None:
        calibration = load_calibration(opts.calibration, specs)
        warn: list[str] = []
    else:
        calibration = random_calibration(specs)
        warn = [UNCALIBRATED]
    if loaded.eager is not None:
        calibration = merge_batches(loaded.eager, calibration)

    state = _State(
        tmp, specs, inputs, reference, str(torch.__version__), steps, opts.bytecode_version
    )
    builder = RecipeBuilder(loaded, specs, calibration, inputs)
    plans, skipped = builder.plans(steps)
    state.skipped.extend(skipped)
    if not any("quantize" in p.steps for p in plans):
        warn = []  # no static quantisation, nothing was calibrated
    by_variant: dict[str, list[VariantFile]] = {}
    for plan in plans:
        say(f"variant {plan.name}")
        try:
            with _captured_fd2(stderr):
                module = plan.make()
                scripted, how = script_module(module, inputs, plan.name)
                if plan.mobile:
                    scripted = _mobile(scripted)
                saved = _save_formats(state, scripted, plan.name)
                entries = [
                    _entry(state, p, fmt, scripted, plan.name, plan.steps, plan.kind, how)
                    for p, fmt in saved
                ]
        except ModelError:
            if plan.name == "baseline":
                raise
            entries = []
            state.skipped.append(SkippedVariant(plan.name, "could not be scripted or traced"))
        except (UsageError, OSError):
            raise
        except Exception as exc:  # a failing transform skips its variant, never the export
            if plan.name == "baseline":
                raise ModelError(
                    f"{opts.model}: the baseline could not be exported ({checks.first_line(exc)})",
                    hint="check that the model scripts and saves with torch.jit",
                ) from exc
            entries = []
            state.skipped.append(
                SkippedVariant(plan.name, f"failed to build: {checks.first_line(exc)}")
            )
        state.files.extend(entries)
        by_variant[plan.name] = entries

    say("channels-last input entries")
    if "channels_last" in steps and len(specs) == 1 and specs[0].is_image:
        stacks = [p.name for p in plans if p.kind == "int8" and "channels_last" not in p.steps]
        for name in ["baseline", *stacks[-1:]]:
            for f in by_variant.get(name, []):
                with _captured_fd2(stderr):
                    state.files.append(_nhwc_entry(state, f))

    return Manifest(
        model=opts.model,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        torch_version=state.torch_version,
        xnnpack=xnnpack_available(),
        inputs={"dims": format_dims(specs), "types": format_types(specs)},
        calibrated=opts.calibration is not None,
        files=tuple(state.files),
        skipped=tuple(state.skipped),
        warnings=tuple(warn + builder.notes),
        root=tmp,
    )
