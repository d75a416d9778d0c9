"""The results store against a real SQLite file: writes, joins, filters, resume."""

from __future__ import annotations

import dataclasses
import math
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchorch.domain import ErrorKind, Status
from benchorch.errors import RunNotFound, UsageError
from benchorch.exits import ExitCode, exit_code
from benchorch.store import LaunchRecord, Store, new_run_id
from benchorch.store.launch_query import JOINED_COLUMNS
from benchorch.store.records import LAUNCH_FIELDS
from tests.store.factory import device_info, failed_launch, launch, provenance, sha, variant_entry


@pytest.fixture
def store(results_db: str) -> Iterator[Store]:
    """A fresh store on each backend: SQLite, and PostgreSQL on the session's server."""
    with Store(results_db) as s:
        yield s


def test_run_ids_are_sortable_readable_and_unique(store: Store) -> None:
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}", new_run_id())
    assert new_run_id(0) < new_run_id(86400)
    ids = [store.create_run("benchorch sweep", {"i": i}) for i in range(200)]
    assert len(set(ids)) == 200  # many in the same second: the suffix separates them
    assert list(store.runs()["run_id"]) == sorted(ids, key=ids.index)
    assert store.latest_run_id() in ids


def test_run_lifecycle_and_params(store: Store) -> None:
    rid = store.create_run("benchorch sweep --device local", {"iter": 20, "dims": ["1,3,8,8"]})
    run = store.run(rid)
    assert run["status"] == "running" and run["finished_at"] is None
    assert run["params"] == {"iter": 20, "dims": ["1,3,8,8"]}
    store.finish_run(rid, "interrupted")
    assert store.run(rid)["status"] == "interrupted"
    store.resume_run(rid)
    assert store.run(rid)["status"] == "running"
    store.finish_run(rid, "ok")
    assert store.run(rid)["status"] == "ok" and store.run(rid)["finished_at"] > 0
    with pytest.raises(ValueError):
        store.finish_run(rid, "great")
    with pytest.raises(UsageError, match="already exists"):
        store.create_run("again", {}, run_id=rid)


def test_launch_round_trips_every_field(store: Store) -> None:
    rid = store.create_run("sweep", {})
    rec = launch(rid, 3, load_s=0.125, hot=True, timed_out=False, message="fine")
    launch_id = store.record_launch(rec)
    df = store.launches(rid)
    assert len(df) == 1
    row = df.iloc[0]
    assert row["launch_id"] == launch_id
    for name in LAUNCH_FIELDS:
        got, want = row[name], getattr(rec, name)
        if isinstance(want, tuple):
            assert list(got) == list(want), name
        elif want is None:
            assert got is None or pd.isna(got), name
        else:
            assert got == want, name
    assert isinstance(row["samples_us"], list) and all(
        isinstance(x, float) for x in row["samples_us"]
    )
    assert row["health_before"]["cpu_cur_khz"] == {"7": 2_900_000}
    assert set(df.columns) >= set(LAUNCH_FIELDS) | set(JOINED_COLUMNS)


@settings(max_examples=30, deadline=None)
@given(
    samples=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), max_size=300),
    stdout=st.text(max_size=200),
)
def test_samples_and_output_are_kept_exactly(
    tmp_path_factory: pytest.TempPathFactory, samples: list[float], stdout: str
) -> None:
    path = tmp_path_factory.mktemp("hyp") / "r.sqlite"
    with Store(path) as store:
        rid = store.create_run("sweep", {})
        store.record_launch(launch(rid, samples_us=tuple(samples), stdout=stdout))
        row = store.launches(rid).iloc[0]
    assert row["samples_us"] == samples
    assert row["stdout"] == stdout


