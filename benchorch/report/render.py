"""HTML rendering: the only jinja2 user.

Autoescape is on for every template, so any string from outside (phone,
model, variant, error text) is printed as text. Numbers go through the
filters below, each one of ``fmt``'s functions; ``num`` is the exact value
behind a cell (``data-v``), which sorting uses and tests compare with the store.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

from benchorch.errors import OutputNotWritable
from benchorch.files import atomic_write
from benchorch.report import fmt
from benchorch.report.model import RunReport
from benchorch.report.trend_model import TrendReport


@functools.cache
def environment() -> jinja2.Environment:
    """The one environment (templates compiled once per process, cached by jinja2)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("benchorch.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        us=fmt.us,
        us_range=fmt.us_range,
        us_range_parts=fmt.us_range_parts,
        num=fmt.exact,
        ratio=fmt.ratio,
        pct=fmt.pct,
        pval=fmt.pval,
        sig=fmt.sig,
        bytes=fmt.size,
        verdict=fmt.verdict_label,
    )
    return env


def render_run(report: RunReport, nightly: Any = None) -> str:
    """The run report; with ``nightly`` (``benchorch.nightly.headline.HeadlineView``),
    the night's headline first, above the run's own."""
    return environment().get_template("run.html.j2").render(report=report, nightly=nightly)


def render_trend(report: TrendReport) -> str:
    return environment().get_template("trend.html.j2").render(report=report)


def write_html(html: str, out: Path) -> Path:
    """Write ``html`` to ``out`` atomically (temp file + rename), with the mode
    a new file gets (``0666 & ~umask``, so 0644 usually; see ``benchorch.files``)."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, html)
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot write report {out}: {exc.strerror or exc}",
            hint="choose a writable path with -o FILE",
        ) from exc
    return out
