"""benchorch lab hosts: a real Debian adb server with a virtual phone, and an adb server of
another version (a fake: only one adb version exists here) that must get nothing but
``host:version`` (never ``host:kill``, never a listing)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from benchorch.lab.hosts import client_adb_version

pytestmark = pytest.mark.slow


class OtherVersionAdbServer:
    """Answers ``host:version`` with 32 and records every service it is asked for."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.asked: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                size = int(conn.recv(4), 16)
                service = conn.recv(size).decode()
                self.asked.append(service)
                if service == "host:version":
                    conn.sendall(b"OKAY00040020")
                else:
                    conn.sendall(b"FAIL0007unknown")


@pytest.fixture
def other_version() -> Iterator[OtherVersionAdbServer]:
    server = OtherVersionAdbServer()
    yield server
    server.sock.close()


def test_hosts_compares_the_version_first_and_lists_phones(
    tmp_path: Path, adb_server: Any, virtual_phone: Any, other_version: OtherVersionAdbServer
) -> None:
    assert client_adb_version() == 41  # Debian's adb 29.0.6
    phone = virtual_phone(profile="pixel8")
    config = tmp_path / "lab.toml"
    config.write_text(
        '[database]\nurl = "postgresql://u@127.0.0.1:1/x"\n'
        f"[hosts.edge]\nadb_port = {adb_server.port}\n"
        f"[hosts.odd]\nadb_port = {other_version.port}\n"
        '[hosts.remote]\nssh = "bench@127.0.0.1:2222"\n'
        f'[phones."{phone.serial}"]\nhost = "edge"\nmodel = "pixel_8"\n'
        '[phones.GONE1]\nhost = "edge"\nmodel = "pixel_8"\n'
        '[phones.ODD1]\nhost = "odd"\nmodel = "pixel_8"\n'
    )
    result = CliRunner().invoke(cli, ["lab", "hosts", "--json", "--config", str(config)])
    reports = {r["host"]: r for r in json.loads(result.output)}
    assert result.exit_code == 3  # a host misconfigured and a phone missing
    edge = reports["edge"]
    assert (edge["status"], edge["adb_version"]) == ("up", 41)
    assert edge["seen"] == {phone.serial: "device"} and edge["missing"] == ["GONE1"]
    odd = reports["odd"]
    assert (odd["status"], odd["adb_version"]) == ("misconfigured", 32)
    assert "version 32" in odd["detail"] and "41" in odd["detail"]
    assert other_version.asked == ["host:version"]  # nothing else: no listing, no host:kill
    assert (reports["remote"]["status"], reports["remote"]["ssh"]) == ("down", "unreachable")
