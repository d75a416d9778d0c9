"""The executor's decisions, one at a time, on scripted in-memory devices.

``tests/support/scripted_device.py`` stands for the phones (a fake, and said so:
no adb server, no virtual phone, no sleeps beyond the milliseconds of a scripted
launch timeout). What is real: the plan, the launch classification, the parser
and the SQLite store every launch is written to. The virtual-phone sweeps in this
folder are the integration layer of the same behaviour.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from benchorch.domain import Flavour, ModelFormat
from benchorch.errors import DeviceDropped
from benchorch.store import Store
from benchorch.sweep.executor import (
    DEVICE_FAILED,
    DEVICE_INTERRUPTED,
    DEVICE_LOST,
    DEVICE_OK,
    DEVICE_REFUSED,
    DEVICE_SUPERSEDED,
    DeviceWork,
    Executor,
    SweepResult,
    SweepSettings,
    overall_status,
)
from benchorch.sweep.inputs import Binary
from benchorch.sweep.launch import LOAD_WRAPPER, LaunchPolicy
from benchorch.sweep.plan import LaunchSpec, PlanVariant, make_plan
from benchorch.sweep.settings import Order, SweepConfig
from tests.support.binaries import binary
from tests.support.scripted_device import (
    Call,
    Drop,
    GoOffline,
    Hang,
    ScriptedDevice,
    Succeed,
    Vanish,
)

FILE = "m.ptl"


def _launches(count: int, *, load: int = 0) -> list[LaunchSpec]:
    variant = PlanVariant(
        name="baseline", file=FILE, format=ModelFormat.LITE, sha256="ab" * 32,
        bytecode_version=8, input_dims="1,3,8,8", input_types="float",
        memory_format="contiguous_format", check_passed=True,
    )  # fmt: skip
    cfg = SweepConfig(
        launches=count, load_launches=load, iters=4, warmup=1, threads=(1,), order=Order.ROUND_ROBIN
    )
    return list(make_plan([variant], binary(Flavour.LITE, 4, 9), cfg).launches)


class Sweep:
    """A real store and real files; the devices are scripted."""

    def __init__(self, tmp: Path, *, retries: int = 2, timeout_s: float = 5.0) -> None:
        self.db = tmp / "results.sqlite"
        model = tmp / FILE
        model.write_bytes(b"a lite model")
        binary_file = tmp / "speed_benchmark_torch"
        binary_file.write_bytes(b"\x7fELF a binary")
        self.binary: Binary = binary(Flavour.LITE, 4, 9, path=binary_file)
        with Store(self.db) as store:
            self.run_id = store.create_run(command="test", params={})
        self.executor = Executor(
            store_path=self.db,
            settings=SweepSettings(
                run_id=self.run_id,
                launch=LaunchPolicy(
                    timeout_s=timeout_s, cooldown_temp_c=None, cooldown_max_wait_s=0
                ),
                min_battery=20,
                retries=retries,
                reconnect_s=0.01,
            ),
            variant_files={FILE: model},
        )

    def run(self, *parts: tuple[ScriptedDevice, Sequence[LaunchSpec]]) -> SweepResult:
        work = [DeviceWork(d, d.info(), self.binary, launches) for d, launches in parts]
        return self.executor.run(work)

    def rows(self, serial: str | None = None) -> list[dict[str, Any]]:
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        con.row_factory = sqlite3.Row
        try:
            sql = "SELECT * FROM launches WHERE run_id = ?"
            params: tuple[str, ...] = (self.run_id,)
            if serial is not None:
                sql += " AND device_serial = ?"
                params += (serial,)
            return [dict(r) for r in con.execute(sql + " ORDER BY id", params)]
        finally:
            con.close()

    def assert_stored_once(self) -> None:
        keys = [r["launch_key"] for r in self.rows()]
        assert len(keys) == len(set(keys)), keys


def _model_args(argvs: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The launches' argv without the pushed binary path (same launch, same tuple)."""
    return [a[1:] for a in argvs]


