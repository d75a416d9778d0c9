"""The virtual phone's own command line: ``python -m benchorch.virtualphone``.

It stands apart from ``benchorch.cli`` (which wraps it as ``benchorch
virtual-phone``) so a phone process imports only the virtual phone, the error
tree and click, never the orchestrator's command tree.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import click

from benchorch.errors import BenchorchError, UsageError
from benchorch.exits import exit_code
from benchorch.virtualphone.sessions import DEFAULT_MATCH

VPHONE_EPILOG = """\b
Examples:
  benchorch virtual-phone --port 5560 --profile x86_64_emulator &
  adb connect 127.0.0.1:5560
  benchorch sweep --device 127.0.0.1:5560 --binary speed_benchmark_torch --variants out/
  benchorch virtual-phone --port 5561 --profile pixel8 --hot 48 --cool-rate 0.5
"""


@click.command("virtual-phone", epilog=VPHONE_EPILOG)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="TCP port (0: any free one; printed).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--profile",
    "profile_name",
    default="pixel8",
    show_default=True,
    help="Profile name or .toml path.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Host folder that is the phone's /data/local/tmp (default: a new temporary folder).",
)
@click.option(
    "--drop-after-push-bytes",
    type=click.IntRange(min=0),
    default=None,
    help="Cut the connection after N bytes of a push.",
)
@click.option(
    "--drop-after-shell-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Cut the connection S seconds into a shell command.",
)
@click.option(
    "--drop-times",
    type=click.IntRange(min=0),
    default=None,
    help="Each drop fault fires at most K times (0: always).",
)
@click.option(
    "--drop-launch-every",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Every Nth benchmark launch (--model=/--model_path=) loses the connection as it starts.",
)
@click.option(
    "--hang",
    default=None,
    metavar="REGEX",
    help="Commands matching REGEX hang forever (a real sleeping process).",
)
@click.option(
    "--hot",
    "hot_c",
    type=float,
    default=None,
    metavar="START_C",
    help="Start hot at START_C degrees C.",
)
@click.option(
    "--cool-rate",
    "cool_rate_c_per_s",
    type=click.FloatRange(min=0),
    default=None,
    metavar="C_PER_S",
    help="Cooling, degrees C per second.",
)
@click.option(
    "--damage-push",
    type=click.Choice(["truncate", "flip"]),
    default=None,
    help="Every push answers OKAY but the file loses its second half or gets a byte inverted.",
)
@click.option("--full-disk", is_flag=True, default=None, help="The phone's storage is full.")
@click.option(
    "--noexec", is_flag=True, default=None, help="The phone folder refuses to execute files."
)
@click.option(
    "--battery-level",
    type=click.IntRange(0, 100),
    default=None,
    help="The battery reads this percentage (e.g. a nearly flat phone).",
)
@click.option(
    "--slow-pct",
    type=float,
    default=None,
    metavar="P",
    help="Benchmark launches share their CPU with a busy process, their priority lowered:"
    " about P%% longer (at most 1000).",
)
@click.option(
    "--slow-match",
    default=None,
    metavar="REGEX",
    help="With --slow-pct: only launches whose command line matches REGEX.",
)
@click.option(
    "--session-log",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="BENCHORCH_VPHONE_SESSION_LOG",
    default=None,
    help="Append each benchmark process's start and end (JSON lines) to this file "
    "[env BENCHORCH_VPHONE_SESSION_LOG].",
)
@click.option(
    "--session-match",
    default=DEFAULT_MATCH,
    show_default=True,
    metavar="REGEX",
    help="Which commands --session-log records: those whose line matches REGEX.",
)
@click.option("--list-profiles", is_flag=True, help="Print the built-in profile names and exit.")
def virtual_phone(
    port: int,
    host: str,
    profile_name: str,
    root: Path | None,
    session_log: Path | None,
    session_match: str,
    list_profiles: bool,
    **fault_flags: object,
) -> None:
    """Serve a virtual Android phone that Debian's adb attaches with `adb connect HOST:PORT`.

    Commands run on this host in a sandbox whose /data/local/tmp is ROOT;
    getprop, dumpsys battery, /sys thermal and cpufreq come from the profile.
    """
    from benchorch.virtualphone.faults import Faults
    from benchorch.virtualphone.profile import builtin_names, load_profile
    from benchorch.virtualphone.run import serve

    if list_profiles:
        click.echo("\n".join(builtin_names()))
        return
    profile = load_profile(profile_name)
    # a flag left off (None, or False for on/off flags) keeps the profile's value
    overrides = {k: v for k, v in fault_flags.items() if v is not None and v is not False}
    faults = Faults.from_dict(profile.faults).merged(**overrides)
    folder = root if root is not None else Path(tempfile.mkdtemp(prefix="vphone-root-"))
    try:
        re.compile(session_match)
    except re.error as exc:
        raise UsageError(
            f"--session-match {session_match!r} is not a regular expression: {exc}"
        ) from None
    serve(
        profile,
        faults,
        folder,
        host=host,
        port=port,
        session_log=session_log,
        session_match=session_match,
    )


def main() -> None:
    """Entry for ``python -m benchorch.virtualphone`` (errors as one line + exit code)."""
    try:
        virtual_phone.main(prog_name="python -m benchorch.virtualphone", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BenchorchError as exc:
        # A bad profile or fault value is a UsageError: exit 2, through the one
        # mapping the orchestrator's CLI uses too (benchorch.exits imports no CLI).
        click.echo(f"benchorch: error: {exc}", err=True)
        sys.exit(exit_code(exc))
