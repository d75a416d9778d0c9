"""The exporter end to end with real torch: files, manifest, checks (both torches)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchorch.domain import ModelFormat
from benchorch.variants.manifest import Manifest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.torch, pytest.mark.debian_torch]


def _xnnpack() -> bool:
    from benchorch.variants.recipe import xnnpack_available

    return xnnpack_available()


def test_every_file_is_described_truthfully(exported_variants: Manifest) -> None:
    from torch.jit.mobile import _get_model_bytecode_version

    m = exported_variants
    assert m.files, "no files exported"
    for f in m.files:
        path = f.abspath(m.root)
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == f.sha256, f.name
        assert len(data) == f.size_bytes
        assert f.torch_version == torch.__version__
        assert f.input_dims == "1,3,32,32" and f.input_types == "float"
        assert f.ops and all("::" in op for op in f.ops)
        if f.format is ModelFormat.FULL_JIT:
            assert f.bytecode_version is None and data[:2] == b"PK"
        else:
            assert f.bytecode_version == _get_model_bytecode_version(str(path))
            is_flatbuffer = data[4:8] == b"PTMF"
            assert is_flatbuffer == (f.format is ModelFormat.FLATBUFFER), f.name
        assert f.check.passed, (f.name, f.check)
        assert f.check.max_abs_err is not None and f.check.cosine is not None
    # the manifest on disk is what the exporter returned
    assert Manifest.load(m.root) == m


def test_the_recipe_story_is_there(exported_variants: Manifest) -> None:
    m = exported_variants
    variants = {f.variant for f in m.files}
    assert {"baseline", "fused", "fused+quantized", "channels_last"} <= variants
    formats = {f.format for f in m.files if f.variant == "fused+quantized"}
    # every TorchScript format (a .pte comes only from the executorch steps)
    assert formats == set(ModelFormat) - {ModelFormat.EXECUTORCH}
    # fused: no batch_norm left; quantised: quantised kernels
    assert "aten::batch_norm" in m.file("baseline.ptl").ops
    assert "aten::batch_norm" not in m.file("fused.ptl").ops
    assert any(op.startswith("quantized::") for op in m.file("fused+quantized.ptl").ops)
    # int8 checks use the wider tolerance, float rewrites the tight one
    assert m.file("fused+quantized.ptl").check.kind == "int8"
    assert m.file("fused.ptl").check.kind == "float"
    assert m.file("fused.ptl").check.tolerance.max_abs_err < (
        m.file("fused+quantized.ptl").check.tolerance.max_abs_err
    )
    # channels-last benchmark entries point at existing files and say so
    nhwc = [f for f in m.files if f.memory_format == "channels_last"]
    assert {f.variant for f in nhwc} >= {"baseline+channels_last_input"}
    assert all(f.abspath(m.root).is_file() for f in nhwc)
    assert m.file("baseline+channels_last_input.ptl").sha256 == m.file("baseline.ptl").sha256
    assert all(f.path == f.name for f in m.files)
    assert m.calibrated is False and any("random data" in w for w in m.warnings)


def test_mobile_follows_xnnpack(exported_variants: Manifest) -> None:
    m = exported_variants
    mobile_files = [f for f in m.files if "mobile" in f.steps]
    assert m.xnnpack == _xnnpack()
    if m.xnnpack:  # Debian's torch 1.13.1: produced and verified
        assert {f.variant for f in mobile_files} >= {"mobile", "fused+quantized+mobile"}
        assert all(f.check.passed for f in mobile_files)
        assert "mobile" not in {s.variant for s in m.skipped}
    else:  # PyPI torch 2.13: skipped with the reason, never a crash
        assert not mobile_files
        reasons = {s.variant: s.reason for s in m.skipped}
        assert "XNNPACK" in reasons["mobile"]


def test_warnings_are_recorded_once(exported_variants: Manifest) -> None:
    torch_notes = [w for w in exported_variants.warnings if w.startswith("torch")]
    assert len(torch_notes) == len(set(torch_notes))


def test_exported_files_run_in_the_host_runner(exported_variants: Manifest) -> None:
    m = exported_variants
    for name in ("fused+quantized.ptl", "channels_last.ff.ptl", "baseline+channels_last_input.pt"):
        f = m.file(name)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchorch.hostrunner",
                f"--model={f.abspath(m.root)}",
                f"--input_dims={f.input_dims}",
                f"--input_type={f.input_types}",
                f"--input_memory_format={f.memory_format}",
                "--iter=2",
                "--report_pep=true",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert "Main run finished. Microseconds per iter:" in out.stdout


def test_lstm_gets_dynamic_quantisation(tmp_path: Path) -> None:
    from benchorch.variants.export import ExportOptions, export_variants

    m = export_variants(
        ExportOptions("demo:lstm_classifier", tmp_path / "lstm", dims="1,8", recipe="quantize,lite")
    )
    assert {f.variant for f in m.files} == {"baseline", "dynamic_quantized"}
    dyn = m.file("dynamic_quantized.ptl")
    assert dyn.check.passed and dyn.check.kind == "int8" and dyn.input_types == "int64"
    assert any("dynamic" in op or op.startswith("quantized::") for op in dyn.ops)
    skipped = {s.variant: s.reason for s in m.skipped}
    assert "LSTM" in skipped["quantized"]
    assert not any("random data" in w for w in m.warnings)  # nothing was calibrated


def test_fusion_is_found_in_the_data_flow() -> None:
    from benchorch.variants.fuse import fuse, plan_fusion
    from tests.variants.factories import odd_names

    model = odd_names()
    plan = plan_fusion(model)
    assert plan.method == "fx"
    assert set(plan.groups) == {("alpha", "beta", "gamma"), ("omega", "psi")}
    fused, _ = fuse(model, plan)
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(fused(x), model(x), atol=1e-5)
    assert isinstance(fused.beta, torch.nn.Identity)


def test_fusion_falls_back_to_sequential_walk() -> None:
    from torch import nn

    from benchorch.variants.fuse import plan_fusion

    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
            self.head = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:  # data-dependent: fx cannot trace this
                x = -x
            return self.head(self.body(x).mean((2, 3)))

    plan = plan_fusion(Branchy().eval())
    assert plan.method == "sequential"
    assert set(plan.groups) == {("body.0", "body.1", "body.2"), ("head.0", "head.1")}


def test_check_catches_a_wrong_model(tmp_path: Path) -> None:
    from benchorch.variants.check import check_file, flatten

    model = torch.nn.Linear(4, 3).eval()
    other = torch.nn.Linear(4, 3).eval()
    path = tmp_path / "other.ptl"
    torch.jit.script(other)._save_for_lite_interpreter(str(path))
    x = (torch.randn(2, 4),)
    ref = flatten(model(*x))
    res = check_file(path, ModelFormat.LITE, x, ref, "int8")
    assert not res.passed and res.error is None
    assert res.max_abs_err == pytest.approx(float((other(*x) - model(*x)).abs().max()), rel=1e-5)
    same = check_file(path, ModelFormat.LITE, x, flatten(other(*x)), "float")
    assert same.passed and same.max_abs_err == pytest.approx(0.0, abs=1e-6)
    broken = check_file(tmp_path / "missing.ptl", ModelFormat.LITE, x, ref, "float")
    assert not broken.passed and broken.error and broken.max_abs_err is None


def test_relu6_quantisation_is_correct() -> None:
    """qnnpack's relu6 on channels-last quantised tensors is probed and worked around."""
    from benchorch.variants import quant
    from benchorch.variants.check import compare, flatten

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU6(), torch.nn.Conv2d(16, 4, 1)
    ).eval()
    gen = torch.Generator().manual_seed(0)
    calib = [(torch.randn(8, 3, 16, 16, generator=gen),)]
    x = (torch.randn(1, 3, 16, 16, generator=gen),)
    result = quant.static_quantize(model, calib, x)
    assert result.relu6_swapped == (1 if quant.relu6_layout_bug() else 0)
    verdict = compare(torch.jit.script(result.model)(*x), flatten(model(*x)), "int8")
    assert verdict.passed and verdict.cosine is not None and verdict.cosine > 0.99


