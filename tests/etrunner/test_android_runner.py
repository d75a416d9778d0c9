"""``benchorch build --runtime executorch --target android``: upstream's cmake preset line.

The Android NDK and an ExecuTorch checkout's cross build cannot exist on this
machine, so these tests use a stand-in NDK folder (source.properties), a
stand-in checkout (CMakePresets.json, version.txt) and a stand-in ``cmake``
first on PATH that records its arguments and environment and, on ``--build``,
drops a hand-made ELF where the real build puts ``executor_runner``. Our
argument passing, artifact search, ELF check, provenance and cache are real.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from tests.build.elfbytes import elf_header

STANDIN = """#!{python}
# stand-in cmake (test only): records argv/env, fakes executor_runner
import json, os, sys
from pathlib import Path
with open(os.environ["STANDIN_RECORD"], "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd(),
                         "ndk": os.environ.get("ANDROID_NDK")}}) + "\\n")
if os.environ.get("STANDIN_FAIL") == "1":
    print("CMake Error at CMakeLists.txt:1 (project): stand-in failure")
    sys.exit(1)
if "-B" in sys.argv:  # configure makes the build folder
    Path(sys.argv[sys.argv.index("-B") + 1]).mkdir(parents=True, exist_ok=True)
if sys.argv[1:2] == ["--build"] and os.environ.get("STANDIN_NO_OUTPUT") != "1":
    out = Path(sys.argv[2]) / "executor_runner"
    out.write_bytes(bytes.fromhex(os.environ["STANDIN_ELF"]))
"""


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    ndk = tmp_path / "ndk"
    ndk.mkdir()
    (ndk / "source.properties").write_text("Pkg.Desc = Android NDK\nPkg.Revision = 26.1.10909125\n")
    root = tmp_path / "executorch"
    root.mkdir()
    (root / "CMakePresets.json").write_text("{}\n")
    (root / "version.txt").write_text("1.5.1\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cmake = bin_dir / "cmake"
    cmake.write_text(STANDIN.format(python=sys.executable))
    cmake.chmod(0o755)
    record = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_RECORD", str(record))
    monkeypatch.setenv("STANDIN_ELF", elf_header("arm64-v8a").hex())
    monkeypatch.delenv("ANDROID_NDK", raising=False)
    return {"ndk": ndk, "root": root, "record": record, "cache": tmp_path / "cache"}


def invoke(s: dict[str, Any], *extra: str) -> Any:
    args = ["build", "--runtime", "executorch", "--target", "android"]
    args += ["--executorch-root", str(s["root"]), "--ndk", str(s["ndk"])]
    return CliRunner().invoke(cli, [*args, "--cache-dir", str(s["cache"]), "--json", *extra])


def test_the_preset_line_is_run_and_the_artifact_found(setup: dict[str, Any]) -> None:
    result = invoke(setup, "--jobs", "3")
    assert result.exit_code == 0, result.output
    prov = json.loads(result.stdout)
    calls = [json.loads(ln) for ln in setup["record"].read_text().splitlines()]
    configure, build = calls[0]["argv"], calls[1]["argv"]
    assert configure[:2] == ["--preset", "android-arm64-v8a"]
    for flag in (
        "-DEXECUTORCH_BUILD_EXECUTOR_RUNNER=ON",
        "-DEXECUTORCH_BUILD_XNNPACK=ON",
        "-DEXECUTORCH_ENABLE_LOGGING=ON",
        "-DEXECUTORCH_ENABLE_EVENT_TRACER=OFF",
    ):
        assert flag in configure
    assert build[0] == "--build" and build[-4:] == ["-j", "3", "--target", "executor_runner"]
    assert all(c["cwd"] == str(setup["root"].resolve()) for c in calls)
    assert all(c["ndk"] == str(setup["ndk"].resolve()) for c in calls)
    assert prov["flavour"] == "executorch" and prov["abi"] == "arm64-v8a"
    assert prov["origin"] == "built" and prov["ndk_version"] == "26.1.10909125"
    assert prov["executorch"]["executorch_version"] == "1.5.1"
    assert prov["executorch"]["pal"].startswith("android")
    assert prov["executorch"]["event_tracer"] == "off"
    assert Path(prov["path"]).read_bytes() == elf_header("arm64-v8a")
    again = invoke(setup)
    assert json.loads(again.stdout)["origin"] == "cached"
    assert len(setup["record"].read_text().splitlines()) == 2  # no second build


def test_a_wrong_abi_is_refused(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_ELF", elf_header("x86_64").hex())
    result = invoke(setup)
    assert result.exit_code == 2 and "x86_64" in result.output and "arm64-v8a" in result.output


def test_bad_inputs_and_failures_have_their_exit_codes(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["build", "--runtime", "executorch", "--target", "android"]
    no_root = CliRunner().invoke(cli, [*base, "--ndk", str(setup["ndk"])])
    assert no_root.exit_code == 2 and "--executorch-root" in no_root.output
    not_et = CliRunner().invoke(
        cli, [*base, "--executorch-root", str(setup["ndk"]), "--ndk", str(setup["ndk"])]
    )
    assert not_et.exit_code == 2 and "CMakePresets.json" in not_et.output
    no_ndk = CliRunner().invoke(cli, [*base, "--executorch-root", str(setup["root"])])
    assert no_ndk.exit_code == 2 and "ANDROID_NDK" in no_ndk.output
    monkeypatch.setenv("STANDIN_FAIL", "1")
    failed = invoke(setup)
    assert failed.exit_code == 3 and "stand-in failure" in failed.output
    assert "build.log" in failed.output
    monkeypatch.setenv("STANDIN_FAIL", "0")
    monkeypatch.setenv("STANDIN_NO_OUTPUT", "1")
    empty = invoke(setup, "--rebuild")
    assert empty.exit_code == 3 and "no executor_runner" in empty.output
