"""Example inputs as speed_benchmark_torch takes them, and their tensors.

The flags' syntax (``--dims`` ``1,3,224,224;1,10``, ``--types`` ``float;int64``,
memory formats) is ``benchorch.benchflags``'s; this module turns a validated
pair into one ``InputSpec`` per tensor, torch-free, and builds tensors from
specs, importing torch when called.

Two kinds of tensors are made from a spec:

* ``ones``: what the benchmark binary feeds (all ones).
* ``check``: what the variant checks compare on, seeded: float inputs are
  N(0, 1), uint8 inputs uniform in [0, 255], int64 inputs uniform in {0, 1}
  (valid indices for any embedding, whatever its size).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from benchorch import benchflags
from benchorch.errors import UsageError

if TYPE_CHECKING:
    import torch

_T = TypeVar("_T")


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int, ...]
    type: str  # one of benchflags.INPUT_TYPES

    @property
    def is_image(self) -> bool:
        """4-D float: the inputs a channels-last memory format applies to."""
        return len(self.shape) == 4 and self.type == "float"


def _flag(parse: Callable[[str], _T], flag: str, text: str) -> _T:
    try:
        return parse(text)
    except benchflags.FlagValueError as exc:
        raise UsageError(f"{flag} {text!r}: {exc}", hint=exc.hint) from exc


def parse_inputs(dims: str, types: str, *, what: str = "--dims") -> tuple[InputSpec, ...]:
    """``"1,3,224,224;1,10"``, ``"float;int64"`` -> one ``InputSpec`` per tensor."""
    shapes = _flag(benchflags.parse_dims, what, dims)
    type_names = _flag(benchflags.parse_types, "--types", types)
    if len(shapes) != len(type_names):
        raise UsageError(
            f"{what} {dims!r} gives {len(shapes)} input(s) but --types {types!r} "
            f"gives {len(type_names)}",
            hint="pass one type per input, separated by ';'",
        )
    return tuple(InputSpec(shape, t) for shape, t in zip(shapes, type_names, strict=True))


def format_dims(specs: tuple[InputSpec, ...]) -> str:
    return benchflags.format_dims([s.shape for s in specs])


def format_types(specs: tuple[InputSpec, ...]) -> str:
    return benchflags.INPUT_SEP.join(spec.type for spec in specs)


def memory_formats(specs: tuple[InputSpec, ...], channels_last: bool) -> str:
    """The ``--input_memory_format`` value: channels_last only where it applies."""
    return benchflags.INPUT_SEP.join(
        benchflags.CHANNELS_LAST if channels_last and s.is_image else benchflags.CONTIGUOUS
        for s in specs
    )


def _dtype(name: str) -> torch.dtype:
    import torch

    dtype: torch.dtype = getattr(torch, benchflags.TORCH_DTYPES[name])
    return dtype


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
