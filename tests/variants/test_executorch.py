"""The recipe's ExecuTorch steps: real ``.pte`` programs, checked through ``executorch.runtime``.

Everything here runs the real exporter and the real ExecuTorch runtime from the
``benchorch[executorch]`` extra (``make setup`` installs it into .venv). The
missing-extra test runs Debian's torch venv, which has no ExecuTorch.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest

from benchorch.domain import ModelFormat
from benchorch.errors import UsageError
from benchorch.variants.manifest import Manifest
from benchorch.variants.steps import ET_STEPS, STEPS, parse_recipe
from tests.support.debianvenv import benchorch_without_executorch

ET_RECIPE = "lite,executorch,executorch_xnnpack,executorch_int8"


def test_the_default_recipe_stays_lite() -> None:
    assert parse_recipe(None) == STEPS
    assert parse_recipe("all") == STEPS
    assert parse_recipe("all,executorch_xnnpack") == (*STEPS, "executorch_xnnpack")
    assert parse_recipe("lite,executorch") == ("lite", "executorch")
    with pytest.raises(UsageError, match="executorch_int8"):
        parse_recipe("lite,executorch_int4")  # the hint lists the ExecuTorch steps
    assert set(ET_STEPS).isdisjoint(STEPS)


@pytest.mark.torch
def test_missing_extra_is_one_line_with_the_install_command(tmp_path: Path) -> None:
    argv = ["variants", "demo:conv_bn_relu", "--out", str(tmp_path / "v")]
    done = benchorch_without_executorch(tmp_path, *argv, "--recipe", "lite,executorch")
    assert done.returncode == 2, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    assert "pip install 'benchorch[executorch]'" in lines[0]
    assert not (tmp_path / "v").exists()


needs_et = pytest.mark.skipif(
    importlib.util.find_spec("executorch") is None, reason="needs the executorch extra (make setup)"
)


@pytest.fixture(scope="module")
def et_variants(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    from benchorch.variants.export import ExportOptions, export_variants

    out = tmp_path_factory.mktemp("et") / "cbr"
    return export_variants(ExportOptions("demo:conv_bn_relu", out, recipe=ET_RECIPE))


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.executorch
@needs_et
def test_every_pte_is_described_truthfully(et_variants: Manifest) -> None:
    ptes = {f.variant: f for f in et_variants.files if f.format is ModelFormat.EXECUTORCH}
    assert set(ptes) == {"executorch", "executorch+xnnpack", "executorch+xnnpack+int8"}
    for f in ptes.values():
        path = f.abspath(et_variants.root)
        assert path.suffix == ".pte"
        assert path.read_bytes()[4:8] == b"ET12"  # the program identifier the runtime checks
        assert f.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert f.size_bytes == path.stat().st_size
        assert f.check.passed, f.check
        assert f.delegation is not None
        assert f.runtime_version == "1.5.1"
        assert f.export == "torch.export"
    assert ptes["executorch"].steps == ("executorch",)
    assert ptes["executorch+xnnpack+int8"].steps == ("executorch", "xnnpack", "int8")
    assert ptes["executorch+xnnpack+int8"].check.kind == "int8"
    # the int8 program's weights are a quarter of the fp32 one's
    assert ptes["executorch+xnnpack+int8"].size_bytes < ptes["executorch+xnnpack"].size_bytes / 2
    # the lite baseline is still there beside them
    assert {f.format for f in et_variants.files} >= {ModelFormat.LITE, ModelFormat.EXECUTORCH}


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.executorch
@needs_et
def test_delegation_statistics(et_variants: Manifest) -> None:
    by = {f.variant: f.delegation for f in et_variants.files if f.delegation is not None}
    portable = by["executorch"]
    assert portable is not None
    assert (portable.backend, portable.delegated_subgraphs, portable.delegated_nodes) == (
        None,
        0,
        0,
    )
    assert portable.cpu_nodes > 0
    assert "aten_convolution_default" in portable.cpu_ops
    assert portable.coverage == 0.0
    for name in ("executorch+xnnpack", "executorch+xnnpack+int8"):
        d = by[name]
        assert d is not None
        assert d.backend == "XnnpackBackend"
        assert d.delegated_subgraphs >= 1
        assert d.delegated_nodes > 0
        assert d.cpu_nodes == 0 and d.cpu_ops == ()  # conv, bn, relu, linear: all XNNPACK
        assert d.coverage == 1.0
    ops = {f.variant: f.ops for f in et_variants.files if f.format is ModelFormat.EXECUTORCH}
    assert "aten::convolution.out" in ops["executorch"]
    assert not any("convolution" in op for op in ops["executorch+xnnpack"])


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.executorch
@needs_et
def test_manifest_round_trips_delegation(et_variants: Manifest) -> None:
    again = Manifest.load(et_variants.root)
    assert again.files == et_variants.files
    raw = (et_variants.root / "manifest.json").read_text()
    assert '"delegated_nodes"' in raw and '"cpu_ops"' in raw


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.executorch
@needs_et
def test_a_corrupt_pte_fails_its_check(et_variants: Manifest, tmp_path: Path) -> None:
    import torch

    from benchorch.variants.et_variants import check_pte

    good = et_variants.file("executorch.pte").abspath(et_variants.root)
    bad = tmp_path / "bad.pte"
    data = bytearray(good.read_bytes())
    data[4:8] = b"XXXX"
    bad.write_bytes(bytes(data))
    x = (torch.randn(1, 3, 224, 224),)
    result = check_pte(bad, x, torch.zeros(10, dtype=torch.float64), "float")
    assert not result.passed
    assert result.error is not None and result.max_abs_err is None
    # a good program with a wrong reference fails on numbers, not on loading
    wrong = check_pte(good, x, torch.full((10,), 100.0, dtype=torch.float64), "float")
    assert not wrong.passed and wrong.error is None


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.executorch
@needs_et
def test_lstm_is_partly_delegated_and_dynamic(tmp_path: Path) -> None:
    from benchorch.variants.export import ExportOptions, export_variants

    m = export_variants(
        ExportOptions(
            "demo:lstm_classifier", tmp_path / "lstm", recipe="executorch_xnnpack,executorch_int8"
        )
    )
    ptes = {f.variant: f for f in m.files if f.format is ModelFormat.EXECUTORCH}
    assert "executorch+xnnpack+dynamic_int8" in ptes
    skipped = {s.variant: s.reason for s in m.skipped}
    assert "LSTM" in skipped["executorch+xnnpack+int8"]
    xnn = ptes["executorch+xnnpack"].delegation
    assert xnn is not None and xnn.cpu_nodes > 0 and xnn.delegated_nodes > 0
    assert xnn.coverage is not None and xnn.coverage < 1.0
    assert all(f.check.passed for f in ptes.values()), [f.check for f in ptes.values()]


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.executorch
@needs_et
def test_calibration_batches_fit_the_exported_shape() -> None:
    import torch

    from benchorch.variants.et_export import fit_batches

    x = (torch.zeros(2, 3),)
    merged = (torch.arange(12.0).reshape(6, 2).repeat(1, 2)[:, :3],)
    fitted = fit_batches([merged, (torch.ones(2, 3),), (torch.ones(3, 4),)], x)
    assert [tuple(b[0].shape) for b in fitted] == [(2, 3)] * 4
    assert torch.equal(fitted[0][0], merged[0][:2])
    assert fit_batches([(torch.ones(5, 4),)], x) == [x]
