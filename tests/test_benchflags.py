"""benchorch.benchflags: speed_benchmark_torch's flag vocabulary, checked against the real source.

The names and flags are read from PyTorch's own ``binaries/speed_benchmark_torch.cc``
(``$BENCHORCH_PYTORCH_SRC``), so the vocabulary cannot drift from the binary.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchorch import benchflags as bf
from tests.support.binary_fixtures import pytorch_src

#: c10's ScalarType names -> torch's dtype attribute names (c10/core/ScalarType.h).
SCALAR_TYPES = {"Float": "float32", "Byte": "uint8", "Long": "int64"}


def _source(path: str = "binaries/speed_benchmark_torch.cc") -> str:
    return (pytorch_src() / path).read_text()


def test_input_types_and_dtypes_are_the_binarys() -> None:
    pairs = re.findall(
        r'input_type_list\[i\] == "(\w+)"\)\s*{\s*input_type = at::ScalarType::(\w+);', _source()
    )
    assert {name: SCALAR_TYPES[scalar] for name, scalar in pairs} == bf.TORCH_DTYPES
    assert bf.INPUT_TYPES == tuple(name for name, _ in pairs)


def test_memory_formats_are_the_binarys() -> None:
    found = re.findall(r'input_memory_format_list\[i\] == "(\w+)"', _source())
    assert sorted(found) == sorted(bf.MEMORY_FORMATS)


def test_every_flag_the_builder_writes_is_one_the_binary_defines() -> None:
    # the binary's own flags, and the thread pool's it links (caffe2's ThreadPool.cc)
    sources = _source() + _source("caffe2/utils/threadpool/ThreadPool.cc")
    defined = set(re.findall(r"C10_DEFINE_\w+\(\s*(\w+),", sources))
    args = bf.benchmark_args(
        model="m.ptl", dims="1,3,8,8", types="float", memory_format="contiguous_format",
        warmup=1, iters=2, threads=4,
    )  # fmt: skip
    names = {a[2:].split("=", 1)[0] for a in args}
    assert names <= defined
    assert "--report_pep=true" in args and "--iter=2" in args and "--pthreadpool_size=4" in args


def test_torch_has_every_dtype() -> None:
    torch = pytest.importorskip("torch")
    for name in bf.TORCH_DTYPES.values():
        assert isinstance(getattr(torch, name), torch.dtype)


@given(st.lists(st.lists(st.integers(1, 10_000), min_size=1, max_size=5), min_size=1, max_size=4))
def test_dims_parse_and_format_round_trip(shapes: list[list[int]]) -> None:
    text = bf.format_dims(shapes)
    assert bf.parse_dims(text) == tuple(tuple(s) for s in shapes)
    assert bf.format_dims(bf.parse_dims(text)) == text
    assert bf.input_count(text) == len(shapes)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1,3,x", "'x' is not a positive integer"),
        ("1,,3", "'' is not a positive integer"),
        ("1,3;", "an empty input"),
        ("1,-3", "'-3' is not a positive integer"),
        ("1,+3", "'+3' is not a positive integer"),  # stoi reads it; benchorch writes 3
        ("1,0", "'0' is not a positive integer"),
    ],
)
def test_dims_are_strict(text: str, why: str) -> None:
    with pytest.raises(bf.FlagValueError, match=re.escape(why)) as info:
        bf.parse_dims(text)
    assert "1,3,224,224" in info.value.hint


def test_types_and_memory_formats() -> None:
    assert bf.parse_types(" float; int64 ") == ("float", "int64")
    with pytest.raises(bf.FlagValueError, match="'half'"):
        bf.parse_types("float;half")
    assert bf.parse_memory_formats("channels_last;contiguous_format") == bf.MEMORY_FORMATS[::-1]
    with pytest.raises(bf.FlagValueError, match="'nhwc'"):
        bf.parse_memory_formats("nhwc")


@pytest.mark.parametrize(
    ("dims", "types", "fmt", "problem"),
    [
        ("1,3,8,8", "float", "channels_last", None),
        ("1,3,8,8;1,10", "float;int64", "contiguous_format;contiguous_format", None),
        ("", "float", "contiguous_format", "no input dims or types"),
        ("1,3,8,8;1,10", "float", "contiguous_format", "has 2 input(s) but types float has 1"),
        ("1,3,8,8;1,10", "float;int64", "contiguous_format", "give one per input"),
        ("1,10", "float", "channels_last", "channels_last on input 1 (1,10), which is not 4-D"),
    ],
)
def test_input_problem(dims: str, types: str, fmt: str, problem: str | None) -> None:
    found = bf.input_problem(dims, types, fmt)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
