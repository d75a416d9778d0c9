"""A host build from an INSTALLED benchorch: wheel, fresh venv, outside the checkout.

The wheel is built from a copy of the package's sources (``pip wheel
--no-deps --no-build-isolation``: no network), installed with ``--no-deps``
into a fresh venv, and ``benchorch build --target host`` runs from that venv's
console script in a folder that is not the checkout. The venv sees benchorch's
dependencies through a folder of links to this venv's site-packages, without
torch (the build command must not need it) and without the editable benchorch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from benchorch.domain import ParseResult
from benchorch.parse import parse_output

pytestmark = [pytest.mark.slow, pytest.mark.torch]
REPO = Path(__file__).resolve().parents[2]
PIP = (sys.executable, "-m", "pip")
_HIDDEN = ("torch", "functorch", "torchgen", "benchorch", "__editable__", "_benchorch_editable")


def _wheel(tmp: Path) -> Path:
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "benchorch", src / "benchorch", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    out = subprocess.run(
        [
            *PIP,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = (tmp / "dist").glob("benchorch-*.whl")
    return wheel


def _venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    out = subprocess.run(
        [*PIP, "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    deps = tmp / "deps"
    deps.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if not entry.name.startswith(_HIDDEN) and not entry.name.endswith(".pth"):
            (deps / entry.name).symlink_to(entry)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "benchorch_test_deps.pth").write_text(f"{deps}\n")
    return venv


def test_installed_wheel_builds_a_working_host_binary(pytorch_source: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    venv = _venv(tmp_path, _wheel(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import benchorch, sys; print(benchorch.__file__);"
            "import importlib.util as u; print(u.find_spec('torch') is None)",
        ],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        check=True,
    ).stdout.split()
    assert where[0].startswith(str(venv)) and where[1] == "True"  # installed copy, no torch

    argv = [str(venv / "bin" / "benchorch"), "build", "--target", "host", "--lite"]
    argv += ["--pytorch-root", str(pytorch_source), "--cache-dir", str(tmp_path / "cache")]
    out = subprocess.run(
        [*argv, "--json", "--quiet"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=1200,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    prov = json.loads(out.stdout)
    assert prov["origin"] == "built" and prov["flavour"] == "lite"
    compat = [f for f in prov["build_flags"] if f.startswith("-I") and f.endswith("compat")]
    assert compat and compat[0][2:].startswith(str(venv))  # the wheel's headers were used
    assert str(REPO) not in " ".join(prov["build_flags"])

    model = tmp_path / "m.ptl"
    net = torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval())
    net._save_for_lite_interpreter(str(model))
    run = subprocess.run(
        [
            prov["path"],
            f"--model={model}",
            "--input_dims=1,3,8,8",
            "--input_type=float",
            "--warmup=1",
            "--iter=3",
            "--report_pep=true",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    result: ParseResult = parse_output(run.stdout, run.stderr, run.returncode)
    assert result.ok and len(result.samples_us) == 3, result
