"""The sweep's plan, a pure function: the matrix, what cannot run and why, the order.

Matrix: every variant x dims x types x memory format x threads is a
*configuration*, run ``launches`` times (``kind="latency"``). Each variant also
gets ``load_launches`` launches of ``kind="load"`` (``--iter=0 --warmup=0``,
timed on the device) on its first runnable dims/types/memory format and the
first thread count. Dims, types and memory formats come from the config when
given, else from the variant (its manifest entry).

Removed, each with a reason the report shows (``Plan.skipped``):

* a full-JIT ``.pt`` on a lite-interpreter binary (it cannot load it);
* a file for the other runtime: a ``.pte`` when the device has no ExecuTorch
  runner, a TorchScript file on an ExecuTorch runner (``.pte`` files go to the
  ExecuTorch runner, the rest to speed_benchmark_torch, same threads, iters and
  warm-up: the runner has none, so it runs ``warmup + iters`` executions and the
  parser drops the first ``warmup``);
* lite bytecode outside the range the binary accepts (newer: suggests
  ``--bytecode-version N``, N the binary's maximum);
* a variant whose accuracy check failed, unless ``include_failed_checks``;
* inputs the binary cannot take together (``benchflags.input_problem``): dims
  and types with different input counts, memory formats not one per input (a
  multi-input model given one format), ``channels_last`` on an input that is
  not 4-D.

Order (``interleave``): no configuration runs twice in a row unless nothing
else is left, so slow drift (heat, background work) hits every configuration
alike. With ``R`` launches remaining and the previous one's configuration
``p``, a configuration ``c != p`` with ``2 * remaining(c) >= R + 1`` must go
now (else it could not be separated later); otherwise any ``c != p`` keeps
the rest arrangeable. Among the allowed ones, ``shuffle`` draws at random
(``random.Random(seed)``) weighted by remaining launches, and ``round_robin``
takes the one furthest behind (lowest done/total, ties in matrix order), which
for equal counts is the plain cycle A B C A B C.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Literal

from benchorch import benchflags
from benchorch.domain import Flavour, ModelFormat
from benchorch.errors import ConfigError
from benchorch.etflags import et_runner_args
from benchorch.parse import LOAD_ITERS
from benchorch.sweep.inputs import Binary
from benchorch.sweep.settings import Order, SweepConfig
from benchorch.variants.manifest import Manifest

__all__ = [
    "LOADS",
    "LaunchSpec",
    "Plan",
    "PlanVariant",
    "Skip",
    "SkipKind",
    "interleave",
    "make_plan",
    "plan_variants",
]

LaunchKind = Literal["latency", "load"]

#: The model formats each binary flavour loads (docs/FACTS.md: a lite-interpreter
#: build has no TorchScript front end, so it cannot read a full-JIT ``.pt``).
LOADS: dict[Flavour, frozenset[ModelFormat]] = {
    Flavour.LITE: frozenset({ModelFormat.LITE, ModelFormat.FLATBUFFER}),
    Flavour.FULL_JIT: frozenset({ModelFormat.FULL_JIT, ModelFormat.LITE, ModelFormat.FLATBUFFER}),
    Flavour.EXECUTORCH: frozenset({ModelFormat.EXECUTORCH}),
}


class SkipKind(StrEnum):
    """Why the planner removed a candidate; the reason text says it for one file."""

    FULL_JIT_ON_LITE = "full_jit_on_lite"
    RUNTIME = "runtime"  # a .pte for speed_benchmark_torch, or TorchScript for ExecuTorch
    BYTECODE_NEWER = "bytecode_newer"
    BYTECODE_OLDER = "bytecode_older"
    CHECK_FAILED = "check_failed"
    INPUTS = "inputs"  # dims, types or memory formats that do not fit the model


@dataclass(frozen=True)
class PlanVariant:
    """One model file of the variants folder, as the planner needs it.

    ``name`` is the recipe's name (``fused+quantized``), which several files
    share (``.pt``, ``.ptl``...); ``file`` names this one and is unique.
    """

    name: str
    file: str  # the manifest's file name; passed through to LaunchSpec
    format: ModelFormat
    sha256: str
    bytecode_version: int | None  # None for full-JIT files or when unknown
    input_dims: str  # the variant's own, ';'-joined per input
    input_types: str
    memory_format: str
    check_passed: bool


@dataclass(frozen=True)
class LaunchSpec:
    """One launch, independent of the device it runs on."""

    variant: str  # the recipe's name ("fused+quantized")
    file: str  # the manifest's file name ("fused+quantized.ptl")
    format: ModelFormat
    sha256: str
    dims: str
    types: str
    memory_format: str
    threads: int
    kind: LaunchKind
    launch_index: int  # 0-based, per configuration
    iters: int
    warmup: int
    config_key: str  # same for every launch of one configuration
    launch_key: str  # unique in the plan; stable for the same inputs (used by --resume)

    def key_for(self, serial: str) -> str:
        """The launch key qualified by a device, unique across a multi-device sweep."""
        return f"{serial}/{self.launch_key}"

    @property
    def executorch(self) -> bool:
        """An ExecuTorch program, run by the ExecuTorch runner (else by speed_benchmark_torch)."""
        return self.format is ModelFormat.EXECUTORCH

    def benchmark_args(self, model_path: str) -> tuple[str, ...]:
        """The binary's flags for this launch: ``benchflags.benchmark_args`` for
        speed_benchmark_torch, ``etflags.et_runner_args`` for an ExecuTorch runner."""
        if self.executorch:
            return et_runner_args(
                model=model_path, warmup=self.warmup, iters=self.iters, threads=self.threads
            )
        return benchflags.benchmark_args(
            model=model_path,
            dims=self.dims,
            types=self.types,
            memory_format=self.memory_format,
            warmup=self.warmup,
            iters=self.iters,
            threads=self.threads,
        )


@dataclass(frozen=True)
class Skip:
    """A variant file (dims etc. None) or one of its configurations that will not run."""

    variant: str  # the recipe's name
    file: str  # the manifest's file name
    reason: str
    dims: str | None = None
    types: str | None = None
    memory_format: str | None = None
    kind: SkipKind = SkipKind.INPUTS

    @property
    def config(self) -> dict[str, str]:
        """What ``Store.record_skip(config=...)`` takes."""
        items = {
            "file": self.file,
            "dims": self.dims,
            "types": self.types,
            "memory_format": self.memory_format,
        }
        return {k: v for k, v in items.items() if v is not None}


@dataclass(frozen=True)
class Plan:
    launches: tuple[LaunchSpec, ...]
    skipped: tuple[Skip, ...]

    @property
    def config_keys(self) -> tuple[str, ...]:
        """Distinct configurations, in first-launch order."""
        return tuple(dict.fromkeys(spec.config_key for spec in self.launches))


@dataclass(frozen=True)
class _Config:
    variant: PlanVariant
    dims: str
    types: str
    memory_format: str
    threads: int
    kind: LaunchKind
    count: int

    @property
    def key(self) -> str:
        v = self.variant
        return (
            f"{v.file}|{v.sha256[:16]}|{self.dims}|{self.types}|{self.memory_format}"
            f"|t{self.threads}|{self.kind}"
        )


def _variant_problem(
    v: PlanVariant, binary: Binary, include_failed: bool
) -> tuple[SkipKind, str] | None:
    if binary.flavour is Flavour.EXECUTORCH and v.format is not ModelFormat.EXECUTORCH:
        return SkipKind.RUNTIME, (
            f"{v.file} is a TorchScript file and the ExecuTorch runner runs only .pte"
            " programs: time it with speed_benchmark_torch"
        )
    if v.format is ModelFormat.EXECUTORCH and binary.flavour is not Flavour.EXECUTORCH:
        return SkipKind.RUNTIME, (
            f"{v.file} is an ExecuTorch program and speed_benchmark_torch runs only"
            " TorchScript files: time it with an ExecuTorch runner"
        )
    if v.format not in LOADS[binary.flavour]:
        return SkipKind.FULL_JIT_ON_LITE, (
            f"{v.file} is a full-JIT TorchScript file and the binary is a lite-interpreter build,"
            " which loads only .ptl/FlatBuffer: use the .ptl variant or a full-JIT build"
            " (BUILD_LITE_INTERPRETER=0)"
        )
    reads_bytecode = v.format is ModelFormat.FLATBUFFER or (
        v.format is ModelFormat.LITE and binary.flavour is Flavour.LITE
    )
    if reads_bytecode and v.bytecode_version is not None:
        low, high = binary.bytecode_min, binary.bytecode_max
        span = f"{low if low is not None else '?'}-{high if high is not None else '?'}"
        if high is not None and v.bytecode_version > high:
            return SkipKind.BYTECODE_NEWER, (
                f"bytecode version {v.bytecode_version} is newer than the binary accepts ({span}):"
                f" re-export with --bytecode-version {high}"
            )
        if low is not None and v.bytecode_version < low:
            return SkipKind.BYTECODE_OLDER, (
                f"bytecode version {v.bytecode_version} is older than the binary accepts ({span}):"
                " re-export with a newer torch"
            )
    if not v.check_passed and not include_failed:
        return (
            SkipKind.CHECK_FAILED,
            "its accuracy check failed: fix the variant or pass --include-failed-checks",
        )
    return None


def make_plan(
    variants: Sequence[PlanVariant],
    binary: Binary,
    config: SweepConfig,
    et_binary: Binary | None = None,
) -> Plan:
    """The launches and skips of one sweep on one device's binaries (see the module docstring).

    ``.pte`` files go to ``et_binary`` (an ExecuTorch runner; without one they
    are planned away), every other file to ``binary``; both runtimes' launches
    are interleaved in one order, so drift hits both alike.

    Uses ``config``'s dims, types, memory_formats, threads, launches, iters,
    warmup, load_launches, include_failed_checks, order and seed. Same inputs,
    same plan. Raises ``ConfigError`` for two different variant files with one name.
    """
    unique: dict[str, PlanVariant] = {}
    for v in variants:
        if v.file in unique and unique[v.file] != v:
            raise ConfigError(
                f"two different variant files are both named {v.file!r}",
                hint="give each variant file its own name in the manifest",
            )
        unique[v.file] = v

    configs: list[_Config] = []
    skipped: list[Skip] = []
    for v in unique.values():
        runs_on = et_binary if v.format is ModelFormat.EXECUTORCH and et_binary else binary
        variant_problem = _variant_problem(v, runs_on, config.include_failed_checks)
        if variant_problem is not None:
            kind, reason = variant_problem
            skipped.append(Skip(v.name, v.file, reason, kind=kind))
            continue
        first_ok: tuple[str, str, str] | None = None
        for dims in config.dims or (v.input_dims,):
            for types in config.types or (v.input_types,):
                for fmt in config.memory_formats or (v.memory_format,):
                    problem = benchflags.input_problem(dims, types, fmt)
                    if problem is not None:
                        skipped.append(Skip(v.name, v.file, problem, dims, types, fmt))
                        continue
                    first_ok = first_ok or (dims, types, fmt)
                    for threads in config.threads:
                        configs.append(
                            _Config(v, dims, types, fmt, threads, "latency", config.launches)
                        )
        if first_ok is not None and config.load_launches > 0:
            dims, types, fmt = first_ok
            configs.append(
                _Config(v, dims, types, fmt, config.threads[0], "load", config.load_launches)
            )

    sequence = interleave([c.count for c in configs], config.order, config.seed)
    issued = [0] * len(configs)
    launches: list[LaunchSpec] = []
    for i in sequence:
        c = configs[i]
        index = issued[i]
        issued[i] += 1
        load = c.kind == "load"
        launches.append(
            LaunchSpec(
                variant=c.variant.name,
                file=c.variant.file,
                format=c.variant.format,
                sha256=c.variant.sha256,
                dims=c.dims,
                types=c.types,
                memory_format=c.memory_format,
                threads=c.threads,
                kind=c.kind,
                launch_index=index,
                iters=LOAD_ITERS if load else config.iters,
                warmup=0 if load else config.warmup,
                config_key=c.key,
                launch_key=f"{c.key}#{index}",
            )
        )
    return Plan(tuple(launches), tuple(skipped))


def plan_variants(manifest: Manifest) -> list[PlanVariant]:
    return [
        PlanVariant(
            name=f.variant,
            file=f.name,
            format=f.format,
            sha256=f.sha256,
            bytecode_version=f.bytecode_version,
            input_dims=f.input_dims,
            input_types=f.input_types,
            memory_format=f.memory_format,
            check_passed=f.passed,
        )
        for f in manifest.files
    ]


def interleave(counts: Sequence[int], order: Order, seed: int) -> list[int]:
    """A sequence of configuration indices, ``counts[i]`` of each; rules in the module doc."""
    remaining = list(counts)
    left = sum(remaining)
    rng = random.Random(seed)
    out: list[int] = []
    previous: int | None = None
    while left:
        allowed = [i for i, r in enumerate(remaining) if r > 0 and i != previous]
        if not allowed:  # only the previous one is left: a repeat cannot be avoided
            assert previous is not None
            allowed = [previous]
        else:
            forced = [i for i in allowed if 2 * remaining[i] >= left + 1]
            allowed = forced or allowed
        if order is Order.SHUFFLE:
            pick = rng.choices(allowed, weights=[remaining[i] for i in allowed])[0]
        else:
            pick = min(allowed, key=lambda i: (Fraction(counts[i] - remaining[i], counts[i]), i))
        out.append(pick)
        remaining[pick] -= 1
        left -= 1
        previous = pick
    return out
