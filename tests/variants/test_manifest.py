"""The manifest format: torch-free round trip and one-line errors for bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchorch.domain import ModelFormat
from benchorch.exits import ExitCode, exit_code
from benchorch.variants.manifest import (
    CheckResult,
    Manifest,
    ManifestError,
    SkippedVariant,
    Tolerance,
    VariantFile,
    write_manifest,
)

pytestmark = pytest.mark.debian_torch


def _file(
    name: str = "fused+quantized.ptl", passed: bool = True, err: float | None = 0.01
) -> VariantFile:
    return VariantFile(
        name=name,
        variant="fused+quantized",
        steps=("fuse", "quantize"),
        format=ModelFormat.LITE,
        path=name,
        sha256="ab" * 32,
        size_bytes=12345,
        bytecode_version=8,
        ops=("aten::conv2d", "quantized::conv2d_relu"),
        input_dims="1,3,224,224",
        input_types="float",
        memory_format="contiguous_format",
        check=CheckResult(
            passed=passed,
            kind="int8",
            max_abs_err=err,
            cosine=None if err is None else 0.999,
            tolerance=Tolerance(max_abs_err=0.5, cosine=0.98),
            error=None if err is not None else "RuntimeError: boom",
        ),
        torch_version="2.13.0",
        export="script",
    )


def _manifest(files: tuple[VariantFile, ...]) -> Manifest:
    return Manifest(
        model="demo:conv_bn_relu",
        created_at="2026-11-26T01:30:00Z",
        torch_version="2.13.0",
        xnnpack=False,
        inputs={"dims": "1,3,224,224", "types": "float"},
        calibrated=False,
        files=files,
        skipped=(SkippedVariant("mobile", "Mobile optimization only available with XNNPACK"),),
        warnings=("not calibrated",),
    )


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    m = _manifest((_file(), _file("baseline.pt", passed=False, err=None)))
    path = write_manifest(m, tmp_path)
    assert path == tmp_path / "manifest.json"
    loaded = Manifest.load(tmp_path)
    assert loaded == m
    assert loaded.root == tmp_path
    assert loaded.file("baseline.pt").check.error == "RuntimeError: boom"
    assert [f.name for f in loaded.passed_files] == ["fused+quantized.ptl"]
    assert loaded.files[0].abspath(loaded.root) == tmp_path / "fused+quantized.ptl"
    # the JSON is the documented shape
    data = json.loads(path.read_text())
    assert data["schema"] == 1
    assert data["files"][0]["format"] == "lite"
    assert data["files"][0]["check"]["tolerance"] == {"max_abs_err": 0.5, "cosine": 0.98}
    assert data["skipped"] == [{"variant": "mobile", "reason": m.skipped[0].reason}]
    assert "root" not in data


@settings(deadline=None)
@given(
    err=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    size=st.integers(min_value=0, max_value=2**40),
    name=st.from_regex(r"[a-z_+]{1,20}\.(pt|ptl|ff\.ptl)", fullmatch=True),
)
def test_round_trip_any_values(err: float, size: int, name: str) -> None:
    import dataclasses

    f = dataclasses.replace(_file(name, err=err), size_bytes=size)
    m = _manifest((f,))
    assert Manifest.from_dict(json.loads(json.dumps(m.to_dict()))) == m


def test_missing_manifest_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        Manifest.load(tmp_path)
    assert exit_code(info.value) == ExitCode.USAGE
    assert str(tmp_path) in str(info.value) and "benchorch variants" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"schema": 99}', "schema 99"),
        ('{"schema": 1, "model": "x"}', "malformed"),
    ],
)
def test_corrupt_manifest_is_one_line(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ManifestError) as info:
        Manifest.load(tmp_path / "manifest.json")
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.pt", ""])
def test_paths_may_not_leave_the_folder(tmp_path: Path, bad: str) -> None:
    data = _manifest((_file(),)).to_dict()
    data["files"][0]["path"] = bad
    with pytest.raises(ManifestError, match="malformed"):
        Manifest.from_dict(data)


def test_manifest_module_does_not_import_torch() -> None:
    code = "import sys, benchorch.variants.manifest as m; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
