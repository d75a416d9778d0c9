"""Real host builds of PyTorch's speed_benchmark_torch (Debian's libtorch-dev, g++).

Both flavours come from the session fixtures in tests/support/binary_fixtures.py;
they are run here on models exported by torch and their output is checked.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchorch.abi import host_abi
from benchorch.build import BuildRequest, build
from benchorch.build.provenance import Provenance, read_sidecar, register_binary
from benchorch.cli.main import cli
from benchorch.domain import ErrorKind, ParseResult
from benchorch.errors import BuildError, BuildUsageError
from benchorch.exits import ExitCode, exit_code
from benchorch.files import sha256_file
from benchorch.parse import parse_output

pytestmark = [pytest.mark.slow, pytest.mark.torch]


def build_host(root: Path, **request: Any) -> Provenance:
    return build(BuildRequest(target="host", pytorch_root=root, **request))


FINISHED = re.compile(
    r"Main run finished\. Microseconds per iter: ([0-9.e+]+)\. Iters per second: ([0-9.e+]+)"
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny conv net saved as full-JIT .pt, lite .ptl and FlatBuffer by the venv's torch."""
    torch = pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("models")
    net = torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval())
    torch.jit.save(net, str(folder / "m.pt"))
    net._save_for_lite_interpreter(str(folder / "m.ptl"))
    net._save_for_lite_interpreter(str(folder / "m.ff"), _use_flatbuffer=True)
    return {"pt": folder / "m.pt", "ptl": folder / "m.ptl", "ff": folder / "m.ff"}