def test_torchscript_file_gets_only_scripted_variants(tmp_path: Path) -> None:
    from benchorch.variants.export import ExportOptions, export_variants

    src = tmp_path / "model.pt"
    torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()).save(
        str(src)
    )
    m = export_variants(ExportOptions(str(src), tmp_path / "out", dims="1,3,16,16"))
    variants = {f.variant for f in m.files}
    assert {"baseline", "channels_last"} <= variants
    assert not variants & {"fused", "fused+quantized"}
    reasons = {s.variant: s.reason for s in m.skipped}
    assert "eager model" in reasons["fused"] and "eager model" in reasons["quantized"]
    assert all(f.export == "file" for f in m.files if f.variant == "baseline")
    assert all(f.check.passed for f in m.files)


def test_traced_fallback_is_recorded(tmp_path: Path) -> None:
    from benchorch.variants.export import ExportOptions, export_variants

    m = export_variants(
        ExportOptions(
            "tests.variants.factories:needs_trace", tmp_path / "o", dims="1,3,8,8", recipe="lite"
        )
    )
    assert {f.export for f in m.files} == {"trace"}
    assert all(f.check.passed for f in m.files)


def test_bytecode_version_lowers_lite_files(tmp_path: Path) -> None:
    from torch.jit.mobile import _get_model_bytecode_version

    from benchorch.variants.export import ExportOptions, export_variants

    m = export_variants(
        ExportOptions(
            "demo:conv_bn_relu",
            tmp_path / "v5",
            dims="1,3,16,16",
            recipe="lite,flatbuffer",
            bytecode_version=5,
        )
    )
    lite = [f for f in m.files if f.format is ModelFormat.LITE]
    assert lite and all(f.bytecode_version == 5 for f in lite)
    assert all(_get_model_bytecode_version(str(f.abspath(m.root))) == 5 for f in lite)
    assert not [f for f in m.files if f.format is ModelFormat.FLATBUFFER]
    assert any("FlatBuffer" in s.reason for s in m.skipped)
    assert all(f.check.passed for f in m.files)


