"""`benchorch sweep --device local`: the real binary, a real store, the real report.

Every launch here is a real process of ``speed_benchmark_torch`` built for this
host from the real PyTorch source against Debian's libtorch (``--runner python``:
of ``python -m benchorch.hostrunner``), on a model exported by the real
exporter; nothing is stubbed.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from benchorch import stats
from benchorch.cli.main import cli
from benchorch.store import Store
from benchorch.variants.manifest import Manifest
from tests.report.htmlparse import parse

pytestmark = pytest.mark.torch

PER_ITER = re.compile(r"Microseconds per iter: (\S+?)\. Iters")


@pytest.fixture(scope="module")
def small_variants(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """demo:conv_bn_relu at 1,3,16,16: baseline and fused, as .pt and .ptl."""
    pytest.importorskip("torch")
    from benchorch.variants.export import ExportOptions, export_variants

    out = tmp_path_factory.mktemp("local-variants") / "v"
    return export_variants(
        ExportOptions("demo:conv_bn_relu", out, dims="1,3,16,16", types="float", recipe="fuse,lite")
    )


@pytest.fixture(scope="module")
def local_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sweeps' cache, with the local build of speed_benchmark_torch made once
    (in ``$BENCHORCH_TEST_CACHE`` when set, so later sessions reuse it), before any
    sweep, so none of them prints the first-use build line."""
    shared = os.environ.get("BENCHORCH_TEST_CACHE")
    root = Path(shared) / "local-sweeps" if shared else tmp_path_factory.mktemp("local-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCHORCH_CACHE", str(root))
        from benchorch.sweep.inputs import local_binary

        assert local_binary("binary").provenance.origin in ("built", "cached")
    return root


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_cache: Path) -> Path:
    monkeypatch.setenv("BENCHORCH_CACHE", str(local_cache))
    monkeypatch.setenv("BENCHORCH_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path


def _sweep(db: Path | str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--db", str(db), "sweep", "--device", "local", *args])


def test_local_sweep_stores_every_launch_and_the_report_shows_the_store(
    small_variants: Manifest, env: Path, results_db: str
) -> None:
    db = results_db  # an SQLite file, then a PostgreSQL database
    result = _sweep(
        db, "--variants", str(small_variants.root), "--launches", "2", "--iter", "4",
        "--warmup", "1", "--load-launches", "1", "--out", str(env / "reports"), "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report_path = Path(result.stdout.strip().splitlines()[-1])  # the path is printed last
    assert report_path.is_file() and report_path.parent == env / "reports"

    with Store(db) as store:
        (run_id,) = store.runs()["run_id"].tolist()
        df = store.launches(run_id)
        expected = stats.summarize(df)
        binaries = store.binaries(run_id)
    # the real binary timed them (a cached host build), not the Python host runner
    assert set(binaries["origin"]) <= {"built", "cached"} and len(binaries) == 1
    for argv in df["argv"]:  # a load launch runs it inside the sh wrapper that times it
        assert [Path(a).name for a in argv if "speed_benchmark_torch" in a]
        assert "benchorch.hostrunner" not in argv
    files = {f.name for f in small_variants.files}
    latency = df[df["kind"] == "latency"]
    # every file x 2 launches, plus one load launch per file, all ok
    assert len(latency) == 2 * len(files) and set(latency["variant_file"]) == files
    assert len(df[df["kind"] == "load"]) == len(files)
    assert (df["status"] == "ok").all()
    assert (df.loc[df["kind"] == "load", "load_s"] > 0).all()
    for _, row in latency.iterrows():
        # the stored number is the runner's own line; the samples are its PyTorchObserver lines
        (printed,) = PER_ITER.findall(row["stdout"])
        assert row["us_per_iter"] == pytest.approx(float(printed), rel=1e-5)
        assert len(row["samples_us"]) == 4
        assert f"--model={row['variant_file']}" not in row["argv"]  # device path, not host path

    doc = parse(report_path.read_text())
    assert "runner: speed_benchmark_torch" in _facts(doc)
    rows = {tr.attrs["data-config"]: tr for tr in doc.iter("tr") if "data-config" in tr.attrs}
    assert set(rows) == {k for k in expected if k.endswith("|latency")}
    for key, tr in rows.items():
        (median,) = [td for td in tr.iter("td") if td.has_class("median")]
        config = latency[latency.apply(stats.config_key, axis=1) == key]
        launch_medians = [float(np.median(s)) for s in config["samples_us"]]
        assert float(median.attrs["data-v"]) == pytest.approx(float(np.median(launch_medians)))


def test_killed_sweep_keeps_every_finished_launch(small_variants: Manifest, env: Path) -> None:
    db = env / "k.sqlite"
    cmd = [
        sys.executable, "-m", "benchorch", "--db", str(db), "sweep", "--device", "local",
        "--variants", str(small_variants.root), "--launches", "6", "--iter", "3",
        "--load-launches", "0", "--out", str(env / "reports"), "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and _count(db) < 3:
            time.sleep(0.2)
        assert _count(db) >= 3, "the sweep stored nothing in time"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    finished = _count(db)
    assert 3 <= finished < 6 * len(small_variants.files)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        statuses = {r[0] for r in conn.execute("SELECT status FROM launches")}
    assert statuses == {"ok"}
    # the report can still be made from what was stored
    with Store(db) as store:
        (run_id,) = store.runs()["run_id"].tolist()
    out = env / "after-kill.html"
    result = CliRunner().invoke(cli, ["--db", str(db), "report", run_id, "-o", str(out)])
    assert result.exit_code == 0, result.output
    doc = parse(out.read_text())
    assert [tr for tr in doc.iter("tr") if "data-config" in tr.attrs]


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM launches").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--model", "no/such/model.pt"], "no/such/model.pt"),
        (["--model", "demo:conv_bn_relu", "--dims", "1,3,x"], "1,3,x"),
        (["--model", "demo:conv_bn_relu", "--types", "float16"], "float16"),
        (["--model", "demo:no_such_demo"], "no_such_demo"),
        (["--model", "demo:conv_bn_relu", "--threads", "0"], "threads"),
    ],
)
def test_bad_input_is_a_one_line_usage_error(env: Path, args: list[str], needle: str) -> None:
    result = _sweep(env / "e.sqlite", *args, "--quiet")
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr


