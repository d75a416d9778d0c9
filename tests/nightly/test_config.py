"""``nightly.toml`` validation: sweep keys, ``[nightly]``, the lab refused (no phones)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from benchorch.errors import ConfigError
from benchorch.nightly.config import load_nightly
from benchorch.nightly.night import config_hash, deadline_at, night_date
from benchorch.sweep.settings import merge


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nightly.toml"
    path.write_text(text)
    return path


def test_sweep_keys_and_nightly_table(tmp_path: Path) -> None:
    cfg = load_nightly(
        _write(
            tmp_path,
            'devices = ["A1"]\nlaunches = 4\nthreads = [1, 4]\nvariants = "v"\n'
            '[nightly]\ndeadline = "06:30"\nmin_coverage = 0.9\nwindow = 5\n'
            'confirm = false\nconfirm_budget = 40\nwebhook = "http://127.0.0.1:9/x"\n'
            'github_issue_file = "issue.md"\n',
        )
    )
    assert cfg.sweep_values["launches"] == 4
    assert cfg.sweep_values["threads"] == (1, 4)
    assert cfg.sweep_values["variants"] == (tmp_path / "v").resolve()
    n = cfg.nightly
    assert (n.deadline, n.min_coverage, n.window, n.confirm) == ("06:30", 0.9, 5, False)
    assert n.github_issue_file == tmp_path / "issue.md"
    assert n.confirm_budget == 40.0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('devices = ["A"]\nlanches = 3\n', "unknown key 'lanches'"),
        ('devices = ["A"]\n[nightly]\ndeadline = "25:00"\n', "not a time of day"),
        ('devices = ["A"]\n[nightly]\nmin_coverage = 1.5\n', "not a share"),
        ('devices = ["A"]\n[nightly]\nwebhok = "x"\n', "unknown key 'webhok'"),
        ('devices = ["A"]\n[nightly]\nwebhook = "ftp://x"\n', "not an http(s) URL"),
        ('devices = ["A"]\n[nightly]\nconfirm_budget = 0\n', "not a percentage above 0"),
        ('devices = ["A"]\n[nightly]\nconfirm_budget = "14%"\n', "not a percentage above 0"),
    ],
)
def test_bad_keys_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_nightly(_write(tmp_path, text))


def test_lab_is_a_one_line_usage_error(tmp_path: Path) -> None:
    path = _write(tmp_path, 'lab = "lab.toml"\ndevices = ["A"]\n')
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "r.sqlite"), "nightly", "run", "--config", str(path)]
    )
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "the lab is not supported yet" in errors[0]
    assert not (tmp_path / "r.sqlite").exists()  # refused before the store opened


def test_config_hash_ignores_where_reports_go_but_not_what_is_measured() -> None:
    a = merge({"devices": ("A",), "launches": 3}, {})
    b = merge({"devices": ("A",), "launches": 3, "out": Path("/elsewhere")}, {})
    c = merge({"devices": ("A",), "launches": 4}, {})
    assert config_hash(a) == config_hash(b) != config_hash(c)


def test_night_and_deadline() -> None:
    assert night_date("2026-12-04") == "2026-12-04"
    with pytest.raises(ConfigError, match="not a date"):
        night_date("04/12/2026")
    import datetime as dt

    start = dt.datetime(2026, 12, 4, 23, 0).timestamp()
    # 06:00 after a 23:00 trigger is the next morning
    assert deadline_at("06:00", after=start) - start == 7 * 3600
    assert deadline_at("23:30", after=start) - start == 1800


def test_thresholds_table_of_nightly_toml_reaches_the_verdicts(tmp_path: Path) -> None:
    """``[thresholds]`` in ``nightly.toml`` (glob on the variant or
    ``device/variant``, first match wins) is a sweep key: it loads with the
    sweep's values, survives the run's stored settings, and the comparison
    judges the matching configurations with it (``min_effect`` and the
    ``same`` threshold), the others with the default."""
    from benchorch import stats
    from tests.report.builder import launches, many

    cfg = load_nightly(
        _write(
            tmp_path,
            'devices = ["A1"]\n[nightly]\nwindow = 5\n'
            '[thresholds]\n"v1" = 12\n"SM-G991B/*" = "4%"\n',
        )
    )
    sweep = merge(cfg.sweep_values, {})
    assert sweep.thresholds == (("v1", 12.0), ("SM-G991B/*", 4.0))
    assert merge(sweep.to_dict(), {}).thresholds == sweep.thresholds
    cfgs = many(3, launch_sigma=0.02)
    cmp = stats.compare_frames(
        launches("A", cfgs, seed=1), launches("B", cfgs, seed=2), thresholds=sweep.thresholds
    )
    by = {r.pair[1]: r for r in cmp.rows}
    assert by["v1"].min_effect == by["v1"].threshold == pytest.approx(0.12)
    assert by["v0"].min_effect == by["v0"].threshold == pytest.approx(0.04)  # device/variant
    assert by["v1"].verdict is stats.Verdict.SAME
