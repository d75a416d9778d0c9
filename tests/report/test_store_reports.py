"""The report entry points and commands over a real SQLite results store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchorch import stats
from benchorch.cli.main import cli
from benchorch.domain import Outcome
from benchorch.exits import comparison_outcome
from benchorch.report import compare_runs, write_run_report, write_trend_report
from benchorch.store import Store
from tests.report.builder import Cfg, launches, recipe
from tests.report.htmlparse import parse
from tests.report.storefill import fill
from tests.support.postgres_fixtures import BACKENDS, new_results_db

SLOW = "fused"


@pytest.fixture(scope="module", params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Four nightly runs: n0..n2 the same things, n3 with ``fused`` 12% slower; on
    SQLite and on PostgreSQL (every test of this module runs on both)."""
    path = new_results_db(request, request.param, tmp_path_factory.mktemp("store"))
    with Store(path) as store:
        for i in range(4):
            cfgs = [c.with_(launch_sigma=0.01) for c in recipe()]
            if i == 3:
                cfgs = [c.with_(true_us=c.true_us * 1.12) if c.variant == SLOW else c for c in cfgs]
            fill(store, launches(f"n{i}", cfgs, seed=10 + i, t0=1.78e9 + i * 86400),
                 params={"argv": ["sweep", "--device", "R58M1", "--launches", "10"]})  # fmt: skip
        other = [Cfg(binary="bin-other", device_fingerprint="other-build")]
        fill(store, launches("x", other, seed=99, t0=1.78e9 + 5 * 86400))
    return path


def _run(db: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)


def test_run_report_numbers_equal_the_store(db: str, tmp_path: Path) -> None:
    with Store(db, create=False) as store:
        out = write_run_report(store, "n3", tmp_path / "r.html", baseline="n2")
        expected = stats.summarize(store.launches("n3"))
    doc = parse(out.read_text())
    rows = {tr.attrs["data-config"]: tr for tr in doc.iter("tr") if "data-config" in tr.attrs}
    assert set(rows) == {k for k in expected if k.endswith("|latency")}
    for key, tr in rows.items():
        (median,) = [td for td in tr.iter("td") if td.has_class("median")]
        st = expected[key][0]
        assert (float(median.attrs["data-v"]) if st.n_ok else median.attrs["data-v"]) == (
            st.median_us if st.n_ok else ""
        )
    (table,) = doc.find("table", id="regressions")
    slower = [tr for tr in table.iter("tr") if tr.attrs.get("data-verdict") == "slower"]
    assert len(slower) == 1 and f"{SLOW} (full_jit)" in slower[0].all_text()
    assert (
        "benchorch sweep --device R58M1 --launches 10"
        in doc.find("pre", id="reproduce")[0].all_text()
    )


def test_compare_runs_a_a_and_a_b(db: str) -> None:
    with Store(db, create=False) as store:
        aa = compare_runs(store, "n1", "n2")
        ab = compare_runs(store, "n2", "n3")
        nc = compare_runs(store, "n2", "x")
    assert aa.counts["slower"] == 0 and aa.counts["faster"] == 0
    assert comparison_outcome(aa) is Outcome.OK
    assert [r.pair[1] for r in ab.regressions] == [SLOW]
    assert comparison_outcome(ab) is Outcome.REGRESSION
    assert comparison_outcome(nc) is Outcome.NOT_COMPARABLE and not nc.comparable


def test_cli_compare_formats_and_exit_codes(db: str) -> None:
    same = _run(db, "compare", "n1", "n2")
    assert same.exit_code == 0, same.output
    assert "n2 against n1" in same.output
    slow = _run(db, "compare", "n2", "n3", "--format", "json")
    assert slow.exit_code == 1
    data = json.loads(slow.stdout)
    assert data["counts"]["slower"] == 1 and data["exit_code"] == 1
    assert {r["verdict"] for r in data["rows"]} >= {"slower", "failed"}
    assert "slower in n3 than n2" in slow.stderr
    md = _run(db, "compare", "n2", "n3", "--format", "markdown", "--threshold", "20")
    assert md.exit_code == 0 and md.stdout.splitlines()[2].startswith("| verdict |")
    none = _run(db, "compare", "n2", "x")
    assert none.exit_code == 3 and "nothing comparable" in none.stderr
    bad = _run(db, "compare", "n2", "n3", "--threshold", "-1")
    assert bad.exit_code == 2
    missing = _run(db, "compare", "n2", "nope")
    assert (
        missing.exit_code == 2
        and "no run 'nope'" in missing.stderr
        and len(missing.stderr.splitlines()) == 1
    )


def test_cli_report_default_path_and_errors(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ok = _run(db, "report", "latest")
    assert ok.exit_code == 0, ok.output
    assert (
        ok.stdout.strip() == str(Path("reports") / "x.html")
        and (tmp_path / "reports" / "x.html").exists()
    )
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    bad = _run(db, "report", "n3", "-o", str(blocker / "r.html"))
    assert bad.exit_code == 2 and "cannot write report" in bad.stderr
    nodb = _run(tmp_path / "none.sqlite", "report", "n3")
    assert nodb.exit_code == 2 and "no results database" in nodb.stderr
    assert not (tmp_path / "none.sqlite").exists()


def test_trend_report_over_the_store(db: str, tmp_path: Path) -> None:
    with Store(db, create=False) as store:
        out = write_trend_report(store, tmp_path / "t.html", devices=["R58M1"], since="2026-01-01")
    doc = parse(out.read_text())
    charts = [s for s in doc.iter("svg") if s.has_class("history")]
    sizes = sorted(len(c.find("circle", class_="dot")) for c in charts)
    assert sizes == [4] * (len(charts) - 1) + [5]  # run x continues the baseline (lite) series
    (longest,) = [c for c in charts if len(c.find("circle", class_="dot")) == 5]
    assert len(longest.find("circle", class_="changed")) == 1  # its binary and build changed there
    res = _run(db, "trend", "--since", "not-a-date", "-o", str(tmp_path / "t2.html"))
    assert res.exit_code == 2 and "--since" in res.stderr
    res = _run(db, "trend", "-o", str(tmp_path / "t3.html"))
    assert res.exit_code == 0 and Path(res.stdout.strip()).exists()


def test_run_report_shows_the_a_a_false_alarm_rate(db: str, tmp_path: Path) -> None:
    with Store(db, create=False) as store:
        out = write_run_report(store, "n3", tmp_path / "r.html", baseline="n2")
        aa = stats.aa_check(store.launches("n2"), n_boot=300)
    (p,) = parse(out.read_text()).find("p", id="aa-check")
    assert not aa.alarm and aa.tested > 0
    assert "no alarm" in p.all_text() and "n2's even launches" in p.all_text()
    assert f"{aa.flagged} of {aa.tested} configurations" in p.all_text()


def test_a_run_without_launches_still_reports(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with Store(path) as store:
        store.create_run("sweep", {"device": ["R58M1"]}, run_id="empty")
        store.finish_run("empty", "failed")
    res = _run(path, "report", "empty", "--baseline", "empty", "-o", str(tmp_path / "e.html"))
    assert res.exit_code == 0, res.output
    doc = parse((tmp_path / "e.html").read_text())
    assert "No launches recorded." in doc.all_text()
    assert _run(path, "compare", "empty", "empty").exit_code == 3
