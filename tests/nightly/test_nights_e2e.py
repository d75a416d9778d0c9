"""A fortnight on virtual phones, each night a real ``nightly run`` then a real
``nightly report`` (the real adb server, the real host-built
speed_benchmark_torch, real exported variants, a real SQLite store), with the
webhook received by a real HTTP server on loopback and the night's HTML opened
in headless Chromium. Two x86_64 virtual phones of the same model; 3 launches
a configuration a night.

The fortnight measures one variant file, ``baseline.ptl``: a small
convolution stack (a 3->16 convolution, then five 16->16 ones, at
1,3,32,32): two configurations, one a phone, 6 launches a night.

* nights 1-6 unchanged: exit 0, nothing confirmed (suspects the screen picks
  from noise are re-run A/B with identical bytes and rejected);
* night 7 (the issue's night 7): **a real slowdown of one variant file**
  (measured on both phones: its two rows): the night's export writes a
  ``baseline.ptl`` with fifteen 16->16 convolutions instead of five, over the
  old one in the same folder: 2.93x the multiply-adds (34,992 against 11,952
  per output pixel), which the phone really executes every iteration. (Ten
  convolutions, 1.96x, were confirmed on both phones on a quiet host, with
  p 1e-6 and 1e-9, but a fresh-clone CI run sharing the 2 cores with a lab
  test run confirmed it on one phone only.)
  Honest because nothing but the model file changes (the binary, the phones
  and their settings are the same), and because the slowdown is in the work:
  it holds on a busy host as on an idle one (a process given more work takes
  that much longer under a fair scheduler, where slowing a process from
  outside does not: see ``virtualphone.faults.Hog``); a model that got more
  expensive is what a code regression looks like to this tool.
  ``nightly report`` exits 1 and lists exactly those rows as confirmed
  regressions, after the confirm step re-ran, A/B interleaved on each phone,
  the previous night's ``baseline.ptl`` (its bytes kept by content hash: its
  path now holds the new file) against tonight's; each under one label
  ("model (serial)": the phones are twins) in the Markdown, the JSON, the
  HTML, the issue body and the webhook. **Why not +20%** (the issue's
  example): this test ran a night with six convolutions (1.19x the work) at
  load 12-13 on the shared 2-core host, and measured it 13% faster on one
  phone and 30% slower on the other than the night before; launch medians of
  the unchanged file ranged 22-67 ms across nights, and one whole night was
  50% slower than the one before it. Against that noise the screen (z >= 1.5
  against the previous night and the window, from 3 launches a night) saw no
  suspect, so nothing was re-run: a question of the screen's power at 3
  launches (``benchmarks/verdicts_sim.py``), not of the confirm step. On a
  quiet host +20% is caught;
* night 8 changes nothing from night 7: noise only: exit 0, nothing
  confirmed;
* night 9: a phone gone: the run and the report exit 3 naming it, the
  webhook gets one message saying so.

The drifted phone has nights of its own (``test_a_phone_that_drifted...``):
two files, so each phone has two configurations.

"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchorch.store import Store
from tests.nightly.conftest import DIMS, NightlyEnv, sweep_keys
from tests.nightly.test_report import Hook
from tests.report import browser
from tests.support.adb_fixtures import VirtualPhone

EMU = "x86_64_emulator"
MODEL = "sdk_gphone64_x86_64"
PhoneFactory = Callable[..., VirtualPhone]
SLOWED = "baseline.ptl"
KEPT = "fused.ff.ptl"
#: 16->16 convolutions of the stack before and after night 7 (2.93x the work)
CONVS, SLOW_CONVS = 5, 15
#: phone B drifted: several times slower (``virtualphone.faults.Hog``: 3x at load 12,
#: 6x at load 3); at 200 (2x) a night when the shared host got 2x faster hid it
DRIFT_PCT = 400


def _export_stacks(folder: Path) -> dict[int, Path]:
    """``baseline.ptl`` of a convolution stack with ``CONVS`` and with
    ``SLOW_CONVS`` 16->16 convolutions, each exported by the real exporter
    (recipe ``lite``)."""
    torch = pytest.importorskip("torch")
    from benchorch.variants.export import ExportOptions, export_variants

    class Stack(torch.nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self, convs: int) -> None:
            super().__init__()
            layers = [torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU()]
            for _ in range(convs):
                layers += [torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU()]
            self.body = torch.nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            return self.body(x)

    out = {}
    for convs in (CONVS, SLOW_CONVS):
        torch.manual_seed(0)
        model = folder / f"stack{convs}.pt"
        torch.jit.trace(Stack(convs).eval(), torch.ones(1, 3, 32, 32)).save(str(model))
        out[convs] = folder / f"export{convs}"
        export_variants(ExportOptions(str(model), out[convs], dims=DIMS, types="float",
                                      recipe="lite"))  # fmt: skip
    return out


def _install(night_folder: Path, small_variants: Path, stack: Path, *, fused: bool) -> str:
    """The night's variants folder: the stack's ``baseline.ptl`` (and the real
    ``fused.ff.ptl`` when ``fused``), written over what was there; the
    baseline's sha256."""
    doc = json.loads((small_variants / "manifest.json").read_text())
    mine = json.loads((stack / "manifest.json").read_text())
    [entry] = [f for f in mine["files"] if f["name"] == SLOWED]
    doc["files"] = [entry, *(f for f in doc["files"] if fused and f["name"] == KEPT)]
    night_folder.mkdir(exist_ok=True)
    if fused:
        shutil.copyfile(small_variants / KEPT, night_folder / KEPT)
    shutil.copyfile(stack / entry["path"], night_folder / SLOWED)
    entry["path"] = SLOWED
    (night_folder / "manifest.json").write_text(json.dumps(doc, indent=1))
    sha = hashlib.sha256((night_folder / SLOWED).read_bytes()).hexdigest()
    assert sha == entry["sha256"]
    return sha


