"""--build-host builds against a REAL OpenSSH server on loopback (see conftest.py).

The host target is compiled for real by the build host's g++ against its
libtorch (this machine's, reached over SSH). The android target uses the
stand-in NDK and cmake of test_android_build.py (no NDK can exist here),
passed to the remote session through ``remote_env``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchorch.abi import host_abi
from benchorch.build import BuildRequest, Provenance, build, ssh_transport
from benchorch.build.remote import SshOptions
from benchorch.cli.main import cli
from benchorch.errors import BuildUsageError, HostKeyError, RemoteError
from benchorch.files import sha256_file
from tests.build.conftest import Sshd
from tests.build.elfbytes import elf_header
from tests.build.standins import STANDIN_CMAKE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mini_tree(pytorch_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the host and android builds read, copied from the real PyTorch source."""
    tree = tmp_path_factory.mktemp("tree")
    for rel in (
        "binaries/speed_benchmark_torch.cc",
        "scripts/build_android.sh",
        "version.txt",
        "CMakeLists.txt",
    ):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(pytorch_source / rel, tree / rel)
    return tree


@pytest.fixture(scope="module")
def remote_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("remote-cache")


def build_remote(
    opts: SshOptions, *, remote_env: dict[str, str] | None = None, **request: Any
) -> Provenance:
    with ssh_transport(opts, remote_env) as transport:
        return build(BuildRequest(**request), transport)


def options(sshd: Sshd, tmp: Path, **kw: object) -> SshOptions:
    known = sshd.known_hosts(tmp / "known_hosts")
    return SshOptions.parse(
        sshd.spec,
        known_hosts=known,
        identity=sshd.client_key,
        work_dir=str(tmp / "remote-work"),
        **kw,
    )


