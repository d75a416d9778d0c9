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
4. The ExecuTorch steps, when named, lower the eager model to ``.pte``
   programs (``et_variants.py``), each checked through ``executorch.runtime``.
5. For 4-D float inputs, the baseline and the deepest quantised stack are
   listed again as ``<variant>+channels_last_input`` (hard links to the same
   files, so the same sha256, to be run with
   ``--input_memory_format=channels_last``, checked with NHWC inputs).

Everything is written into a temporary folder beside ``--out`` and renamed at
the end (an older variants folder there is replaced), so a half-written folder
never looks complete. Python warnings and the C++ ``[W ...]`` lines torch
prints are captured, not shown, and recorded once each in the manifest.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchorch import benchflags
from benchorch.domain import ModelFormat
from benchorch.errors import ModelError, OutputNotWritable, UsageError
from benchorch.files import sha256_file
from benchorch.variants import check as checks
from benchorch.variants import files, output, script
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
    Manifest,
    SkippedVariant,
    VariantFile,
    write_manifest,
)
from benchorch.variants.steps import ET_STEPS, FILE_FORMATS, parse_recipe, recipe_formats

Progress = Callable[[str], None]


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


def _save_formats(state: _State, scripted: Any, plan_name: str) -> list[tuple[Path, ModelFormat]]:
    formats = recipe_formats(state.steps)
    wanted = [f for f in FILE_FORMATS if f[1] in formats]
    saved: list[tuple[Path, ModelFormat]] = []
    for key, fmt, suffix in wanted:
        path = state.tmp / f"{plan_name}{suffix}"
        if key == "pt":
            scripted.save(str(path))
        elif key == "lite":
            scripted._save_for_lite_interpreter(str(path))
            if state.bytecode_version is not None:
                files.lower(path, state.bytecode_version)
        else:
            if (
                state.bytecode_version is not None
                and state.bytecode_version < files.FLATBUFFER_VERSION
            ):
                reason = (
                    f"FlatBuffer files are bytecode {files.FLATBUFFER_VERSION}; "
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
        sha256=sha256_file(path),
        size_bytes=path.stat().st_size,
        bytecode_version=files.bytecode(path, fmt),
        ops=files.ops(path, fmt, scripted),
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
    say = progress or (lambda _msg: None)
    steps = parse_recipe(opts.recipe)
    if any(s in ET_STEPS for s in steps):
        from benchorch.variants.et_export import INSTALL, missing_extra

        missing = missing_extra()
        if missing is not None:
            raise UsageError(
                f"--recipe {opts.recipe}: the ExecuTorch steps need the executorch extra"
                f" ({missing} is not installed)",
                hint=INSTALL,
            )
    if opts.bytecode_version is not None and opts.bytecode_version < 1:
        raise UsageError(
            f"--bytecode-version {opts.bytecode_version} is not a bytecode version",
            hint="give a positive integer such as 7",
        )
    out = opts.out.absolute()
    output.check_out(out)
    tmp = output.make_tmp(out)
    caught: list[warnings.WarningMessage] = []
    stderr_lines: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            manifest = _export(opts, steps, tmp, say, stderr_lines)
            caught = list(record)
        notes = output.torch_notes(caught, stderr_lines)
        manifest = replace(manifest, warnings=(*manifest.warnings, *notes))
        say("manifest")
        write_manifest(manifest, tmp)
        output.publish(tmp, out)
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
    from benchorch.variants.recipe import RecipeBuilder, et_plans, xnnpack_available

    if opts.bytecode_version is not None:
        with output.captured_fd2(stderr):
            files.probe_bytecode_version(opts.bytecode_version, tmp)
    say(f"loading {opts.model}")
    with output.captured_fd2(stderr):
        loaded = load_model(opts.model)
    dims = opts.dims or loaded.default_dims
    if dims is None:
        raise UsageError(
            f"--dims is required for {opts.model}", hint="e.g. --dims 1,3,224,224 --types float"
        )
    types = opts.types
    if types is None:
        n = benchflags.input_count(dims)
        default = loaded.default_types
        if not default or benchflags.input_count(default) != n:
            default = benchflags.INPUT_SEP.join(["float"] * n)
        types = default
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
            with output.captured_fd2(stderr):
                module = plan.make()
                scripted, how = script.script_module(module, inputs, plan.name)
                if plan.mobile:
                    scripted = script.mobile(scripted)
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
                with output.captured_fd2(stderr):
                    state.files.append(_nhwc_entry(state, f))

    et_planned, et_skipped = et_plans(steps, loaded.eager, [s.type for s in specs])
    state.skipped.extend(et_skipped)
    if et_planned:
        from benchorch.variants.et_variants import EtContext, export_all

        ctx = EtContext(tmp, specs, inputs, reference, calibration, state.torch_version)
        with output.captured_fd2(stderr):
            made, failed = export_all(ctx, loaded.eager, et_planned, say)
        state.files.extend(made)
        state.skipped.extend(failed)

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