def _confirm_runs(db: Path, cand_run: str) -> dict[str, Any]:
    """The confirm step's two runs for ``cand_run``: side -> its launches."""
    with Store(db, create=False) as store:
        sides = {}
        for rid in store.runs()["run_id"]:
            conf = store.run(rid)["params"].get("confirm")
            if conf and conf["cand"] == cand_run:
                sides[conf["side"]] = store.launches(rid, include_output=False)
    return sides


class Nights:
    """Two virtual phones of one model measuring ``variants`` each night,
    3 launches a configuration; ``night(day, run_code, report_code)`` runs
    and reports one night and returns its Markdown and JSON."""

    def __init__(self, env: NightlyEnv, phones: list[VirtualPhone], variants: Path,
                 binary: Path, hook: Hook) -> None:  # fmt: skip
        self.env, self.hook = env, hook
        self.cfg = env.config(
            devices=[p.serial for p in phones],
            nightly={"webhook": hook.url, "window": 3},
            **sweep_keys(variants, binary, launches=3, iters=10, warmup=2),
        )
        self.out = env.tmp / "out"

    def night(self, day: int, run_code: int, report_code: int) -> tuple[str, Any]:
        date = f"2026-11-{day:02d}"
        run = self.env.invoke("run", "--config", str(self.cfg), "--night", date, "-q")
        assert run.exit_code == run_code, run.output
        seen = len(self.hook.bodies)
        rep = self.env.invoke(
            "report", "--config", str(self.cfg), "--night", date, "--out", str(self.out)
        )
        assert rep.exit_code == report_code, rep.output
        assert len(self.hook.bodies) - seen <= 1  # at most one message a night
        doc = json.loads(next(self.out.glob(f"nightly-{date}-*.json")).read_text())
        return rep.stdout, doc

    def quiet(self, days: range, launches: int) -> None:
        for day in days:
            md, _doc = self.night(day, 0, 0)
            assert md.startswith(f"# benchorch nightly 2026-11-{day:02d}: OK")
            assert "0 confirmed regression(s); 0 newly failing" in md
            assert f"coverage 2/2 phones, {launches}/{launches} launches" in md
            if day == 1:
                assert "no earlier complete night" in md