def test_launches_join_device_binary_and_variant_facts(store: Store) -> None:
    rid = store.create_run("sweep", {})
    store.record_device(rid, device_info())
    store.record_binary(rid, provenance())
    store.record_variant(rid, variant_entry())
    # The same file under a second name must not duplicate launch rows.
    store.record_variant(rid, dataclasses.replace(variant_entry(), variant="alias"))
    store.record_launch(launch(rid, 0))
    store.record_launch(launch(rid, 1, device_serial="other", binary_sha256=sha("unknown")))
    df = store.launches(rid).set_index("launch_index")
    assert len(df) == 2
    first = df.loc[0]
    assert first["device_model"] == "SM-G991B"
    assert first["device_fingerprint"].startswith("samsung/SM-G991B")
    assert first["device_soc"] == "exynos2100"
    assert first["binary_flavour"] == "lite"
    assert first["variant_size_bytes"] == 4321
    assert first["variant_steps"] == ["fused", "quantized"]
    assert first["check_passed"] is True
    assert math.isclose(first["check_cosine"], 0.999)
    # Facts that were never recorded come back missing, not invented.
    assert pd.isna(df.loc[1, "device_model"]) and pd.isna(df.loc[1, "binary_flavour"])


def test_binaries_and_variants_are_deduplicated_by_sha256(store: Store) -> None:
    runs = [store.create_run("sweep", {}) for _ in range(2)]
    for rid in runs:
        store.record_binary(rid, provenance())
        store.record_binary(rid, provenance())
        store.record_variant(rid, variant_entry())
        store.record_variant(rid, variant_entry())
    counts = store.counts()
    assert counts["binaries"] == 1 and counts["variant_files"] == 1
    assert counts["run_binaries"] == 2 and counts["run_variants"] == 2
    for rid in runs:
        assert list(store.binaries(rid)["sha256"]) == [sha("sbt-lite")]
        variants = store.variants(rid)
        assert list(variants["variant"]) == ["fused+quantized"]
        assert variants["check_passed"].tolist() == [True]
        assert variants.iloc[0]["input_dims"] == "1,3,224,224"


def test_devices_and_skips_frames(store: Store) -> None:
    rid = store.create_run("sweep", {})
    store.record_device(rid, device_info())
    store.record_device(rid, device_info("emulator-5554", "Pixel 7"))
    store.record_skip(
        rid,
        device="emulator-5554",
        variant="baseline",
        config={"dims": "1,3,8,8", "binary": "lite"},
        reason="full-JIT .pt on a lite binary",
    )
    devices = store.devices(rid)
    assert list(devices["serial"]) == ["R58M123", "emulator-5554"]
    assert devices.iloc[0]["clusters"][0]["name"] == "big"
    assert list(devices.iloc[0]["abis"]) == ["arm64-v8a", "armeabi-v7a"]
    skips = store.skips(rid)
    assert skips.iloc[0]["config"] == {"dims": "1,3,8,8", "binary": "lite"}
    assert skips.iloc[0]["reason"] == "full-JIT .pt on a lite binary"


def test_filters_by_runs_device_and_since(store: Store) -> None:
    a, b, c = (store.create_run("sweep", {}) for _ in range(3))
    t0 = datetime(2026, 11, 20, tzinfo=UTC).timestamp()
    store.record_launch(launch(a, 0, started_at=t0, finished_at=t0 + 1))
    store.record_launch(launch(b, 0, started_at=t0 + 86400, finished_at=t0 + 86401))
    store.record_launch(
        launch(c, 0, device_serial="pixel", started_at=t0 + 2 * 86400, finished_at=t0)
    )
    assert set(store.launches()["run_id"]) == {a, b, c}
    assert set(store.launches(a)["run_id"]) == {a}
    assert set(store.launches([a, c])["run_id"]) == {a, c}
    assert set(store.launches(device="pixel")["run_id"]) == {c}
    assert set(store.launches(device=["pixel", "R58M123"])["run_id"]) == {a, b, c}
    assert set(store.launches(since="2026-11-21")["run_id"]) == {b, c}
    assert set(store.launches(since=datetime(2026, 11, 22, tzinfo=UTC))["run_id"]) == {c}
    assert set(store.launches(since=t0 + 1)["run_id"]) == {b, c}
    assert store.launches([])["run_id"].tolist() == []
    with pytest.raises(UsageError, match="not a date"):
        store.launches(since="last tuesday")
    with pytest.raises(RunNotFound):
        store.launches([a, "20000101-000000-0000"])
    lean = store.launches(a, include_output=False).iloc[0]
    assert (lean["stdout"], lean["health_before"], lean["argv"]) == ("", None, None)
    assert lean["samples_us"] == list(launch(a, 0).samples_us)


