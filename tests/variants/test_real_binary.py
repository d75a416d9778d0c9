"""Exported variants on the real speed_benchmark_torch, and the host runner beside it.

The binaries are real host builds of PyTorch 1.13.1's ``speed_benchmark_torch.cc``
against Debian's libtorch (``tests/support/binary_fixtures.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchorch.build.provenance import Provenance
from benchorch.domain import ModelFormat, ParseResult
from benchorch.parse import parse_output
from benchorch.variants.manifest import Manifest, VariantFile

pytestmark = [pytest.mark.torch, pytest.mark.debian_torch, pytest.mark.slow]

RUNNER = [sys.executable, "-m", "benchorch.hostrunner"]


def launch(argv0: list[str], f: VariantFile, root: Path, *extra: str) -> ParseResult:
    args = [
        f"--model={f.abspath(root)}",
        f"--input_dims={f.input_dims}",
        f"--input_type={f.input_types}",
        f"--input_memory_format={f.memory_format}",
        *extra,  # later flags win, as in the C++ parser
    ]
    out = subprocess.run(
        [*argv0, *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    return parse_output(out.stdout, out.stderr, out.returncode)


def test_every_variant_runs_on_the_full_jit_binary(
    exported_variants: Manifest, host_binary_full: Provenance
) -> None:
    for f in exported_variants.files:
        result = launch(
            [str(host_binary_full.path)], f, exported_variants.root, "--iter=2", "--report_pep=true"
        )
        assert result.ok, (f.name, result)
        assert len(result.samples_us) == 2


def test_lite_binary_runs_lite_files_and_rejects_pt(
    exported_variants: Manifest, host_binary_lite: Provenance
) -> None:
    for f in exported_variants.files:
        result = launch([str(host_binary_lite.path)], f, exported_variants.root, "--iter=1")
        if f.format is ModelFormat.FULL_JIT:
            assert not result.ok and result.error_kind is not None
            assert result.error_kind.value == "model_format", (f.name, result)
        else:
            assert result.ok, (f.name, result)


@pytest.mark.parametrize(
    "extra",
    [
        ["--bogus=1"],
        ["--input_type=double"],
        ["--input_dims=1,3,16,16;1,3", "--input_type=float"],
        ["--model=/nonexistent/model.ptl"],
        ["--iter=3", "--report_pep=true"],
    ],
)
def test_runner_and_binary_agree(
    exported_variants: Manifest, host_binary_full: Provenance, extra: list[str]
) -> None:
    f = exported_variants.file("fused+quantized.ptl")
    real = launch([str(host_binary_full.path)], f, exported_variants.root, *extra)
    ours = launch(RUNNER, f, exported_variants.root, *extra)
    assert (ours.status, ours.error_kind) == (real.status, real.error_kind), (ours, real)
    assert len(ours.samples_us) == len(real.samples_us)