@pytest.mark.slow
@pytest.mark.torch
def test_a_fortnight_on_virtual_phones(
    nightly_env: NightlyEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    stacks = _export_stacks(nightly_env.tmp)
    variants = nightly_env.tmp / "variants"
    fast_sha = _install(variants, small_variants, stacks[CONVS], fused=False)
    hook = Hook()
    try:
        phones = [virtual_phone(profile=EMU), virtual_phone(profile=EMU)]
        a, b = phones
        nights = Nights(nightly_env, phones, variants, sweep_binaries["lite"], hook)
        out = nights.out
        nights.quiet(range(1, 7), 6)

        # night 7: the night's export writes a baseline.ptl doing 2.93x the work
        slow_sha = _install(variants, small_variants, stacks[SLOW_CONVS], fused=False)
        assert slow_sha != fast_sha
        seen = len(hook.bodies)
        md, doc = nights.night(7, 0, 1)
        assert md.startswith("# benchorch nightly 2026-11-07: REGRESSION")
        regs = doc["verdicts"]["regressions"]
        labels = {f"{MODEL} ({p.serial}) · baseline (lite) · {DIMS} float · 1t" for p in phones}
        evidence = {k: v for k, v in doc["verdicts"].items() if "spark" not in k}
        assert {r["label"] for r in regs} == labels, evidence
        assert all(r["confirmed"] and r["ratio_previous"] > 1.3 for r in regs), evidence
        # one label per row everywhere: Markdown, JSON, issue body, webhook (HTML below)
        head = md.split("## Coverage")[0].replace("\\", "")
        assert "## Confirmed regressions" in head and all(lbl in head for lbl in labels)
        [issue] = out.glob("nightly-2026-11-07-*-issue.md")
        assert all(lbl in issue.read_text().replace("\\", "") for lbl in labels)
        [body] = hook.bodies[seen:]
        assert all(f"regression: {lbl}" in body["text"] for lbl in labels), body
        # the A/B re-run really ran on each phone: the old bytes against the new
        sides = _confirm_runs(nightly_env.db, doc["verdicts"]["run_id"])
        for side, sha in (("base", fast_sha), ("cand", slow_sha)):
            mine = sides[side]
            assert set(mine["device_serial"]) == {p.serial for p in phones}
            assert set(mine["variant_file"]) == {SLOWED}
            assert set(mine["variant_sha256"]) == {sha} and (mine["status"] == "ok").all()
        n_ab = len(sides["base"]) + len(sides["cand"])
        assert doc["verdicts"]["confirm_launches"] == n_ab >= 40
        cost = doc["verdicts"]["confirm_cost"]
        assert cost["confirmed"]["suspects"] == 2 and cost["confirmed"]["launches"] >= 40
        assert "per suspect)" in md.split("Confirmation: ")[1]
        html7 = next(out.glob("nightly-2026-11-07-*.html"))

        # night 8: nothing changed since night 7; noise only
        md, doc = nights.night(8, 0, 0)
        assert "0 confirmed regression(s); 0 newly failing" in md
        assert doc["verdicts"]["regressions"] == []

        b.stop()  # night 9: the phone is gone tonight
        date = "2026-11-09"
        run = nightly_env.invoke("run", "--config", str(nights.cfg), "--night", date, "-q")
        assert run.exit_code == 3, run.output
        # adb still lists the stopped phone, offline
        [gone] = [line for line in run.stdout.splitlines() if b.serial + ": left" in line]
        assert "offline" in gone or "missing" in gone, gone
        seen = len(hook.bodies)
        rep = nightly_env.invoke(
            "report", "--config", str(nights.cfg), "--night", date, "--out", str(out)
        )
        assert rep.exit_code == 3, rep.output
        assert "(BELOW MINIMUM)" in rep.stdout.splitlines()[2]
        assert b.serial in rep.stdout.split("## Coverage")[1]
        [body] = hook.bodies[seen:]
        assert date in body["text"] and f"left out: {b.serial}" in body["text"]
        doc = json.loads(next(out.glob(f"nightly-{date}-*.json")).read_text())
        assert doc["outcome"] == "partial" and doc["verdicts"]["previous_night"] == "2026-11-08"
        html = next(out.glob(f"nightly-{date}-*.html"))
    finally:
        hook.close()

    why = browser.missing()
    if why:
        pytest.skip(why)
    from selenium.webdriver.common.by import By

    with browser.chromium() as driver:
        driver.get(html7.as_uri())
        assert browser.problems(driver) == []
        rows = driver.find_elements(By.CSS_SELECTOR, "#nightly-regressions tbody tr")
        assert {r.find_elements(By.TAG_NAME, "td")[0].text for r in rows} == labels
        browser.requests(driver)
        driver.get(html.as_uri())
        assert driver.execute_script("return document.readyState") == "complete"
        assert browser.problems(driver) == []
        assert browser.requests(driver) == [html.as_uri()]  # nothing but the file
        assert a.serial in driver.page_source


@pytest.mark.slow
@pytest.mark.torch
def test_a_phone_that_drifted_is_not_called_a_code_regression(
    nightly_env: NightlyEnv,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    """Nights 1-2 unchanged (two files, four configurations); night 3: phone B
    **drifted**: its virtual-phone knob ``slow_pct = 400`` (every launch)
    makes a busy background process share each launch's CPU (a runaway app)
    and lowers the launch's priority, so phone B is several times as slow on every
    configuration alike (the scheduler's doing, not the work's), with no code
    change (nothing else changes: binary, files, settings). Both of its
    configurations are suspects; the A/B re-run interleaves both nights'
    bytes on that same drifted phone, both sides are slow alike, nothing is
    confirmed: exit 0, and the report says the phone drifted. Only phone B has
    suspects, so its confirmation launches hold one phone of the model: they
    keep the night's label "model (serial)" (they were labelled "model" and
    never found: "no confirmation launches", and the drift went unsaid)."""
    stacks = _export_stacks(nightly_env.tmp)
    variants = nightly_env.tmp / "variants"
    _install(variants, small_variants, stacks[CONVS], fused=True)
    hook = Hook()
    try:
        phones = [virtual_phone(profile=EMU), virtual_phone(profile=EMU)]
        a, b = phones
        nights = Nights(nightly_env, phones, variants, sweep_binaries["lite"], hook)
        nights.quiet(range(1, 3), 12)

        b.faults.update(slow_pct=DRIFT_PCT)
        b.restart()
        seen = len(hook.bodies)
        md, doc = nights.night(3, 0, 0)
        v = doc["verdicts"]
        assert v["regressions"] == [] and "0 confirmed regression(s)" in md
        drift = [s for s in v["unconfirmed_suspects"] if f"({b.serial})" in s["label"]]
        assert len(drift) == 2 and all(s["ratio_previous"] > 1.2 for s in drift), drift
        assert all(s["reason"].startswith("phone drift?") for s in drift), drift
        # phone A did not drift: a noise suspect of it may be re-run, never called drift
        mine = [s for s in v["unconfirmed_suspects"] if f"({a.serial})" in s["label"]]
        assert not any(s["reason"].startswith("phone drift?") for s in mine), mine
        assert not any(a.serial in n for n in v["notes"]), v["notes"]
        [note] = [n for n in v["notes"] if "the phone drifted" in n]
        assert note.startswith(f"{MODEL} ({b.serial}): every configuration slower"), note
        assert "the A/B re-run on it found none slower" in note
        assert "the phone drifted, not a code change" in md.split("## Coverage")[0]
        [body] = hook.bodies[seen:]
        assert "the phone drifted" in body["text"]
        # the A/B re-run ran on the drifted phone itself, both of its files
        sides = _confirm_runs(nightly_env.db, v["run_id"])
        for side in ("base", "cand"):
            on_b = sides[side][sides[side]["device_serial"] == b.serial]
            assert set(on_b["variant_file"]) == {SLOWED, KEPT}
            assert (sides[side]["status"] == "ok").all()
        assert v["confirm_cost"]["rejected"]["suspects"] == 2 + len(mine)
    finally:
        hook.close()
