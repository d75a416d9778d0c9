"""speed_benchmark_torch's flag vocabulary: the one place that knows it (stdlib only).

PyTorch's ``binaries/speed_benchmark_torch.cc`` (docs/FACTS.md) feeds the model
all-ones tensors described by three flags, one entry per input, ``;`` between
inputs:

* ``--input_dims``: sizes ``,``-separated inside an input (``1,3,224,224;1,10``);
* ``--input_type``: ``float``, ``uint8_t`` or ``int64`` (``float;int64``);
* ``--input_memory_format``: ``contiguous_format`` or ``channels_last``, the
  latter only on a 4-D input.

The binary accepts more than this (it skips empty sizes, ``stoi`` reads ``+3``);
benchorch writes and accepts only the strict form: every size a positive decimal
integer, every name from the lists here. The sweep's settings, the variants
exporter, the planner and the host runner all read these rules from here, and
``benchmark_args`` is the one builder of a launch's flags. Imported by the host
runner at start-up, so it imports nothing beyond the standard library.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CHANNELS_LAST",
    "CONTIGUOUS",
    "INPUT_SEP",
    "INPUT_TYPES",
    "MEMORY_FORMATS",
    "SIZE_SEP",
    "TORCH_DTYPES",
    "FlagValueError",
    "benchmark_args",
    "format_dims",
    "input_count",
    "input_problem",
    "parse_dims",
    "parse_memory_formats",
    "parse_types",
]

INPUT_SEP = ";"  # between inputs, in all three flags
SIZE_SEP = ","  # between the sizes of one input

#: The input types the binary makes tensors of, and the torch dtype of each
#: (named, so this module stays torch-free: ``getattr(torch, TORCH_DTYPES[t])``).
TORCH_DTYPES: dict[str, str] = {"float": "float32", "uint8_t": "uint8", "int64": "int64"}
INPUT_TYPES: tuple[str, ...] = tuple(TORCH_DTYPES)

CONTIGUOUS = "contiguous_format"
CHANNELS_LAST = "channels_last"  # only on a 4-D input
MEMORY_FORMATS: tuple[str, ...] = (CONTIGUOUS, CHANNELS_LAST)

_DIMS_HINT = "write sizes like 1,3,224,224 and ';' between inputs"


class FlagValueError(ValueError):
    """A value the binary's input flags do not take: ``str()`` says what, ``hint`` the fix.

    Callers add which flag or key it came from and raise their own error type.
    """

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _parts(text: str) -> list[str]:
    """``text`` without whitespace, split into its inputs."""
    return "".join(text.split()).split(INPUT_SEP)


def input_count(text: str) -> int:
    """How many inputs a dims, types or memory-format value describes."""
    return text.count(INPUT_SEP) + 1


def parse_dims(text: str) -> tuple[tuple[int, ...], ...]:
    """``"1,3,224,224;1,10"`` -> ``((1, 3, 224, 224), (1, 10))``; whitespace is ignored.

    Raises ``FlagValueError`` naming the bad part (``'x'`` in ``1,3,x``) or an
    empty input.
    """
    shapes: list[tuple[int, ...]] = []
    for part in _parts(text):
        if not part:
            raise FlagValueError("an empty input", _DIMS_HINT)
        sizes = part.split(SIZE_SEP)
        for size in sizes:
            if not (size.isascii() and size.isdigit() and int(size) > 0):
                raise FlagValueError(f"{size!r} is not a positive integer", _DIMS_HINT)
        shapes.append(tuple(int(s) for s in sizes))
    return tuple(shapes)


def format_dims(shapes: Sequence[Sequence[int]]) -> str:
    """The ``--input_dims`` value of ``shapes``: ``parse_dims`` inverted."""
    return INPUT_SEP.join(SIZE_SEP.join(str(int(s)) for s in shape) for shape in shapes)


def parse_types(text: str) -> tuple[str, ...]:
    """``"float;int64"`` -> ``("float", "int64")``, each from ``INPUT_TYPES``."""
    parts = tuple(_parts(text))
    for part in parts:
        if part not in TORCH_DTYPES:
            raise FlagValueError(
                f"unknown input type {part!r}",
                f"use {', '.join(INPUT_TYPES)}, ';' between inputs",
            )
    return parts


def parse_memory_formats(text: str) -> tuple[str, ...]:
    """``"channels_last;contiguous_format"`` -> one name per input, from ``MEMORY_FORMATS``."""
    parts = tuple(_parts(text))
    for part in parts:
        if part not in MEMORY_FORMATS:
            raise FlagValueError(
                f"unknown memory format {part!r}",
                f"use {' or '.join(MEMORY_FORMATS)}, ';' between inputs",
            )
    return parts


def input_problem(dims: str, types: str, memory_format: str) -> str | None:
    """Why the binary cannot run these valid flag values together, or None.

    One type and one memory format per input, and ``channels_last`` only on a
    4-D input; the message ends with the fix.
    """
    if not dims or not types:
        return "no input dims or types: pass --dims and --types"
    shapes = parse_dims(dims)
    n_types = input_count(types)
    if n_types != len(shapes):
        return f"dims {dims} has {len(shapes)} input(s) but types {types} has {n_types}"
    formats = memory_format.split(INPUT_SEP)
    if len(formats) != len(shapes):
        example = INPUT_SEP.join([formats[0]] * len(shapes))
        return (
            f"{len(shapes)} inputs but {len(formats)} memory format(s) ({memory_format}):"
            f" give one per input, e.g. {example}"
        )
    for i, (shape, fmt) in enumerate(zip(shapes, formats, strict=True)):
        if fmt == CHANNELS_LAST and len(shape) != 4:
            return (
                f"{CHANNELS_LAST} on input {i + 1} ({SIZE_SEP.join(map(str, shape))}),"
                " which is not 4-D"
            )
    return None


def benchmark_args(
    *,
    model: str,
    dims: str,
    types: str,
    memory_format: str,
    warmup: int,
    iters: int,
    threads: int,
) -> tuple[str, ...]:
    """The binary's flags for one launch (docs/INTERNALS.md, Launch command).

    Every iteration's latency is printed (``--report_pep=true``), which the
    parser's per-iteration samples come from.
    """
    return (
        f"--model={model}",
        f"--input_dims={dims}",
        f"--input_type={types}",
        f"--input_memory_format={memory_format}",
        f"--warmup={warmup}",
        f"--iter={iters}",
        "--report_pep=true",
        f"--pthreadpool_size={threads}",
    )
