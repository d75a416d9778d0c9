"""``benchorch variants``: export a model's mobile-recipe variants, each checked."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from benchorch.errors import VariantCheckFailed
from benchorch.variants.manifest import Manifest

if TYPE_CHECKING:
    from rich.console import Console


@click.command("variants")
@click.argument("model")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the variants and manifest.json into (replaced atomically).",
)
@click.option(
    "--dims", default=None, help="Example input dims, e.g. 1,3,224,224 (';' between inputs)."
)
@click.option(
    "--types", default=None, help="Input types: float, uint8_t, int64 (';' between inputs)."
)
@click.option(
    "--calibration",
    type=click.Path(path_type=Path),
    default=None,
    help="Calibration data for static int8: a torch.save'd tensor or a folder of them.",
)
@click.option(
    "--recipe",
    default=None,
    help="Steps to apply: fuse,quantize,mobile,channels_last,lite,flatbuffer (default: all of"
    " these); ExecuTorch .pte steps, only when named: executorch,executorch_xnnpack,"
    "executorch_int8 (needs benchorch[executorch]).",
)
@click.option(
    "--bytecode-version",
    type=int,
    default=None,
    help="Lower lite files to this bytecode version (for an older runtime).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def variants(
    model: str,
    out: Path,
    dims: str | None,
    types: str | None,
    calibration: Path | None,
    recipe: str | None,
    bytecode_version: int | None,
    as_json: bool,
) -> None:
    """Export MODEL's recipe variants into --out, check each against the float model.

    MODEL is demo:NAME (demo:mobilenet_v2, demo:conv_bn_relu, demo:lstm_classifier),
    package.module:function returning an nn.Module, or a TorchScript file.
    Demo inputs by default: mobilenet_v2 and conv_bn_relu 1,3,224,224 float,
    lstm_classifier 1,32 int64 (token ids). Exit 1 when a file fails its check.

    \b
    Example:
      benchorch variants demo:mobilenet_v2 --out variants/mnv2
      benchorch variants mypkg.models:make --dims 1,3,96,96 --recipe fuse,quantize,lite
    """
    from benchorch.variants.export import ExportOptions, export_variants

    err, own_file = _stderr_console()
    opts = ExportOptions(model, out, dims, types, calibration, recipe, bytecode_version)
    try:
        with err.status("exporting", spinner="dots") as status:
            manifest = export_variants(opts, progress=lambda msg: status.update(msg))
        _summary(err, manifest, as_json)
    finally:
        if own_file is not None:
            own_file.close()


def _stderr_console() -> tuple[Console, TextIO | None]:
    """A console on a duplicate of fd 2 when stderr is fd 2, else on ``sys.stderr``.

    The exporter points fd 2 at a file while torch runs (to catch its C++
    warnings); the duplicate keeps the progress spinner and messages visible.
    """
    from rich.console import Console

    try:
        if sys.stderr.fileno() == 2:
            handle = os.fdopen(os.dup(2), "w", buffering=1)
            return Console(file=handle, highlight=False), handle
    except (AttributeError, OSError, ValueError):  # a captured stderr has no real fd
        pass
    return Console(stderr=True, highlight=False), None


def _summary(err: Console, manifest: Manifest, as_json: bool) -> None:
    for s in manifest.skipped:
        err.print(f"skipped {s.variant}: {s.reason}", soft_wrap=True)
    torch_notes = [w for w in manifest.warnings if w.startswith("torch")]
    for w in manifest.warnings:
        if not w.startswith("torch"):
            err.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    if torch_notes:
        err.print(f"note: {len(torch_notes)} torch warning(s) recorded in the manifest")
    failed = [f for f in manifest.files if not f.check.passed]
    if as_json:
        click.echo(json.dumps({**manifest.to_dict(), "root": str(manifest.root)}, indent=2))
    else:
        _table(manifest)
        click.echo(str(manifest.root / "manifest.json"))
    if failed:
        names = ", ".join(f.name for f in failed[:5]) + (" ..." if len(failed) > 5 else "")
        raise VariantCheckFailed(
            f"{len(failed)} of {len(manifest.files)} variant files failed their check ({names})",
            hint="see check.error / max_abs_err / cosine in manifest.json",
        )


def _table(manifest: Manifest) -> None:
    """One line per file: check, name, format, size, bytecode, error and cosine."""
    width = max((len(f.name) for f in manifest.files), default=0)
    click.echo(f"{manifest.model}: {len(manifest.files)} files, torch {manifest.torch_version}")
    for f in manifest.files:
        c = f.check
        status = "ok    " if c.passed else "FAILED"
        numbers = (
            f"max_abs_err {c.max_abs_err:.3g}  cosine {c.cosine:.6f}"
            if c.max_abs_err is not None and c.cosine is not None
            else (c.error or "")
        )
        bytecode = "" if f.bytecode_version is None else f"v{f.bytecode_version}"
        click.echo(
            f"{status} {f.name:<{width}}  {f.format.value:<10} {f.size_bytes / 1024:8.0f} KiB"
            f"  {bytecode:<3}  {numbers}"
        )
