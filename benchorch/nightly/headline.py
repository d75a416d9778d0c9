"""The nightly report's headline, first: confirmed regressions, improvements,
coverage (phones and launches, planned vs ran), phones left out or missing,
sparklines of each affected configuration across the recent nights; then the
unconfirmed suspects, apart. Markdown (stdout, ``$GITHUB_STEP_SUMMARY``),
the webhook's one-paragraph text, and JSON.

Every value a user or a phone controls (serials, labels, reasons) is escaped
for Markdown tables."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchorch.domain import Outcome
from benchorch.nightly.status import NightStatus
from benchorch.nightly.verdicts import ConfigVerdict, NightVerdicts
from benchorch.report.charts import Spark
from benchorch.report.charts import sparkline as svg_sparkline

__all__ = ["HeadlineView", "NightReport", "html_view", "markdown", "sparkline", "webhook_text"]

_BARS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class NightReport:
    status: NightStatus
    verdicts: NightVerdicts
    previous_revisions: dict[str, Any]
    outcome: Outcome
    config_path: str

    @property
    def something_to_say(self) -> bool:
        v = self.verdicts
        return bool(
            v.regressions
            or v.improvements
            or v.newly_failing
            or v.suspects
            or not self.status.coverage_met
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "status": self.status.to_dict(),
            "verdicts": self.verdicts.to_dict(),
            "previous_revisions": self.previous_revisions,
        }


def sparkline(values: Sequence[float]) -> str:
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    span = hi - lo
    if span <= 0:
        return _BARS[3] * len(vals)
    return "".join(_BARS[min(7, int((v - lo) / span * 7.999))] for v in vals)


def _md(text: Any) -> str:
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in "`*_<>[]":
        out = out.replace(ch, "\\" + ch)
    return out


def _pct(ratio: float) -> str:
    return "n/a" if not math.isfinite(ratio) else f"{(ratio - 1) * 100:+.1f}%"


def _table(rows: Sequence[ConfigVerdict]) -> list[str]:
    out = [
        "| configuration | vs previous night | vs window | nights | why |",
        "|---|---|---|---|---|",
    ]
    for v in rows:
        out.append(
            f"| {_md(v.label)} | {_pct(v.ratio_previous)} | {_pct(v.ratio_window)} "
            f"| {sparkline(v.spark)} | {_md(v.reason)} |"
        )
    return out


def verdict_line(report: NightReport) -> str:
    v, s = report.verdicts, report.status
    parts = [
        f"{len(v.regressions)} confirmed regression(s)",
        f"{len(v.newly_failing)} newly failing",
        f"{len(v.improvements)} improvement(s)",
        f"{len(v.suspects)} unconfirmed suspect(s)",
        f"coverage {s.phones_complete}/{len(s.phones)} phones, {s.ran}/{s.planned} launches"
        + ("" if s.coverage_met else " (BELOW MINIMUM)"),
    ]
    return "; ".join(parts)


def markdown(report: NightReport) -> str:
    v, s = report.verdicts, report.status
    rev = s.revisions
    lines = [
        f"# benchorch nightly {s.night}: {report.outcome.value.upper()}",
        "",
        f"**{verdict_line(report)}**",
        "",
        f"PyTorch {_md(rev.get('pytorch', '?'))} (previous night: "
        f"{_md(report.previous_revisions.get('pytorch', '-'))}), benchorch "
        f"{_md(rev.get('benchorch', '?'))}; run `{s.run_id}`; compared with "
        f"{_md(v.previous.night) if v.previous else 'no earlier night'} and a window of "
        f"{len(v.window)} night(s).",
        "",
    ]
    for note in v.notes:
        lines += [f"_{_md(note)}_", ""]
    if v.regressions:
        lines += ["## Confirmed regressions", "", *_table(v.regressions), ""]
    if v.newly_failing:
        lines += ["## Newly failing", "", *_table(v.newly_failing), ""]
    if v.improvements:
        lines += ["## Improvements", "", *_table(v.improvements), ""]
    lines += [
        "## Coverage",
        "",
        f"{s.phones_complete} of {len(s.phones)} phones complete, {s.ran} of {s.planned}"
        f" launches ran (minimum {s.min_coverage:.0%}).",
        "",
    ]
    short = [p for p in s.phones if p.planned is None or p.not_run]
    if short:
        lines += ["| phone | planned | ran | not run | why |", "|---|---|---|---|---|"]
        for p in short:
            planned = "-" if p.planned is None else str(p.planned)
            not_run = "all" if p.not_run is None else str(p.not_run)
            ran = p.done + p.failed
            lines.append(f"| {_md(p.serial)} | {planned} | {ran} | {not_run} | {_md(p.reason)} |")
        lines.append("")
    if v.suspects:
        lines += ["## Unconfirmed suspects (not regressions)", "", *_table(v.suspects), ""]
    if v.confirm_launches or v.confirm_note:
        lines += [f"{confirm_line(v, _md)}", ""]
    return "\n".join(lines).rstrip() + "\n"


def confirm_line(v: NightVerdicts, esc: Callable[[Any], str] = str) -> str:
    """The confirm step's cost in one line: its extra launches, per confirmed
    and per rejected suspect, and its note."""
    text = f"Confirmation: {v.confirm_launches} extra launches"
    parts = [
        f"{int(c['launches'])} on {int(c['suspects'])} {name} ({c['per_suspect']:.0f} per suspect)"
        for name, c in v.confirm_cost.items()
        if c.get("suspects")
    ]
    if parts:
        text += " (" + "; ".join(parts) + ")"
    return f"{text}. {esc(v.confirm_note)}".strip()


def webhook_text(report: NightReport) -> str:
    s, v = report.status, report.verdicts
    text = f"benchorch nightly {s.night}: {report.outcome.value}: {verdict_line(report)}"
    for r in [*v.regressions, *v.newly_failing]:
        text += f"\n- {r.kind}: {r.label} ({_pct(r.ratio_previous)})"
    for p in s.phones:
        if p.planned is None:
            text += f"\n- left out: {p.serial} ({p.reason})"
    for note in v.notes:
        text += f"\n- {note}"
    return text


@dataclass(frozen=True)
class HeadlineRow:
    label: str
    vs_previous: str
    vs_window: str
    spark: Spark | None  # the configuration's median per night, oldest first
    reason: str


@dataclass(frozen=True)
class HeadlineSection:
    id: str  # the HTML id (regressions are ``nightly-regressions``)
    title: str
    rows: tuple[HeadlineRow, ...]


@dataclass(frozen=True)
class HeadlineView:
    """The headline of the Markdown, for the top of the night's HTML report
    (``render.render_run(..., nightly=view)``); plain text the template escapes."""

    title: str
    outcome: str  # ok | regression | partial
    line: str
    revisions: str
    notes: tuple[str, ...]
    sections: tuple[HeadlineSection, ...]  # regressions, newly failing, improvements
    coverage: str
    short_phones: tuple[tuple[str, str, str, str, str], ...]  # serial, planned, ran, not run, why
    suspects: HeadlineSection | None
    confirm: str


def _rows(rows: Sequence[ConfigVerdict]) -> tuple[HeadlineRow, ...]:
    return tuple(
        HeadlineRow(
            v.label,
            _pct(v.ratio_previous),
            _pct(v.ratio_window),
            svg_sparkline(v.spark),
            v.reason,
        )
        for v in rows
    )


def html_view(report: NightReport) -> HeadlineView:
    v, s = report.verdicts, report.status
    rev = s.revisions
    sections = tuple(
        HeadlineSection(f"nightly-{key}", title, _rows(rows))
        for key, title, rows in (
            ("regressions", "Confirmed regressions", v.regressions),
            ("failing", "Newly failing", v.newly_failing),
            ("improvements", "Improvements", v.improvements),
        )
        if rows
    )
    short = tuple(
        (
            p.serial,
            "-" if p.planned is None else str(p.planned),
            str(p.done + p.failed),
            "all" if p.not_run is None else str(p.not_run),
            p.reason,
        )
        for p in s.phones
        if p.planned is None or p.not_run
    )
    compared = v.previous.night if v.previous else "no earlier night"
    return HeadlineView(
        title=f"benchorch nightly {s.night}: {report.outcome.value.upper()}",
        outcome=report.outcome.value,
        line=verdict_line(report),
        revisions=(
            f"PyTorch {rev.get('pytorch', '?')} (previous night: "
            f"{report.previous_revisions.get('pytorch', '-')}), benchorch "
            f"{rev.get('benchorch', '?')}; run {s.run_id}; compared with {compared} and a "
            f"window of {len(v.window)} night(s)."
        ),
        notes=tuple(v.notes),
        sections=sections,
        coverage=(
            f"{s.phones_complete} of {len(s.phones)} phones complete, {s.ran} of {s.planned}"
            f" launches ran (minimum {s.min_coverage:.0%})."
        ),
        short_phones=short,
        suspects=(
            HeadlineSection(
                "nightly-suspects", "Unconfirmed suspects (not regressions)", _rows(v.suspects)
            )
            if v.suspects
            else None
        ),
        confirm=confirm_line(v) if v.confirm_launches or v.confirm_note else "",
    )
