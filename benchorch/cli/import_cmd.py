"""``benchorch import``: captured logs of phones benchorch cannot drive, stored
as launches (``benchorch.captured``); prints the run id."""

from __future__ import annotations

from pathlib import Path

import click

from benchorch.cli.main import db_path


@click.command("import")
@click.argument("logs", metavar="LOG...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--device-name",
    required=True,
    metavar="NAME",
    help="The phone's name (its serial and model in the store).",
)
@click.option(
    "--platform", type=click.Choice(["ios", "android"]), required=True, help="The phone's platform."
)
@click.option(
    "--model-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The model file the logs ran: the variant is identified by its sha256.",
)
@click.option(
    "--variant", metavar="NAME", help="The variant's name (default: the model file's stem)."
)
@click.option("--dims", default="unknown", show_default=True, help="The input dims the logs ran.")
@click.option("--types", default="unknown", show_default=True, help="The input types the logs ran.")
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Threads (0: unknown).",
)
@click.option(
    "--run", metavar="RUN", help="Add to this stored run (e.g. the night's) instead of a new one."
)
@click.pass_context
def import_(
    ctx: click.Context,
    logs: tuple[Path, ...],
    device_name: str,
    platform: str,
    model_file: Path | None,
    variant: str | None,
    dims: str,
    types: str,
    threads: int,
    run: str | None,
) -> None:
    """Store captured benchmark logs (LOG...) as launches, one launch per log.

    \b
    A LOG is the output of one finished run: the iOS TestApp's log
    ("Main run finished. Milliseconds per iter: ..."), or speed_benchmark_torch's
    output captured on a phone benchorch cannot reach. Every LOG is checked
    before anything is stored; a LOG that is not text, is over 8 MiB, or has no
    finished run is refused (exit 2) and nothing is written.

    \b
    Example:
      benchorch import --device-name "iPhone 12" --platform ios \\
          --model-file mobilenet_v2.ptl testapp-1.log testapp-2.log
    """
    from benchorch.captured import ImportRequest, Platform, check_import, import_logs
    from benchorch.store import Store

    request = ImportRequest(
        device_name=device_name,
        platform=Platform(platform),
        logs=logs,
        model_file=model_file,
        variant=variant,
        dims=dims,
        types=types,
        threads=threads,
        run=run,
    )
    checked = check_import(request)  # every log, before the store is opened
    with Store(db_path(ctx)) as store:
        run_id = import_logs(store, checked)
    n = len(checked.logs)
    click.echo(f"imported {n} launch{'es' if n != 1 else ''} of {device_name}", err=True)
    click.echo(run_id)
