"""``benchorch parse [--json] FILE|-``: run the sweep's parser on captured output.

Exit code: 0 when the output is a successful run, 1 when it is a failed or
unparseable one, 2 when FILE cannot be read (a ``UsageError``).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import click

from benchorch.domain import Outcome, ParseResult
from benchorch.errors import UsageError
from benchorch.parse import parse_output


def summary(result: ParseResult) -> str:
    """A few human lines: the status, then the numbers or the reason."""
    lines = [f"status: {result.status.value}"]
    if result.us_per_iter is not None:
        lines.append(f"us per iter: {result.us_per_iter:g}")
    if result.iters_per_sec is not None:
        lines.append(f"iters per second: {result.iters_per_sec:g}")
    if result.samples_us:
        samples = result.samples_us
        lines.append(
            f"samples: {len(samples)} (min {min(samples):g} us,"
            f" median {statistics.median(samples):g} us, max {max(samples):g} us)"
        )
    if result.load_ms is not None:
        lines.append(f"load: {result.load_ms:g} ms")
    if result.error_kind is not None:
        lines.append(f"error: {result.error_kind.value}")
    if result.message:
        lines.append(f"message: {result.message}")
    return "\n".join(lines)


def read_source(source: str) -> str:
    """The text of FILE, or of stdin for ``-``; undecodable bytes become U+FFFD."""
    if source == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise UsageError(
                f"cannot read {source}: {exc.strerror or exc}",
                hint="give a file of captured benchmark output, or - for stdin",
            ) from exc
    return data.decode("utf-8", errors="replace")


@click.command("parse")
@click.argument("source", metavar="FILE|-")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option(
    "--runtime",
    type=click.Choice(["pytorch", "executorch"]),
    default="pytorch",
    show_default=True,
    help="Whose output: speed_benchmark_torch, or an ExecuTorch runner (executor_runner's"
    " lines, from stderr or logcat).",
)
@click.option(
    "--warmup",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="--runtime executorch: drop the first N 'Iteration' lines (the runner has no"
    " warm-up flag).",
)
def parse(source: str, as_json: bool, runtime: str, warmup: int) -> Outcome:
    """Parse captured speed_benchmark_torch or ExecuTorch runner output (FILE, or - for stdin).

    \b
    The output may hold stdout and stderr together, with any noise around it
    (prompts, logcat prefixes, warnings). --json prints exactly the keys
    status, us_per_iter, iters_per_sec, samples_us, error_kind, message
    (plus load_ms for an ExecuTorch runner that printed 'Model loaded in').

    \b
    Example:
      adb shell /data/local/tmp/speed_benchmark_torch --model=m.ptl \\
          --input_dims=1,3,224,224 --input_type=float --report_pep=true 2>&1 \\
        | benchorch parse --json -
    """
    text = read_source(source)
    if runtime == "executorch":
        from benchorch.etparse import parse_et_output

        result = parse_et_output(text, warmup=warmup)
    else:
        if warmup:
            raise UsageError(
                "--warmup is for --runtime executorch",
                hint="speed_benchmark_torch's output already leaves out its warm-up runs",
            )
        result = parse_output(text)
    if as_json:
        click.echo(json.dumps(result.to_json_obj()))
    else:
        click.echo(summary(result))
    return Outcome.OK if result.ok else Outcome.FAILED
