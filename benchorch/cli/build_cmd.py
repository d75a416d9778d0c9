"""``benchorch build``: build or register ``speed_benchmark_torch``, with provenance.

Prints the provenance record (``--json``) or one line naming the binary. The
build log streams live to stderr unless ``--quiet``; it is always kept in the
cache folder, and a failure names it.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import click

from benchorch.abi import KNOWN_ABIS
from benchorch.build.provenance import Provenance
from benchorch.build.request import BuildRequest
from benchorch.errors import BuildUsageError

BUILD_EPILOG = """\b
Examples:
  benchorch build --target host --pytorch-root .cache/pytorch-src/pytorch-1.13.1 --json
  ANDROID_NDK=~/ndk/r26 benchorch build --target android --pytorch-root ~/src/pytorch --lite
  benchorch build --target android --pytorch-root ~/src/pytorch --build-host ci@buildbox
  benchorch build --binary ./speed_benchmark_torch --json
  benchorch build --runtime executorch --target host
  benchorch build --runtime executorch --target host --logcat
  benchorch build --runtime executorch --target android --executorch-root ~/src/executorch
  benchorch build --runtime executorch --binary ./executor_runner

\b
Exit codes: 0 built or cached; 2 a wrong root, NDK or flag; 3 the build, the
compiler or the SSH host failed (the log's path is printed).
"""


@click.command("build", epilog=BUILD_EPILOG)
@click.option("--target", type=click.Choice(["host", "android"]), default="host", show_default=True)
@click.option(
    "--runtime",
    type=click.Choice(["pytorch", "executorch"]),
    default="pytorch",
    show_default=True,
    help="pytorch: speed_benchmark_torch; executorch: an ExecuTorch runner"
    " (host: benchorch's own, against the executorch wheel; android: upstream executor_runner).",
)
@click.option(
    "--executorch-root",
    type=click.Path(path_type=Path, file_okay=False),
    help="--runtime executorch --target android: the ExecuTorch checkout to build in.",
)
@click.option(
    "--logcat",
    is_flag=True,
    help="--runtime executorch --target host: the runner logs to logcat (tag ExecuTorch) and not"
    " to stderr, as the android PAL does; for the virtual phone, whose logcat reads it.",
)
@click.option(
    "--pytorch-root",
    type=click.Path(path_type=Path, file_okay=False),
    help="PyTorch source tree (with binaries/speed_benchmark_torch.cc).",
)
@click.option(
    "--binary",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Register this prebuilt binary instead of building.",
)
@click.option(
    "--lite/--full-jit", "lite", default=None, help="Interpreter flavour [default: lite]."
)
@click.option("--abi", type=click.Choice(KNOWN_ABIS), help="Android ABI [default: arm64-v8a].")
@click.option(
    "--libtorch",
    "libtorch",
    metavar="PREFIX",
    help="Host target: installed libtorch prefix [default: /usr].",
)
@click.option("--ndk", metavar="DIR", help="Android NDK [default: $ANDROID_NDK].")
@click.option("--vulkan", is_flag=True, help="Android: build with USE_VULKAN=1.")
@click.option(
    "--stl-shared", is_flag=True, help="Android: ANDROID_STL_SHARED=1 (keeps libc++_shared.so)."
)
@click.option("--jobs", type=click.IntRange(min=1), help="Android: MAX_JOBS.")
@click.option("--build-host", metavar="USER@HOST[:PORT]", help="Build on this machine over SSH.")
@click.option(
    "--remote-root",
    metavar="DIR",
    help="The PyTorch tree already on the build host (else it is synced).",
)
@click.option(
    "--remote-work",
    metavar="DIR",
    help="Scratch folder on the build host [default: ~/.cache/benchorch].",
)
@click.option(
    "--known-hosts",
    type=click.Path(path_type=Path, dir_okay=False),
    help="SSH known_hosts [default: ~/.ssh/known_hosts].",
)
@click.option(
    "--trust-new-host-key",
    is_flag=True,
    help="Accept and record an unknown SSH host key (never a changed one).",
)
@click.option(
    "--identity",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="SSH private key.",
)
@click.option(
    "--timeout", type=click.FloatRange(min=1), help="Kill the build after this many seconds."
)
@click.option("--rebuild", is_flag=True, help="Build even when the cache holds this binary.")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Build cache [default: $BENCHORCH_CACHE/builds or the user cache dir].",
)
@click.option("--quiet", is_flag=True, help="Do not stream the build log to stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the provenance record as JSON.")
def build(
    target: str,
    runtime: str,
    executorch_root: Path | None,
    logcat: bool,
    pytorch_root: Path | None,
    binary: Path | None,
    lite: bool | None,
    abi: str | None,
    libtorch: str | None,
    ndk: str | None,
    vulkan: bool,
    stl_shared: bool,
    jobs: int | None,
    build_host: str | None,
    remote_root: str | None,
    remote_work: str | None,
    known_hosts: Path | None,
    trust_new_host_key: bool,
    identity: Path | None,
    timeout: float | None,
    rebuild: bool,
    cache_dir: Path | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Build PyTorch's speed_benchmark_torch (cached) or register a prebuilt one."""
    flavour = None if lite is None else ("lite" if lite else "full_jit")
    echo = None if quiet else sys.stderr
    prov: Provenance
    if logcat and (runtime != "executorch" or target != "host" or binary is not None):
        raise BuildUsageError(
            "--logcat is for --runtime executorch --target host (benchorch's own runner)",
            hint="drop --logcat",
        )
    if runtime == "executorch":
        prov = _executorch_build(
            target, executorch_root, binary, abi, ndk, jobs, cache_dir, rebuild, timeout, echo,
            logcat,
        )  # fmt: skip
    elif binary is not None:
        from benchorch.build.provenance import register_binary

        ctx = click.get_current_context()
        explicit = ctx.get_parameter_source("target") is not click.core.ParameterSource.DEFAULT
        prov = register_binary(binary, flavour, abi=abi, target=target if explicit else None)
    else:
        prov = _build(
            BuildRequest(
                target=target,
                flavour=flavour or "lite",
                pytorch_root=pytorch_root,
                remote_root=remote_root if build_host is not None else None,
                abi=abi,
                libtorch=libtorch,
                ndk=ndk,
                vulkan=vulkan,
                stl_shared=stl_shared,
                jobs=jobs,
                cache_dir=cache_dir,
                rebuild=rebuild,
                timeout=timeout,
            ),
            build_host,
            SshChoices(remote_work, known_hosts, trust_new_host_key, identity),
            echo,
        )
    if as_json:
        click.echo(json.dumps(prov.to_dict(), indent=2, sort_keys=True))
        return
    took = (
        f" in {prov.build_seconds:.1f} s" if prov.origin == "built" and prov.build_seconds else ""
    )
    name = "ExecuTorch runner" if prov.flavour == "executorch" else "speed_benchmark_torch"
    click.echo(f"{name} ({prov.flavour}, {prov.abi}, {prov.origin}{took}): {prov.path}")


def _executorch_build(
    target: str,
    root: Path | None,
    binary: Path | None,
    abi: str | None,
    ndk: str | None,
    jobs: int | None,
    cache_dir: Path | None,
    rebuild: bool,
    timeout: float | None,
    echo: TextIO | None,
    logcat: bool = False,
) -> Provenance:
    """``--runtime executorch``: register a runner, or build ours (host) or upstream's."""
    if binary is not None:
        from benchorch.etrunner.register import register_runner

        return register_runner(binary, abi=abi)
    if target == "host":
        from benchorch.etrunner.host import build_host_runner

        if root is not None:
            raise BuildUsageError(
                "--executorch-root is for --target android; the host runner is built against"
                " the executorch wheel",
                hint="drop --executorch-root",
            )
        return build_host_runner(
            cache_dir=cache_dir, rebuild=rebuild, echo=echo, timeout=timeout, logcat=logcat
        )
    from benchorch.etrunner.android import build_android_runner

    return build_android_runner(
        root,
        abi=abi or "arm64-v8a",
        ndk=ndk if ndk is not None else os.environ.get("ANDROID_NDK"),
        jobs=jobs,
        cache_dir=cache_dir,
        rebuild=rebuild,
        echo=echo,
        timeout=timeout,
    )


@dataclass(frozen=True)
class SshChoices:
    work_dir: str | None
    known_hosts: Path | None
    trust_new_host_key: bool
    identity: Path | None


def _build(
    request: BuildRequest, build_host: str | None, ssh: SshChoices, echo: TextIO | None
) -> Provenance:
    """The build here, or over SSH on ``build_host``."""
    from benchorch.build.flow import build

    if build_host is None:
        if request.pytorch_root is None:
            raise BuildUsageError(
                "benchorch build needs --pytorch-root DIR (or --binary PATH)",
                hint="pass the PyTorch source tree to build from",
            )
        return build(request, echo=echo)
    from benchorch.build.remote import SshOptions
    from benchorch.build.transport import ssh_transport

    if request.pytorch_root is None and request.remote_root is None:
        raise BuildUsageError("--build-host needs --pytorch-root or --remote-root")
    opts = SshOptions.parse(
        build_host,
        known_hosts=ssh.known_hosts,
        trust_new_host_key=ssh.trust_new_host_key,
        identity=ssh.identity,
        work_dir=ssh.work_dir,
    )
    with ssh_transport(opts) as transport:
        return build(request, transport, echo=echo)
