"""benchorch.stats.confirm: screen, then confirm; Holm; the two stages' error control."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchorch import stats
from benchorch.stats import Verdict
from tests.report.builder import Cfg, launches, many


def _holm_by_definition(p: list[float]) -> list[float]:
    """Holm's adjusted p straight from its step-down definition."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def test_holm_hand_cases() -> None:
    np.testing.assert_allclose(
        stats.holm_adjust([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02]
    )
    out = stats.holm_adjust([0.01, np.nan, 0.02])
    assert np.isnan(out[1]) and list(out[[0, 2]]) == [0.02, 0.02]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40))
def test_holm_matches_its_definition_and_is_stricter_than_bh(ps: list[float]) -> None:
    adj = stats.holm_adjust(ps)
    np.testing.assert_allclose(adj, _holm_by_definition(ps), rtol=1e-12, atol=1e-15)
    assert (adj >= stats.bh_adjust(ps) - 1e-15).all()


def _night(seed: int, cfgs: list[Cfg], cand_cfgs: list[Cfg]) -> stats.Comparison:
    base = launches("A", cfgs, n_launches=10, n_iter=10, seed=seed)
    cand = launches("B", cand_cfgs, n_launches=10, n_iter=10, seed=seed + 1, t0=1.79e9)
    return stats.compare_frames(base, cand, base_id="A", cand_id="B", n_boot=100, seed=seed)


def _confirm(
    seed: int,
    cmp: stats.Comparison,
    suspects: tuple[stats.Suspect, ...],
    cfgs: dict[str, Cfg],
    cand_cfgs: dict[str, Cfg],
    alpha: float,
) -> stats.Comparison:
    """Confirmation launches as the sweep makes them: the suspects only, base
    and candidate interleaved in one stretch of time on one phone."""
    cb = pd.concat(
        [launches("cb", [cfgs[s.pair[1]]], n_launches=s.per_side, n_iter=10, seed=seed + 7 + k)
         for k, s in enumerate(suspects)] or [launches("cb", [])], ignore_index=True,
    )  # fmt: skip
    cc = pd.concat(
        [launches("cc", [cand_cfgs[s.pair[1]]], n_launches=s.per_side, n_iter=10,
                  seed=seed + 100 + k) for k, s in enumerate(suspects)]
        or [launches("cc", [])], ignore_index=True,
    )  # fmt: skip
    return stats.judge_confirmation(cmp, suspects, cb, cc, alpha=alpha, n_boot=100, seed=seed)


def test_the_two_stages_together_keep_false_verdicts_under_alpha() -> None:
    """A/A nights of 40 configurations: the share of nights with any ``slower``
    or ``faster`` stays under ``alpha`` (0.2 here, so that 80 nights can
    measure it), whatever the screen picked: the module's argument, checked.
    The screen alone at its own cut would call far more."""
    cfgs = many(40, launch_sigma=0.04)
    by_name = {c.variant: c for c in cfgs}
    alpha, nights, bad, screened_bad = 0.2, 80, 0, 0
    for seed in range(0, 2 * nights, 2):
        cmp = _night(seed, cfgs, cfgs)
        suspects = stats.pick_suspects(cmp, budget=200, max_suspects=5)
        screened_bad += bool(suspects)
        out = _confirm(seed, cmp, suspects, by_name, by_name, alpha)
        bad += any(r.verdict in (Verdict.SLOWER, Verdict.FASTER) for r in out.rows)
    assert bad <= alpha * nights + 2.5 * np.sqrt(alpha * (1 - alpha) * nights), bad
    assert screened_bad > 0.6 * nights  # the screen sends suspects almost every night


def test_a_regression_is_confirmed_with_its_evidence_and_drift_is_not_a_suspect() -> None:
    cfgs = many(40, launch_sigma=0.03)
    slow = {c.variant: c for c in cfgs}
    slow["v7"] = slow["v7"].with_(true_us=slow["v7"].true_us * 1.15)
    cmp = _night(1, cfgs, list(slow.values()))
    suspects = stats.pick_suspects(cmp, budget=400, max_suspects=4)
    assert suspects[0].pair[1] == "v7" and suspects[0].direction is Verdict.SLOWER
    assert len(suspects) <= 4 and sum(2 * s.per_side for s in suspects) <= 400
    out = _confirm(1, cmp, suspects, {c.variant: c for c in cfgs}, slow, 0.01)
    (row,) = [r for r in out.rows if r.pair[1] == "v7"]
    assert row.verdict is Verdict.SLOWER, row
    assert row.confirm_base == row.confirm_cand == suspects[0].per_side
    assert f"on {row.confirm_base} + {row.confirm_cand} confirmation launches" in row.reason
    assert "screen p" in row.reason and row.to_dict()["confirm_base"] == row.confirm_base
    assert all(r.verdict is not Verdict.SLOWER for r in out.rows if r.pair[1] != "v7")
    # A warmer room: every configuration 2% slower. The screen takes the
    # night's shift out, so the scores stay centred and no more suspects come.
    warm = [c.with_(true_us=c.true_us * 1.02) for c in cfgs]
    scores = stats.screen_scores(_night(3, cfgs, warm))
    assert abs(float(np.median(list(scores.values())))) < 0.3
    assert sum(z >= 1.5 for z in scores.values()) <= 6


