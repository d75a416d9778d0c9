"""The run report's assembly: failures, skips and facts side by side; the command to reproduce."""

from __future__ import annotations

import shlex
from typing import Any

from benchorch.report import model
from tests.report.conftest import EVIL, report_of


def test_failures_skips_and_facts_are_all_there(two_runs: dict[str, Any]) -> None:
    rep = report_of(two_runs)
    assert {(f.device, f.variant, f.error_kind, f.count, f.total) for f in rep.failures} == {
        ("SM-G991B", "mobile", "missing_ops", 10, 10),
        (EVIL, "mobile", "missing_ops", 10, 10),
    }
    assert rep.failures[0].message == "Unknown builtin op: aten::foo"
    assert rep.skips[0].reason.startswith("Mobile optimization")
    assert rep.n_failed == 20 and rep.n_launches == len(two_runs["b"])
    assert ("model", EVIL) in rep.phones[1]
    # facts never recorded are left out rather than printed as blank lines
    assert all(v for phone in rep.phones for _, v in phone)
    frames = dict(two_runs["frames"])
    frames["devices"] = frames["devices"].assign(manufacturer=None, sdk=None)
    bare = model.build_run_report(
        frames["run"], two_runs["b"], **{k: v for k, v in frames.items() if k != "run"}, n_boot=50
    )
    assert [k for k, _ in bare.phones[0]] == [
        k for k, _ in rep.phones[0] if k not in ("manufacturer", "sdk")
    ]
    assert "binary: 1.13.1" in rep.torch_versions and "export: 2.13.0" in rep.torch_versions


def test_reproduce_command() -> None:
    argv = {"params": {"argv": ["sweep", "--device", "R58M1", "--model", "my model.pt; rm -rf /"]}}
    cmd = model.reproduce_command(argv)
    assert shlex.split(cmd) == [
        "benchorch",
        "sweep",
        "--device",
        "R58M1",
        "--model",
        "my model.pt; rm -rf /",
    ]
    built = model.reproduce_command(
        {
            "command": "sweep",
            "params": {
                "device": ["a", "b"],
                "launches": 10,
                "quiet": True,
                "resume": None,
                "x": {"k": 1},
            },
        }
    )
    assert shlex.split(built) == [
        "benchorch",
        "sweep",
        "--device",
        "a",
        "--device",
        "b",
        "--launches",
        "10",
        "--quiet",
    ]
    assert (
        model.reproduce_command({"command": "benchorch sweep --device local"})
        == "benchorch sweep --device local"
    )
