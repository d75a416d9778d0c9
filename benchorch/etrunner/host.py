"""``benchorch build --runtime executorch --target host``: benchorch's own ExecuTorch runner.

Compiles ``et_bench_runner.cpp`` (package data: the Module API, forward timed
alone, executor_runner's flags and lines) with the host's C++ compiler against
the executorch wheel (``wheel.py``). The wheel's libraries are copied beside
the binary and found through ``RUNPATH=$ORIGIN``, so the binary and its
``extra_files`` can be pushed to ``--device local`` or the x86_64 virtual phone
and run there without the wheel.

Cached like the speed_benchmark_torch builds: one folder per identity (runner
source, wheel version and library digests, compiler, flags) under the build
cache, ``executorch-host-<abi>-<key>/``, holding ``et_bench_runner``, its
provenance, the libraries and ``build.log``. A hit is a binary whose sha256
still matches its provenance.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from importlib import resources
from pathlib import Path
from typing import TextIO

from benchorch.abi import host_abi
from benchorch.build.provenance import Provenance, read_sidecar
from benchorch.errors import BuildError, BuildUsageError
from benchorch.etrunner.wheel import DEFINITIONS, LIBRARIES, Wheel, find_wheel
from benchorch.files import atomic_write, sha256_file
from benchorch.paths import cache_root

RUNNER_NAME = "et_bench_runner"
SOURCE_NAME = "et_bench_runner.cpp"
#: compiled in by ``logcat=True``: every log line to logcat (liblog's socket), none to stderr
LOGCAT_DEFINITION = "BENCHORCH_LOGCAT"
PAL_STDERR = "posix (stderr)"
PAL_LOGCAT = "logcat (liblog's socket, tag ExecuTorch)"


def runner_source() -> str:
    return (resources.files("benchorch.etrunner") / SOURCE_NAME).read_text(encoding="utf-8")


def find_compiler() -> tuple[str, str]:
    """The C++ compiler (``$CXX``, else g++ or c++) and its version line."""
    wanted = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not wanted:
        raise BuildUsageError(
            "no C++ compiler found for the ExecuTorch host runner",
            hint="install g++ (apt-get install g++) or set CXX",
        )
    try:
        done = subprocess.run(
            [wanted, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as exc:
        raise BuildUsageError(f"C++ compiler {wanted} does not run: {exc}", hint="set CXX") from exc
    return wanted, (done.stdout.splitlines() or ["unknown"])[0].strip()


def compile_argv(
    compiler: str,
    wheel: Wheel,
    source: Path,
    out: Path,
    libdir: Path,
    definitions: tuple[str, ...] = DEFINITIONS,
) -> list[str]:
    argv = [compiler, "-O2", "-std=c++17", "-pthread"]
    argv += [f"-D{d}" for d in definitions]
    argv += [f"-I{d}" for d in wheel.include_dirs()]
    argv += [str(source), "-o", str(out), f"-L{libdir}", "-Wl,--no-as-needed"]
    argv += [f"-l{name}" for name, _ in LIBRARIES]
    argv += ["-Wl,--as-needed", "-Wl,-rpath,$ORIGIN"]
    return argv


def facts(wheel: Wheel, logcat: bool = False) -> dict[str, str]:
    """What the provenance says about the ExecuTorch runtime inside this runner."""
    return {
        "runner": "benchorch et_bench_runner (Module API, forward timed)",
        "executorch_version": wheel.version,
        "backends": "xnnpack",
        "kernels": "optimized (portable fallback) + quantized",
        "pal": PAL_LOGCAT if logcat else PAL_STDERR,
        "logging": "on",
        "event_tracer": "compiled into the wheel's libraries, not attached",
    }


def build_host_runner(
    *,
    cache_dir: Path | None = None,
    rebuild: bool = False,
    echo: TextIO | None = None,
    timeout: float | None = None,
    logcat: bool = False,
) -> Provenance:
    """Our runner, built (or the cached build). ``logcat``: it logs as the android PAL
    does, to logcat only (on the virtual phone, its logd), not to stderr."""
    wheel = find_wheel()
    compiler, compiler_version = find_compiler()
    source = runner_source()
    identity: dict[str, object] = {
        "runtime": "executorch",
        "target": "host",
        "abi": host_abi(),
        "source": hashlib.sha256(source.encode()).hexdigest(),
        "executorch_version": wheel.version,
        "libraries": {p.name: sha256_file(p) for p in wheel.libraries()},
        "compiler": compiler_version,
        "definitions": list(_definitions(logcat)),
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    root = cache_dir if cache_dir is not None else cache_root() / "builds"
    folder = root / f"executorch-host-{host_abi()}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / RUNNER_NAME
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = read_sidecar(binary)
        if (
            not rebuild
            and cached is not None
            and binary.is_file()
            and cached.sha256 == sha256_file(binary)
            and all((folder / Path(p).name).is_file() for p in cached.extra_files)
        ):
            return cached.with_origin("cached")
        return _build(
            wheel, compiler, compiler_version, source, identity, folder, echo, timeout, logcat
        )


def _definitions(logcat: bool) -> tuple[str, ...]:
    return (*DEFINITIONS, LOGCAT_DEFINITION) if logcat else DEFINITIONS


def _build(
    wheel: Wheel,
    compiler: str,
    compiler_version: str,
    source: str,
    identity: dict[str, object],
    folder: Path,
    echo: TextIO | None,
    timeout: float | None,
    logcat: bool,
) -> Provenance:
    started = time.monotonic()
    extras = []
    for lib in wheel.libraries():
        target = folder / lib.name
        shutil.copyfile(lib, target)
        target.chmod(0o755)
        extras.append(str(target))
    src = folder / SOURCE_NAME
    atomic_write(src, source)
    atomic_write(folder / "identity.json", json.dumps(identity, indent=2, sort_keys=True) + "\n")
    tmp = folder / f".{RUNNER_NAME}.tmp"
    argv = compile_argv(compiler, wheel, src, tmp, folder, _definitions(logcat))
    log_path = folder / "build.log"
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=folder
        )
    except subprocess.TimeoutExpired as exc:
        log_path.write_text(f"$ {' '.join(argv)}\ntimed out after {timeout} s\n")
        raise BuildError(
            f"the ExecuTorch host runner build timed out after {timeout} s",
            hint=f"see {log_path}",
            log_path=str(log_path),
        ) from exc
    log_path.write_text(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}")
    if echo is not None:
        echo.write(done.stdout + done.stderr)
    if done.returncode != 0 or not tmp.is_file():
        first = next((ln for ln in done.stderr.splitlines() if "error" in ln), "see the log")
        raise BuildError(
            f"the ExecuTorch host runner did not compile: {first.strip()}",
            hint=f"full log: {log_path}",
            log_path=str(log_path),
        )
    os.replace(tmp, folder / RUNNER_NAME)
    return Provenance.built(
        folder / RUNNER_NAME,
        target="host",
        abi=host_abi(),
        flavour="executorch",
        pytorch_version=None,
        seconds=time.monotonic() - started,
        build_flags=tuple(argv[1:]),
        build_env={"CXX": compiler, "compiler_version": compiler_version},
        extra_files=tuple(extras),
        executorch=facts(wheel, logcat),
    )