def test_an_unconfirmed_screen_verdict_is_not_kept() -> None:
    """A screen ``slower`` that the budget could not confirm says so."""
    cfgs = many(3, launch_sigma=0.01)
    slow = [cfgs[0].with_(true_us=cfgs[0].true_us * 1.5), *cfgs[1:]]
    cmp = _night(5, cfgs, slow)
    assert cmp.rows[0].verdict is Verdict.SLOWER or any(
        r.verdict is Verdict.SLOWER for r in cmp.rows
    )
    out = stats.judge_confirmation(cmp, (), cmp_frame := launches("x", []), cmp_frame)
    (row,) = [r for r in out.rows if r.pair[1] == "v0"]
    assert row.verdict is Verdict.INCONCLUSIVE and "not confirmed" in row.reason
    assert stats.pick_suspects(cmp, budget=10) == ()  # under 2 x MIN_PER_SIDE: none


@pytest.mark.parametrize("n", [2, 3, 5])
def test_null_rate_of_the_exact_test_counts_every_split(n: int) -> None:
    """``mann_whitney_null_rate`` (the A/A check's expectation) is the share of
    all splits whose exact p is at most 0.05."""
    x = np.arange(1.0, 2 * n + 1)
    hits = total = 0
    for pick in itertools.combinations(range(2 * n), n):
        a = x[list(pick)]
        b = np.delete(x, list(pick))
        hits += stats.mann_whitney(a, b) <= 0.05
        total += 1
    assert stats.mann_whitney_null_rate(n, n, 0.05) == pytest.approx(hits / total)


def test_a_not_comparable_row_stays_not_comparable_under_confirmation() -> None:
    """``compare`` without ``--vary`` of a run whose changed binary was
    confirmed with ``--vary``: its rows stay ``not_comparable`` (exit 3), the
    stored confirmation does not make them comparable."""
    cfgs = many(2, launch_sigma=0.01)
    new = [c.with_(binary="bin-2", true_us=c.true_us * 1.3) for c in cfgs]
    varied = stats.compare_frames(
        launches("A", cfgs, seed=9), launches("B", new, seed=10), vary=["binary_sha256"], n_boot=100
    )
    suspects = stats.pick_suspects(varied, budget=80, max_suspects=2)
    assert suspects
    strict = stats.compare_frames(
        launches("A", cfgs, seed=9), launches("B", new, seed=10), n_boot=100
    )
    cb = launches("cb", cfgs, n_launches=10, seed=11)
    cc = launches("cc", new, n_launches=10, seed=12)
    out = stats.judge_confirmation(strict, suspects, cb, cc, n_boot=100)
    assert all(r.verdict is Verdict.NOT_COMPARABLE for r in out.rows)
    confirmed = stats.judge_confirmation(
        varied, suspects, cb, cc, vary=["binary_sha256"], n_boot=100
    )
    assert all(r.verdict is Verdict.SLOWER and r.confirm_base == 10 for r in confirmed.rows)


def _spending_fixture(k: int) -> tuple[stats.Comparison, tuple[stats.Suspect, ...], list[Cfg]]:
    """A screen of ``k`` unchanged configurations, every one a suspect
    (slower first, then faster: as the screen orders them), 10 launches a side."""
    cfgs = many(k, launch_sigma=0.04)
    cmp = _night(11, cfgs, cfgs)
    suspects = stats.pick_suspects(cmp, budget=20 * k, max_suspects=k, z_min=0.0, taper=0.0)
    suspects += stats.pick_suspects(
        cmp,
        budget=20 * k,
        max_suspects=k,
        scores={lbl: -z for lbl, z in stats.screen_scores(cmp).items()},
        z_min=0.0,
        taper=0.0,
    )
    seen: dict[str, stats.Suspect] = {}
    for s in suspects:  # each once, in the screen's direction (its score's sign)
        seen.setdefault(s.label, s)
    chosen = tuple(seen.values())[:k]
    assert len(chosen) == k and all(s.per_side == 10 for s in chosen)
    return cmp, chosen, cfgs


