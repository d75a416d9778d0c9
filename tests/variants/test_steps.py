"""benchorch.variants.steps: the recipe's steps, their order and the formats they pick."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchorch.domain import ModelFormat
from benchorch.errors import UsageError
from benchorch.variants import steps


def test_parse_recipe() -> None:
    assert steps.parse_recipe(None) == steps.parse_recipe("all") == steps.STEPS
    assert steps.parse_recipe(" quantize , fuse ") == ("quantize", "fuse")
    for bad, named in (("fuse,shrink", "'shrink'"), (",", "(none given)")):
        with pytest.raises(UsageError, match=named) as info:
            steps.parse_recipe(bad)
        assert ",".join(steps.STEPS) in str(info.value)


def test_a_recipe_picks_its_formats_and_pt_is_always_written() -> None:
    assert steps.recipe_formats(("fuse", "quantize")) == {ModelFormat.FULL_JIT}
    assert steps.recipe_formats(("lite",)) == {ModelFormat.FULL_JIT, ModelFormat.LITE}
    # the default recipe writes every TorchScript format; a .pte only when an ExecuTorch step
    # is named
    pte = {ModelFormat.EXECUTORCH}
    assert steps.recipe_formats(steps.DEFAULT_RECIPE) == set(ModelFormat) - pte
    assert steps.recipe_formats(("executorch_xnnpack",)) == {ModelFormat.FULL_JIT, *pte}


def test_steps_and_their_adjectives_rank_in_recipe_order() -> None:
    ranks = [steps.step_rank(s) for s in steps.VARIANT_STEPS]
    assert ranks == sorted(ranks) == list(range(len(steps.VARIANT_STEPS)))
    assert [steps.step_rank(a) for a in steps.ADJECTIVES.values()] == ranks
    assert steps.step_rank("lite") is None and steps.step_rank("baseline") is None


def test_the_sweep_and_the_report_read_the_steps_without_torch() -> None:
    code = (
        "import sys; import benchorch.variants.steps, benchorch.sweep.inputs; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
