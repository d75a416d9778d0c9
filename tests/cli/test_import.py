"""`benchorch import`: a TestApp log beside a real local run, in the run report,
the trend report and compare (real sweep, real SQLite, real report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from benchorch.store import Store
from tests.report.htmlparse import parse

OUTPUTS = Path(__file__).parent.parent / "fixtures" / "outputs"
IOS = OUTPUTS / "handmade_ios_testapp.txt"
PEP = OUTPUTS / "ok_pep_lite.txt"


def _bench(db: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--db", str(db), *args])


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4), "binary"),
        (lambda p: p.open("wb").truncate(1 << 30), "larger than 8 MiB"),
        (
            lambda p: p.write_text("Starting benchmark.\nRunning warmup runs.\nMain runs.\n"),
            "not a finished run",
        ),
    ],
    ids=["binary", "1GiB", "unfinished"],
)
def test_a_hostile_log_is_one_line_exit_2_and_nothing_is_stored(
    make: Any, needle: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.log"
    make(bad)
    db = tmp_path / "r.sqlite"
    args = ["import", "--device-name", "iPhone 12", "--platform", "ios", str(IOS), str(bad)]
    result = _bench(db, *args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"benchorch: error: log {bad} ") and needle in line
    assert result.stdout == "" and not db.exists()  # checked before the store was opened
    # an existing store keeps what it had
    assert (
        _bench(db, "import", "--device-name", "X", "--platform", "android", str(PEP)).exit_code == 0
    )
    assert _bench(db, *args).exit_code == 2
    with Store(db, create=False) as store:
        assert len(store.runs()) == 1 and len(store.launches(None)) == 1


@pytest.mark.torch
def test_a_testapp_log_shows_the_iphone_beside_a_local_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    from benchorch.variants.export import ExportOptions, export_variants

    monkeypatch.setenv("BENCHORCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCHORCH_LOCK_DIR", str(tmp_path / "locks"))
    manifest = export_variants(
        ExportOptions(
            "demo:conv_bn_relu", tmp_path / "v", dims="1,3,16,16", types="float", recipe="lite"
        )
    )
    db = tmp_path / "r.sqlite"
    swept = _bench(
        db, "sweep", "--device", "local", "--runner", "python",  # no build in this test's cache
        "--variants", str(manifest.root), "--launches", "2",
        "--iter", "3", "--warmup", "1", "--load-launches", "0", "--out", str(tmp_path / "reports"),
        "--quiet",
    )  # fmt: skip
    assert swept.exit_code == 0, swept.output
    with Store(db) as store:
        (night,) = store.runs()["run_id"].tolist()
    model = next(f for f in manifest.files if f.format.value == "lite")
    model_path = manifest.root / model.path

    # into the night's run: the iPhone is one more phone of its report
    added = _bench(
        db, "import", "--device-name", "iPhone 12", "--platform", "ios", "--run", night,
        "--model-file", str(model_path), "--variant", model.variant, "--dims", "1,3,16,16",
        "--types", "float", "--threads", "1", str(IOS), str(IOS),
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == night
    out = tmp_path / "night.html"
    assert _bench(db, "report", night, "-o", str(out)).exit_code == 0
    doc = parse(out.read_text())
    phones = [h.all_text() for h in doc.iter("h3") if h.find("span")]
    assert len(phones) == 2 and any(p.startswith("iPhone 12") for p in phones), phones
    rows = [tr for tr in doc.iter("tr") if "data-config" in tr.attrs]
    iphone = [tr for tr in rows if tr.attrs["data-config"].startswith("iPhone 12|")]
    assert len(iphone) == 1  # two launches of one configuration
    assert model.sha256 in iphone[0].attrs["data-config"]  # identified by the file's hash
    (median,) = [td for td in iphone[0].iter("td") if td.has_class("median")]
    assert float(median.attrs["data-v"]) == pytest.approx(28767.0)
    assert "iPhone 12" in doc.find("p", id="headline")[0].all_text()

    # a run of its own, twice: trend follows the iPhone, compare pairs the two imports
    ids = []
    for _ in range(2):
        own = _bench(
            db, "import", "--device-name", "iPhone 12", "--platform", "ios", "--model-file",
            str(model_path), "--variant", model.variant, str(IOS), str(IOS), str(IOS),
        )  # fmt: skip
        assert own.exit_code == 0, own.output
        ids.append(own.stdout.strip())
    trend = tmp_path / "trend.html"
    assert _bench(db, "trend", "-o", str(trend)).exit_code == 0
    labels = [
        a.all_text()
        for a in parse(trend.read_text()).iter("a")
        if a.attrs.get("href", "").startswith("#s")
    ]
    assert any(label.startswith("iPhone 12") for label in labels)
    assert any(not label.startswith("iPhone 12") for label in labels)  # the local phone beside it
    cmp = _bench(db, "compare", ids[0], ids[1], "--format", "json")
    assert cmp.exit_code == 0, cmp.output
    assert '"same"' in cmp.stdout or '"inconclusive"' in cmp.stdout
