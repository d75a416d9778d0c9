"""benchorch.captured: captured logs read, checked and stored (real files, a real SQLite store)."""

from __future__ import annotations

import hashlib
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from benchorch.captured import (
    MAX_LOG_BYTES,
    ImportRequest,
    Platform,
    check_import,
    import_logs,
    model_format,
    read_log,
    reproduce_argv,
)
from benchorch.domain import ModelFormat
from benchorch.errors import ModelError, UsageError
from benchorch.store import Store

OUTPUTS = Path(__file__).parent / "fixtures" / "outputs"
IOS = OUTPUTS / "handmade_ios_testapp.txt"  # NSLog-prefixed TestApp lines, milliseconds
PEP = OUTPUTS / "ok_pep_lite.txt"  # a real speed_benchmark_torch output with observer lines


def test_a_testapp_log_is_one_launch_in_microseconds() -> None:
    log = read_log(IOS)
    assert log.result.us_per_iter == pytest.approx(28767.0)
    assert log.result.iters_per_sec == pytest.approx(34.762)
    assert log.sha256 == hashlib.sha256(IOS.read_bytes()).hexdigest()
    assert log.captured_at == IOS.stat().st_mtime


def _refused(path: Path, needle: str) -> str:
    with pytest.raises(UsageError) as info:
        read_log(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and needle in message
    return message


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.log"
    garbage.write_bytes(bytes(range(256)) * 8)
    _refused(garbage, "binary data")
    latin = tmp_path / "undecodable.log"  # no NUL, but not UTF-8 text either
    latin.write_bytes(bytes(range(0x80, 0x100)) * 16)
    _refused(latin, "binary data")


def test_a_1gb_log_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "huge.log"
    with huge.open("wb") as fh:  # sparse: 1 GiB on paper, nothing on disk
        fh.truncate(1 << 30)
    tracemalloc.start()
    try:
        _refused(huge, f"larger than {MAX_LOG_BYTES // 2**20} MiB")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # not even the 8 MiB cap was read


def test_a_log_with_no_finished_line_is_refused(tmp_path: Path) -> None:
    _refused(OUTPUTS / "handmade_truncated_device_dropped.txt", "is not a finished run")
    _refused(OUTPUTS / "missing_ops.txt", "missing_ops")
    _refused(OUTPUTS / "load_only_iter0.txt", "load-only")
    empty = tmp_path / "empty.log"
    empty.write_text("")
    _refused(empty, "no 'Main run finished' line")
    _refused(tmp_path / "absent.log", "cannot read log")


def test_model_format_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    lite = tmp_path / "named.pt"
    with zipfile.ZipFile(lite, "w") as zf:
        zf.writestr("model/bytecode.pkl", b"")
        zf.writestr("model/data.pkl", b"")
    full = tmp_path / "named.ptl"
    with zipfile.ZipFile(full, "w") as zf:
        zf.writestr("model/data.pkl", b"")
    flat = tmp_path / "m.ff"
    flat.write_bytes(b"\x1c\x00\x00\x00PTMF" + b"\x00" * 32)
    assert model_format(lite) is ModelFormat.LITE
    assert model_format(full) is ModelFormat.FULL_JIT
    assert model_format(flat) is ModelFormat.FLATBUFFER
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    with pytest.raises(ModelError, match="not a TorchScript file"):
        model_format(text)


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_stored_like_any_launch_and_a_bad_log_stores_nothing(tmp_path: Path) -> None:
    model = tmp_path / "mnv2.ptl"
    with zipfile.ZipFile(model, "w") as zf:
        zf.writestr("mnv2/bytecode.pkl", b"x")
    request = ImportRequest(
        "iPhone 12", Platform.IOS, (IOS, PEP), model_file=model, dims="1,3,224,224"
    )
    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        run_id = import_logs(store, check_import(request))
        df = store.launches(run_id)
        run = store.run(run_id)
        devices = store.devices(run_id)
    assert run["status"] == "ok" and run["command"] == "import"
    assert run["params"]["argv"] == reproduce_argv(request)
    assert list(df["us_per_iter"]) == pytest.approx([28767.0, read_log(PEP).result.us_per_iter])
    assert [len(s) for s in df["samples_us"]] == [0, len(read_log(PEP).result.samples_us)]
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    assert set(df["variant_sha256"]) == {sha} and set(df["variant"]) == {"mnv2"}
    assert set(df["variant_format"]) == {"lite"} and set(df["variant_size_bytes"]) == {
        model.stat().st_size
    }
    assert set(df["device_model"]) == {"iPhone 12"} and set(df["dims"]) == {"1,3,224,224"}
    assert set(df["status"]) == {"ok"} and df["stdout"].iloc[0] == IOS.read_text()
    assert devices.iloc[0]["manufacturer"] == "Apple"

    # one hostile log among good ones: refused before the store is touched
    garbage = tmp_path / "garbage.log"
    garbage.write_bytes(b"\x00\xff" * 100)
    before = (
        _rows(db, "SELECT COUNT(*) FROM runs")[0],
        _rows(db, "SELECT COUNT(*) FROM launches")[0],
    )
    with pytest.raises(UsageError, match=r"garbage\.log"):
        check_import(ImportRequest("iPhone 12", Platform.IOS, (IOS, garbage, PEP)))
    after = _rows(db, "SELECT COUNT(*) FROM runs")[0], _rows(db, "SELECT COUNT(*) FROM launches")[0]
    assert before == after == ((1,), (2,))


def test_without_a_model_file_imports_of_one_variant_pair_across_runs(tmp_path: Path) -> None:
    request = ImportRequest("lab-phone", Platform.ANDROID, (PEP,), variant="baseline")
    with Store(tmp_path / "r.sqlite") as store:
        first = import_logs(store, check_import(request))
        second = import_logs(store, check_import(request))
        a, b = store.launches(first), store.launches(second)
    assert a["variant_sha256"].tolist() == b["variant_sha256"].tolist()
    assert a["binary_sha256"].tolist() == b["binary_sha256"].tolist()
    assert set(a["variant_format"]) == {"unknown"} and set(a["variant"]) == {"baseline"}