def test_done_launch_keys_count_final_outcomes_only(store: Store) -> None:
    rid = store.create_run("sweep", {})
    store.record_launch(launch(rid, 0))
    store.record_launch(failed_launch(rid, 1, ErrorKind.MISSING_OPS))
    store.record_launch(failed_launch(rid, 2, ErrorKind.TIMEOUT, timed_out=True))
    store.record_launch(failed_launch(rid, 3, ErrorKind.DEVICE_LOST))
    store.record_launch(failed_launch(rid, 4, ErrorKind.INFRA))
    store.record_launch(failed_launch(rid, 5, ErrorKind.DEVICE_LOST))
    store.record_launch(launch(rid, 5))  # retried after the drop, now done
    store.record_launch(launch(rid, 6, status=Status.UNPARSEABLE, error_kind=ErrorKind.UNPARSEABLE))
    keys = {int(k.rsplit("|", 1)[1]) for k in store.done_launch_keys(rid)}
    assert keys == {0, 1, 2, 5, 6}
    other = store.create_run("sweep", {})
    assert store.done_launch_keys(other) == set()


def test_unknown_runs_are_usage_errors(store: Store) -> None:
    ghost = "20000101-000000-dead"
    for call in (
        lambda: store.record_launch(launch(ghost)),
        lambda: store.record_device(ghost, device_info()),
        lambda: store.record_binary(ghost, provenance()),
        lambda: store.finish_run(ghost, "ok"),
        lambda: store.run(ghost),
        lambda: store.done_launch_keys(ghost),
        lambda: store.skips(ghost),
    ):
        with pytest.raises(RunNotFound) as info:
            call()
        assert exit_code(info.value) == ExitCode.USAGE
        assert ghost in str(info.value) and "benchorch runs" in str(info.value)
    # A rejected write leaves nothing behind.
    assert store.launches().empty and store.runs().empty


def test_resolve_run_id(store: Store) -> None:
    with pytest.raises(RunNotFound, match="no runs"):
        store.resolve_run_id("latest")
    a = store.create_run("sweep", {}, run_id="20261101-000000-aaaa")
    b = store.create_run("sweep", {}, run_id="20261102-000000-bbbb")
    assert store.resolve_run_id("latest") == b
    assert store.resolve_run_id(a) == a
    assert store.resolve_run_id("20261101") == a
    with pytest.raises(RunNotFound, match="several"):
        store.resolve_run_id("202611")
    with pytest.raises(RunNotFound):
        store.resolve_run_id("2026_1")  # LIKE wildcards are literal


def test_runs_summary_counts(store: Store) -> None:
    rid = store.create_run("benchorch sweep --device R58M123", {"launches": 3})
    store.record_device(rid, device_info())
    store.record_launch(launch(rid, 0))
    store.record_launch(failed_launch(rid, 1, ErrorKind.CRASH, device_serial="pixel"))
    runs = store.runs()
    row = runs.iloc[0]
    assert (row["launches"], row["failures"]) == (2, 1)
    assert row["devices"] == ["R58M123", "pixel"]
    assert store.run(rid)["devices"] == ["R58M123", "pixel"]


