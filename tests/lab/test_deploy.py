"""The lab's systemd units: their benchorch commands are real commands with options that
exist (parsed by the real click CLI), stopped by SIGTERM; the adb server listens as
docs/LAB.md says."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import click
import pytest

from benchorch.cli.main import cli

SYSTEMD = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


def _service(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(SYSTEMD / name)
    return parser["Service"]


@pytest.mark.parametrize(
    ("unit", "mode"),
    [
        ("benchorch-lab-worker@.service", ["--host", "%i"]),
        ("benchorch-lab-control.service", ["--control"]),
    ],
)
def test_worker_units_run_real_lab_commands(unit: str, mode: list[str]) -> None:
    service = _service(unit)
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/benchorch") and argv[1:3] == ["lab", "worker"]
    assert argv[-len(mode) :] == mode
    ctx = cli.make_context("benchorch", ["lab"], resilient_parsing=True)
    lab = cli.get_command(ctx, "lab")
    assert isinstance(lab, click.Group)
    worker = lab.get_command(ctx, "worker")
    assert worker is not None
    parsed = worker.make_context("worker", argv[3:])  # raises on an unknown option
    assert parsed.params["config_path"] == Path("/etc/benchorch/lab.toml")
    assert service["KillSignal"] == "SIGTERM"


def test_adb_server_unit_is_the_loopback_nodaemon_server() -> None:
    service = _service("benchorch-adb-server.service")
    assert shlex.split(service["ExecStart"])[1:] == ["-P", "5037", "nodaemon", "server"]
    assert service["Restart"] == "always"
