"""Rendered HTML: escaped, self-contained, and its numbers equal the data's."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest

from benchorch import stats
from benchorch.report import fmt, model, render, story, trend_model
from tests.report.builder import Cfg, launches
from tests.report.conftest import EVIL
from tests.report.htmlparse import Node, parse
from tests.report.wide import SKIP_REASON, SKIPPED_FILES, wide_report


def _html(two_runs: dict[str, Any], b: pd.DataFrame | None = None, **kw: Any) -> str:
    f = two_runs["frames"]
    rep = model.build_run_report(
        f["run"], two_runs["b"] if b is None else b, devices=f["devices"], binaries=f["binaries"],
        variants=f["variants"], skips=f["skips"], comparison=two_runs["cmp"],
        history=two_runs["hist"], n_boot=200, **kw,
    )  # fmt: skip
    return render.render_run(rep)


def _num(cell: Node, attr: str = "data-v") -> float:
    return float(cell.attrs[attr]) if cell.attrs[attr] else float("nan")


def test_outside_strings_stay_text(two_runs: dict[str, Any]) -> None:
    b = two_runs["b"].copy()
    b.loc[b.variant == "mobile", "message"] = (
        '</td><script>alert("m")</script><img src=x onerror=alert(2)>'
    )
    html = _html(two_runs, b)
    doc = parse(html)
    scripts = doc.iter("script")
    assert len(scripts) == 1 and "alert" not in scripts[0].all_text()  # only our own inline script
    assert not doc.iter("img")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    headings = [h.all_text() for h in doc.iter("h3")]
    assert any(EVIL in h for h in headings)  # shown as text, as it was named
    messages = [c.all_text() for c in doc.iter("td") if "onerror" in c.all_text()]
    assert messages and all("<img" in m for m in messages)


def test_self_contained_no_network_reference(two_runs: dict[str, Any]) -> None:
    html = _html(two_runs)
    doc = parse(html)
    assert not doc.iter("link") and not doc.iter("img") and not doc.iter("iframe")
    for node in doc.iter():
        for attr in ("src", "href", "xlink:href", "action"):
            value = node.attrs.get(attr)
            assert value is None or value.startswith("#"), (node.tag, attr, value)
    assert not re.search(r"url\(|@import|https?://", html)
    csp = [m for m in doc.iter("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0].attrs["content"]
    assert "prefers-color-scheme:dark" in html and "@media print" in html


def test_story_numbers_equal_stats_from_the_data(two_runs: dict[str, Any]) -> None:
    b = two_runs["b"]
    expected = stats.summarize(b, n_boot=200)
    doc = parse(_html(two_runs))
    rows = [tr for tr in doc.iter("tr") if "data-config" in tr.attrs]
    latency_keys = {k for k in expected if k.endswith("|latency")}
    assert {tr.attrs["data-config"] for tr in rows} == latency_keys
    for tr in rows:
        st, _ = expected[tr.attrs["data-config"]]
        cells = {(c.attrs.get("class") or "-").split()[-1]: c for c in tr.iter("td")}
        if st.n_ok:
            assert _num(cells["median"]) == st.median_us
            assert (
                _num(cells["ci"]) == st.ci_low_us and _num(cells["ci"], "data-hi") == st.ci_high_us
            )
            assert (
                _num(cells["p10p90"]) == st.p10_us and _num(cells["p10p90"], "data-hi") == st.p90_us
            )
            assert _num(cells["cv"]) == pytest.approx(st.cv_launches, rel=1e-12)
            assert _num(cells["first"]) == st.first_iter_us
            # first iteration apart from the steady state, as a ratio a person reads
            ratio = fmt.ratio(st.first_iter_us / st.steady_us)
            assert f"{ratio} steady" in cells["first"].all_text()
        else:
            assert "failed" in cells["median"].all_text()
        assert (
            _num(cells["launches"]) == st.n_ok
            and f"/ {st.n_launches}" in cells["launches"].all_text()
        )
        assert _num(cells["hot"]) == st.n_hot
        # the variant check's output error, from the launches' check columns
        rows_b = b[stats.with_config_key(b)["config_key"] == tr.attrs["data-config"]]
        assert _num(cells["check"]) == rows_b["check_max_abs_err"].iloc[0]
        # the text a person reads agrees with the exact value (4 significant digits)
        if st.n_ok:
            shown = cells["median"].all_text()
            assert shown == fmt.us(st.median_us)


def test_regressions_table_and_verdict_counts(two_runs: dict[str, Any]) -> None:
    cmp = two_runs["cmp"]
    doc = parse(_html(two_runs))
    (table,) = doc.find("table", id="regressions")
    body_rows = table.iter("tbody")[0].iter("tr")
    assert len(body_rows) == len(cmp.rows)
    cards = {
        c.attrs["data-verdict"]: int(c.iter("b")[0].all_text())
        for c in doc.find("div")
        if "data-verdict" in c.attrs
    }
    assert cards == cmp.counts
    first = body_rows[0]
    assert first.attrs["data-verdict"] == "slower"
    row = next(
        r
        for r in cmp.rows
        if r.verdict.value == "slower" and r.label == first.iter("td")[1].all_text()
    )
    nums = [_num(td) for td in first.iter("td") if td.attrs.get("data-v")]
    assert row.ratio in nums and row.p_value in nums and row.p_adjusted in nums
    assert first.iter("svg"), "sparkline of history"


def test_charts_present(two_runs: dict[str, Any]) -> None:
    doc = parse(_html(two_runs))
    strips = [s for s in doc.iter("svg") if s.has_class("strip")]
    assert len(strips) == 2
    dots = [c for c in strips[0].iter("circle")]
    assert len(dots) == sum(
        len(r.stats.launch_medians_us)
        for r in story.build_stories(two_runs["b"], n_boot=10)[0].rows
    )
    assert doc.find("section", id="heatmap")


def test_trend_html_marks_change_points() -> None:
    c = Cfg(launch_sigma=0.005)
    nights = [
        launches(
            f"n{i:02d}",
            [c.with_(true_us=5000.0 * (1.12 if i >= 9 else 1.0)), c.with_(variant=EVIL)],
            n_launches=4,
            seed=i,
            t0=1.78e9 + i * 86400,
        )
        for i in range(16)
    ]
    rep = trend_model.build_trend_report(pd.concat(nights))
    doc = parse(render.render_trend(rep))
    charts_ = [s for s in doc.iter("svg") if s.has_class("history")]
    assert len(charts_) == 2
    cps = [ln for ln in charts_[0].iter("line") if ln.has_class("cp")]
    assert len(cps) == 1 and len(charts_[0].find("circle", class_="dot")) == 16
    assert not [ln for ln in charts_[1].iter("line") if ln.has_class("cp")]
    assert EVIL in render.render_trend(rep).replace("&lt;", "<").replace("&gt;", ">")
    assert "<script>alert" not in render.render_trend(rep)


def test_write_html_maps_unwritable_output(tmp_path: Any) -> None:
    from benchorch.errors import OutputNotWritable

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritable, match="cannot write report"):
        render.write_html("<p>", blocker / "r.html")
    out = render.write_html("<p>", tmp_path / "sub" / "r.html")
    assert out.read_text() == "<p>"


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_write_html_gives_the_mode_of_a_new_file(tmp_path: Any, umask: int) -> None:
    """A report is an artifact others read: ``0666 & ~umask`` (0644 usually),
    not mkstemp's 0600; replacing an existing report does the same, and no
    temp file is left behind."""
    import os
    import stat

    old = os.umask(umask)
    try:
        out = render.write_html("<p>1", tmp_path / "r.html")
        assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
        out.chmod(0o600)
        render.write_html("<p>2", out)
        assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    finally:
        os.umask(old)
    assert out.read_text() == "<p>2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_headline_paragraph_and_grouped_skips_are_rendered() -> None:
    rep = wide_report(n_boot=20)
    doc = parse(render.render_run(rep))
    (headline,) = doc.find("p", id="headline")
    said = " ".join(headline.all_text().split())
    best = rep.headline.phones[0].best
    assert best is not None and best.speedup is not None
    assert best.variant == "fused+quantized+mobile"
    assert f"fastest is {best.variant} (full_jit," in said
    assert fmt.ratio(best.speedup.value) + " the baseline's speed" in said
    assert fmt.size(best.size_bytes) in said
    assert "loads in " + fmt.us(best.load_us) in said
    assert "Failed: mobile (missing_ops; 6 of 6 launches on SM-G991B)" in said
    assert "7 configurations skipped by the plan (1 reason)" in said
    (skips,) = doc.find("table", id="skips")
    rows = skips.iter("tbody")[0].iter("tr")
    assert len(rows) == 1
    cells = [td.all_text() for td in rows[0].iter("td")]
    assert cells[0] == SKIP_REASON and cells[2] == "7"
    assert cells[3] == ", ".join(SKIPPED_FILES)