def test_every_launch_runs_once_and_is_stored_once(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path)
    phone = ScriptedDevice("p1")
    launches = _launches(3, load=1)
    result = sweep.run((phone, launches))

    assert result.devices["p1"].status == DEVICE_OK
    assert overall_status(result) == "ok"
    rows = sweep.rows()
    assert [r["launch_key"] for r in rows] == [s.key_for("p1") for s in launches]
    assert all(r["status"] == "ok" for r in rows)
    assert [r["kind"] for r in rows].count("load") == 1
    load = next(r for r in rows if r["kind"] == "load")
    assert load["load_s"] == pytest.approx(0.0125)  # the wrapper's device-clock reading
    assert LOAD_WRAPPER in next(a for a in phone.run_argvs if LOAD_WRAPPER in a)
    assert len(phone.run_argvs) == len(launches)
    assert phone.reconnects == 0
    # binary first (named by its hash), then each model once
    assert phone.pushed == [f"speed_benchmark_torch-{sweep.binary.sha256[:12]}", FILE]
    sweep.assert_stored_once()


def test_drop_mid_launch_reconnects_and_runs_that_launch_again(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path, retries=2)
    phone = ScriptedDevice("p1", script=[Succeed(), Drop(), Succeed(), Succeed()])
    launches = _launches(3)
    result = sweep.run((phone, launches))

    assert result.devices["p1"].status == DEVICE_OK
    assert phone.reconnects == 1
    runs = _model_args(phone.run_argvs)
    assert len(runs) == 4
    assert runs[1] == runs[2]  # the dropped launch, run again after the reconnect
    rows = sweep.rows()
    assert [r["status"] for r in rows] == ["ok"] * 3  # the half output was not stored
    assert [r["launch_key"] for r in rows] == [s.key_for("p1") for s in launches]
    sweep.assert_stored_once()


def test_drop_with_nothing_read_is_retried_too(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path, retries=1)
    phone = ScriptedDevice("p1", script=[Drop(partial=False), Succeed()])
    result = sweep.run((phone, _launches(1)))

    assert result.devices["p1"].status == DEVICE_OK
    assert phone.reconnects == 1
    assert [r["status"] for r in sweep.rows()] == ["ok"]


def test_retries_are_bounded_then_the_part_ends_lost(tmp_path: Path) -> None:
    # The phone comes back each time but drops every launch after the first.
    sweep = Sweep(tmp_path, retries=2)
    phone = ScriptedDevice("p1", script=[Succeed()], default=Drop())
    result = sweep.run((phone, _launches(3)))

    prog = result.devices["p1"]
    assert prog.status == DEVICE_LOST
    assert "2 retries" in prog.message
    assert len(phone.run_argvs) == 1 + 1 + 2  # first ok, then one launch tried 1 + 2 times
    assert phone.reconnects == 2
    rows = sweep.rows()
    assert [(r["status"], r["error_kind"]) for r in rows] == [
        ("ok", None),
        ("failed", "device_lost"),  # the last try is stored, with why
    ]
    assert overall_status(result) == "partial"
    sweep.assert_stored_once()


def test_drop_between_launches_reconnects_before_the_next(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path, retries=2)
    phone = ScriptedDevice("p1", script=[GoOffline(), Succeed(), Succeed()])
    launches = _launches(3)
    result = sweep.run((phone, launches))

    assert result.devices["p1"].status == DEVICE_OK
    assert phone.reconnects == 1
    # the second launch found the phone offline before it started, and ran after the reconnect
    assert phone.calls.index("reconnect") < len(phone.calls) - 1
    assert [r["status"] for r in sweep.rows()] == ["ok"] * 3
    sweep.assert_stored_once()


def test_a_launch_that_never_returns_is_stored_as_timeout_and_not_retried(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path, retries=2, timeout_s=0.02)
    phone = ScriptedDevice("p1", script=[Succeed(), Hang(), Succeed()])
    result = sweep.run((phone, _launches(3)))

    assert result.devices["p1"].status == DEVICE_FAILED  # finished, one launch failed
    assert result.devices["p1"].failed == 1
    assert phone.reconnects == 0
    assert len(phone.run_argvs) == 3  # a timeout is final: no retry
    rows = sweep.rows()
    assert [(r["status"], r["error_kind"], r["timed_out"]) for r in rows] == [
        ("ok", None, 0),
        ("failed", "timeout", 1),
        ("ok", None, 0),
    ]
    assert overall_status(result) == "failed"
    sweep.assert_stored_once()


