"""Each verdict's evidence (interval, p, adjusted p, launches a side,
confirmation launches) as ``compare --format markdown`` and the run report's
HTML show it: the numbers of the confirmed row, in words, escaped."""

from __future__ import annotations

import html as htmllib
from typing import Any

import numpy as np
import pandas as pd

from benchorch import stats
from benchorch.report import model, render
from benchorch.report.text import format_markdown, format_text
from benchorch.stats import Verdict
from tests.report.builder import launches, many
from tests.report.htmlparse import parse


def _confirmed_night() -> tuple[stats.Comparison, stats.ComparisonRow]:
    """40 configurations, ``v7`` 15% slower: screened, confirmed on its own
    A/B launches; returns the night and its ``v7`` row."""
    cfgs = many(40, launch_sigma=0.03)
    slow = [c.with_(true_us=c.true_us * 1.15) if c.variant == "v7" else c for c in cfgs]
    base = launches("A", cfgs, n_launches=10, n_iter=10, seed=1)
    cand = launches("B", slow, n_launches=10, n_iter=10, seed=2, t0=1.79e9)
    screen = stats.compare_frames(base, cand, base_id="A", cand_id="B", n_boot=100, seed=1)
    suspects = stats.pick_suspects(screen, budget=200, max_suspects=4)
    assert suspects and suspects[0].pair[1] == "v7"
    by = {c.variant: c for c in cfgs}
    by_slow = {c.variant: c for c in slow}
    cb = pd.concat([launches("cb", [by[s.pair[1]]], n_launches=s.per_side, n_iter=10,
                             seed=10 + k) for k, s in enumerate(suspects)])  # fmt: skip
    cc = pd.concat([launches("cc", [by_slow[s.pair[1]]], n_launches=s.per_side, n_iter=10,
                             seed=50 + k) for k, s in enumerate(suspects)])  # fmt: skip
    night = stats.judge_confirmation(screen, suspects, cb, cc, n_boot=100, seed=1)
    (row,) = [r for r in night.rows if r.pair[1] == "v7"]
    assert row.verdict is Verdict.SLOWER and row.confirm_base == suspects[0].per_side
    return night, row


def _words(row: stats.ComparisonRow) -> list[str]:
    """What an engineer checks, as ``ComparisonRow.evidence`` words it."""
    return [
        f"{row.ratio - 1:+.1%} (95% interval {row.ci_low - 1:+.1%} to {row.ci_high - 1:+.1%})",
        f"p {row.p_value:.2g}, adjusted {row.p_adjusted:.2g}",
        f"on {row.confirm_base} + {row.confirm_cand} confirmation launches (A/B interleaved;"
        f" screen p {row.screen_p:.2g} on {row.n_base} + {row.n_cand} launches)",
    ]


def test_markdown_and_text_give_each_verdict_its_evidence() -> None:
    night, row = _confirmed_night()
    assert row.n_base == row.n_cand == 10 and row.confirm_base > 10
    md = format_markdown(night)
    (line,) = [ln for ln in md.splitlines() if "| slower |" in ln or ln.startswith("| slower")]
    for words in _words(row):
        assert words in line, (words, line)
    # the p and adjusted p columns are the confirmation's (Holm), the n column the screen's
    cells = [c.strip() for c in line.strip("|").split(" | ")]
    assert cells[8] == "10/10"
    assert row.p_adjusted < stats.DEFAULT_ALPHA
    text = format_text(night)
    assert all(words in text for words in _words(row))
    # an unconfirmed row still shows its interval, p and launches
    same = [r for r in night.rows if r.verdict is Verdict.SAME]
    assert same and all(
        f"{r.n_base} + {r.n_cand} launches" in r.reason and "95% interval" in r.reason for r in same
    )


def test_the_run_report_shows_the_evidence_escaped(two_runs: dict[str, Any]) -> None:
    night, row = _confirmed_night()
    f = two_runs["frames"]
    rep = model.build_run_report(
        f["run"], two_runs["b"], devices=f["devices"], binaries=f["binaries"],
        variants=f["variants"], skips=f["skips"], comparison=night, n_boot=100,
    )  # fmt: skip
    page = render.render_run(rep)
    doc = parse(page)
    rows = [tr for tr in doc.iter("tr") if tr.attrs.get("data-verdict") == "slower"]
    assert len(rows) == 1
    cells = rows[0].iter("td")
    text = [c.all_text() for c in cells]
    assert text[1] == row.label
    assert float(cells[4].attrs["data-v"]) == np.float64(row.ratio)
    assert float(cells[6].attrs["data-v"]) == row.p_value
    assert float(cells[7].attrs["data-v"]) == row.p_adjusted
    assert text[8] == f"{row.n_base} / {row.n_cand}"
    for words in _words(row):
        assert words in htmllib.unescape(text[-1]), (words, text[-1])
