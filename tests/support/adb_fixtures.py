"""Fixtures over ``benchorch.virtualphone.harness``: an isolated Debian ``adb``
server and virtual phones attached to it.

* ``adb_server`` (session): ``harness.AdbServer`` started in a temporary HOME.
* ``virtual_phone`` (factory, per test): ``virtual_phone(profile="pixel8",
  faults={"hang": "sleep"}, root=None, session_log=None)`` starts a ``harness.VirtualPhone`` and
  waits until ``adb devices`` says ``device``. Teardown stops every phone by PID
  and disconnects it from the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchorch.virtualphone.harness import (
    ADB,
    FAULT_FLAGS,
    AdbServer,
    VirtualPhone,
    child_pids,
    free_port,
    kill_group,
    wait_for,
)

__all__ = [
    "ADB",
    "FAULT_FLAGS",
    "REPO",
    "AdbServer",
    "VirtualPhone",
    "_children",
    "adb_server",
    "child_pids",
    "free_port",
    "kill_group",
    "virtual_phone",
    "wait_for",
]

REPO = Path(__file__).resolve().parents[2]
_children = child_pids  # the name the sweep fault tests use


@pytest.fixture(scope="session")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdbServer]:
    if not Path(ADB).exists():
        pytest.skip("Debian's adb is not installed (tools/setup.sh installs it)")
    server = AdbServer(tmp_path_factory.mktemp("adb-home"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def virtual_phone(
    adb_server: AdbServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., VirtualPhone]]:
    phones: list[VirtualPhone] = []

    def make(
        profile: str = "pixel8",
        faults: dict[str, Any] | None = None,
        root: Path | None = None,
        connect: bool = True,
        session_log: Path | None = None,
    ) -> VirtualPhone:
        base = tmp_path_factory.mktemp("vphone")
        phone_root = root if root is not None else base / "data_local_tmp"
        phone_root.mkdir(parents=True, exist_ok=True)
        phone = VirtualPhone(
            adb_server,
            phone_root,
            profile,
            faults or {},
            base / "phone.log",
            session_log=session_log,
        )
        phones.append(phone)
        phone.start(connect=connect)
        return phone

    yield make
    for phone in phones:
        phone.close()