def test_threads_share_one_store(store: Store) -> None:
    rid = store.create_run("sweep", {})
    ids: list[int] = []
    lock = threading.Lock()

    def worker(serial: str) -> None:
        for i in range(40):
            rowid = store.record_launch(launch(rid, i, device_serial=serial))
            with lock:
                ids.append(rowid)

    threads = [threading.Thread(target=worker, args=(f"phone{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    df = store.launches(rid)
    assert len(df) == 160 and sorted(df["launch_id"]) == sorted(ids)
    assert df.groupby("device_serial").size().to_dict() == {f"phone{n}": 40 for n in range(4)}


def test_launch_record_validates_and_normalises() -> None:
    rec = launch("r", status=Status.FAILED, error_kind=ErrorKind.CRASH, samples_us=[1, 2])
    assert rec.status == "failed" and rec.error_kind == "crash"
    assert rec.samples_us == (1.0, 2.0)
    assert rec.final
    assert not dataclasses.replace(rec, error_kind=ErrorKind.DEVICE_LOST).final
    with pytest.raises(ValueError, match="kind"):
        dataclasses.replace(rec, kind="throughput")
    with pytest.raises(TypeError):
        LaunchRecord("positional")  # type: ignore[call-arg]


def _same_cells(lean: pd.DataFrame, full: pd.DataFrame) -> None:
    """``lean`` holds ``full``'s values (and dtypes) for every lean column."""
    from benchorch.store.launch_query import LEAN_COLUMNS

    assert list(lean.columns) == list(LEAN_COLUMNS)
    assert len(lean) == len(full)
    for name in LEAN_COLUMNS:
        if name == "samples_us":
            got = [a.tolist() for a in lean[name]]
            assert got == full[name].tolist()
            assert all(a.dtype == "float64" and not a.flags.writeable for a in lean[name])
            continue
        assert lean[name].dtype == full[name].dtype, name
        pd.testing.assert_series_equal(lean[name], full[name], check_names=False)


def test_lean_launches_hold_the_same_cells_as_launches(store: Store) -> None:
    a, b = store.create_run("sweep", {}), store.create_run("sweep", {})
    store.record_device(a, device_info())
    store.record_binary(a, provenance())
    for i in range(3):
        store.record_launch(launch(a, i, core_mask=None if i == 1 else 0xF0, hot=i == 2))
    store.record_launch(failed_launch(a, 3, ErrorKind.CRASH))
    # Unknown device and binary facts (NULL joins), another run, a load launch.
    store.record_launch(
        launch(b, 0, device_serial="pixel", kind="load", load_s=0.5, samples_us=(), threads=1)
    )
    _same_cells(store.lean_launches(), store.launches(include_output=False))
    _same_cells(store.lean_launches(b), store.launches(b))
    _same_cells(store.lean_launches(device="pixel"), store.launches(device="pixel"))
    # Statistics read either frame alike (arrays or lists of samples).
    from benchorch import stats

    for key in ("config_key", "series_key"):
        pd.testing.assert_frame_equal(
            stats.run_medians(store.lean_launches(), key=key),
            stats.run_medians(store.launches(), key=key),
        )
    empty = store.lean_launches(since="2100-01-01")
    assert empty.empty and "samples_us" in empty.columns
    with pytest.raises(RunNotFound):
        store.lean_launches("20000101-000000-0000")


def test_lean_launches_read_values_holding_its_separators_as_text(store: Store) -> None:
    """The lean query joins the identity fields with ASCII 31, each value
    prefixed with ``=``; names holding separators, empty names and NULLs must
    come back unchanged."""
    rid = store.create_run("sweep", {})
    store.record_device(rid, device_info("odd", "model\x1fwith\x1eseparators"))
    store.record_launch(launch(rid, 0, device_serial="odd", variant="v\x1f<script>"))
    store.record_launch(launch(rid, 1))
    lean = store.lean_launches(rid)
    _same_cells(lean, store.launches(rid))
    # An empty name and a lone separator are values, not NULL (the unknown phone's model).
    store.record_device(rid, device_info("blank", ""))
    store.record_device(rid, device_info("rs", "\x1e"))
    for i, serial in enumerate(("blank", "rs", "unknown")):
        store.record_launch(launch(rid, 2 + i, device_serial=serial, variant=""))
    models = store.lean_launches(rid)["device_model"].tolist()
    assert models[2:4] == ["", "\x1e"] and pd.isna(models[4])
    lean = store.lean_launches(rid)
    _same_cells(lean, store.launches(rid))
    assert lean["device_model"].iloc[0] == "model\x1fwith\x1eseparators"
    assert lean["variant"].iloc[0] == "v\x1f<script>"
