"""Write, check and describe the recipe's ExecuTorch ``.pte`` variants.

Each ``EtPlan`` (``recipe.et_plans``) is lowered from the eager model
(``et_export.lower``), written as ``<variant>.pte``, loaded back with
``executorch.runtime`` and run on the same seeded check inputs as every other
variant, then compared with the eager float output by ``check.compare`` (the
same tolerances: ``float`` for portable/XNNPACK fp32, ``int8`` for quantised).
A plan that fails to lower is skipped with the reason; the baseline lite
variants are never affected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchorch.domain import ModelFormat
from benchorch.files import atomic_write, sha256_file
from benchorch.variants import check as checks
from benchorch.variants import et_export as et
from benchorch.variants.inputs import InputSpec, format_dims, format_types, memory_formats
from benchorch.variants.manifest import CheckResult, SkippedVariant, VariantFile
from benchorch.variants.recipe import EtPlan

SUFFIX = ".pte"


@dataclass(frozen=True)
class EtContext:
    """What every ``.pte`` variant of one export shares."""

    tmp: Path
    specs: tuple[InputSpec, ...]
    inputs: tuple[Any, ...]
    reference: Any
    calibration: Sequence[tuple[Any, ...]]
    torch_version: str


def check_pte(path: Path, inputs: tuple[Any, ...], reference: Any, kind: str) -> CheckResult:
    """Run ``path`` through ``executorch.runtime`` and compare with ``reference``."""
    try:
        output = et.run_pte(str(path), inputs)
    except Exception as exc:  # any load or run failure is the check's finding
        return CheckResult(
            False, kind, None, None, checks.tolerance(kind, reference), checks.first_line(exc)
        )
    return checks.compare(output, reference, kind)


def export_plan(ctx: EtContext, eager: Any, plan: EtPlan) -> VariantFile:
    lowered = et.lower(eager, ctx.inputs, plan.mode, ctx.calibration)
    path = ctx.tmp / f"{plan.name}{SUFFIX}"
    atomic_write(path, lowered.buffer)
    return VariantFile(
        name=path.name,
        variant=plan.name,
        steps=plan.steps,
        format=ModelFormat.EXECUTORCH,
        path=path.name,
        sha256=sha256_file(path),
        size_bytes=path.stat().st_size,
        bytecode_version=None,
        ops=et.operators(str(path)),
        input_dims=format_dims(ctx.specs),
        input_types=format_types(ctx.specs),
        memory_format=memory_formats(ctx.specs, channels_last=False),
        check=check_pte(path, ctx.inputs, ctx.reference, plan.kind),
        torch_version=ctx.torch_version,
        export="torch.export",
        delegation=lowered.delegation,
        runtime_version=et.executorch_version(),
    )


def export_all(
    ctx: EtContext, eager: Any, plans: Sequence[EtPlan], say: Callable[[str], None]
) -> tuple[list[VariantFile], list[SkippedVariant]]:
    """Every plan's ``.pte`` entry; a plan that fails to lower is skipped with why."""
    made: list[VariantFile] = []
    skipped: list[SkippedVariant] = []
    for plan in plans:
        say(f"variant {plan.name}")
        try:
            made.append(export_plan(ctx, eager, plan))
        except OSError:
            raise
        except Exception as exc:  # torch.export and lowering can raise anything
            skipped.append(SkippedVariant(plan.name, f"failed to lower: {checks.first_line(exc)}"))
    return made, skipped
