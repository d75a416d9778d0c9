"""``benchorch build --runtime executorch --target android --executorch-root DIR``.

Runs upstream's own benchmark build line (as ``devtools/scripts/benchmark_android.sh``
does) in an ExecuTorch checkout, with the NDK from ``--ndk`` or ``$ANDROID_NDK``::

    cmake --preset android-<abi> -DEXECUTORCH_BUILD_EXECUTOR_RUNNER=ON
          -DEXECUTORCH_BUILD_XNNPACK=ON -DEXECUTORCH_ENABLE_LOGGING=ON
          -DEXECUTORCH_ENABLE_EVENT_TRACER=OFF -DCMAKE_BUILD_TYPE=Release -B <build>
    cmake --build <build> -j <jobs> --target executor_runner

then finds ``executor_runner`` in the build folder, checks its ELF ABI, and
copies it into the build cache (``executorch-android-<abi>-<key>/``) with its
provenance. Logging on and the event tracer off are what make it a timing
build: the android PAL then logs to logcat (tag ``ExecuTorch``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TextIO

from benchorch.abi import check_abi
from benchorch.build.provenance import Provenance
from benchorch.errors import BuildError, BuildUsageError
from benchorch.paths import cache_root

RUNNER = "executor_runner"
FLAGS = (
    "-DEXECUTORCH_BUILD_EXECUTOR_RUNNER=ON",
    "-DEXECUTORCH_BUILD_XNNPACK=ON",
    "-DEXECUTORCH_ENABLE_LOGGING=ON",
    "-DEXECUTORCH_ENABLE_EVENT_TRACER=OFF",
    "-DCMAKE_BUILD_TYPE=Release",
)


def _ndk_version(ndk: Path) -> str | None:
    try:
        for line in (ndk / "source.properties").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "Pkg.Revision":
                return value.strip()
    except OSError:
        return None
    return None


def _source_version(root: Path) -> str | None:
    try:
        return (root / "version.txt").read_text().strip() or None
    except OSError:
        return None


def _revision(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def check_inputs(root: Path | None, ndk: str | None, abi: str) -> tuple[Path, Path, str]:
    """The checkout, the NDK and cmake, or a one-line ``BuildUsageError`` naming the fix."""
    if root is None:
        raise BuildUsageError(
            "--runtime executorch --target android needs --executorch-root DIR",
            hint="pass an ExecuTorch checkout (git clone https://github.com/pytorch/executorch)",
        )
    if not (root / "CMakePresets.json").is_file():
        raise BuildUsageError(
            f"--executorch-root {root} is not an ExecuTorch checkout (no CMakePresets.json)",
            hint="pass the top of an ExecuTorch source tree",
        )
    if not ndk:
        raise BuildUsageError(
            "the android build needs the NDK", hint="pass --ndk DIR or set ANDROID_NDK"
        )
    ndk_dir = Path(ndk).expanduser()
    if not ndk_dir.is_dir():
        raise BuildUsageError(f"NDK {ndk} is not a folder", hint="pass --ndk an NDK folder")
    cmake = shutil.which("cmake")
    if cmake is None:
        raise BuildUsageError(
            "cmake is not installed", hint="apt-get install cmake (3.24 or newer)"
        )
    return root.resolve(), ndk_dir.resolve(), cmake


def configure_argv(cmake: str, abi: str, build_dir: Path) -> list[str]:
    return [cmake, "--preset", f"android-{abi}", *FLAGS, "-B", str(build_dir)]


def build_argv(cmake: str, build_dir: Path, jobs: int) -> list[str]:
    return [cmake, "--build", str(build_dir), "-j", str(jobs), "--target", RUNNER]


def build_android_runner(
    root: Path | None,
    *,
    abi: str = "arm64-v8a",
    ndk: str | None = None,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    rebuild: bool = False,
    echo: TextIO | None = None,
    timeout: float | None = None,
) -> Provenance:
    src, ndk_dir, cmake = check_inputs(root, ndk, abi)
    identity = {
        "runtime": "executorch",
        "target": "android",
        "abi": abi,
        "root": str(src),
        "revision": _revision(src),
        "ndk": _ndk_version(ndk_dir),
        "flags": list(FLAGS),
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    folder = (cache_dir or cache_root() / "builds") / f"executorch-android-{abi}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / RUNNER
    from benchorch.build.provenance import read_sidecar
    from benchorch.files import sha256_file

    cached = read_sidecar(binary)
    if not rebuild and cached is not None and binary.is_file():
        if cached.sha256 == sha256_file(binary):
            return cached.with_origin("cached")
    build_dir = folder / "cmake-out"
    env = {**os.environ, "ANDROID_NDK": str(ndk_dir), "ANDROID_ABI": abi}
    log_path = folder / "build.log"
    started = time.monotonic()
    steps = (configure_argv(cmake, abi, build_dir), build_argv(cmake, build_dir, jobs or 4))
    with open(log_path, "w") as log:
        for argv in steps:
            log.write(f"$ {' '.join(argv)}\n")
            log.flush()
            try:
                done = subprocess.run(
                    argv, cwd=src, env=env, capture_output=True, text=True, timeout=timeout
                )
            except subprocess.TimeoutExpired as exc:
                raise BuildError(
                    f"the ExecuTorch android build timed out after {timeout} s",
                    hint=f"see {log_path}",
                    log_path=str(log_path),
                ) from exc
            log.write(done.stdout + done.stderr)
            if echo is not None:
                echo.write(done.stdout + done.stderr)
            if done.returncode != 0:
                lines = (done.stdout + done.stderr).splitlines()
                first = next((ln for ln in lines if "Error" in ln or "error" in ln), "")
                raise BuildError(
                    f"{argv[1]} {argv[2]} failed (exit {done.returncode}): {first.strip()}",
                    hint=f"full log: {log_path}",
                    log_path=str(log_path),
                )
    found = [p for p in build_dir.rglob(RUNNER) if p.is_file()] if build_dir.is_dir() else []
    if not found:
        raise BuildError(
            f"the build finished but left no {RUNNER} under {build_dir}",
            hint=f"see {log_path}",
            log_path=str(log_path),
        )
    check_abi(found[0], abi)
    shutil.copyfile(found[0], binary)
    binary.chmod(0o755)
    return Provenance.built(
        binary,
        target="android",
        abi=abi,
        flavour="executorch",
        pytorch_version=None,
        seconds=time.monotonic() - started,
        source_revision=identity["revision"],
        ndk_version=identity["ndk"],
        build_flags=(f"--preset android-{abi}", *FLAGS),
        build_env={"ANDROID_NDK": str(ndk_dir), "ANDROID_ABI": abi},
        executorch={
            "runner": "executor_runner (upstream)",
            "executorch_version": _source_version(src) or "unknown",
            "backends": "xnnpack",
            "kernels": "portable (the preset's kernel library)",
            "pal": "android (logcat, tag ExecuTorch)",
            "logging": "on",
            "event_tracer": "off",
        },
    )
