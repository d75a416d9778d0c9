"""Example inputs as speed_benchmark_torch takes them, and their tensors.

``--dims`` is ``,`` inside a tensor and ``;`` between tensors (``1,3,224,224;1,10``);
``--types`` gives one of ``float``, ``uint8_t``, ``int64`` per tensor, also
``;``-separated. ``parse_inputs`` is pure and torch-free; the tensor builders
import torch when called.

Two kinds of tensors are made from a spec:

* ``ones``: what the benchmark binary feeds (all ones).
* ``check``: what the variant checks compare on, seeded: float inputs are
  N(0, 1), uint8 inputs uniform in [0, 255], int64 inputs uniform in {0, 1}
  (valid indices for any embedding, whatever its size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchorch.errors import UsageError

if TYPE_CHECKING:
    import torch

TYPES = ("float", "uint8_t", "int64")


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int, ...]
    type: str  # one of TYPES

    @property
    def is_image(self) -> bool:
        """4-D float: the inputs a channels-last memory format applies to."""
        return len(self.shape) == 4 and self.type == "float"


def parse_inputs(dims: str, types: str, *, what: str = "--dims") -> tuple[InputSpec, ...]:
    """``"1,3,224,224;1,10"``, ``"float;int64"`` -> one ``InputSpec`` per tensor."""
    dim_parts = [p.strip() for p in dims.split(";")]
    type_parts = [p.strip() for p in types.split(";")]
    if len(dim_parts) != len(type_parts):
        raise UsageError(
            f"{what} {dims!r} gives {len(dim_parts)} input(s) but --types {types!r} "
            f"gives {len(type_parts)}",
            hint="pass one type per input, separated by ';'",
        )
    specs = []
    for i, (d, t) in enumerate(zip(dim_parts, type_parts, strict=True)):
        try:
            shape = tuple(int(x) for x in d.split(","))
        except ValueError as exc:
            raise UsageError(
                f"{what} {dims!r}: input {i} {d!r} is not a list of integers",
                hint="write dims like 1,3,224,224 (';' between inputs)",
            ) from exc
        if not shape or any(s <= 0 for s in shape):
            raise UsageError(
                f"{what} {dims!r}: input {i} has a dimension that is not positive",
                hint="every dimension must be a positive integer",
            )
        if t not in TYPES:
            raise UsageError(
                f"--types {types!r}: input {i} has unknown type {t!r}",
                hint=f"use one of {', '.join(TYPES)}",
            )
        specs.append(InputSpec(shape, t))
    return tuple(specs)


def format_dims(specs: tuple[InputSpec, ...]) -> str:
    return ";".join(",".join(str(s) for s in spec.shape) for spec in specs)


def format_types(specs: tuple[InputSpec, ...]) -> str:
    return ";".join(spec.type for spec in specs)


def memory_formats(specs: tuple[InputSpec, ...], channels_last: bool) -> str:
    """The ``--input_memory_format`` value: channels_last only where it applies."""
    return ";".join(
        "channels_last" if channels_last and s.is_image else "contiguous_format" for s in specs
    )


def _dtype(name: str) -> torch.dtype:
    import torch

    return {"float": torch.float32, "uint8_t": torch.uint8, "int64": torch.int64}[name]


def ones(specs: tuple[InputSpec, ...]) -> tuple[torch.Tensor, ...]:
    import torch

    return tuple(torch.ones(s.shape, dtype=_dtype(s.type)) for s in specs)


def check_inputs(specs: tuple[InputSpec, ...], seed: int = 1234) -> tuple[torch.Tensor, ...]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    out = []
    for s in specs:
        if s.type == "float":
            out.append(torch.randn(s.shape, generator=gen))
        elif s.type == "uint8_t":
            out.append(torch.randint(0, 256, s.shape, generator=gen, dtype=torch.uint8))
        else:
            out.append(torch.randint(0, 2, s.shape, generator=gen, dtype=torch.int64))
    return tuple(out)


def to_memory_format(
    tensors: tuple[torch.Tensor, ...], specs: tuple[InputSpec, ...], channels_last: bool
) -> tuple[torch.Tensor, ...]:
    import torch

    if not channels_last:
        return tensors
    return tuple(
        t.contiguous(memory_format=torch.channels_last) if s.is_image else t
        for t, s in zip(tensors, specs, strict=True)
    )
