"""The deployment files: the systemd timer runs nightly and catches up a missed
night; the service's and the CI workflow's commands are real benchorch
commands with options that exist (parsed by the real click CLI)."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import click

from benchorch.cli.main import cli

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / name)
    return parser


def _parses(argv: list[str]) -> None:
    """The benchorch argv parses (options known) without running anything."""
    assert argv[0].endswith("benchorch"), argv
    ctx = cli.make_context("benchorch", list(argv[1:3]), resilient_parsing=True)
    group = cli.get_command(ctx, argv[1])
    assert isinstance(group, click.Group)
    sub = group.get_command(ctx, argv[2])
    assert sub is not None, argv
    sub.make_context(argv[2], list(argv[3:]))  # raises on an unknown option


def test_timer_is_nightly_and_persistent() -> None:
    timer = _unit("benchorch-nightly.timer")["Timer"]
    assert timer["Persistent"] == "true"
    assert timer["OnCalendar"].startswith("*-*-* ")
    assert timer["Unit"] == "benchorch-nightly.service"
    analyze = shutil.which("systemd-analyze")
    if analyze:
        done = subprocess.run([analyze, "calendar", timer["OnCalendar"]], capture_output=True)
        assert done.returncode == 0, done.stderr


def test_service_runs_then_reports_with_real_options() -> None:
    lines = [
        line.split("=", 1)[1]
        for line in (DEPLOY / "systemd" / "benchorch-nightly.service").read_text().splitlines()
        if line.startswith("ExecStart=")
    ]
    assert len(lines) == 2
    assert lines[0].startswith("-")  # a short night is still reported
    run, report = (shlex.split(line.lstrip("-")) for line in lines)
    assert run[1:3] == ["nightly", "run"] and report[1:3] == ["nightly", "report"]
    for argv in (run, report):
        _parses(argv)


def test_ci_workflow_commands_parse() -> None:
    text = (DEPLOY / "ci" / "nightly.yml").read_text()
    assert "  schedule:\n    - cron: " in text and "runs-on: [self-hosted" in text
    commands = [
        line.split("run: ", 1)[1]
        for line in text.splitlines()
        if line.strip().startswith("run: benchorch ")
    ]
    assert len(commands) == 2
    for command in commands:
        _parses(shlex.split(command))
