"""``base.device_log``: one LoggerAdapter per device tags every line with its serial."""

from __future__ import annotations

import logging

import pytest

from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.devices.base import device_log


def test_lines_carry_the_serial_in_the_text_and_on_the_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="benchorch.devices")
    log = device_log("benchorch.devices.adb", "127.0.0.1:5555")
    log.info("killed pid %d", 42)
    (record,) = caplog.records
    assert record.getMessage() == "127.0.0.1:5555: killed pid 42"
    assert record.serial == "127.0.0.1:5555"  # type: ignore[attr-defined]
    assert record.name == "benchorch.devices.adb"


def test_an_adb_device_and_its_parts_share_one_tagged_logger() -> None:
    dev = AdbDevice("R58M123ABC", addr=ServerAddr("127.0.0.1", 9))
    assert dev.log is dev.conn.log
    assert dev.log.extra == {"serial": "R58M123ABC"}
