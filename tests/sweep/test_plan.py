"""benchorch.sweep.plan: the matrix, the compatibility rules and the interleaved order."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchorch.domain import Flavour, ModelFormat
from benchorch.errors import ConfigError
from benchorch.sweep.inputs import Binary
from benchorch.sweep.plan import (
    LaunchSpec,
    Plan,
    PlanVariant,
    SkipKind,
    interleave,
    make_plan,
)
from benchorch.sweep.settings import Order, SweepConfig
from tests.support.binaries import binary as plan_binary

LITE_BIN = plan_binary(Flavour.LITE, 4, 9)
FULL_BIN = plan_binary(Flavour.FULL_JIT, 4, 9)


def variant(name: str, fmt: ModelFormat = ModelFormat.LITE, **kw: object) -> PlanVariant:
    base = PlanVariant(
        name=name,
        file=f"{name}.{'pt' if fmt is ModelFormat.FULL_JIT else 'ptl'}",
        format=fmt,
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        bytecode_version=None if fmt is ModelFormat.FULL_JIT else 8,
        input_dims="1,3,8,8",
        input_types="float",
        memory_format="contiguous_format",
        check_passed=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def sweep(**kw: object) -> SweepConfig:
    base = SweepConfig(devices=("x",), launches=3, load_launches=0)
    return replace(base, **kw)  # type: ignore[arg-type]


def no_repeats(plan: Plan) -> bool:
    keys = [s.config_key for s in plan.launches]
    return all(a != b for a, b in itertools.pairwise(keys))


def test_full_jit_on_lite_binary_is_skipped_with_a_reason() -> None:
    plan = make_plan([variant("base", ModelFormat.FULL_JIT), variant("lite")], LITE_BIN, sweep())
    assert {s.variant for s in plan.launches} == {"lite"}
    (skip,) = plan.skipped
    assert skip.variant == "base" and "lite-interpreter" in skip.reason
    assert skip.config == {"file": "base.pt"}
    full = make_plan([variant("base", ModelFormat.FULL_JIT), variant("lite")], FULL_BIN, sweep())
    assert not full.skipped and {s.variant for s in full.launches} == {"base", "lite"}


def test_a_file_for_the_other_runtime_is_planned_away_naming_the_runner_it_needs() -> None:
    """Issue 15's bad inputs: a .pte given to speed_benchmark_torch, a TorchScript file
    given to an ExecuTorch runner: no launch, one reason naming the runner to use."""
    pte = variant("et", ModelFormat.EXECUTORCH, file="et.pte", bytecode_version=None)
    lite = make_plan([variant("lite"), pte], LITE_BIN, sweep())
    assert {s.file for s in lite.launches} == {"lite.ptl"}
    (skip,) = lite.skipped
    assert (skip.file, skip.kind) == ("et.pte", SkipKind.RUNTIME)
    assert "time it with an ExecuTorch runner" in skip.reason and "\n" not in skip.reason
    et_bin = plan_binary(Flavour.EXECUTORCH, None, None, path=Path("/cache/et_bench_runner"))
    et = make_plan([variant("lite"), variant("full", ModelFormat.FULL_JIT), pte], et_bin, sweep())
    assert {s.file for s in et.launches} == {"et.pte"}
    assert {(s.file, s.kind) for s in et.skipped} == {
        ("lite.ptl", SkipKind.RUNTIME),
        ("full.pt", SkipKind.RUNTIME),
    }
    assert all("time it with speed_benchmark_torch" in s.reason for s in et.skipped)


def test_one_recipe_with_two_files_plans_both_under_the_recipe_name() -> None:
    pt = variant("fused", ModelFormat.FULL_JIT)
    ptl = replace(variant("fused"), sha256="e" * 64)
    plan = make_plan([pt, ptl], FULL_BIN, sweep())
    assert {(s.variant, s.file) for s in plan.launches} == {
        ("fused", "fused.pt"),
        ("fused", "fused.ptl"),
    }
    assert len(plan.config_keys) == 2
    skip = make_plan([pt, ptl], LITE_BIN, sweep()).skipped[0]
    assert (skip.variant, skip.file) == ("fused", "fused.pt")


def test_bytecode_newer_than_the_binary_suggests_a_version() -> None:
    old_runtime = plan_binary(Flavour.LITE, 3, 7)
    plan = make_plan([variant("q", bytecode_version=8)], old_runtime, sweep())
    assert not plan.launches
    assert "--bytecode-version 7" in plan.skipped[0].reason
    # a full-JIT binary loads a .ptl through its TorchScript half: no bytecode check
    plan = make_plan(
        [variant("q", bytecode_version=8)], plan_binary(Flavour.FULL_JIT, 3, 7), sweep()
    )
    assert plan.launches and not plan.skipped
    # FlatBuffer is always read as bytecode
    fb = variant("fb", ModelFormat.FLATBUFFER, bytecode_version=9)
    assert make_plan([fb], plan_binary(Flavour.FULL_JIT, 3, 8), sweep()).skipped
    # unknown range: nothing to hold against the file
    assert make_plan(
        [variant("q", bytecode_version=99)], plan_binary(Flavour.LITE, None, None), sweep()
    ).launches


def test_memory_format_rules() -> None:
    two = variant("two", input_dims="1,3,8,8;1,10", input_types="float;int64")
    config = sweep(
        memory_formats=(
            "channels_last",
            "channels_last;contiguous_format",
            "contiguous_format;channels_last",
        ),
    )
    plan = make_plan([two], LITE_BIN, config)
    ran = {s.memory_format for s in plan.launches}
    assert ran == {"channels_last;contiguous_format"}
    reasons = {s.memory_format: s.reason for s in plan.skipped}
    assert "one per input" in reasons["channels_last"]
    assert "not 4-D" in reasons["contiguous_format;channels_last"]
    assert all(s.dims == "1,3,8,8;1,10" for s in plan.skipped)


def test_dims_types_count_mismatch_and_failed_checks() -> None:
    plan = make_plan([variant("a")], LITE_BIN, sweep(types=("float;float",)))
    assert not plan.launches and "1 input(s)" in plan.skipped[0].reason
    bad = variant("bad", check_passed=False)
    assert "--include-failed-checks" in make_plan([bad], LITE_BIN, sweep()).skipped[0].reason
    assert make_plan([bad], LITE_BIN, sweep(include_failed_checks=True)).launches


def test_load_launches_are_per_variant_with_iter_zero() -> None:
    plan = make_plan(
        [variant("a"), variant("b")], LITE_BIN, sweep(load_launches=2, threads=(1, 4), iters=7)
    )
    loads = [s for s in plan.launches if s.kind == "load"]
    assert Counter(s.variant for s in loads) == {"a": 2, "b": 2}
    assert all(s.iters == 0 and s.warmup == 0 and s.threads == 1 for s in loads)
    assert all(s.iters == 7 for s in plan.launches if s.kind == "latency")
    assert no_repeats(plan)


def test_benchmark_args_follow_the_launch_command() -> None:
    spec = make_plan([variant("a")], LITE_BIN, sweep(threads=(4,), warmup=2, iters=9)).launches[0]
    assert spec.benchmark_args("/data/local/tmp/a.ptl") == (
        "--model=/data/local/tmp/a.ptl",
        "--input_dims=1,3,8,8",
        "--input_type=float",
        "--input_memory_format=contiguous_format",
        "--warmup=2",
        "--iter=9",
        "--report_pep=true",
        "--pthreadpool_size=4",
    )
    assert spec.key_for("R58") != spec.key_for("emulator-5554")


def test_one_file_name_with_two_contents_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'a\.ptl'"):
        make_plan([variant("a"), variant("a", sha256="f" * 64)], LITE_BIN, sweep())
    assert len(make_plan([variant("a"), variant("a")], LITE_BIN, sweep()).config_keys) == 1


def test_round_robin_is_the_plain_cycle_for_equal_counts() -> None:
    assert interleave([3, 3, 3], Order.ROUND_ROBIN, 0) == [0, 1, 2] * 3


def test_unavoidable_repeats_only_at_the_end() -> None:
    seq = interleave([5, 1], Order.SHUFFLE, 3)
    assert seq[:3] == [0, 1, 0] and seq[3:] == [0, 0, 0]


# --- hypothesis ------------------------------------------------------------------

_FORMATS = st.sampled_from(list(ModelFormat))


@st.composite
def matrices(draw: st.DrawFn) -> tuple[list[PlanVariant], Binary, SweepConfig]:
    n = draw(st.integers(1, 4))
    variants = [
        variant(
            f"v{i}",
            draw(_FORMATS),
            bytecode_version=draw(st.sampled_from([None, 5, 8, 9])),
            check_passed=draw(st.booleans()),
        )
        for i in range(n)
    ]
    binary = plan_binary(draw(st.sampled_from(list(Flavour))), 4, draw(st.sampled_from([7, 8, 9])))
    config = sweep(
        dims=tuple(
            draw(
                st.lists(st.sampled_from(["1,3,8,8", "1,3,16,16", "1,10"]), max_size=2, unique=True)
            )
        ),
        memory_formats=tuple(
            draw(
                st.lists(
                    st.sampled_from(["contiguous_format", "channels_last"]), max_size=2, unique=True
                )
            )
        ),
        threads=tuple(draw(st.lists(st.integers(1, 8), min_size=1, max_size=2, unique=True))),
        launches=draw(st.integers(1, 6)),
        load_launches=draw(st.integers(0, 3)),
        order=draw(st.sampled_from(list(Order))),
        seed=draw(st.integers(0, 2**32)),
        include_failed_checks=draw(st.booleans()),
    )
    return variants, binary, config


def _identity(spec: LaunchSpec) -> tuple[object, ...]:
    return (spec.variant, spec.dims, spec.types, spec.memory_format, spec.threads, spec.kind)


@settings(max_examples=200, deadline=None)
@given(matrices())
def test_plan_properties(case: tuple[list[PlanVariant], Binary, SweepConfig]) -> None:
    variants, binary, config = case
    plan = make_plan(variants, binary, config)
    counts = Counter(_identity(s) for s in plan.launches)
    # every planned configuration appears exactly its number of times, with indices 0..n-1
    for ident, n in counts.items():
        assert n == (config.load_launches if ident[-1] == "load" else config.launches)
        indices = sorted(s.launch_index for s in plan.launches if _identity(s) == ident)
        assert indices == list(range(n))
    # ... and every latency combination not skipped is planned
    skipped_variants = {s.variant for s in plan.skipped if s.dims is None}
    skipped_configs = {(s.variant, s.dims, s.memory_format) for s in plan.skipped if s.dims}
    for v in variants:
        if v.name in skipped_variants:
            assert not any(s.variant == v.name for s in plan.launches)
            continue
        for dims in config.dims or (v.input_dims,):
            for fmt in config.memory_formats or (v.memory_format,):
                planned = (v.name, dims, fmt) not in skipped_configs
                for threads in config.threads:
                    key = (v.name, dims, v.input_types, fmt, threads, "latency")
                    assert (key in counts) == planned
    # configuration keys identify configurations one to one; launch keys are unique
    assert len({s.config_key for s in plan.launches}) == len(counts)
    assert len({s.launch_key for s in plan.launches}) == len(plan.launches)
    # compatibility rules hold for what runs
    for s in plan.launches:
        assert not (s.format is ModelFormat.FULL_JIT and binary.flavour is Flavour.LITE)
        assert not ("channels_last" in s.memory_format and s.dims == "1,10")
    # interleaved: never twice in a row when it can be avoided
    if len(counts) >= 2:
        biggest = max(counts.values())
        if biggest <= len(plan.launches) - biggest + 1:
            assert no_repeats(plan)
    # deterministic
    assert make_plan(variants, binary, config) == plan


@settings(max_examples=300, deadline=None)
@given(
    counts=st.lists(st.integers(0, 12), min_size=1, max_size=8),
    order=st.sampled_from(list(Order)),
    seed=st.integers(0, 2**32),
)
def test_interleave_properties(counts: list[int], order: Order, seed: int) -> None:
    seq = interleave(counts, order, seed)
    assert Counter(seq) == Counter({i: n for i, n in enumerate(counts) if n})
    assert interleave(counts, order, seed) == seq
    repeats = sum(a == b for a, b in itertools.pairwise(seq))
    total, biggest = sum(counts), max(counts)
    # the fewest repeats possible: none when feasible, else biggest - (total - biggest) - 1
    assert repeats == max(0, biggest - (total - biggest) - 1)


@given(seed=st.integers(0, 2**32))
def test_shuffle_depends_on_the_seed(seed: int) -> None:
    orders = {tuple(interleave([6, 6, 6, 6], Order.SHUFFLE, s)) for s in (seed, seed + 1, seed + 2)}
    assert len(orders) >= 2
