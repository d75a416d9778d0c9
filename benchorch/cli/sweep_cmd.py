"""``benchorch sweep``: variants x dims x types x formats x threads x launches, on devices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from benchorch.cli.main import db_path, invocation
from benchorch.cli.params import VARY_FIELD
from benchorch.domain import Outcome
from benchorch.errors import UsageError
from benchorch.exits import comparison_outcome, exit_code

EPILOG = """\b
Examples:
  benchorch sweep --device local --model demo:conv_bn_relu --launches 3
  benchorch sweep --device 1A2B3C --binary speed_benchmark_torch --variants out/ --threads 1,4
  benchorch sweep --all --config nightly.toml
  benchorch sweep --resume 20261126-013000-ab12
  benchorch sweep --lab lab.toml --phone-model pixel_7 --binary sbt --model demo:conv_bn_relu

\b
Exit codes: 0 every launch succeeded; 1 a launch failed or the sweep was
interrupted (--resume RUN finishes it); 2 usage error; 3 a device was lost or
refused (the other devices' results are kept).
"""


@click.command("sweep", epilog=EPILOG)
@click.option(
    "--device",
    "devices",
    multiple=True,
    metavar="SERIAL",
    help="Device serial (repeatable); 'local' runs on this host.",
)
@click.option("--all", is_flag=True, default=None, help="Every adb device in state 'device'.")
@click.option(
    "--adb",
    "adb_server",
    metavar="HOST:PORT",
    help="adb server to use (default: ANDROID_ADB_SERVER_PORT or 5037).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="sweep.toml with the same settings; flags override it.",
)
@click.option("--model", help="demo:NAME, FILE.pt/.ptl, or package.module:factory.")
@click.option(
    "--variants",
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder written by 'benchorch variants' (skips the export).",
)
@click.option("--recipe", help="Recipe steps to export (comma-separated).")
@click.option(
    "--binary",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A prebuilt speed_benchmark_torch to register and use.",
)
@click.option(
    "--et-binary",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An ExecuTorch runner for the .pte variants (from 'benchorch build --runtime"
    " executorch'); --device local and x86_64 phones get benchorch's host runner built when"
    " the variants hold .pte files and this is not given.",
)
@click.option(
    "--build-from",
    type=click.Path(file_okay=False, path_type=Path),
    help="A PyTorch source tree to build speed_benchmark_torch from (cached).",
)
@click.option(
    "--runner",
    type=click.Choice(["auto", "binary", "python"]),
    help="--device local: the real speed_benchmark_torch built for this host (binary), the "
    "Python host runner (python), or the binary when it can be built (auto, the default).",
)
@click.option(
    "--dims", multiple=True, help="Input dims, ',' inside a tensor, ';' between (repeatable)."
)
@click.option(
    "--types",
    multiple=True,
    help="Input types: float, uint8_t, int64 (';' between inputs; repeatable).",
)
@click.option(
    "--memory-format",
    "memory_formats",
    multiple=True,
    help="contiguous_format or channels_last (repeatable; ';' between inputs).",
)
@click.option("--threads", help="Thread counts, e.g. 1,4 (--pthreadpool_size).")
@click.option("--launches", type=int, help="Processes per configuration (default 10).")
@click.option("--iter", "iters", type=int, help="Timed iterations per launch.")
@click.option("--warmup", type=int, help="Warm-up iterations per launch.")
@click.option("--load-launches", type=int, help="Load-time launches (--iter=0) per variant file.")
@click.option(
    "--cooldown-temp",
    metavar="C|off",
    help="Wait until battery and thermal zones are under C; off: no cooldown gate.",
)
@click.option("--cooldown-max-wait", type=float, help="Longest wait for cooling, seconds.")
@click.option("--min-battery", type=int, help="Refuse a device under this battery level (%).")
@click.option("--timeout", type=float, help="Seconds before a launch is killed on the device.")
@click.option("--seed", type=int, help="Seed of the interleaved launch order.")
@click.option("--order", type=click.Choice(["shuffle", "round_robin"]), help="Launch order.")
@click.option("--pin", help="CPU pinning: big (default), all, none, or a hex mask like 0xf0.")
@click.option("--retries", type=int, help="Re-runs of a launch whose phone dropped.")
@click.option(
    "--max-phone-storage",
    metavar="SIZE",
    help="Most benchorch's folder on a phone may hold, e.g. 2GB (default) or 500MB; the least"
    " recently used files it pushed are evicted first (a lab phone: lab.toml's).",
)
@click.option("--bytecode-version", type=int, help="Lower exported lite files to this version.")
@click.option(
    "--include-failed-checks",
    is_flag=True,
    default=None,
    help="Also time variants whose accuracy check failed.",
)
@click.option(
    "--resume",
    metavar="RUN",
    help="Run only the launches RUN is missing, with its stored settings (only --adb may change).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the HTML report (default: reports).",
)
@click.option("--baseline", metavar="RUN", help="With --confirm: the run to compare against.")
@click.option(
    "--confirm",
    is_flag=True,
    help="Re-run the suspects of the comparison with --baseline, A/B interleaved.",
)
@click.option(
    "--confirm-budget",
    type=float,
    default=14.0,
    show_default=True,
    help="Extra launches for --confirm, % of the sweep's.",
)
@click.option(
    "--threshold",
    metavar="PCT",
    help="The change of practical size for the verdicts, in percent (5 or 5%; default"
    " max(2%, the noise floor)); per configuration: [thresholds] in the TOML.",
)
@click.option(
    "--baseline-window",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    metavar="N",
    help="With --confirm: pool the N latest earlier runs of the baseline's configurations"
    " (same phone, binary and file) into the screen; 0: the baseline run alone.",
)
@click.option(
    "--vary",
    multiple=True,
    type=VARY_FIELD,
    metavar="FIELD",
    help="With --confirm: a field that differs on purpose (see `compare --help`).",
)
@click.option(
    "--lab",
    "lab",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[LAB.TOML]",
    help="Run on the shared lab: each phone's part is a job of the lab's queue, served by"
    " its host's worker (lab.toml: this value, else BENCHORCH_LAB). Phones by --device,"
    " --phone-model, --tag or --all.",
)
@click.option(
    "--phone-model",
    "phone_models",
    multiple=True,
    metavar="MODEL",
    help="--lab: every phone of this lab.toml model (repeatable).",
)
@click.option(
    "--tag", "tags", multiple=True, metavar="TAG", help="--lab: every phone with this tag."
)
@click.option(
    "--lab-priority",
    type=click.Choice(["adhoc", "nightly"]),
    default=None,
    help="--lab: the queue priority of the parts: adhoc (the default: a person's sweep,"
    " served before the nightly's queued parts) or nightly (behind every ad-hoc sweep)."
    " Reservations outrank both.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary at the end.")
@click.pass_context
def sweep(
    ctx: click.Context,
    config_file: Path | None,
    resume: str | None,
    baseline: str | None,
    confirm: bool,
    confirm_budget: float,
    baseline_window: int,
    vary: tuple[str, ...],
    quiet: bool,
    as_json: bool,
    lab: str | None,
    phone_models: tuple[str, ...],
    tags: tuple[str, ...],
    lab_priority: str | None,
    **settings: Any,
) -> Outcome:
    """Run a benchmark sweep and write its HTML report (its path is printed last).

    Each launch is stored the moment it finishes; interrupted or partial sweeps
    keep everything measured and can be finished with --resume RUN.
    """
    from benchorch.sweep.run import run_sweep

    if confirm and baseline is None:
        raise UsageError("--confirm needs --baseline RUN", hint="name the run to compare against")
    # Every other option is named after the SweepConfig field it sets.
    flag_names = {p.name: p.opts[0] for p in ctx.command.params if p.name in settings}
    command = invocation()
    if lab is None and (phone_models or tags):
        raise UsageError("--phone-model and --tag choose lab phones", hint="add --lab lab.toml")
    if lab is None and lab_priority is not None:
        raise UsageError("--lab-priority goes with --lab", hint="add --lab lab.toml")
    if lab is not None:
        from benchorch.lab import queue
        from benchorch.lab.submit import Selection, run_lab_sweep

        if resume is not None:
            raise UsageError("--resume does not go with --lab", hint="start a new lab sweep")
        selection = Selection(
            devices=tuple(settings.pop("devices") or ()),
            models=phone_models,
            tags=tags,
            all=bool(settings.pop("all")),
        )
        summary = run_lab_sweep(
            lab_path=Path(lab) if lab else None,
            selection=selection,
            flags=settings,
            flag_names=flag_names,
            config_file=config_file,
            command=command,
            quiet=quiet or as_json,
            priority=queue.NIGHTLY if lab_priority == "nightly" else queue.ADHOC,
        )
    else:
        summary = run_sweep(
            db=db_path(ctx),
            flags=settings,
            flag_names=flag_names,
            config_file=config_file,
            resume_run=resume,
            command=command,
            quiet=quiet or as_json,
        )
    status, confirmed = summary.status, None
    if confirm and baseline is not None and summary.run_id is not None:
        from benchorch.sweep.confirm import confirm_run

        confirmed = confirm_run(
            db=db_path(ctx),
            cand_run=summary.run_id,
            baseline=baseline,
            budget_share=confirm_budget / 100.0,
            vary=vary,
            window=baseline_window,
        )
        if status is Outcome.OK:
            status = comparison_outcome(confirmed.comparison)
    if as_json:
        report = {**summary.to_json(), "exit_code": int(exit_code(status))}
        if confirmed is not None:
            report["confirmation"] = {
                "base_run": confirmed.base_run,
                "cand_run": confirmed.cand_run,
                "launches": confirmed.launches,
                "suspects": [s.label for s in confirmed.suspects],
                "launches_per_suspect": dict(confirmed.spent),
                "cost": confirmed.cost(),
                "comparison": confirmed.comparison.to_dict(),
            }
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        for line in summary.lines():
            click.echo(line, err=True)
        for line in confirmed.lines() if confirmed is not None else []:
            click.echo(line, err=True)
        if summary.report_path is not None:
            click.echo(str(summary.report_path))
    return status
