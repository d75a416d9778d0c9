"""``nightly.toml`` validation: sweep keys, ``[nightly]``, the lab and its selectors."""

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
            'github_issue_file = "issue.md"\nconfirm_wait = "1h30m"\n',
        )
    )
    assert cfg.sweep_values["launches"] == 4
    assert cfg.sweep_values["threads"] == (1, 4)
    assert cfg.sweep_values["variants"] == (tmp_path / "v").resolve()
    n = cfg.nightly
    assert (n.deadline, n.min_coverage, n.window, n.confirm) == ("06:30", 0.9, 5, False)
    assert n.github_issue_file == tmp_path / "issue.md"
    assert n.confirm_budget == 40.0
    assert n.confirm_wait == 5400.0
    assert load_nightly(_write(tmp_path, 'devices = ["A1"]\n')).nightly.confirm_wait == 7200.0


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
        ('devices = ["A"]\n[nightly]\nconfirm_wait = 60\n', "'confirm_wait': 60 is not a duration"),
        ('devices = ["A"]\n[nightly]\nconfirm_wait = "2 hours"\n', "'2 hours' is not a duration"),
        ('devices = ["A"]\n[nightly]\nconfirm_wait = "0s"\n', "must be longer than zero"),
    ],
)
def test_bad_keys_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_nightly(_write(tmp_path, text))


LAB = """
[database]
url = "postgresql://bench@127.0.0.1:9/lab"

[hosts.lab-a]
[hosts.lab-b]

[phones.A1]
host = "lab-a"
model = "pixel_7"
tags = ["rooted"]

[phones.A2]
host = "lab-a"
model = "galaxy_s22"

[phones.B1]
host = "lab-b"
model = "pixel_7"
tags = ["rooted", "galaxy_s22"]
"""


def _lab(tmp_path: Path, devices: str, extra: str = "") -> Path:
    (tmp_path / "labs").mkdir(exist_ok=True)
    (tmp_path / "labs" / "lab.toml").write_text(LAB)
    return _write(tmp_path, f'lab = "labs/lab.toml"\ndevices = {devices}\nbinary = "b"\n{extra}')


@pytest.mark.parametrize(
    ("devices", "serials", "models", "tags", "every"),
    [
        ('["A1", "B1"]', ("A1", "B1"), (), (), False),
        ('["pixel_7"]', (), ("pixel_7",), (), False),
        ('["rooted", "model:galaxy_s22"]', (), ("galaxy_s22",), ("rooted",), False),
        ('["tag:galaxy_s22"]', (), (), ("galaxy_s22",), False),
        ('["all"]', (), (), (), True),
    ],
)
def test_lab_selectors_in_devices(
    tmp_path: Path, devices: str, serials: tuple, models: tuple, tags: tuple, every: bool
) -> None:
    cfg = load_nightly(_lab(tmp_path, devices))
    assert cfg.lab == (tmp_path / "labs" / "lab.toml").resolve()  # relative to nightly.toml
    assert cfg.selection is not None
    sel = cfg.selection
    assert (sel.devices, sel.models, sel.tags, sel.all) == (serials, models, tags, every)


def test_lab_all_true_and_phones_per_model(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    (tmp_path / "lab.toml").write_text(LAB)
    path.write_text('lab = "lab.toml"\nall = true\nbinary = "b"\n[nightly]\nphones_per_model = 1\n')
    cfg = load_nightly(path)
    assert cfg.selection is not None and cfg.selection.all
    assert cfg.nightly.phones_per_model == 1


@pytest.mark.parametrize(
    ("devices", "extra", "needle"),
    [
        ('["pixel_8"]', "", "devices entry 'pixel_8' names no phone, model or tag"),
        ('["galaxy_s22"]', "", "is both a model and a tag"),
        ('["A1"]', 'adb_server = "127.0.0.1:5037"\n', "key 'adb_server' does not go with lab"),
        ('["A1"]', "[nightly]\nphones_per_model = 0\n", "not a number of phones"),
    ],
)
def test_bad_lab_selectors_name_the_entry(
    tmp_path: Path, devices: str, extra: str, needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_nightly(_lab(tmp_path, devices, extra))


def test_phones_per_model_needs_a_lab(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a lab"):
        load_nightly(_write(tmp_path, 'devices = ["A"]\n[nightly]\nphones_per_model = 1\n'))


def test_a_bad_lab_path_is_a_one_line_usage_error(tmp_path: Path) -> None:
    path = _write(tmp_path, 'lab = "no-such-lab.toml"\ndevices = ["A"]\nbinary = "b"\n')
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "r.sqlite"), "nightly", "run", "--config", str(path)]
    )
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, result.stderr
    assert "key 'lab'" in errors[0] and "no-such-lab.toml" in errors[0]
    assert "relative to this nightly.toml" in errors[0]  # the fix
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
