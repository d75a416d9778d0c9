"""A generated report in Debian's real headless Chromium, driven by selenium
(Debian's chromium-driver; ``tests/report/browser.py``).

Checks what only a browser can: no console error or exception, no network
request but the file itself, the regressions table and SVG charts laid out,
a click on a column header sorting the table, the recipe table inside a 1400
px window. Writes screenshots (light, dark, print, 1400 px) to
``$BENCHORCH_ARTIFACTS`` (else the test's tmp folder).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from benchorch.report import model, render
from tests.report import browser
from tests.report.browser import chromium
from tests.report.wide import wide_report

if browser.missing() is not None:
    pytest.skip(str(browser.missing()), allow_module_level=True)

from selenium.webdriver.common.by import By

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver


@pytest.fixture()
def report_file(two_runs: dict[str, Any], tmp_path: Path) -> Path:
    f = two_runs["frames"]
    rep = model.build_run_report(
        f["run"], two_runs["b"], devices=f["devices"], binaries=f["binaries"],
        variants=f["variants"], skips=f["skips"], comparison=two_runs["cmp"],
        history=two_runs["hist"], n_boot=200,
    )  # fmt: skip
    return render.write_html(render.render_run(rep), tmp_path / "report.html")


def _artifacts(tmp_path: Path) -> Path:
    out = Path(os.environ.get("BENCHORCH_ARTIFACTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _column(driver: WebDriver, col: int) -> list[str]:
    value = driver.execute_script(
        f"return Array.from(document.querySelectorAll('#regressions tbody tr'))"
        f".map(r => r.cells[{col}].getAttribute('data-v'))"
    )
    assert isinstance(value, list)
    return value


def test_report_in_headless_chromium(report_file: Path, tmp_path: Path) -> None:
    with chromium() as driver:
        browser.requests(driver)  # what the driver's blank start page asked for
        driver.get(report_file.as_uri())
        assert driver.execute_script("return document.readyState") == "complete"

        n_rows = len(driver.find_elements(By.CSS_SELECTOR, "#regressions tbody tr"))
        assert n_rows > 0
        # in a 1400 px window no table scrolls sideways, the comparison's included
        widths = driver.execute_script(
            "return Array.from(document.querySelectorAll('.wrap'))"
            ".map(w => [w.querySelector('table').id, w.scrollWidth, w.clientWidth])"
        )
        assert "regressions" in [name for name, _, _ in widths]
        assert all(scroll <= client for _, scroll, client in widths), widths
        box = driver.execute_script(
            "const r = document.querySelector('svg.strip').getBoundingClientRect();"
            " return [r.width, r.height, document.querySelectorAll('svg circle').length];"
        )
        assert box[0] > 300 and box[1] > 50 and box[2] > 100  # SVG charts laid out
        assert driver.find_elements(By.CSS_SELECTOR, "svg.sparkline")

        # Click the "ratio" header (a real click through the driver): ascending, then descending.
        col = 4
        th = driver.find_elements(By.CSS_SELECTOR, "#regressions thead th")[col]
        assert th.text == "ratio"
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", th)
        th.click()
        values = [float(v) for v in _column(driver, col) if v]
        assert values == sorted(values) and len(values) >= 2
        assert _column(driver, col)[-1] == "" or all(_column(driver, col))  # blanks last
        th.click()
        values = [float(v) for v in _column(driver, col) if v]
        assert values == sorted(values, reverse=True)

        # The filter box hides rows that do not match (typed, as a person would).
        driver.find_element(By.CSS_SELECTOR, "input[data-table=regressions]").send_keys("slower")
        shown = [r for r in driver.find_elements(By.CSS_SELECTOR, "#regressions tbody tr")]
        assert 0 < sum(r.is_displayed() for r in shown) < n_rows

        out = _artifacts(tmp_path)
        driver.execute_script("window.scrollTo(0, 0)")
        (out / "report-light.png").write_bytes(driver.get_screenshot_as_png())
        browser.media(driver, dark=True)
        bg = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert bg != "rgb(255, 255, 255)"
        (out / "report-dark.png").write_bytes(driver.get_screenshot_as_png())
        assert base64.b64decode(driver.print_page())[:4] == b"%PDF"

        # Printed (A4 landscape, 10 mm margins: 1047 CSS px) from a dark-themed
        # browser: black on white, and every table fits the page's width.
        browser.viewport(driver, 1047, 1600)
        browser.media(driver, "print", dark=True)
        colours = driver.execute_script(
            "const b = getComputedStyle(document.body);"
            " const s = document.querySelector('.v-slower');"
            " return [b.backgroundColor, b.color, getComputedStyle(s).color];"
        )
        assert colours[:2] == ["rgb(255, 255, 255)", "rgb(0, 0, 0)"]
        assert colours[2] != "rgb(255, 107, 107)"  # not the dark theme's light red
        widths = driver.execute_script(
            "return Array.from(document.querySelectorAll('table'))"
            ".map(t => Math.round(t.getBoundingClientRect().width))"
        )
        assert widths and max(widths) <= 1047, widths
        (out / "report-print.png").write_bytes(driver.get_screenshot_as_png())

        assert browser.requests(driver) == [report_file.as_uri()]
        problems = browser.problems(driver)
        assert not problems, problems


def test_recipe_table_fits_a_1400px_window(tmp_path: Path) -> None:
    """Long variant names, two inputs and channels-last: every column of the
    recipe table (size, load time, output error included) is on screen in a
    1400 px window, without sideways scrolling."""
    out = render.write_html(render.render_run(wide_report(n_boot=50)), tmp_path / "wide.html")
    with chromium(1400, 1000) as driver:
        driver.get(out.as_uri())
        widths = driver.execute_script(
            "return Array.from(document.querySelectorAll('.wrap'))"
            ".map(w => [w.querySelector('table').id, w.scrollWidth, w.clientWidth])"
        )
        assert any(name.startswith("story-") for name, _, _ in widths)
        assert all(scroll <= client for _, scroll, client in widths), widths
        page = driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert page[0] <= page[1], page
        # the last columns are inside the window, not merely inside a clipped box
        right = driver.execute_script(
            "return Array.from(document.querySelectorAll('#story-1 thead th'))"
            ".map(th => [th.textContent, th.getBoundingClientRect().right])"
        )
        assert [t for t, _ in right[-3:]] == ["size", "load", "output error"]
        assert max(r for _, r in right) <= page[1], right
        (_artifacts(tmp_path) / "report-1400px.png").write_bytes(driver.get_screenshot_as_png())
        assert not browser.problems(driver)