def test_corrupt_model_file(env: Path) -> None:
    bad = env / "corrupt.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a TorchScript archive")
    result = _sweep(env / "e.sqlite", "--model", str(bad), "--quiet")
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "corrupt.pt" in lines[0]


def test_unknown_device_is_an_infrastructure_error(small_variants: Manifest, env: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["--db", str(env / "e.sqlite"), "sweep", "--device", "no-such-phone", "--adb",
         "127.0.0.1:9", "--variants", str(small_variants.root), "--binary", sys.executable,
         "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0]


def test_unwritable_output_folder_is_refused_before_anything_runs(
    small_variants: Manifest, env: Path
) -> None:
    blocker = env / "file-not-folder"
    blocker.write_text("")
    db = env / "u.sqlite"
    result = _sweep(db, "--variants", str(small_variants.root), "--out", str(blocker / "r"), "-q")
    assert result.exit_code == 2, result.output
    assert "file-not-folder" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert _count(db) == 0


def test_bytecode_version_reaches_the_export(env: Path) -> None:
    """`sweep --model ... --bytecode-version 7` times lite files lowered to version 7."""
    db = env / "bc.sqlite"
    result = _sweep(
        db, "--model", "demo:conv_bn_relu", "--dims", "1,3,16,16", "--recipe", "lite",
        "--bytecode-version", "7", "--launches", "1", "--iter", "2", "--load-launches", "0",
        "--out", str(env / "reports"), "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        (run_id,) = store.runs()["run_id"].tolist()
        variants = store.variants(run_id)
    lite = variants[variants["format"] == "lite"]
    assert len(lite) >= 1 and set(lite["bytecode_version"]) == {7}


def _facts(doc: Any) -> str:
    """The run facts as "name: value" pairs (the first <dl class="facts">)."""
    (facts,) = [dl for dl in doc.iter("dl") if dl.attrs.get("class") == "facts"]
    items = [el for el in facts.children if el.tag in ("dt", "dd")]
    return " ".join(
        f"{dt.all_text()}: {dd.all_text()}" for dt, dd in zip(items[::2], items[1::2], strict=True)
    )


def _runner_of(db: Path) -> tuple[set[str], list[str]]:
    with Store(db) as store:
        (run_id,) = store.runs()["run_id"].tolist()
        origins = set(store.binaries(run_id)["origin"])
        argv0 = [" ".join(a[:3]) for a in store.launches(run_id)["argv"]]
    return origins, argv0


def test_runner_python_times_the_labelled_host_runner(small_variants: Manifest, env: Path) -> None:
    db = env / "py.sqlite"
    result = _sweep(
        db, "--variants", str(small_variants.root), "--runner", "python", "--launches", "1",
        "--iter", "2", "--load-launches", "0", "--out", str(env / "reports"), "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    origins, argv0 = _runner_of(db)
    assert origins == {"hostrunner"}
    assert all("-m benchorch.hostrunner" in a for a in argv0)
    report = Path(result.stdout.strip().splitlines()[-1])
    assert "runner: Python host runner" in _facts(parse(report.read_text()))


def test_no_pytorch_source_falls_back_to_the_host_runner_with_a_warning(
    small_variants: Manifest, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = env / "not-a-pytorch-tree"
    empty.mkdir()
    monkeypatch.setenv("BENCHORCH_PYTORCH_SRC", str(empty))
    db = env / "fb.sqlite"
    result = _sweep(
        db, "--variants", str(small_variants.root), "--launches", "1", "--iter", "2",
        "--load-launches", "0", "--out", str(env / "reports"), "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (warning,) = [ln for ln in result.stderr.splitlines() if "warning" in ln]
    assert "Python host runner" in warning and "BENCHORCH_PYTORCH_SRC" in warning
    origins, _ = _runner_of(db)
    assert origins == {"hostrunner"}


def test_runner_binary_without_a_source_is_a_one_line_usage_error(
    small_variants: Manifest, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCHORCH_PYTORCH_SRC", str(env / "missing"))
    db = env / "nb.sqlite"
    result = _sweep(db, "--variants", str(small_variants.root), "--runner", "binary", "--quiet")
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "BENCHORCH_PYTORCH_SRC" in lines[0], result.stderr
    assert _count(db) == 0