def test_remote_host_build_fetches_the_binary(
    sshd: Sshd, mini_tree: Path, remote_cache: Path, tmp_path: Path
) -> None:
    opts = options(sshd, tmp_path)
    prov = build_remote(
        opts, target="host", pytorch_root=mini_tree, flavour="lite", cache_dir=remote_cache
    )
    assert prov.origin == "built" and prov.build_host == f"{sshd.user}@127.0.0.1:{sshd.port}"
    assert prov.abi == host_abi() and prov.flavour == "lite" and prov.pytorch_version
    binary = Path(prov.path)
    assert binary.is_file() and os.access(binary, os.X_OK)
    remote_copy = tmp_path / "remote-work" / "out" / binary.parent.name / "bin"
    remote_copy /= "speed_benchmark_torch"
    assert sha256_file(remote_copy) == prov.sha256 == sha256_file(binary)
    # the fetched binary runs here (same machine): a missing model is its own error
    out = subprocess.run(
        [str(binary), "--model=/nonexistent.ptl", "--no_inputs=true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "nonexistent.ptl" in out.stderr + out.stdout
    log = (binary.parent / "build.log").read_text()
    assert f"# on {prov.build_host}" in log and "speed_benchmark_torch.cc" in log
    again = build_remote(
        options(sshd, tmp_path),
        target="host",
        pytorch_root=mini_tree,
        flavour="lite",
        cache_dir=remote_cache,
    )
    assert again.origin == "cached" and again.sha256 == prov.sha256


def test_a_remote_build_past_its_timeout_is_killed(
    sshd: Sshd, mini_tree: Path, remote_cache: Path, tmp_path: Path
) -> None:
    opts = options(sshd, tmp_path)
    with pytest.raises(RemoteError, match="timeout"):
        build_remote(
            opts,
            target="host",
            pytorch_root=mini_tree,
            flavour="full_jit",
            cache_dir=remote_cache,
            timeout=1.0,
        )
    work = str(tmp_path / "remote-work")
    procs = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    assert not [_cmd(p) for p in procs if work in _cmd(p)]  # g++ and cc1plus are gone
    log = next(remote_cache.glob("host-*-full_jit-*/build.log")).read_text()
    assert "speed_benchmark_torch.cc" in log  # the compile had started


def _cmd(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_remote_root_missing_source(sshd: Sshd, tmp_path: Path) -> None:
    with pytest.raises(BuildUsageError, match=r"speed_benchmark_torch\.cc not found"):
        build_remote(
            options(sshd, tmp_path),
            target="host",
            remote_root=str(tmp_path),
            cache_dir=tmp_path / "c",
        )


def test_remote_android_with_standins(sshd: Sshd, mini_tree: Path, tmp_path: Path) -> None:
    """Stand-in NDK and cmake: the real NDK cannot be installed on this machine."""
    ndk = tmp_path / "ndk"
    (ndk / "build/cmake").mkdir(parents=True)
    (ndk / "build/cmake/android.toolchain.cmake").write_text("# stand-in\n")
    (ndk / "source.properties").write_text("Pkg.Revision = 26.1.10909125\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "cmake").write_text(STANDIN_CMAKE.format(python=shutil.which("python3")))
    (bindir / "cmake").chmod(0o755)
    record = tmp_path / "calls.jsonl"
    remote_env = {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "STANDIN_RECORD": str(record),
        "STANDIN_ELF": elf_header("arm64-v8a").hex(),
    }
    prov = build_remote(
        options(sshd, tmp_path),
        target="android",
        pytorch_root=mini_tree,
        ndk=str(ndk),
        flavour="full_jit",
        cache_dir=tmp_path / "c",
        remote_env=remote_env,
    )
    configure = json.loads(record.read_text().splitlines()[0])
    synced = tmp_path / "remote-work" / "src"
    assert configure["argv"][0].startswith(str(synced))  # the synced copy was built
    assert (Path(configure["argv"][0]) / "binaries/speed_benchmark_torch.cc").read_bytes() == (
        mini_tree / "binaries/speed_benchmark_torch.cc"
    ).read_bytes()
    assert (
        "-DBUILD_BINARY=ON" in configure["argv"] and configure["env"]["ANDROID_ABI"] == "arm64-v8a"
    )
    assert prov.abi == "arm64-v8a" and prov.ndk_version == "26.1.10909125"
    assert prov.build_host == f"{sshd.user}@127.0.0.1:{sshd.port}"
    assert Path(prov.path).read_bytes()[:64] == elf_header("arm64-v8a")


def test_cli_unknown_key_then_trusted(
    sshd: Sshd, mini_tree: Path, remote_cache: Path, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    args = [
        "build",
        "--target",
        "host",
        "--lite",
        "--pytorch-root",
        str(mini_tree),
        "--build-host",
        sshd.spec,
    ]
    args += [
        "--identity",
        str(sshd.client_key),
        "--known-hosts",
        str(known),
        "--cache-dir",
        str(remote_cache),
    ]
    args += ["--remote-work", str(tmp_path / "w"), "--json", "--quiet"]
    runner = CliRunner()
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 3 and "not in" in refused.output and not known.exists()
    trusted = runner.invoke(cli, [*args, "--trust-new-host-key"])
    assert trusted.exit_code == 0, trusted.output
    assert json.loads(trusted.stdout)["build_host"] == f"{sshd.user}@127.0.0.1:{sshd.port}"
    assert known.read_text().strip() == f"[127.0.0.1]:{sshd.port} {sshd.host_pub}"


def test_host_key_error_is_infra(sshd: Sshd, tmp_path: Path) -> None:
    opts = SshOptions.parse(sshd.spec, known_hosts=tmp_path / "none", identity=sshd.client_key)
    with pytest.raises(HostKeyError):
        build_remote(opts, target="host", remote_root="/nonexistent", cache_dir=tmp_path / "c")


def _own_libtorch(tmp: Path) -> Path:
    """Debian's libtorch "installed" at a prefix of its own: links to its headers and libraries."""
    from benchorch.build.host import find_libtorch

    system = find_libtorch(None)
    prefix = tmp / "libtorch"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "include").symlink_to(system.include_dirs[0])
    for lib in Path(system.lib_dir).iterdir():
        if lib.name.startswith(("libtorch", "libc10")):
            (prefix / "lib" / lib.name).symlink_to(lib)
    return prefix


def test_a_reinstalled_libtorch_is_rebuilt_remotely_too(
    sshd: Sshd, mini_tree: Path, tmp_path: Path
) -> None:
    """The remote host build's cache key holds libtorch's stamp (size, mtime), as the local one.

    "Reinstalling" replaces the prefix's libtorch_cpu.so (a link) by a linker
    script naming the same library: another file at that path, still linkable.
    """
    prefix = _own_libtorch(tmp_path)

    def build() -> Provenance:
        return build_remote(
            options(sshd, tmp_path),
            target="host",
            pytorch_root=mini_tree,
            libtorch=str(prefix),
            flavour="lite",
            cache_dir=tmp_path / "c",
        )

    first = build()
    assert first.origin == "built" and build().origin == "cached"
    cpu = prefix / "lib" / "libtorch_cpu.so"
    real = cpu.resolve()
    cpu.unlink()
    cpu.write_text(f"INPUT({real})\n")
    again = build()
    assert again.origin == "built", "a reinstalled libtorch was served from the cache"
    assert Path(again.path).parent != Path(first.path).parent
    out = subprocess.run(
        [again.path, "--model=/nonexistent.ptl", "--no_inputs=true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "nonexistent.ptl" in out.stderr + out.stdout  # it links and starts


def test_host_target_for_another_abi_is_refused_on_the_build_host_too(
    sshd: Sshd, mini_tree: Path, tmp_path: Path
) -> None:
    """--abi with --target host is checked against the build host's machine (it was ignored)."""
    with pytest.raises(BuildUsageError) as info:
        build_remote(
            options(sshd, tmp_path),
            target="host",
            abi="armeabi-v7a",
            pytorch_root=mini_tree,
            cache_dir=tmp_path / "c",
        )
    text = str(info.value)
    assert "armeabi-v7a" in text and host_abi() in text and sshd.spec.split(":")[0] in text
    assert not (tmp_path / "c").exists()  # refused before any cache entry or build
