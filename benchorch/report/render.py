"""HTML rendering: the only jinja2 user.

Autoescape is on for every template, so any string from outside (phone,
model, variant, error text) is printed as text. Numbers go through the
filters below; ``num`` is the exact value behind a cell (``data-v``), which
sorting uses and tests compare with the store.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import jinja2

from benchorch.errors import OutputNotWritable
from benchorch.report.model import RunReport
from benchorch.report.trend_model import TrendReport


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt_us(v: Any) -> str:
    f = _finite(v)
    if f is None:
        return "–"
    if abs(f) >= 1e6:
        return f"{f / 1e6:.4g} s"
    if abs(f) >= 1e3:
        return f"{f / 1e3:.4g} ms"
    return f"{f:.4g} µs"


def us_range_parts(lo: Any, hi: Any) -> tuple[str, str] | None:
    """``("lo –", "hi unit")`` with one unit (that of the larger end), 4
    significant digits each; ``None`` when an end is missing."""
    a, b = _finite(lo), _finite(hi)
    if a is None or b is None:
        return None
    top = max(abs(a), abs(b))
    scale, unit = (1e6, "s") if top >= 1e6 else (1e3, "ms") if top >= 1e3 else (1.0, "µs")
    return f"{a / scale:.4g} –", f"{b / scale:.4g} {unit}"


def fmt_us_range(lo: Any, hi: Any) -> str:
    """``lo – hi unit`` (see ``us_range_parts``), ``–`` when an end is missing."""
    parts = us_range_parts(lo, hi)
    return "–" if parts is None else " ".join(parts)


def fmt_num(v: Any) -> str:
    f = _finite(v)
    return "" if f is None else repr(f)


def fmt_ratio(v: Any) -> str:
    f = _finite(v)
    return "–" if f is None else f"{f:.3f}×"


def fmt_pct(v: Any, signed: bool = True) -> str:
    f = _finite(v)
    if f is None:
        return "–"
    return f"{f * 100:+.1f}%" if signed else f"{f * 100:.1f}%"


def fmt_p(v: Any) -> str:
    f = _finite(v)
    if f is None:
        return "–"
    return "<0.0001" if f < 1e-4 else f"{f:.4f}"


def fmt_sig(v: Any, digits: int = 3) -> str:
    f = _finite(v)
    return "–" if f is None else f"{f:.{digits}g}"


def fmt_bytes(v: Any) -> str:
    f = _finite(v)
    if f is None:
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(f) < 1024 or unit == "GB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return "–"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("benchorch.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        us=fmt_us,
        us_range=fmt_us_range,
        us_range_parts=us_range_parts,
        num=fmt_num,
        ratio=fmt_ratio,
        pct=fmt_pct,
        pval=fmt_p,
        sig=fmt_sig,
        bytes=fmt_bytes,
    )
    return env


def render_run(report: RunReport) -> str:
    return environment().get_template("run.html.j2").render(report=report)


def render_trend(report: TrendReport) -> str:
    return environment().get_template("trend.html.j2").render(report=report)


def _umask() -> int:
    """The process umask (read from /proc when possible: setting it is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_html(html: str, out: Path) -> Path:
    """Write ``html`` to ``out`` atomically (temp file + rename), with the mode
    a new file gets (``0666 & ~umask``, so 0644 usually): ``mkstemp`` makes
    0600, too private for a CI artifact or a shared reports folder."""
    out = Path(out)
    tmp: str | None = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=out.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            fh.write(html)
        os.replace(tmp, out)
        tmp = None
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot write report {out}: {exc.strerror or exc}",
            hint="choose a writable path with -o FILE",
        ) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return out
