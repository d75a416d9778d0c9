"""``benchorch nightly run`` through the lab (``lab = "lab.toml"`` in nightly.toml), on the
three-host lab: the real host-built speed_benchmark_torch on x86_64 virtual phones,
workers as subprocesses, the nightly as a real subprocess (its own cache: files reach
the workers only through the lab database).

* A night on the phones tagged ``nightly`` (two on lab-a, two on lab-b): lab-b crashes
  mid-night and the controller running the night is SIGKILLed at the same moment. A
  second trigger resumes the same night (same run): lab-b's phones' work moves to
  lab-c's phones of the same models, which run it all; it ends with exit 3, lab-b
  named beside its phones' launches that did not run and where their work went;
  lab-a's phones ran all of theirs; every part was queued at nightly priority. Once
  lab-b is back, a third trigger runs what lab-b's pixel_7 had not, in the same night
  and run: never a second night.
* A deadline that cuts a night short: what had not run is cancelled and reported as
  not run (deadline), exit 3.

Each ends with ``lab.check_run`` and ``lab.check`` (no two sessions at once on any
phone, no lock left held)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
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
    return lab.start([*BENCHORCH, "nightly", *args], "nightly")


def _end(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, dict[str, Any], str]:
    out, err = proc.communicate(timeout=timeout)
    assert "{" in out, f"exit {proc.returncode}: {err[-3000:]}"
    return proc.returncode, json.loads(out[out.index("{") : out.rindex("}") + 1]), err


def _host_is(lab: Lab, host: str, status: str) -> bool:
    rows = lab.rows("SELECT status FROM benchorch_lab_hosts WHERE name = %s", (host,))
    return bool(rows) and rows[0]["status"] == status


def test_a_night_across_two_hosts_one_crashing_ends_3_naming_the_host(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    lab.fresh()
    _tag(lab, ("lab-a", "lab-b"), "nightly")
    for host in lab.hosts:  # lab-c's phones are the spares the lost work moves to
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
    b_phones = [lab.phone("lab-b", m).serial for m in ("pixel_7", "galaxy_s22")]

    def b_parts_over() -> bool:
        rows = lab.rows(
            "SELECT status, move_reason FROM benchorch_lab_parts WHERE serial = ANY(%s)",
            (b_phones,),
        )
        return all(r["status"] not in ("running", "preparing") for r in rows)

    until(b_parts_over, 120, "lab-b's parts to end")
    until(lambda: _host_is(lab, "lab-b", "down"), 60, "lab-b marked down")

    # a second trigger: the same night, its lost work moved to lab-c
    code, out, err = _end(_nightly(lab, *run))
    assert code == 3, (out, err)
    assert out["action"] == "resumed"
    status = out["status"]
    run_id = status["run_id"]
    phones = {p["serial"]: p for p in status["phones"]}
    for model in ("pixel_7", "galaxy_s22"):
        a, b, c = (lab.phone(h, model).serial for h in ("lab-a", "lab-b", "lab-c"))
        for ran in (a, c):  # lab-a's own part, and lab-b's work moved to lab-c
            assert phones[ran]["done"] == phones[ran]["planned"] > 0, phones[ran]
        assert phones[a]["host"] == "lab-a" and phones[c]["host"] == "lab-c"
        # lab-b's phone is listed: launches not run (lab-b named), or left out; moved
        assert "lab-b" in phones[b]["reason"] or phones[b]["planned"] is None, phones[b]
        assert f"moved to {c}" in phones[b]["reason"], phones[b]
    assert "its host lab-b is down" in phones[victim.serial]["reason"]
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

    # lab-b back: a third trigger finishes what its pixel_7 had not run, in the same night
    lab.hosts["lab-b"].start()
    until(lambda: _host_is(lab, "lab-b", "up"), 60, "lab-b marked up")
    _code, out3, err3 = _end(_nightly(lab, *run))
    assert out3["status"]["run_id"] == run_id, err3
    again = {p["serial"]: p for p in out3["status"]["phones"]}[victim.serial]
    # every launch ran (the one in flight at the crash may be stored as failed)
    assert again["done"] + again["failed"] == again["planned"] and again["not_run"] == 0, again
    assert len(lab.rows("SELECT 1 FROM nights")) == 1
    assert len(lab.rows("SELECT 1 FROM runs WHERE run_id <> %s", (run_id,))) == 0
    # (lab.check_run judges one part per phone; here a phone has a part per trigger)
    stored = lab.rows(
        "SELECT launch_key, status, error_kind, message FROM launches WHERE run_id = %s",
        (run_id,),
    )
    keys = [r["launch_key"] for r in stored]
    assert len(keys) == len(set(keys)), "a launch key stored twice"
    assert all(r["status"] == "ok" or r["error_kind"] or r["message"] for r in stored)
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


SLOWED = "baseline.ptl"


def _heavier_baseline(folder: Path) -> tuple[dict[str, Any], Path]:
    """``baseline.ptl`` of a convolution stack (3->64, then sixteen 64->64 at 1,3,32,32)
    exported by the real exporter (recipe lite): its manifest entry and its file. Tens
    of times the work of demo:conv_bn_relu's (the shared test host's launch noise is
    30-50%), and nothing else about the night changes (binary, phone, settings)."""
    torch = pytest.importorskip("torch")
    from benchorch.variants.export import ExportOptions, export_variants

    layers: list[Any] = [torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.ReLU()]
    for _ in range(16):
        layers += [torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU()]
    torch.manual_seed(0)
    model = torch.nn.Sequential(*layers).eval()
    src = folder / "stack.pt"
    torch.jit.trace(model, torch.ones(1, 3, 32, 32)).save(str(src))
    out = folder / "stack-export"
    export_variants(ExportOptions(str(src), out, dims="1,3,32,32", types="float", recipe="lite"))
    doc = json.loads((out / "manifest.json").read_text())
    [entry] = [f for f in doc["files"] if f["name"] == SLOWED]
    return entry, out / entry["path"]


@pytest.mark.torch
def test_a_lab_nights_slowdown_is_confirmed_by_ab_reruns_through_the_lab(
    lab: Lab, small_variants: Path, binary: Path
) -> None:
    lab.fresh()
    lab.worker("--host", "lab-a")
    phone = lab.phone("lab-a", "pixel_7")
    assert lab.config is not None
    variants = lab.folder / f"variants-{lab.config.stem}"
    shutil.copytree(small_variants, variants)
    config = _nightly_toml(lab, small_variants, binary, [phone.serial], confirm=True)
    config.write_text(config.read_text().replace(str(small_variants), str(variants)))
    first = "2026-12-01"
    code, out, err = _end(_nightly(lab, "run", "--config", str(config), "--night", first, "--json"))
    assert code == 0, (out, err)
    # the next night's export writes a baseline.ptl doing more work, in the same folder
    entry, slow = _heavier_baseline(lab.folder)
    doc = json.loads((variants / "manifest.json").read_text())
    old = next(f for f in doc["files"] if f["name"] == SLOWED)
    shutil.copyfile(slow, variants / old["path"])
    doc["files"] = [{**entry, "path": old["path"]} if f is old else f for f in doc["files"]]
    (variants / "manifest.json").write_text(json.dumps(doc, indent=1))
    second = "2026-12-02"
    code, out, err = _end(
        _nightly(lab, "run", "--config", str(config), "--night", second, "--json")
    )
    assert code == 0, (out, err)

    # the phone held by an engineer's reservation: the A/B re-run waits confirm_wait, then
    # ends not run, naming what held the phone; the suspects stay unconfirmed (exit 3)
    code, held = lab.cli("lab", "reserve", phone.serial, "--ttl", "10m", "--wait", "60s")
    assert code == 0, held
    text = config.read_text()
    config.write_text(text.replace("[nightly]\n", '[nightly]\nconfirm_wait = "3s"\n'))
    reports = lab.folder / "night-reports"
    argv = ["report", "--config", str(config), "--night", second, "--out", str(reports)]
    report = _nightly(lab, *argv, "--format", "json")
    md, err = report.communicate(timeout=300)
    assert report.returncode == 3, (md, err)
    verdicts = json.loads(next(reports.glob(f"nightly-{second}-*.json")).read_text())["verdicts"]
    assert not verdicts["regressions"], verdicts
    error = verdicts["confirm_error"]
    assert phone.serial in error and "confirm_wait (3 s)" in error, error
    assert "held by reservation" in error, error
    code, out = lab.cli("lab", "release", phone.serial)
    assert code == 0, out
    config.write_text(text)
    for old in reports.iterdir():
        old.unlink()

    report = _nightly(lab, *argv, "--format", "json")
    md, err = report.communicate(timeout=600)
    assert report.returncode == 1, (md, err)
    verdicts = json.loads(next(reports.glob(f"nightly-{second}-*.json")).read_text())["verdicts"]
    regs = verdicts["regressions"]
    assert regs and all("baseline (lite)" in r["label"] and r["confirmed"] for r in regs), verdicts
    assert verdicts["confirm_launches"] > 0 and not verdicts["confirm_error"]
    # the A/B re-runs went through the lab: one part on the phone, holding its lock
    ab = lab.rows(
        "SELECT serial, status, priority, total, run_id FROM benchorch_lab_parts"
        " WHERE spec ? 'sides' ORDER BY id"
    )
    assert [(p["serial"], p["status"], p["priority"]) for p in ab] == [
        (phone.serial, "not run", queue.NIGHTLY),  # the reserved phone's, never started
        (phone.serial, "ok", queue.NIGHTLY),
    ]
    assert ab[1]["total"] == verdicts["confirm_launches"]
    stored = lab.rows(
        "SELECT count(*) AS n FROM launches l JOIN runs r ON r.run_id = l.run_id"
        " WHERE l.device_serial = %s AND r.command LIKE 'confirm %%'",
        (phone.serial,),
    )
    assert stored[0]["n"] == verdicts["confirm_launches"]
    attempts = lab.attempts(phone.serial)  # nights 1 and 2, the reservation, the A/B part
    assert [a.kind for a in attempts][2] == "reservation", attempts
    assert len(attempts) == 4 and all(a.ended_at is not None for a in attempts)
    lab.check()
