"""``benchorch nightly run`` through the lab (``lab = "lab.toml"`` in nightly.toml), on the
three-host lab: the real host-built speed_benchmark_torch on x86_64 virtual phones,
workers as subprocesses, the nightly as a real subprocess (its own cache: files reach
the workers only through the lab database).

* A night on the phones tagged ``nightly`` (two on lab-a, two on lab-b): lab-b crashes
  mid-night and the controller running the night is SIGKILLed at the same moment. A
  second trigger resumes the same night (same run, no part queued twice) and ends with
  exit 3, lab-b named beside the launches of its phones that did not run; lab-a's
  phones ran all of theirs; the parts were queued at nightly priority. A third trigger
  is the same night again, never a second one.
* A deadline that cuts a night short: what had not run is cancelled and reported as
  not run (deadline), exit 3.

Each ends with ``lab.check_run`` and ``lab.check`` (no two sessions at once on any
phone, no lock left held)."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchorch.lab import queue
from tests.lab_e2e.lab import BENCHORCH, Lab, until

pytestmark = [pytest.mark.lab_e2e, pytest.mark.slow]

NIGHT = "2026-12-05"


@pytest.fixture
def binary(sweep_binaries: dict[str, Path]) -> Path:
    return sweep_binaries["lite"]


def _tag(lab: Lab, hosts: tuple[str, ...], tag: str) -> None:
    """Tag every phone of ``hosts`` in the scenario's lab.toml."""
    assert lab.config is not None
    text = lab.config.read_text()
    for host in hosts:
        text = text.replace(f'host = "{host}"\n', f'host = "{host}"\ntags = ["{tag}"]\n')
    lab.config.write_text(text)


def _nightly_toml(lab: Lab, variants: Path, binary: Path, devices: list[str], **extra: Any) -> Path:
    assert lab.config is not None
    keys: dict[str, Any] = {
        "lab": lab.config.name,  # relative to the nightly.toml
        "devices": devices,
        "variants": str(variants),
        "binary": str(binary),
        "dims": ["1,3,32,32"],
        "iters": 3,
        "warmup": 1,
        "launches": 5,
        "load_launches": 0,
        "cooldown_temp": "off",
        "timeout": 60.0,
        "retries": 1,
        "reconnect_timeout": 3.0,
        "out": str(lab.folder / "reports"),
    }
    nightly = {"min_coverage": 1.0, "confirm": False, **extra}
    lines = [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    lines += ["", "[nightly]", *(f"{k} = {json.dumps(v)}" for k, v in nightly.items())]
    path = lab.folder / f"nightly-{lab.config.stem}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _nightly(lab: Lab, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*BENCHORCH, "nightly", *args],
        cwd=lab.folder,
        env=lab.env("nightly"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _end(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, dict[str, Any], str]:
    out, err = proc.communicate(timeout=timeout)
    assert "{" in out, f"exit {proc.returncode}: {err[-3000:]}"
    return proc.returncode, json.loads(out[out.index("{") : out.rindex("}") + 1]), err


def test_a_night_across_two_hosts_one_crashing_ends_3_naming_the_host(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    lab.fresh()
    _tag(lab, ("lab-a", "lab-b"), "nightly")
    for host in ("lab-a", "lab-b"):
        lab.worker("--host", host)
    lab.worker("--control", "--stalled-after", "4s")
    config = _nightly_toml(lab, small_variants, binary, ["nightly"])
    run = ("run", "--config", str(config), "--night", NIGHT, "--json")
    first = _nightly(lab, *run)
    victim = lab.phone("lab-b", "pixel_7")

    def started() -> bool:
        assert first.poll() is None, first.communicate()
        return lab.stored(victim.serial) >= 2

    until(started, 240, f"2 launches stored on {victim.serial}", step=0.1)
    lab.hosts["lab-b"].crash()
    first.send_signal(signal.SIGKILL)  # the controller dies with it
    first.communicate()

    code, out, err = _end(_nightly(lab, *run))
    assert code == 3, (out, err)
    assert out["action"] == "resumed"
    status = out["status"]
    phones = {p["serial"]: p for p in status["phones"]}
    for model in ("pixel_7", "galaxy_s22"):
        a, b = lab.phone("lab-a", model), lab.phone("lab-b", model)
        assert phones[a.serial]["host"] == "lab-a"
        assert phones[a.serial]["done"] == phones[a.serial]["planned"] > 0
        assert phones[a.serial]["not_run"] == 0
        assert phones[b.serial]["host"] == "lab-b"
        assert phones[b.serial]["not_run"] > 0  # listed, with the host named
        assert "its host lab-b is down" in phones[b.serial]["reason"], phones[b.serial]
    run_id = status["run_id"]
    parts = lab.check_run(run_id, code)
    assert len(parts) == 4  # resumed: nothing queued twice
    rows = lab.rows(
        "SELECT DISTINCT priority FROM benchorch_lab_parts WHERE run_id = %s", (run_id,)
    )
    assert [r["priority"] for r in rows] == [queue.NIGHTLY]
    nights = lab.rows("SELECT night, run_id FROM nights")
    assert [(r["night"], r["run_id"]) for r in nights] == [(NIGHT, run_id)]

    # the human-readable account names the host too
    shown = subprocess.run(
        [*BENCHORCH, "nightly", "status", "--config", str(config), "--night", NIGHT],
        cwd=lab.folder,
        env=lab.env("nightly"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"{victim.serial} on lab-b: planned {phones[victim.serial]['planned']}" in shown.stdout
    assert "its host lab-b is down" in shown.stdout

    again, out3, _ = _end(_nightly(lab, *run))  # a third trigger: the same night
    assert again == 3 and out3["status"]["run_id"] == run_id
    assert len(lab.rows("SELECT 1 FROM nights")) == 1
    assert len(lab.rows("SELECT 1 FROM benchorch_lab_parts WHERE run_id = %s", (run_id,))) == 4
    lab.hosts["lab-b"].start()
    lab.check()


def test_a_lab_night_cut_by_its_deadline_lists_what_did_not_run(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    lab.fresh()
    lab.worker("--host", "lab-c")
    phone = lab.phone("lab-c", "galaxy_s22")
    config = _nightly_toml(lab, small_variants, binary, [phone.serial])
    config.write_text(config.read_text().replace("launches = 5", "launches = 60"))
    code, out, _ = _end(
        _nightly(
            lab,
            "run",
            "--config",
            str(config),
            "--json",
            "--deadline",
            (dt.datetime.now() + dt.timedelta(seconds=25)).strftime("%H:%M:%S"),
        )
    )
    assert code == 3, out
    status = out["status"]
    (p,) = status["phones"]
    assert status["deadline_hit"] and p["not_run"] > 0 and p["reason"] == "deadline", p
    assert 0 < p["done"] < p["planned"]
    lab.check_run(status["run_id"], code)
    lab.check()
