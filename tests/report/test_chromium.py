"""A generated report in Debian's real headless chromium, driven over DevTools.

Checks what only a browser can: no console error or exception, no network
request but the file itself, the regressions table and SVG charts laid out,
and a click on a column header sorting the table. Writes screenshots (light
and dark) to ``$BENCHORCH_ARTIFACTS`` (else the test's tmp folder).
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchorch.report import model, render
from tests.report.cdp import CHROMIUM, Browser
from tests.report.wide import wide_report

pytestmark = pytest.mark.skipif(
    not shutil.which(CHROMIUM), reason="Debian's chromium is not installed (tools/setup.sh)"
)

WATCHED = ("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded")


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


def _is_problem(e: dict[str, Any]) -> bool:
    m, p = e["method"], e["params"]
    if m == "Runtime.exceptionThrown":
        return True
    if m == "Runtime.consoleAPICalled":
        return bool(p["type"] in ("error", "assert"))
    return bool(m == "Log.entryAdded" and p["entry"]["level"] == "error")


def _column(browser: Browser, col: int) -> list[str]:
    value = browser.evaluate(
        f"Array.from(document.querySelectorAll('#regressions tbody tr'))"
        f".map(r => r.cells[{col}].getAttribute('data-v'))"
    )
    assert isinstance(value, list)
    return value


def test_report_in_headless_chromium(report_file: Path, tmp_path: Path) -> None:
    browser = Browser(tmp_path / "profile")
    try:
        for domain in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            browser.call(domain)
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            width=1400,
            height=1600,
            deviceScaleFactor=1,
            mobile=False,
        )
        browser.call("Page.navigate", url=report_file.as_uri())
        browser.wait_event("Page.loadEventFired")
        assert browser.evaluate("document.readyState") == "complete"

        assert browser.evaluate("document.querySelectorAll('#regressions tbody tr').length") == len(
            browser.evaluate("Array.from(document.querySelectorAll('#regressions tbody tr'))") or []
        )
        n_rows = browser.evaluate("document.querySelectorAll('#regressions tbody tr').length")
        assert n_rows > 0
        box = browser.evaluate(
            "(() => { const r = document.querySelector('svg.strip').getBoundingClientRect();"
            " return [r.width, r.height, document.querySelectorAll('svg circle').length]; })()"
        )
        assert box[0] > 300 and box[1] > 50 and box[2] > 100  # SVG charts laid out
        assert browser.evaluate("document.querySelectorAll('svg.sparkline').length") > 0

        # Click the "ratio" header (a real mouse event at its centre): ascending, then descending.
        col = 4
        xy = browser.evaluate(
            f"(() => {{ const th = document.querySelectorAll('#regressions thead th')[{col}];"
            " th.scrollIntoView(); const r = th.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2, th.textContent]; })()"
        )
        assert xy[2] == "ratio"
        browser.click(xy[0], xy[1])
        values = [float(v) for v in _column(browser, col) if v]
        assert values == sorted(values) and len(values) >= 2
        assert _column(browser, col)[-1] == "" or all(_column(browser, col))  # blanks last
        browser.click(xy[0], xy[1])
        values = [float(v) for v in _column(browser, col) if v]
        assert values == sorted(values, reverse=True)

        # The filter box hides rows that do not match.
        browser.evaluate(
            "(() => { const i = document.querySelector('input[data-table=regressions]');"
            " i.value = 'slower'; i.dispatchEvent(new Event('input')); })()"
        )
        shown = browser.evaluate(
            "Array.from(document.querySelectorAll('#regressions tbody tr'))"
            ".filter(r => !r.hidden).length"
        )
        assert 0 < shown < n_rows

        out = _artifacts(tmp_path)
        browser.evaluate("window.scrollTo(0, 0)")
        shot = browser.call("Page.captureScreenshot", format="png")["data"]
        (out / "report-light.png").write_bytes(base64.b64decode(shot))
        browser.call(
            "Emulation.setEmulatedMedia",
            features=[{"name": "prefers-color-scheme", "value": "dark"}],
        )
        bg = browser.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg != "rgb(255, 255, 255)"
        shot = browser.call("Page.captureScreenshot", format="png")["data"]
        (out / "report-dark.png").write_bytes(base64.b64decode(shot))
        pdf = browser.call("Page.printToPDF")["data"]
        assert base64.b64decode(pdf)[:4] == b"%PDF"

        # Printed (A4 landscape, 10 mm margins: 1047 CSS px) from a dark-themed
        # browser: black on white, and every table fits the page's width.
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            width=1047,
            height=1600,
            deviceScaleFactor=1,
            mobile=False,
        )
        browser.call(
            "Emulation.setEmulatedMedia",
            media="print",
            features=[{"name": "prefers-color-scheme", "value": "dark"}],
        )
        colours = browser.evaluate(
            "(() => { const b = getComputedStyle(document.body);"
            " const s = document.querySelector('.v-slower');"
            " return [b.backgroundColor, b.color, getComputedStyle(s).color]; })()"
        )
        assert colours[:2] == ["rgb(255, 255, 255)", "rgb(0, 0, 0)"]
        assert colours[2] != "rgb(255, 107, 107)"  # not the dark theme's light red
        widths = browser.evaluate(
            "Array.from(document.querySelectorAll('table'))"
            ".map(t => Math.round(t.getBoundingClientRect().width))"
        )
        assert widths and max(widths) <= 1047, widths
        shot = browser.call("Page.captureScreenshot", format="png")["data"]
        (out / "report-print.png").write_bytes(base64.b64decode(shot))

        requests = [
            e["params"]["request"]["url"]
            for e in browser.events
            if e["method"] == "Network.requestWillBeSent"
        ]
        assert requests == [report_file.as_uri()]
        problems = [e for e in browser.events if _is_problem(e)]
        assert not problems, problems
    finally:
        browser.close()


def test_recipe_table_fits_a_1400px_window(tmp_path: Path) -> None:
    """Long variant names, two inputs and channels-last: every column of the
    recipe table (size, load time, output error included) is on screen in a
    1400 px window, without sideways scrolling."""
    out = render.write_html(render.render_run(wide_report(n_boot=50)), tmp_path / "wide.html")
    browser = Browser(tmp_path / "profile")
    try:
        browser.call("Page.enable")
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            width=1400,
            height=1000,
            deviceScaleFactor=1,
            mobile=False,
        )
        browser.call("Page.navigate", url=out.as_uri())
        browser.wait_event("Page.loadEventFired")
        widths = browser.evaluate(
            "Array.from(document.querySelectorAll('.wrap'))"
            ".map(w => [w.querySelector('table').id, w.scrollWidth, w.clientWidth])"
        )
        assert any(name.startswith("story-") for name, _, _ in widths)
        assert all(scroll <= client for _, scroll, client in widths), widths
        page = browser.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert page[0] <= page[1], page
        # the last columns are inside the window, not merely inside a clipped box
        right = browser.evaluate(
            "Array.from(document.querySelectorAll('#story-1 thead th'))"
            ".map(th => [th.textContent, th.getBoundingClientRect().right])"
        )
        assert [t for t, _ in right[-3:]] == ["size", "load", "output error"]
        assert max(r for _, r in right) <= page[1], right
        shot = browser.call("Page.captureScreenshot", format="png")["data"]
        (_artifacts(tmp_path) / "report-1400px.png").write_bytes(base64.b64decode(shot))
    finally:
        browser.close()
