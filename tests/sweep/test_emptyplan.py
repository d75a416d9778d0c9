"""benchorch.sweep.emptyplan: the messages of a sweep that would run nothing (pure)."""

from __future__ import annotations

import hashlib

from benchorch.domain import Flavour, ModelFormat
from benchorch.errors import UsageError
from benchorch.sweep.emptyplan import DeviceBinary, loadable, nothing_to_run, recipe_mismatches
from benchorch.sweep.plan import PlanVariant, SkipKind, make_plan
from benchorch.sweep.settings import SweepConfig
from tests.support.binaries import binary

LITE = binary(Flavour.LITE, 4, 8)


def _pt(name: str, **kw: object) -> PlanVariant:
    return PlanVariant(
        name=name,
        file=f"{name}.pt",
        format=ModelFormat.FULL_JIT,
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        bytecode_version=None,
        input_dims="1,3,8,8",
        input_types="float",
        memory_format="contiguous_format",
        check_passed=True,
    )


def test_every_removed_candidate_is_grouped_by_reason_in_one_line() -> None:
    cfg = SweepConfig(devices=("a", "b"), launches=2)
    variants = [_pt(f"v{i}") for i in range(6)]
    plan = make_plan(variants, LITE, cfg)
    assert not plan.launches
    assert {s.kind for s in plan.skipped} == {SkipKind.FULL_JIT_ON_LITE}
    err = nothing_to_run({"a": plan, "b": plan}, from_recipe=True, candidates=6)
    text = str(err)
    assert len(text.splitlines()) == 1 and isinstance(err, UsageError)  # exit 2
    # one group for twelve removals, not twelve repeats of the same reason
    assert text.count("full-JIT .pt files on a lite-interpreter binary") == 1
    assert "(12: v0.pt, v1.pt, v2.pt, v3.pt, and 2 more) on a, b" in text
    assert "add lite or flatbuffer to --recipe" in text
    from_dir = str(nothing_to_run({"a": plan}, from_recipe=False, candidates=6))
    assert "--recipe" not in from_dir and ".ptl or FlatBuffer" in from_dir


def test_a_failed_check_and_a_lite_mismatch_each_name_their_own_fix() -> None:
    cfg = SweepConfig(devices=("a",), launches=1)
    bad = PlanVariant(
        "q", "q.ptl", ModelFormat.LITE, "0" * 64, 8, "1,3,8,8", "float", "contiguous_format", False
    )
    plan = make_plan([_pt("base"), bad], LITE, cfg)
    text = str(nothing_to_run({"a": plan}, from_recipe=True, candidates=2))
    assert "accuracy check failed (1: q.ptl)" in text and "--include-failed-checks" in text
    assert "full-JIT .pt files on a lite-interpreter binary (1: base.pt)" in text


def test_recipe_mismatch_names_each_device_and_binary() -> None:
    devices = [
        DeviceBinary("p1", "sbt-lite", Flavour.LITE),
        DeviceBinary("p2", "sbt-full", Flavour.FULL_JIT),
    ]
    lines = recipe_mismatches(("fuse", "quantize"), frozenset({ModelFormat.FULL_JIT}), devices)
    assert len(lines) == 1 and "sbt-lite (lite-interpreter build) on p1" in lines[0]
    both = frozenset({ModelFormat.FULL_JIT, ModelFormat.LITE})
    assert not recipe_mismatches(("fuse", "lite"), both, devices)
    assert loadable([Flavour.LITE]) == {ModelFormat.LITE, ModelFormat.FLATBUFFER}
    # speed_benchmark_torch loads every TorchScript format and no ExecuTorch program
    assert loadable([Flavour.LITE, Flavour.FULL_JIT]) == set(ModelFormat) - {ModelFormat.EXECUTORCH}


def test_an_executorch_program_is_planned_away_from_speed_benchmark_torch() -> None:
    cfg = SweepConfig(devices=("a",), launches=1)
    pte = PlanVariant(
        "executorch+xnnpack",
        "executorch+xnnpack.pte",
        ModelFormat.EXECUTORCH,
        "1" * 64,
        None,
        "1,3,8,8",
        "float",
        "contiguous_format",
        True,
    )
    for flavour in (Flavour.LITE, Flavour.FULL_JIT):
        plan = make_plan([pte], binary(flavour, 4, 8), cfg)
        assert not plan.launches
        assert [s.kind for s in plan.skipped] == [SkipKind.RUNTIME]
        assert "ExecuTorch program" in plan.skipped[0].reason
    text = str(nothing_to_run({"a": plan}, from_recipe=True, candidates=1))
    assert "files for the other runtime (.pte vs TorchScript) (1: executorch+xnnpack.pte)" in text
    assert "time it with an ExecuTorch runner" in text


def test_a_torchscript_file_is_planned_away_from_the_executorch_runner() -> None:
    cfg = SweepConfig(devices=("a",), launches=1)
    plan = make_plan([_pt("baseline")], binary(Flavour.EXECUTORCH, None, None), cfg)
    assert not plan.launches
    assert [s.kind for s in plan.skipped] == [SkipKind.RUNTIME]
    assert "time it with speed_benchmark_torch" in plan.skipped[0].reason
