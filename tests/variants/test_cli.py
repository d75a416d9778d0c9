"""``benchorch variants``: bad input gives one line and the documented exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.torch, pytest.mark.debian_torch]

SMALL = ["--dims", "1,3,16,16"]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["variants", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("benchorch: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture()
def junk_model(tmp_path: Path) -> Path:
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a zip file at all")
    return path


@pytest.mark.parametrize(
    ("model", "extra", "needles"),
    [
        ("tests.variants.factories:not_a_module", SMALL, ["returned int", "nn.Module"]),
        ("tests.variants.factories:raises", SMALL, ["raised RuntimeError", "weights file"]),
        ("tests.variants.factories:nope", SMALL, ["no callable 'nope'"]),
        ("no_such_pkg.models:make", SMALL, ["cannot import no_such_pkg.models"]),
        ("tests.variants.factories:untraceable", SMALL, ["cannot script", "layer inner", "trace"]),
        ("demo:conv_bn_relu", ["--dims", "1,5,16,16"], ["input 0 1,5,16,16 float", "channels"]),
        ("demo:conv_bn_relu", ["--dims", "1,3,x"], ["--dims", "'x' is not a positive integer"]),
        ("demo:conv_bn_relu", [*SMALL, "--types", "double"], ["unknown input type 'double'"]),
        ("demo:conv_bn_relu", [*SMALL, "--recipe", "fuse,shrink"], ["unknown step 'shrink'"]),
        ("demo:resnet", SMALL, ["unknown demo model demo:resnet", "demo:mobilenet_v2"]),
        ("missing_model.pt", SMALL, ["missing_model.pt not found"]),
        ("tests.variants.factories:odd_names", [], ["--dims is required"]),
        ("demo:conv_bn_relu", [*SMALL, "--bytecode-version", "2"], ["--bytecode-version 2"]),
        ("demo:conv_bn_relu", [*SMALL, "--bytecode-version", "99"], ["--bytecode-version 99"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, model: str, extra: list[str], needles: list[str]
) -> None:
    code, _, stderr = invoke(model, "--out", str(tmp_path / "out"), *extra)
    line = error_line(stderr)
    assert code == 2, stderr
    for needle in needles:
        assert needle in line, line
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # the temp folder is gone too


def test_corrupt_model_file(tmp_path: Path, junk_model: Path) -> None:
    code, _, stderr = invoke(str(junk_model), "--out", str(tmp_path / "o"), *SMALL)
    assert code == 2
    assert f"cannot load model file {junk_model}" in error_line(stderr)


def test_unwritable_output(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, _, stderr = invoke("demo:conv_bn_relu", "--out", str(blocker / "sub"), *SMALL)
    assert code == 2 and "does not exist" in error_line(stderr)
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep me")
    code, _, stderr = invoke("demo:conv_bn_relu", "--out", str(full), *SMALL)
    assert code == 2 and "not a variants folder" in error_line(stderr)
    assert (full / "mine.txt").read_text() == "keep me"


def test_calibration_of_the_wrong_shape(tmp_path: Path) -> None:
    calib = tmp_path / "calib.pt"
    torch.save(torch.randn(4, 1, 16, 16), calib)
    code, _, stderr = invoke(
        "demo:conv_bn_relu", "--out", str(tmp_path / "o"), *SMALL, "--calibration", str(calib)
    )
    line = error_line(stderr)
    assert code == 2 and "4,1,16,16" in line and "1,3,16,16" in line


def test_json_output_is_the_manifest(tmp_path: Path) -> None:
    out = tmp_path / "o"
    code, stdout, _ = invoke(
        "demo:conv_bn_relu", "--out", str(out), *SMALL, "--recipe", "lite", "--json"
    )
    assert code == 0
    data = json.loads(stdout)
    assert data["root"] == str(out.absolute())
    assert data == {**json.loads((out / "manifest.json").read_text()), "root": data["root"]}


def test_a_failed_check_exits_1_and_keeps_the_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tighten the int8 tolerance to zero so that quantisation must fail its check."""
    from benchorch.variants import check

    monkeypatch.setitem(check.TOLERANCES, "int8", (0.0, 1.0))
    out = tmp_path / "o"
    code, stdout, stderr = invoke(
        "demo:conv_bn_relu", "--out", str(out), *SMALL, "--recipe", "fuse,quantize"
    )
    assert code == 1
    assert "failed their check" in error_line(stderr)
    data = json.loads((out / "manifest.json").read_text())
    failed = [f for f in data["files"] if not f["check"]["passed"]]
    assert [f["variant"] for f in failed] == ["fused+quantized"]
    assert failed[0]["check"]["max_abs_err"] > 0 and failed[0]["check"]["cosine"] < 1
    assert "FAILED" in stdout


def test_real_process_does_not_flood_the_terminal(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchorch",
            "variants",
            "demo:conv_bn_relu",
            "--out",
            str(tmp_path / "o"),
            *SMALL,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert "deprecated" not in out.stderr.lower()
    assert "Warning:" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) <= 8, out.stderr  # skips, the calibration warning, one torch note
    assert out.stdout.splitlines()[-1] == str((tmp_path / "o" / "manifest.json").absolute())
