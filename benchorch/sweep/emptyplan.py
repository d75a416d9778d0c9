"""A sweep that would run nothing, said before anything is pushed (issue 17).

Three checks, all pure:

* ``recipe_mismatches``: before the export, a user-given ``--recipe`` whose
  formats no binary of a device can load (``fuse,quantize`` writes only
  full-JIT ``.pt`` files; a lite-interpreter build loads only ``.ptl`` and
  FlatBuffer), one entry per device and binary;
* ``nothing_to_run``: after planning, every device's plan is empty; the error
  names why every candidate was removed, grouped by reason (``SkipKind``), and
  the fix for each reason;
* ``device_note``: the summary line for one device whose plan is empty while
  another device's is not.

With the default recipe the sweep keeps only the files some binary can load
(``loadable``), so a lite-only sweep plans no ``.pt`` file away.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from benchorch.domain import Flavour, ModelFormat
from benchorch.errors import UsageError
from benchorch.sweep.plan import LOADS, Plan, Skip, SkipKind

__all__ = [
    "NothingToRun",
    "device_note",
    "loadable",
    "nothing_to_run",
    "recipe_mismatches",
]

_FORMAT_NAMES = {
    ModelFormat.FULL_JIT: "full-JIT .pt",
    ModelFormat.LITE: ".ptl",
    ModelFormat.FLATBUFFER: "FlatBuffer",
    ModelFormat.EXECUTORCH: "ExecuTorch .pte",
}


class NothingToRun(UsageError):
    """The plan is empty after the compatibility filter: nothing would be measured."""


@dataclass(frozen=True)
class DeviceBinary:
    """One device and what the plan needs of its binary, for the messages."""

    serial: str
    binary: str  # the binary's file name
    flavour: Flavour

    @property
    def label(self) -> str:
        kind = {Flavour.LITE: "lite-interpreter", Flavour.EXECUTORCH: "ExecuTorch runner"}.get(
            self.flavour, "full-JIT"
        )
        return f"{self.binary} ({kind} build) on {self.serial}"


def loadable(flavours: Iterable[Flavour]) -> frozenset[ModelFormat]:
    """The model formats at least one of these binaries loads."""
    out: frozenset[ModelFormat] = frozenset()
    for flavour in flavours:
        out |= LOADS[flavour]
    return out


def recipe_mismatches(
    recipe: Sequence[str], formats: frozenset[ModelFormat], devices: Sequence[DeviceBinary]
) -> list[str]:
    """One line per device whose binary loads none of the recipe's ``formats``."""
    if not recipe:
        return []
    wrote = ", ".join(_FORMAT_NAMES[f] for f in ModelFormat if f in formats)
    out = []
    for d in devices:
        if formats & LOADS[d.flavour]:
            continue
        wants = " or ".join(_FORMAT_NAMES[f] for f in ModelFormat if f in LOADS[d.flavour])
        out.append(
            f"{d.label} loads only {wants} files and --recipe {','.join(recipe)} exports"
            f" only {wrote}: nothing can run there (add lite or flatbuffer to --recipe,"
            " or use a full-JIT binary built with BUILD_LITE_INTERPRETER=0)"
        )
    return out


def nothing_to_run(
    plans: Mapping[str, Plan], *, from_recipe: bool, candidates: int
) -> NothingToRun:
    """The error for a sweep whose every device's plan is empty.

    ``from_recipe``: the files came from an export (``--model``), so the fix
    for a full-JIT file on a lite binary is a recipe step; else from
    ``--variants DIR``. ``candidates``: how many files the variants hold.
    """
    if candidates == 0:
        return NothingToRun(
            "nothing to run: the variants hold no model file",
            hint="export some with `benchorch variants MODEL --out DIR` and pass --variants DIR",
        )
    groups: dict[SkipKind, list[tuple[str, Skip]]] = {}
    for serial, plan in plans.items():
        for skip in plan.skipped:
            groups.setdefault(skip.kind, []).append((serial, skip))
    parts, fixes = [], []
    for kind in SkipKind:
        if kind in groups:
            part, fix = _group(kind, groups[kind], from_recipe)
            parts.append(part)
            if fix not in fixes:
                fixes.append(fix)
    return NothingToRun(
        "nothing to run: the compatibility filter removed every candidate launch: "
        + "; ".join(parts),
        hint="; ".join(fixes),
    )


def device_note(plan: Plan) -> str:
    """Why one device got nothing to run (its plan is empty), one line."""
    kinds = dict.fromkeys(s.kind for s in plan.skipped)
    what = ", ".join(_LABELS[k] for k in kinds) or "no candidate"
    return f"nothing to run on this device: every candidate was removed ({what})"


_LABELS = {
    SkipKind.FULL_JIT_ON_LITE: "full-JIT .pt files on a lite-interpreter binary",
    SkipKind.RUNTIME: "files for the other runtime (.pte vs TorchScript)",
    SkipKind.BYTECODE_NEWER: "bytecode newer than the binary accepts",
    SkipKind.BYTECODE_OLDER: "bytecode older than the binary accepts",
    SkipKind.CHECK_FAILED: "files whose accuracy check failed",
    SkipKind.INPUTS: "inputs that do not fit the model",
}


def _group(kind: SkipKind, items: Sequence[tuple[str, Skip]], from_recipe: bool) -> tuple[str, str]:
    files = list(dict.fromkeys(s.file for _, s in items))
    serials = list(dict.fromkeys(serial for serial, _ in items))
    shown = ", ".join(files[:4]) + (f", and {len(files) - 4} more" if len(files) > 4 else "")
    where = ", ".join(serials)
    part = f"{_LABELS[kind]} ({len(items)}: {shown}) on {where}"
    if kind is SkipKind.FULL_JIT_ON_LITE:
        fix = (
            "add lite or flatbuffer to --recipe"
            if from_recipe
            else "pass --variants with .ptl or FlatBuffer files"
        )
        fix += ", or use a full-JIT binary (BUILD_LITE_INTERPRETER=0)"
    elif kind is SkipKind.CHECK_FAILED:
        fix = "fix the variants or pass --include-failed-checks"
    else:  # each reason of these kinds ends with its fix after the first ": "
        reason = items[0][1].reason
        fix = reason.split(": ", 1)[1] if ": " in reason else reason
    return part, fix
