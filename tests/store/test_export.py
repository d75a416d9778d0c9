"""benchorch.store.export on a real SQLite store: every format reads back as stored."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from benchorch.domain import ErrorKind
from benchorch.errors import OutputNotWritable
from benchorch.store import Store
from benchorch.store.export import export_run, launches_bytes
from tests.store.factory import device_info, failed_launch, launch, provenance, variant_entry

#: Floats whose repr needs 16-17 digits (pandas' to_json, 15 decimals at most, changes them).
AWKWARD = (1 / 3, 0.1234567890123456, 2 / 3 * 1e-3, 1234.5678901234567)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Store, str]:
    store = Store(tmp_path / "results.sqlite")
    run = store.create_run("benchorch sweep --device R58M123", {}, run_id="20261125-220000-aaaa")
    store.record_device(run, device_info())
    store.record_binary(run, provenance())
    store.record_variant(run, variant_entry())
    store.record_launch(launch(run, 0, samples_us=AWKWARD, wall_s=1 / 3))
    store.record_launch(launch(run, 1))
    store.record_launch(failed_launch(run, 2, ErrorKind.CRASH, core_mask=None))
    yield store, run
    store.close()


def test_json_keeps_every_float_and_null_exactly(stored: tuple[Store, str]) -> None:
    store, run = stored
    want = store.launches(run)
    data = launches_bytes(want, "json")
    rows = json.loads(data)
    assert rows[0]["samples_us"] == list(AWKWARD) and rows[0]["wall_s"] == 1 / 3
    assert rows[0]["iters_per_sec"] == want["iters_per_sec"][0]
    assert rows[2]["core_mask"] is None and rows[2]["us_per_iter"] is None
    assert rows[0]["health_before"] == want["health_before"][0]
    assert data.count(b"\n") == len(want) + 2  # one launch a line, inside one array


def test_csv_keeps_floats_and_nests_as_json_text(stored: tuple[Store, str]) -> None:
    store, run = stored
    want = store.launches(run)
    got = pd.read_csv(io.BytesIO(launches_bytes(want, "csv")))
    assert list(got.columns) == list(want.columns)
    assert json.loads(got["samples_us"][0]) == list(AWKWARD)
    assert got["wall_s"][0] == 1 / 3 and got["iters_per_sec"][0] == want["iters_per_sec"][0]
    assert json.loads(got["argv"][0]) == want["argv"][0]


def test_parquet_has_real_lists_and_health_as_json_text(stored: tuple[Store, str]) -> None:
    pytest.importorskip("pyarrow")
    store, run = stored
    want = store.launches(run)
    got = pd.read_parquet(io.BytesIO(launches_bytes(want, "parquet")))
    assert list(got["samples_us"][0]) == list(AWKWARD)
    assert json.loads(got["health_after"][0]) == want["health_after"][0]
    assert got["launch_key"].tolist() == want["launch_key"].tolist()


def test_export_run_to_a_file_a_stream_and_an_unwritable_place(
    stored: tuple[Store, str], tmp_path: Path
) -> None:
    store, run = stored
    out = tmp_path / "launches.csv"
    done = export_run(store, "latest", "csv", out)
    assert (done.run_id, done.launches) == (run, 3)
    stream = io.BytesIO()
    export_run(store, run[:8], "csv", stream)
    assert stream.getvalue() == out.read_bytes()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritable, match=r"out\.csv"):
        export_run(store, run, "csv", blocker / "out.csv")