def _fresh_p(cb: pd.DataFrame, cc: pd.DataFrame, s: stats.Suspect) -> float:
    """The one-sided Welch p of one suspect, from its launch medians."""
    b = stats.launch_values(cb)
    c = stats.launch_values(cc)
    alt = "greater" if s.direction is Verdict.SLOWER else "less"
    return stats.welch_t(
        b.loc[b["variant"] == s.pair[1], "value_us"].to_numpy(),
        c.loc[c["variant"] == s.pair[1], "value_us"].to_numpy(),
        alternative=alt,
    )


def test_the_confirmation_spends_alpha_by_holm_over_the_suspects_one_sided() -> None:
    """Each suspect's p is its own one-sided Welch p on the confirmation
    launches alone (in the screen's direction), its adjusted p Holm's over
    exactly the night's suspects, and a ``slower``/``faster`` needs an adjusted
    p under ``alpha``: a family of one per suspect, a two-sided p or the screen's
    launches in the test would each fail here."""
    cmp, suspects, cfgs = _spending_fixture(6)
    by_name = {c.variant: c for c in cfgs}
    assert {s.direction for s in suspects} == {Verdict.SLOWER, Verdict.FASTER}
    slow = dict(by_name)
    first = suspects[0].pair[1]
    slow[first] = slow[first].with_(true_us=slow[first].true_us * 1.2)  # one real change
    out = _confirm(3, cmp, suspects, by_name, slow, alpha=0.05)
    cb = pd.concat([launches("cb", [by_name[s.pair[1]]], n_launches=10, n_iter=10,
                             seed=3 + 7 + k) for k, s in enumerate(suspects)])  # fmt: skip
    cc = pd.concat([launches("cc", [slow[s.pair[1]]], n_launches=10, n_iter=10,
                             seed=3 + 100 + k) for k, s in enumerate(suspects)])  # fmt: skip
    rows = {r.label: r for r in out.rows}
    labels = [s.label for s in suspects]
    p = [_fresh_p(cb, cc, s) for s in suspects]
    np.testing.assert_allclose([rows[lbl].p_value for lbl in labels], p, rtol=1e-9)
    np.testing.assert_allclose(
        [rows[lbl].p_adjusted for lbl in labels], _holm_by_definition(p), rtol=1e-9
    )
    for lbl in labels:
        r = rows[lbl]
        if r.verdict in (Verdict.SLOWER, Verdict.FASTER):
            assert r.p_adjusted < 0.05
    assert rows[suspects[0].label].verdict is Verdict.SLOWER
    # the same launches judged two-sided: every p doubles (capped at 1)
    two = stats.judge_confirmation(
        cmp, suspects, cb, cc, alpha=0.05, n_boot=100, seed=3, one_sided=False
    )
    two_p = {r.label: r.p_value for r in two.rows if r.label in labels}
    for lbl, one in zip(labels, p, strict=True):
        assert two_p[lbl] == pytest.approx(min(1.0, 2 * min(one, 1 - one)), rel=1e-9)


def test_the_confirmation_family_error_is_alpha_not_less_not_more() -> None:
    """Given one screen's 5 suspects, nothing changed, fresh confirmation
    launches 150 times: the share of nights where Holm rejects any suspect
    (adjusted p < alpha, the error the confirmation spends) is near alpha = 0.3
    (Holm over 5 independent one-sided tests under the null: 1 - (1 -
    0.06)^5 = 0.27). Testing each suspect at alpha uncorrected would give 0.83,
    Bonferroni over the 300 configurations of the screen almost 0, two-sided
    tests in one direction about 0.14: each fails the band."""
    alpha, runs = 0.3, 150
    cmp, suspects, cfgs = _spending_fixture(5)
    by_name = {c.variant: c for c in cfgs}
    bad = 0
    called = 0
    for seed in range(1000, 1000 + 2 * runs, 2):
        out = _confirm(seed, cmp, suspects, by_name, by_name, alpha)
        adj = [r.p_adjusted for r in out.rows if r.confirm_base]
        assert len(adj) == len(suspects)
        bad += min(adj) < alpha
        called += any(r.verdict in (Verdict.SLOWER, Verdict.FASTER) for r in out.rows)
    expected = 1 - (1 - alpha / len(suspects)) ** len(suspects)
    sd = np.sqrt(expected * (1 - expected) * runs)
    assert expected * runs - 3 * sd <= bad <= expected * runs + 3 * sd, (bad, expected * runs)
    assert called <= bad  # a verdict needs the rejection (and the size rules on top)