def test_calibration_file_is_used(tmp_path: Path) -> None:
    from benchorch.variants.export import ExportOptions, export_variants

    calib = tmp_path / "calib.pt"
    torch.save(torch.randn(4, 3, 16, 16), calib)
    m = export_variants(
        ExportOptions(
            "demo:conv_bn_relu",
            tmp_path / "c",
            dims="1,3,16,16",
            calibration=calib,
            recipe="fuse,quantize",
        )
    )
    assert m.calibrated and not any("random data" in w for w in m.warnings)
    assert m.file("fused+quantized.pt").check.passed


def test_calibration_folder_of_several_batch_sizes(tmp_path: Path) -> None:
    from benchorch.variants.calibration import load_calibration, merge_batches
    from benchorch.variants.inputs import parse_inputs
    from benchorch.variants.models import build_demo

    folder = tmp_path / "calib"
    folder.mkdir()
    torch.save(torch.randn(2, 3, 16, 16), folder / "a.pt")
    torch.save((torch.randn(3, 3, 16, 16),), folder / "b.pt")
    (folder / "notes.txt").write_text("ignored")
    specs = parse_inputs("1,3,16,16", "float")
    batches = load_calibration(folder, specs)
    assert [b[0].shape[0] for b in batches] == [2, 3]
    merged = merge_batches(build_demo("conv_bn_relu"), batches)
    assert len(merged) == 1 and merged[0][0].shape[0] == 5


def test_a_new_export_replaces_the_old_folder_whole(tmp_path: Path) -> None:
    from benchorch.errors import UsageError
    from benchorch.variants.export import ExportOptions, export_variants

    out = tmp_path / "v"
    first = export_variants(
        ExportOptions("demo:conv_bn_relu", out, dims="1,3,16,16", recipe="lite")
    )
    (out / "stale.txt").write_text("from an older export")
    with pytest.raises(UsageError):
        export_variants(ExportOptions("demo:conv_bn_relu", out, dims="1,3,x", recipe="lite"))
    assert Manifest.load(out) == first  # a failed export leaves the old folder intact
    assert (out / "stale.txt").exists()
    export_variants(ExportOptions("demo:conv_bn_relu", out, dims="1,3,8,8", recipe="lite"))
    assert not (out / "stale.txt").exists()
    assert Manifest.load(out).inputs["dims"] == "1,3,8,8"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]  # no temp folders left
    shutil.rmtree(out)


def test_quantisation_without_batchnorm_and_fx_fallback(tmp_path: Path) -> None:
    """No BN: ``quantized`` is made too; the plain ``+`` sends eager int8 to FX mode."""
    from benchorch.variants.export import ExportOptions, export_variants

    m = export_variants(
        ExportOptions(
            "tests.variants.factories:plain_residual",
            tmp_path / "o",
            dims="1,3,16,16",
            recipe="fuse,quantize",
        )
    )
    variants = {f.variant for f in m.files}
    assert {"baseline", "fused", "quantized", "fused+quantized"} <= variants
    assert all(f.check.passed for f in m.files), [(f.name, f.check) for f in m.files]
    assert any("FX graph mode" in w for w in m.warnings)
