"""Hub mode on real parts: Debian's sshd on loopback with the README's restricted key
(``restrict,port-forwarding,permitopen=...``), Debian's adb server on its own port,
virtual phones attached only to it, a real PostgreSQL and real worker subprocesses.

The forward serves the adb host protocol unchanged, is re-opened when its connection
is killed, notices a black-holed (SIGSTOPped) or crashed sshd and comes back with it,
refuses an unknown host key with one line naming ``lab hosts --trust-new`` (which
records it), and never sends an adb server of another version more than ``host:version``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import host_query, parse_devices_l
from benchorch.errors import DeviceError, HostKeyError
from benchorch.lab.config import HostConfig, SshTarget
from benchorch.lab.hosts import client_adb_version
from benchorch.lab.link import HostLink, LinkStatus
from tests.lab.test_hosts import OtherVersionAdbServer
from tests.lab.test_lab_cli import BENCHORCH
from tests.support.adb_fixtures import wait_for
from tests.support.sshd import SshdServer, hub_host_toml, restricted_to

pytestmark = pytest.mark.slow


@pytest.fixture
def other_version() -> Iterator[OtherVersionAdbServer]:
    server = OtherVersionAdbServer()
    yield server
    server.sock.close()


@pytest.fixture
def hub(tmp_path: Path, adb_server: Any, other_version: OtherVersionAdbServer) -> Iterator[Any]:
    server = SshdServer(
        tmp_path / "sshd", key_options=restricted_to(adb_server.port, other_version.port)
    ).start()
    yield server
    server.stop()


def _host(server: SshdServer, adb_port: int, known: Path) -> HostConfig:
    info = server.info
    return HostConfig(
        name="hub",
        ssh=SshTarget(info.user, "127.0.0.1", info.port),
        ssh_key=info.client_key,
        known_hosts=known,
        adb_port=adb_port,
    )


def _echo(dev: AdbDevice) -> str:
    return dev.run(["echo", "through the forward"], timeout=20).stdout.strip()


def test_the_forward_serves_adb_and_comes_back_after_drops_black_holes_and_crashes(
    tmp_path: Path, hub: SshdServer, adb_server: Any, virtual_phone: Any
) -> None:
    phone = virtual_phone(profile="pixel8")
    known = hub.info.known_hosts(tmp_path / "known_hosts")
    seen: list[LinkStatus] = []
    link = HostLink(
        _host(hub, adb_server.port, known), client_adb_version(), on_change=seen.append,
        interval_s=0.5, timeout_s=2.0,
    )  # fmt: skip
    with link:
        first = link.open(strict=True)
        assert (first.status, first.adb_version, first.ssh) == ("up", 41, "connected")
        assert link.addr.port != adb_server.port  # the forward's own local port
        entries = parse_devices_l(host_query(link.addr, "host:devices-l", timeout=10))
        assert [(e.serial, e.state) for e in entries] == [(phone.serial, "device")]
        dev = AdbDevice(phone.serial, addr=link.addr)
        try:
            assert _echo(dev) == "through the forward"

            # the SSH connection is killed under it: re-opened, same local port
            hub.kill_sessions()
            wait_for(lambda: link.reconnects >= 1 and link.status.up, 20, "the re-opened forward")
            assert _echo(dev) == "through the forward"

            # black-holed: sshd and its sessions SIGSTOPped answer nothing at all
            hub.pause()
            down = link.wait_for(lambda s: s.status == "down", 20)
            assert down.status == "down" and down.ssh == "unreachable", down
            with pytest.raises(DeviceError):  # refused at once by the forward, not hung
                dev.run(["echo", "x"], timeout=20)
            hub.resume()
            assert link.wait_for(lambda s: s.up, 30).up
            assert _echo(dev) == "through the forward"

            # crashed, then back on the same port and keys
            hub.stop()
            assert link.wait_for(lambda s: s.status == "down", 20).status == "down"
            hub.start()
            assert link.wait_for(lambda s: s.up, 30).up
            assert _echo(dev) == "through the forward"
        finally:
            dev.close()
    assert [s.status for s in seen][:2] == ["up", "down"]
    assert seen[-1].status == "up" and [s.status for s in seen].count("down") >= 2


def test_the_restricted_key_forwards_only_to_the_adb_server(
    tmp_path: Path, hub: SshdServer, adb_server: Any
) -> None:
    known = hub.info.known_hosts(tmp_path / "known_hosts")
    client = paramiko.SSHClient()
    client.load_host_keys(str(known))
    client.connect(
        "127.0.0.1", port=hub.port, username=hub.info.user, key_filename=str(hub.info.client_key),
        allow_agent=False, look_for_keys=False, timeout=10,
    )  # fmt: skip
    try:
        transport = client.get_transport()
        assert transport is not None
        transport.open_channel(
            "direct-tcpip", ("127.0.0.1", adb_server.port), ("127.0.0.1", 0), timeout=10
        ).close()
        with pytest.raises(paramiko.ChannelException):  # permitopen: nothing else
            transport.open_channel(
                "direct-tcpip", ("127.0.0.1", hub.port), ("127.0.0.1", 0), timeout=10
            )
    finally:
        client.close()


def _toml(
    tmp_path: Path, url: str, hub: SshdServer, adb_port: int, other: int, serial: str
) -> Path:
    known = tmp_path / "ssh" / "known_hosts"  # not there yet: the key is unknown
    path = tmp_path / "lab.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n'
        + hub_host_toml("hub", hub.info, adb_port, known)
        + hub_host_toml("odd", hub.info, other, known)
        + f'\n[phones."{serial}"]\nhost = "hub"\nmodel = "pixel_8"\n'
    )
    return path


def test_an_unknown_host_key_is_refused_until_trusted_and_a_changed_one_always(
    tmp_path: Path,
    lab_db: str,
    hub: SshdServer,
    adb_server: Any,
    virtual_phone: Any,
    other_version: OtherVersionAdbServer,
) -> None:
    phone = virtual_phone(profile="pixel8")
    config = _toml(tmp_path, lab_db, hub, adb_server.port, other_version.port, phone.serial)
    known = tmp_path / "ssh" / "known_hosts"
    runner = CliRunner()
    assert runner.invoke(cli, ["lab", "init", "--config", str(config)]).exit_code == 0

    refused = runner.invoke(cli, ["lab", "hosts", "--json", "--config", str(config)])
    assert refused.exit_code == 3
    reports = {r["host"]: r for r in json.loads(refused.stdout)}
    assert reports["hub"]["status"] == "misconfigured" and reports["hub"]["ssh"] == "refused"
    detail = reports["hub"]["detail"]
    assert "is not in" in detail and "lab hosts --trust-new" in detail and "\n" not in detail
    assert not known.exists() and other_version.asked == []  # nothing went through

    worker = subprocess.run(
        [*BENCHORCH, "lab", "worker", "--config", str(config), "--host", "hub"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert worker.returncode == 3
    (line,) = worker.stderr.strip().splitlines()
    assert "lab hosts --trust-new" in line and str(known) in line

    trusted = runner.invoke(cli, ["lab", "hosts", "--trust-new", "--config", str(config)])
    assert "trusted the new host key" in trusted.stderr and str(known) in trusted.stderr
    assert hub.info.host_pub in known.read_text()
    lines = {ln.split("\t")[0]: ln for ln in trusted.stdout.splitlines()}
    assert "\tup adb 41\t1/1 phones seen" in lines["hub"] and "ssh connected" in lines["hub"]
    # the adb server of another version behind the same forward: misconfigured, and it
    # was asked nothing but its version (never host:kill, never a listing)
    assert "misconfigured adb 32" in lines["odd"]
    assert set(other_version.asked) == {"host:version"}
    assert trusted.exit_code == 3  # because of odd

    again = runner.invoke(cli, ["lab", "hosts", "--json", "--config", str(config)])
    # lab hosts reports; only a worker records (its worker never ran past the key)
    assert {r["worker_saw"] is None for r in json.loads(again.stdout)} == {True}
    assert {r["host"]: r["status"] for r in json.loads(again.stdout)} == {
        "hub": "up",
        "odd": "misconfigured",
    }
    assert "trusted" not in again.stderr  # recorded once

    # a key that changed is refused even with --trust-new
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    changed = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    known.write_text(f"[127.0.0.1]:{hub.port} {changed}\n")
    link = HostLink(_host(hub, adb_server.port, known), 41, trust_new=True)
    with link, pytest.raises(HostKeyError, match="CHANGED"):
        link.open(supervise=False, strict=True)
    assert known.read_text() == f"[127.0.0.1]:{hub.port} {changed}\n"


def _devices(config: Path) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["lab", "devices", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    return {d["serial"]: d for d in json.loads(result.stdout)}


def test_a_hub_worker_serves_a_reservation_and_lab_adb_and_marks_its_host_down_and_up(
    tmp_path: Path, lab_db: str, hub: SshdServer, adb_server: Any, virtual_phone: Any
) -> None:
    phone = virtual_phone(profile="pixel8")
    known = hub.info.known_hosts(tmp_path / "known_hosts")
    config = tmp_path / "lab.toml"
    config.write_text(
        f'[database]\nurl = "{lab_db}"\n'
        + hub_host_toml("hub", hub.info, adb_server.port, known)
        + f'\n[phones."{phone.serial}"]\nhost = "hub"\nmodel = "pixel_8"\n'
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*BENCHORCH, "lab", args[0], "--config", str(config), *args[1:]],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    assert run("init").returncode == 0
    worker = subprocess.Popen(
        [*BENCHORCH, "lab", "worker", "--config", str(config), "--host", "hub"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _devices(config)[phone.serial]["host_status"] == "up", 60, "host up")
        held = run("reserve", phone.serial, "--ttl", "1h", "--wait", "60s")
        assert held.returncode == 0, held.stderr
        ok = run("adb", phone.serial, "--", "shell", "echo", "hi")
        assert ok.returncode == 0 and ok.stdout.strip() == "hi", ok.stderr

        hub.pause()  # black-holed
        wait_for(lambda: _devices(config)[phone.serial]["host_status"] == "down", 30, "down")
        listed = run("devices")
        assert f"{phone.serial}\thub (down)\t" in listed.stdout
        (probed,) = json.loads(run("hosts", "--json").stdout)
        assert probed["status"] == "down" and probed["worker_saw"]["status"] == "down"
        hub.resume()
        wait_for(lambda: _devices(config)[phone.serial]["host_status"] == "up", 60, "up again")
        owner = _devices(config)[phone.serial]["owner"]
        assert owner is not None and owner["kind"] == "reservation"  # held all along
        ok = run("adb", phone.serial, "--", "shell", "echo", "again")
        assert ok.returncode == 0 and ok.stdout.strip() == "again", ok.stderr
        assert run("release", phone.serial).returncode == 0
    finally:
        hub.resume()
        worker.kill()
        worker.wait(10)
