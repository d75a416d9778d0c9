"""The nightly headline at the top of the night's HTML report, in Debian's
headless Chromium (selenium): the same verdicts, coverage and sparklines as the
Markdown, above the run's own report, escaped, and the file self-contained."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from tests.nightly.history import Night, build, write_config
from tests.report import browser

HOSTILE = '<img src=x onerror="document.title=1">v2.13&amp;'


def test_the_html_report_opens_with_the_nights_headline(tmp_path: Path) -> None:
    why = browser.missing()
    if why:
        pytest.skip(why)
    config = write_config(tmp_path)
    quiet = [Night(f"2026-11-{d:02d}") for d in range(1, 7)]
    tonight = Night(
        "2026-11-07",
        scale={("PHONE_A", "fused"): 1.2},
        failing=(("PHONE_B", "baseline"),),
        pytorch=HOSTILE,  # a revision string is text from outside: shown, never run
    )
    build(tmp_path / "r.sqlite", config, [*quiet, tonight])
    out = tmp_path / "out"
    argv = ["--db", str(tmp_path / "r.sqlite"), "nightly", "report", "--config", str(config)]
    argv += ["--out", str(out), "--format", "md,html"]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 1, result.output  # newly failing
    md = result.stdout
    html = next(out.glob("nightly-2026-11-07-*.html"))
    from selenium.webdriver.common.by import By

    with browser.chromium() as driver:
        browser.requests(driver)
        driver.get(html.as_uri())
        assert browser.problems(driver) == []
        assert browser.requests(driver) == [html.as_uri()]  # self-contained
        # the headline comes first, above the run report's own header
        first = driver.execute_script("return document.body.firstElementChild.id")
        assert first == "nightly"
        section = driver.find_element(By.ID, "nightly")
        assert section.get_attribute("data-outcome") == "regression"
        title = driver.find_element(By.ID, "nightly-title").text
        assert title == "benchorch nightly 2026-11-07: REGRESSION"
        line = driver.find_element(By.ID, "nightly-line").text
        assert line == md.splitlines()[2].strip("*")  # the Markdown's verdict line
        assert "1 newly failing" in line and "1 unconfirmed suspect(s)" in line
        # escaped: the revision is text, no element was made of it
        assert HOSTILE in driver.find_element(By.ID, "nightly-revisions").text
        assert driver.find_elements(By.CSS_SELECTOR, "#nightly img") == []
        assert driver.title != "1"
        [failing] = driver.find_elements(By.CSS_SELECTOR, "#nightly-failing tbody tr")
        assert "PHONE_B" in failing.text and "baseline" in failing.text
        suspects = driver.find_elements(By.CSS_SELECTOR, "#nightly-suspects tbody tr")
        [slow] = [
            r for r in suspects if "PHONE_A" in r.text and "fused" in r.text
            and "quantized" not in r.text
        ]  # fmt: skip
        cells = slow.find_elements(By.TAG_NAME, "td")
        pct = float(re.fullmatch(r"([+-][0-9.]+)%", cells[1].text).group(1))  # type: ignore[union-attr]
        assert 15 < pct < 25  # the +20% the night was given
        # its sparkline: this phone's own line (not its twin's: the two phones share
        # a model and a build), one point per night, tonight's the highest
        points = cells[3].find_element(By.CSS_SELECTOR, "polyline").get_attribute("points")
        ys = [float(p.split(",")[1]) for p in (points or "").split()]
        assert len(ys) == 7 and ys[-1] == min(ys)  # SVG y grows downwards
        assert driver.find_elements(By.CSS_SELECTOR, "#nightly-regressions") == []
        coverage = driver.find_element(By.ID, "nightly-coverage").text
        assert coverage in md.split("## Coverage")[1]
        # the run's own report follows
        assert driver.find_element(By.ID, "story").is_displayed()