def test_a_phone_lost_for_good_ends_its_part_lost_while_the_other_finishes(
    tmp_path: Path,
) -> None:
    sweep = Sweep(tmp_path, retries=1)
    good = ScriptedDevice("good")
    doomed = ScriptedDevice("doomed", script=[Succeed(), Vanish()])
    launches = _launches(4)
    result = sweep.run((good, launches), (doomed, launches))

    assert result.devices["good"].status == DEVICE_OK
    assert result.devices["doomed"].status == DEVICE_LOST
    assert overall_status(result) == "partial"
    assert result.lost_devices == ["doomed"]
    assert [r["status"] for r in sweep.rows("good")] == ["ok"] * 4
    assert [(r["status"], r["error_kind"]) for r in sweep.rows("doomed")] == [
        ("ok", None),
        ("failed", "device_lost"),
    ]
    assert doomed.reconnects == 1  # bounded by retries, then given up
    assert len(doomed.run_argvs) == 2  # ok, vanish; the retry found it offline before it ran
    assert doomed.calls[-1] == "health"  # (the retry's cooldown reading)
    sweep.assert_stored_once()


def test_a_drop_while_pushing_reconnects_and_pushes_again(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path, retries=1)
    phone = ScriptedDevice("p1", push_script=[None, DeviceDropped("cut", serial="p1")])
    result = sweep.run((phone, _launches(2)))

    assert result.devices["p1"].status == DEVICE_OK
    assert phone.reconnects == 1
    assert phone.pushed == [f"speed_benchmark_torch-{sweep.binary.sha256[:12]}"] * 2 + [FILE]
    assert len(sweep.rows()) == 2


def test_a_discharging_phone_under_min_battery_is_refused_before_any_push(
    tmp_path: Path,
) -> None:
    sweep = Sweep(tmp_path)
    low = ScriptedDevice("low", battery_level=10, charging=False)
    fine = ScriptedDevice("fine")
    result = sweep.run((low, _launches(2)), (fine, _launches(2)))

    assert result.devices["low"].status == DEVICE_REFUSED
    assert low.pushed == [] and low.run_argvs == []
    assert result.devices["fine"].status == DEVICE_OK
    assert len(sweep.rows("fine")) == 2 and sweep.rows("low") == []


def test_ctrl_c_lets_the_launches_in_flight_finish_and_stores_them(tmp_path: Path) -> None:
    """A real SIGINT to the main thread while both phones are inside a launch."""
    sweep = Sweep(tmp_path)
    stop = sweep.executor.stop
    second_in_flight = threading.Event()
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread().ident == main

    def first(argv: tuple[str, ...]) -> Succeed:
        assert second_in_flight.wait(5)
        signal.pthread_kill(main, signal.SIGINT)  # what Ctrl-C does to the sweep
        assert stop.wait(5)  # the executor heard it; this launch still finishes
        return Succeed()

    def second(argv: tuple[str, ...]) -> Succeed:
        second_in_flight.set()
        assert stop.wait(5)
        return Succeed()

    a = ScriptedDevice("a", script=[Succeed(), Call(first)])
    b = ScriptedDevice("b", script=[Succeed(), Call(second)])
    result = sweep.run((a, _launches(5)), (b, _launches(5)))

    assert result.interrupted
    assert overall_status(result) == "interrupted"
    assert {p.status for p in result.devices.values()} == {DEVICE_INTERRUPTED}
    for serial, phone in (("a", a), ("b", b)):
        rows = sweep.rows(serial)
        assert [r["status"] for r in rows] == ["ok", "ok"]  # the one in flight is stored
        assert len(phone.run_argvs) == 2  # and nothing started after Ctrl-C
    sweep.assert_stored_once()


def test_a_superseded_lab_attempt_stores_nothing_more_and_runs_nothing_more(
    tmp_path: Path,
) -> None:
    """Issue 12's fence: asked before each launch and before each result is stored."""
    sweep = Sweep(tmp_path)
    phone = ScriptedDevice("p1")
    launches = _launches(4)
    asked: list[int] = []

    def fence() -> bool:  # current for the first launch; superseded while the second runs
        asked.append(len(phone.run_argvs))
        return len(phone.run_argvs) < 2

    work = DeviceWork(phone, phone.info(), sweep.binary, launches, fence=fence)
    result = sweep.executor.run([work])

    part = result.devices["p1"]
    assert part.status == DEVICE_SUPERSEDED and "later attempt" in part.message
    assert len(phone.run_argvs) == 2  # the second ran, then its result was refused
    assert [r["launch_key"] for r in sweep.rows()] == [launches[0].key_for("p1")]
    assert asked == [0, 1, 1, 2]  # before and after each launch
    assert overall_status(result) == "partial"
