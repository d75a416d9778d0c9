"""The GitHub-issue body of a confirmed regression, and the headline's Markdown escaping."""

from __future__ import annotations

from benchorch.domain import Outcome
from benchorch.nightly.headline import NightReport, markdown, sparkline
from benchorch.nightly.notify import issue_body
from benchorch.nightly.status import NightStatus, PhoneStatus
from benchorch.nightly.verdicts import ConfigVerdict, NightVerdicts
from benchorch.store.nights import NightRow


def _report() -> NightReport:
    prev = NightRow("2026-11-06", "abc", "RUN6", "complete", "h:1", 0.0, 0.0, {})
    reg = ConfigVerdict(
        label="Pixel|8 fused 1,3,32,32 t1",
        kind="regression",
        ratio_previous=1.2,
        ratio_window=1.19,
        z_previous=9.0,
        z_window=8.0,
        confirmed=True,
        reason="slower: confirmed by 40+40 A/B launches",
        serial="PHONE_A",
        spark=(100.0, 101.0, 99.0, 120.0),
    )
    verdicts = NightVerdicts(
        "2026-11-07", "RUN7", prev, (prev,), regressions=(reg,), confirm_launches=80
    )
    status = NightStatus(
        night="2026-11-07",
        config_hash="abc",
        run_id="RUN7",
        state="complete",
        phones=(PhoneStatus("PHONE_A", 6, 6, 0, 0, ""),),
        revisions={"pytorch": "v2.13.0-5-gdef", "pytorch_commit": "def123", "benchorch": "1.0"},
        deadline_hit=False,
        min_coverage=1.0,
    )
    return NightReport(
        status,
        verdicts,
        {"pytorch": "v2.13.0-1-gabc", "pytorch_commit": "abc9"},
        Outcome.REGRESSION,
        "nightly.toml",
    )


def test_issue_body_has_title_table_commands_and_both_revisions() -> None:
    body = issue_body(_report())
    title = body.splitlines()[0]
    assert title.startswith("# Nightly 2026-11-07: 1 confirmed regression(s)")
    assert "+20.0%" in title
    assert "| Pixel\\|8 fused 1,3,32,32 t1 | +20.0% | +19.0% |" in body
    assert "v2.13.0-5-gdef" in body and "def123" in body  # tonight's
    assert "v2.13.0-1-gabc" in body and "abc9" in body  # the previous night's
    assert "benchorch nightly compare 2026-11-06 2026-11-07 --config nightly.toml" in body
    assert "benchorch compare RUN6 RUN7" in body
    assert "80 extra launches" in body


def test_headline_first_with_sparkline() -> None:
    md = markdown(_report())
    assert md.splitlines()[0] == "# benchorch nightly 2026-11-07: REGRESSION"
    assert md.index("## Confirmed regressions") < md.index("## Coverage")
    assert sparkline((100.0, 101.0, 99.0, 120.0)) in md
    assert sparkline((1.0, 2.0, 3.0)) == "▁▄█"
    assert sparkline((5.0, 5.0)) == "▄▄"
