"""The android target around PyTorch's REAL scripts/build_android.sh.

The Android NDK (and a multi-hour cross build) cannot exist on this machine, so
these tests use a stand-in NDK folder (source.properties, the toolchain file's
path, a libc++_shared.so) and a stand-in ``cmake`` first on PATH that records
the arguments and environment the real script hands it and, on ``--build``,
drops a hand-made ELF where the real build would put speed_benchmark_torch.
Everything else (the script, its variable handling, our env and argument
passing, artifact search, ELF check, cache) is real.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchorch.build import BuildRequest, LocalTransport, Provenance, build
from benchorch.build.android import run_script
from benchorch.cli.main import cli
from benchorch.errors import AbiMismatch, BuildError, BuildUsageError
from benchorch.exits import ExitCode, exit_code
from tests.build.elfbytes import elf_header
from tests.build.standins import STANDIN_CMAKE


def build_android(root: Path, **request: Any) -> Provenance:
    return build(BuildRequest(target="android", pytorch_root=root, **request))


@pytest.fixture
def ndk(tmp_path: Path) -> Path:
    folder = tmp_path / "ndk"
    (folder / "build/cmake").mkdir(parents=True)
    (folder / "build/cmake/android.toolchain.cmake").write_text("# stand-in\n")
    (folder / "source.properties").write_text(
        "Pkg.Desc = Android NDK\nPkg.Revision = 25.2.9519653\n"
    )
    lib = folder / "toolchains/llvm/prebuilt/linux-x86_64/sysroot/usr/lib/aarch64-linux-android"
    lib.mkdir(parents=True)
    (lib / "libc++_shared.so").write_bytes(elf_header("arm64-v8a"))
    return folder


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "standin-bin"
    bindir.mkdir()
    cmake = bindir / "cmake"
    cmake.write_text(STANDIN_CMAKE.format(python=sys.executable))
    cmake.chmod(0o755)
    record = tmp_path / "cmake-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_RECORD", str(record))
    monkeypatch.setenv("STANDIN_ELF", elf_header("arm64-v8a").hex())
    monkeypatch.delenv("USE_VULKAN", raising=False)
    monkeypatch.delenv("ANDROID_NDK", raising=False)
    return record


def calls(record: Path) -> list[dict]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_real_script_without_ndk_ends_in_our_error(pytorch_source: Path, tmp_path: Path) -> None:
    settings = {"PYTHON": sys.executable}  # ANDROID_NDK is among the variables run_script unsets
    with pytest.raises(BuildUsageError, match="ANDROID_NDK not set") as info:
        run_script(LocalTransport(), str(pytorch_source), settings, tmp_path / "build.log")
    assert exit_code(info.value) == ExitCode.USAGE
    assert "ANDROID_NDK not set" in (tmp_path / "build.log").read_text()  # the script's own words


def test_no_or_wrong_ndk_refused_before_starting(
    pytorch_source: Path, tmp_path: Path, ndk: Path, standin: Path
) -> None:
    with pytest.raises(BuildUsageError, match="ANDROID_NDK is not set"):
        build_android(pytorch_source, cache_dir=tmp_path / "c")
    with pytest.raises(BuildUsageError, match=r"source\.properties"):
        build_android(pytorch_source, ndk=tmp_path, cache_dir=tmp_path / "c")
    (ndk / "build/cmake/android.toolchain.cmake").unlink()
    with pytest.raises(BuildUsageError, match=r"android\.toolchain\.cmake"):
        build_android(pytorch_source, ndk=ndk, cache_dir=tmp_path / "c")
    assert calls(standin) == []  # nothing ran


def test_root_without_build_script(tmp_path: Path, ndk: Path) -> None:
    with pytest.raises(BuildUsageError, match=r"build_android\.sh"):
        build_android(tmp_path, ndk=ndk, cache_dir=tmp_path / "c")


def test_variables_arguments_artifact_and_cache(
    pytorch_source: Path, tmp_path: Path, ndk: Path, standin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USE_VULKAN", "")  # inherited, must not leak into a non-Vulkan build
    prov = build_android(
        pytorch_source,
        ndk=ndk,
        abi="arm64-v8a",
        flavour="full_jit",
        jobs=3,
        cache_dir=tmp_path / "c",
    )
    configure, build = calls(standin)
    argv = configure["argv"]
    assert argv[0] == str(pytorch_source)
    # the script's own -DBUILD_BINARY=OFF comes first; ours is passed last and wins
    assert argv.index("-DBUILD_BINARY=ON") > argv.index("-DBUILD_BINARY=OFF")
    assert "-DANDROID_ABI=arm64-v8a" in argv and "-DBUILD_LITE_INTERPRETER=OFF" in argv
    assert f"-DCMAKE_TOOLCHAIN_FILE={ndk.resolve()}/build/cmake/android.toolchain.cmake" in argv
    assert "-DANDROID_TOOLCHAIN=clang" in argv  # the script read our NDK's major version (25)
    assert not any(a.startswith("-DUSE_VULKAN") for a in argv)
    assert not any(a.startswith("-DANDROID_STL") for a in argv)
    build_root = Path(prov.path).parent / "build_root"
    assert Path(configure["cwd"]) == build_root and configure["env"]["BUILD_ROOT"] == str(
        build_root
    )
    assert (
        build["argv"][:4] == ["--build", ".", "--target", "install"] and build["argv"][-1] == "-j3"
    )
    assert prov.origin == "built" and prov.target == "android" and prov.abi == "arm64-v8a"
    assert prov.flavour == "full_jit" and prov.ndk_version == "25.2.9519653"
    assert prov.pytorch_version == "1.13.0a0" and (prov.bytecode_min, prov.bytecode_max) == (4, 9)
    assert prov.build_env["BUILD_LITE_INTERPRETER"] == "0" and prov.build_env["MAX_JOBS"] == "3"
    assert Path(prov.path).read_bytes()[:64] == elf_header("arm64-v8a")
    again = build_android(
        pytorch_source, ndk=ndk, abi="arm64-v8a", flavour="full_jit", cache_dir=tmp_path / "c"
    )
    assert again.origin == "cached" and again.sha256 == prov.sha256
    assert len(calls(standin)) == 2  # the hit ran nothing
    build_android(
        pytorch_source, ndk=ndk, flavour="full_jit", cache_dir=tmp_path / "c", rebuild=True
    )
    assert len(calls(standin)) == 4


def test_lite_vulkan_stl_shared_and_install_bin(
    pytorch_source: Path, tmp_path: Path, ndk: Path, standin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_WHERE", "install/bin")
    prov = build_android(
        pytorch_source, ndk=ndk, vulkan=True, stl_shared=True, cache_dir=tmp_path / "c"
    )
    argv = calls(standin)[0]["argv"]
    assert "-DBUILD_LITE_INTERPRETER=ON" in argv and "-DUSE_VULKAN=ON" in argv
    assert "-DANDROID_STL=c++_shared" in argv
    assert prov.vulkan and prov.flavour == "lite"
    (extra,) = prov.extra_files
    assert Path(extra).name == "libc++_shared.so" and Path(extra).is_file()


def test_wrong_architecture_is_refused_naming_both(
    pytorch_source: Path, tmp_path: Path, ndk: Path, standin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_ELF", elf_header("armeabi-v7a").hex())
    with pytest.raises(AbiMismatch) as info:
        build_android(pytorch_source, ndk=ndk, abi="arm64-v8a", cache_dir=tmp_path / "c")
    assert "armeabi-v7a" in str(info.value) and "arm64-v8a" in str(info.value)


def test_failures_show_the_log(
    pytorch_source: Path, tmp_path: Path, ndk: Path, standin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_NO_OUTPUT", "1")
    with pytest.raises(BuildError, match="produced no speed_benchmark_torch"):
        build_android(pytorch_source, ndk=ndk, cache_dir=tmp_path / "c")
    monkeypatch.setenv("STANDIN_FAIL", "1")
    with pytest.raises(BuildError) as info:
        build_android(pytorch_source, ndk=ndk, cache_dir=tmp_path / "c")
    assert "CMake Error" in str(info.value) and "build.log" in str(info.value)
    assert exit_code(info.value) == ExitCode.INFRA


def test_cli_android(pytorch_source: Path, tmp_path: Path, ndk: Path, standin: Path) -> None:
    runner = CliRunner()
    base = ["build", "--target", "android", "--pytorch-root", str(pytorch_source)]
    result = runner.invoke(
        cli, [*base, "--ndk", str(ndk), "--cache-dir", str(tmp_path / "c"), "--json", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["abi"] == "arm64-v8a"
    assert runner.invoke(cli, base).exit_code == 2  # no NDK anywhere


def test_concurrent_builds_of_one_identity_build_once(
    pytorch_source: Path, tmp_path: Path, ndk: Path, standin: Path
) -> None:
    """Two builds racing for one cache entry: the entry's lock makes the second a hit."""
    from concurrent.futures import ThreadPoolExecutor

    def one() -> str:
        return build_android(pytorch_source, ndk=ndk, cache_dir=tmp_path / "c").origin

    with ThreadPoolExecutor(2) as pool:
        origins = sorted(pool.map(lambda _: one(), range(2)))
    assert origins == ["built", "cached"]
    assert len(calls(standin)) == 2  # one configure + one build, not two of each


def test_cli_registers_a_prebuilt_android_binary(tmp_path: Path) -> None:
    binary = tmp_path / "speed_benchmark_torch"
    binary.write_bytes(elf_header("armeabi-v7a"))
    runner = CliRunner()
    ok = runner.invoke(
        cli, ["build", "--target", "android", "--binary", str(binary), "--lite", "--json"]
    )
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert (data["origin"], data["target"], data["abi"]) == ("registered", "android", "armeabi-v7a")
    wrong = runner.invoke(cli, ["build", "--binary", str(binary), "--lite", "--abi", "arm64-v8a"])
    assert wrong.exit_code == 2 and "armeabi-v7a" in wrong.output and "arm64-v8a" in wrong.output
