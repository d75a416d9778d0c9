"""The recipe's steps, in their order: the one owner (torch-free).

The ExecuTorch steps (``ET_STEPS``: ``executorch`` portable,
``executorch_xnnpack``, ``executorch_int8``) write ``.pte`` programs; they
need the ``executorch`` extra and run only when named: the default recipe (and
``all``) stays the lite one, ``all,executorch_xnnpack`` adds to it.

A recipe (``--recipe``, sweep.toml's ``recipe``) is a subset of ``STEPS``.
The first four make variants (``VARIANT_STEPS``) and a variant's name joins
their adjectives in this order (``fused+quantized+mobile``); the last two pick
file formats (``FORMAT_STEPS``; a full-JIT ``.pt`` is always written). The
exporter (``recipe.py``, ``export.py``), the sweep (its default recipe, what
formats a recipe writes) and the report (ordering variants as the recipe's
story) read the steps from here.
"""

from __future__ import annotations

from benchorch.domain import ModelFormat
from benchorch.errors import UsageError

__all__ = [
    "ADJECTIVES",
    "DEFAULT_RECIPE",
    "ET_STEPS",
    "FILE_FORMATS",
    "FORMAT_STEPS",
    "STEPS",
    "VARIANT_STEPS",
    "parse_recipe",
    "recipe_formats",
    "step_rank",
]

#: The steps that make variants, and the word each adds to a variant's name.
ADJECTIVES: dict[str, str] = {
    "fuse": "fused",
    "quantize": "quantized",
    "mobile": "mobile",
    "channels_last": "channels_last",
}
VARIANT_STEPS: tuple[str, ...] = tuple(ADJECTIVES)
#: The steps that pick file formats.
FORMAT_STEPS: tuple[str, ...] = ("lite", "flatbuffer")
STEPS: tuple[str, ...] = VARIANT_STEPS + FORMAT_STEPS
#: What an export without ``--recipe`` runs: every step.
DEFAULT_RECIPE: tuple[str, ...] = STEPS
#: ExecuTorch steps, made only when named (``--recipe ...,executorch_xnnpack``).
ET_STEPS: tuple[str, ...] = ("executorch", "executorch_xnnpack", "executorch_int8")

#: (the step that asks for it, or "pt" for the always-written one; format; file suffix).
FILE_FORMATS: tuple[tuple[str, ModelFormat, str], ...] = (
    ("pt", ModelFormat.FULL_JIT, ".pt"),
    ("lite", ModelFormat.LITE, ".ptl"),
    ("flatbuffer", ModelFormat.FLATBUFFER, ".ff.ptl"),
)


def parse_recipe(text: str | None) -> tuple[str, ...]:
    """``"fuse,quantize"`` -> the steps, validated; None or ``"all"`` -> every step."""
    if text is None or text.strip() == "all":
        return DEFAULT_RECIPE
    steps = tuple(s.strip() for s in text.split(",") if s.strip())
    if "all" in steps:
        steps = tuple(dict.fromkeys(s for s in (*DEFAULT_RECIPE, *steps) if s != "all"))
    unknown = [s for s in steps if s not in STEPS + ET_STEPS]
    if unknown or not steps:
        raise UsageError(
            f"--recipe {text!r}: unknown step {unknown[0] if unknown else '(none given)'!r}",
            hint=f"use a comma-separated subset of {','.join(STEPS + ET_STEPS)} (or all)",
        )
    return steps


def recipe_formats(steps: tuple[str, ...]) -> frozenset[ModelFormat]:
    """The file formats an export with these recipe steps writes (``.pt`` always)."""
    made = {fmt for key, fmt, _ in FILE_FORMATS if key == "pt" or key in steps}
    if any(s in ET_STEPS for s in steps):
        made.add(ModelFormat.EXECUTORCH)
    return frozenset(made)


def step_rank(word: str) -> int | None:
    """Where a variant-making step, or its adjective in a variant's name, comes in
    the recipe (``fuse``/``fused`` 0 ... ``channels_last`` 3); None for other words."""
    for rank, (step, adjective) in enumerate(ADJECTIVES.items()):
        if word in (step, adjective):
            return rank
    return None