def run(binary: str, model: Path, iters: int = 4) -> subprocess.CompletedProcess[str]:
    argv = [binary, f"--model={model}", "--input_dims=1,3,8,8", "--input_type=float"]
    argv += ["--warmup=1", f"--iter={iters}", "--report_pep=true"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def parsed(out: subprocess.CompletedProcess[str]) -> ParseResult:
    return parse_output(out.stdout, out.stderr, out.returncode)


def test_lite_binary_runs_ptl_and_flatbuffer_and_refuses_a_pt(
    host_binary_lite: Provenance, models: dict[str, Path]
) -> None:
    for kind in ("ptl", "ff"):
        result = parsed(run(host_binary_lite.path, models[kind], iters=5))
        assert result.ok, result
        assert len(result.samples_us) == 5 and result.us_per_iter and result.us_per_iter > 0
    bad = parsed(run(host_binary_lite.path, models["pt"]))
    assert not bad.ok and bad.error_kind is ErrorKind.MODEL_FORMAT, bad


def test_full_binary_runs_pt_ptl_and_flatbuffer(
    host_binary_full: Provenance, models: dict[str, Path]
) -> None:
    for kind in ("pt", "ptl", "ff"):
        out = run(host_binary_full.path, models[kind])
        assert FINISHED.search(out.stdout), out.stderr
        result = parsed(out)
        assert result.ok and len(result.samples_us) == 4, result


def test_provenance_of_the_fixtures(
    host_binary_lite: Provenance, host_binary_full: Provenance
) -> None:
    for prov, flavour in ((host_binary_lite, "lite"), (host_binary_full, "full_jit")):
        binary = Path(prov.path)
        assert prov.flavour == flavour and prov.target == "host" and prov.abi == host_abi()
        assert prov.sha256 == sha256_file(binary) and prov.size_bytes == binary.stat().st_size
        assert prov.pytorch_version and (prov.bytecode_min, prov.bytecode_max) == (4, 9)
        assert prov.source_revision and "sha256:" in prov.source_revision  # not a git checkout
        assert read_sidecar(binary) is not None and read_sidecar(binary).sha256 == prov.sha256  # type: ignore[union-attr]
        assert ("-DBUILD_LITE_INTERPRETER=1" in prov.build_flags) == (flavour == "lite")
    assert host_binary_lite.sha256 != host_binary_full.sha256
    assert Path(host_binary_lite.path).parent != Path(host_binary_full.path).parent


def test_second_build_is_a_cache_hit(
    host_binary_lite: Provenance, pytorch_source: Path, binary_cache_dir: Path
) -> None:
    again = build_host(pytorch_source, flavour="lite", cache_dir=binary_cache_dir)
    assert again.origin == "cached"
    assert again.sha256 == host_binary_lite.sha256 and again.path == host_binary_lite.path


def _mini_tree(src: Path, dest: Path) -> Path:
    (dest / "binaries").mkdir(parents=True)
    shutil.copy(src / "binaries/speed_benchmark_torch.cc", dest / "binaries")
    shutil.copy(src / "version.txt", dest)
    return dest


def test_rebuild_and_source_change_and_failure_log(pytorch_source: Path, tmp_path: Path) -> None:
    """A copied tree: build, hit, --rebuild; then a broken .cc is a new key and fails clearly."""
    tree = _mini_tree(pytorch_source, tmp_path / "tree")
    cache = tmp_path / "cache"
    first = build_host(tree, flavour="full_jit", cache_dir=cache)
    assert first.origin == "built" and first.build_seconds and first.build_seconds > 0
    assert build_host(tree, flavour="full_jit", cache_dir=cache).origin == "cached"
    forced = build_host(tree, flavour="full_jit", cache_dir=cache, rebuild=True)
    assert forced.origin == "built" and forced.path == first.path
    log = Path(first.path).parent / "build.log"
    assert "speed_benchmark_torch.cc" in log.read_text()

    cc = tree / "binaries/speed_benchmark_torch.cc"
    cc.write_text('#error "benchorch broken source"\n' + cc.read_text())
    with pytest.raises(BuildError) as info:
        build_host(tree, flavour="full_jit", cache_dir=cache)
    assert "benchorch broken source" in str(info.value)
    assert info.value.log_path and Path(info.value.log_path).is_file()
    assert Path(info.value.log_path).parent != Path(first.path).parent
    assert exit_code(info.value) == ExitCode.INFRA


def test_root_without_the_source_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(BuildUsageError, match=r"speed_benchmark_torch\.cc"):
        build_host(tmp_path, flavour="lite", cache_dir=tmp_path / "c")


def test_wrong_libtorch_prefix_and_missing_compiler(
    pytorch_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BuildUsageError, match="no libtorch"):
        build_host(pytorch_source, flavour="lite", libtorch=str(tmp_path), cache_dir=tmp_path / "c")
    monkeypatch.setenv("CXX", "benchorch-no-such-compiler")
    with pytest.raises(BuildError, match="benchorch-no-such-compiler not found"):
        build_host(pytorch_source, flavour="lite", cache_dir=tmp_path / "c")


def test_register_a_copy_carries_the_build_facts(
    host_binary_full: Provenance, tmp_path: Path
) -> None:
    bare = tmp_path / "bare" / "sbt"
    bare.parent.mkdir()
    shutil.copy(host_binary_full.path, bare)
    prov = register_binary(bare)
    assert prov.origin == "registered" and prov.flavour == "full_jit"  # read from its imports
    assert prov.pytorch_version is None and prov.sha256 == host_binary_full.sha256
    with_sidecar = tmp_path / "with" / "speed_benchmark_torch"
    with_sidecar.parent.mkdir()
    shutil.copy(host_binary_full.path, with_sidecar)
    shutil.copy(host_binary_full.path + ".provenance.json", str(with_sidecar) + ".provenance.json")
    carried = register_binary(with_sidecar)
    assert carried.origin == "registered" and carried.path == str(with_sidecar.resolve())
    assert carried.pytorch_version == host_binary_full.pytorch_version
    assert carried.source_revision == host_binary_full.source_revision


def test_cli_build_json_and_register(
    host_binary_lite: Provenance, pytorch_source: Path, binary_cache_dir: Path
) -> None:
    runner = CliRunner()
    args = ["build", "--target", "host", "--pytorch-root", str(pytorch_source), "--lite"]
    result = runner.invoke(cli, [*args, "--cache-dir", str(binary_cache_dir), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["path"] == host_binary_lite.path and data["origin"] == "cached"
    reg = runner.invoke(cli, ["build", "--binary", host_binary_lite.path, "--json"])
    assert reg.exit_code == 0, reg.output
    assert json.loads(reg.stdout)["origin"] == "registered"


def test_cli_errors_have_their_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["build", "--target", "host", "--pytorch-root", str(tmp_path)])
    assert result.exit_code == 2
    assert "speed_benchmark_torch.cc" in result.output
    assert runner.invoke(cli, ["build", "--target", "host"]).exit_code == 2
    wrong = runner.invoke(
        cli, ["build", "--target", "host", "--abi", "armeabi-v7a", "--pytorch-root", "."]
    )
    assert wrong.exit_code == 2 and "armeabi-v7a" in wrong.output
