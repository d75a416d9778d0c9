"""``sweep --confirm``'s screen pools the baseline with its earlier runs,
read from a real SQLite store (``choose_suspects``, ``earlier_runs``); the
thresholds a sweep stored with its settings judge ``compare``.

The launches are synthetic (no phone is needed to choose suspects: the
confirm step's launches on a real device are ``tests/report/test_aa_e2e.py``'s);
each run is written through the real ``Store`` API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchorch.store import Store
from benchorch.sweep.confirm import choose_suspects, earlier_runs
from tests.store.factory import device_info, launch, provenance, sha, variant_entry

VARIANTS = tuple(f"v{i:02d}" for i in range(24))


def _run(store: Store, seed: int, *, slow: float = 1.0, serial: str = "PHONE_A",
         binary: str = "sbt-lite", confirm: bool = False,
         settings: dict[str, object] | None = None) -> str:  # fmt: skip
    """One sweep of ``VARIANTS``, 10 launches each (2% launch noise); ``v03``
    ``slow`` times its level."""
    rng = np.random.default_rng(seed)
    params: dict[str, object] = {"settings": settings or {}}
    if confirm:
        params["confirm"] = {"baseline": "x", "cand": "y", "side": "base", "suspects": []}
    run_id = store.create_run(command="benchorch sweep", params=params)
    store.record_device(run_id, device_info(serial=serial, model="Pixel 8"))
    store.record_binary(run_id, provenance(binary))
    for v in VARIANTS:
        store.record_variant(run_id, variant_entry(v))
    for i in range(10):
        for k, v in enumerate(VARIANTS):
            level = (1000.0 + 100 * k) * (slow if v == "v03" else 1.0)
            med = level * float(np.exp(rng.normal(0, 0.02)))
            samples = tuple(med * float(np.exp(rng.normal(0, 0.005))) for _ in range(9))
            store.record_launch(
                launch(run_id, i, launch_key=f"{serial}|{v}|{i}", device_serial=serial,
                       variant=v, samples_us=samples, binary_sha256=sha(binary))
            )  # fmt: skip
    store.finish_run(run_id, "ok")
    return run_id


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "r.sqlite")


def test_a_baseline_slow_by_chance_hides_a_regression_unless_its_earlier_runs_are_pooled(
    store: Store,
) -> None:
    """The baseline run happened to be 7% slow on ``v03``; the candidate is 7%
    slower there than every earlier run of the same binary and file. Against
    the baseline alone ``v03`` is no suspect (what ``sweep --confirm`` did
    before it pooled); pooled with the five earlier runs it is the first.
    Runs of another binary or another phone, confirmation runs and runs after
    the candidate are never pooled."""
    with store:
        other_binary = _run(store, 1, slow=1.5, binary="sbt-other")
        other_phone = _run(store, 2, slow=1.5, serial="PHONE_B")
        same = [_run(store, 10 + k) for k in range(5)]
        confirm = _run(store, 3, slow=1.5, confirm=True)
        base = _run(store, 20, slow=1.07)
        cand = _run(store, 21, slow=1.07)
        later = _run(store, 22, slow=1.5)

        assert earlier_runs(store, base, cand, 5) == same
        wide = earlier_runs(store, base, cand, 10)
        assert wide == [other_binary, *same]  # the other binary's launches are filtered later
        assert other_phone not in wide and confirm not in wide and later not in wide

        _, alone, none = choose_suspects(store, base, cand, budget_share=0.5, window=0)
        assert none == [] and "v03" not in [s.pair[1] for s in alone]
        for window in (5, 10):
            _, pooled, used = choose_suspects(store, base, cand, budget_share=0.5, window=window)
            assert pooled and pooled[0].pair[1] == "v03", (window, pooled)
            assert pooled[0].direction.value == "slower" and used == (same if window == 5 else wide)


def test_compare_judges_with_the_thresholds_the_candidate_sweep_stored(tmp_path: Path) -> None:
    """The candidate sweep ran with ``[thresholds] "v03" = 10``: its 7% on
    ``v03`` is ``same`` (no change beyond ±10%) and ``compare`` exits 0; an
    explicit ``--threshold 3%`` replaces the stored ones and calls it slower,
    the evidence in words. (``compare`` used to ignore what the sweep stored.)"""
    import json

    from click.testing import CliRunner

    from benchorch.cli.main import cli

    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        base = _run(store, 30)
        cand = _run(store, 31, slow=1.07, settings={"thresholds": [["v03", 10.0]]})

    def compare(*extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        res = CliRunner().invoke(
            cli, ["--db", str(db), "compare", base, cand, "--format", "json", *extra],
            catch_exceptions=False,
        )  # fmt: skip
        return res.exit_code, json.loads(res.stdout)

    code, doc = compare()
    (row,) = [r for r in doc["rows"] if r["variant"] == "v03"]
    assert code == 0 and row["verdict"] == "same", row
    assert row["threshold"] == pytest.approx(0.10) and "no change beyond ±10.0%" in row["reason"]
    assert all(r["min_effect"] == pytest.approx(0.02) for r in doc["rows"] if r["variant"] != "v03")
    code, doc = compare("--threshold", "3%")
    (row,) = [r for r in doc["rows"] if r["variant"] == "v03"]
    assert code == 1 and row["verdict"] == "slower", row
    assert "95% interval" in row["evidence"] and "10 + 10 launches" in row["evidence"]


def test_a_caller_that_screened_already_gets_exactly_its_suspects_confirmed(
    store: Store,
) -> None:
    """The nightly screens against the previous night and a window of nights
    and hands its suspects over (``chosen``): the confirm step re-runs exactly
    those, in the direction each score says, and nothing its own pooled
    screen would have picked (``v03``, 7% slower); a label the screen does not
    know is ignored, and no suspect at all confirms nothing."""
    with store:
        for k in range(5):
            _run(store, 40 + k)
        base = _run(store, 50)
        cand = _run(store, 51, slow=1.07)
        screen, own, _ = choose_suspects(store, base, cand, budget_share=0.5)
        assert own and own[0].pair[1] == "v03"
        label = {r.pair[1]: r.label for r in screen.rows}
        mine = {label["v07"]: 2.5, label["v11"]: -1.8, "no such configuration": 3.0}
        _, picked, pooled = choose_suspects(store, base, cand, budget_share=0.0, chosen=mine)
        assert pooled == []
        assert [(s.pair[1], s.direction.value) for s in picked] == [
            ("v07", "slower"),
            ("v11", "faster"),
        ]
        assert all(s.per_side >= 10 for s in picked)  # the floor pays for each, budget 0
        assert choose_suspects(store, base, cand, chosen={})[1] == ()
