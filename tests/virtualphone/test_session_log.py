"""The virtual phone's session log (``--session-log``): every benchmark process's start and
end with the lab guard's fencing token, read back by ``tests/support/sessions.py``, whose
overlap check must catch two benchmark processes at once on one phone."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.errors import DeviceError
from benchorch.lab import guard
from benchorch.virtualphone.sessions import parse_command
from tests.support.sessions import assert_no_overlap, overlaps, read_sessions

pytestmark = pytest.mark.slow


@contextmanager
def _logged_phone(
    adb_server: Any, virtual_phone: Any, log: Path, **faults: int
) -> Iterator[tuple[Any, AdbDevice]]:
    """A ``pixel8`` logging its sessions to ``log`` (with ``faults``), and benchorch's
    device on it, closed at the end."""
    phone = virtual_phone(profile="pixel8", faults=faults or None, session_log=log)
    dev = AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))
    try:
        yield phone, dev
    finally:
        dev.close()


def _until_a_session(log: Path, seconds: float = 10) -> None:
    """Wait (up to ``seconds``) until ``log`` holds a session's start."""
    deadline = time.monotonic() + seconds
    while not read_sessions(log) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_parse_command_finds_the_guard_token_and_the_benchmark_argv() -> None:
    line = (
        "echo @@pid@@$$ >&2; cd /data/local/tmp && sh -c 'g=$1; exec \"$@\"' sh "
        "/data/local/tmp/benchorch/lab-guard 42 ./speed_benchmark_torch '--model=a b.pt' --iter=5"
    )
    assert parse_command(line) == (42, ["./speed_benchmark_torch", "--model=a b.pt", "--iter=5"])
    assert parse_command("env BENCHORCH_LAB_TOKEN=7 ./x --model=m") == (
        7,
        ["env", "BENCHORCH_LAB_TOKEN=7", "./x", "--model=m"],
    )
    assert parse_command("./x --model=m") == (None, ["./x", "--model=m"])
    # a launch that reads the health in its own round trip: commands follow the benchmark
    folded = (
        "echo @@pid@@$$ >&2; { dumpsys battery; } 2>/dev/null; cd /d && sh -c 'exec \"$@\"' sh"
        " /d/lab-guard 9 ./sbt --model=/d/m.ptl --iter=3; r=$?; echo; { dumpsys battery; }; exit $r"
    )
    assert parse_command(folded) == (9, ["./sbt", "--model=/d/m.ptl", "--iter=3"])
    assert parse_command("echo 'unbalanced") == (None, ["echo 'unbalanced"])


def test_benchmark_processes_are_logged_with_their_token(
    adb_server: Any, virtual_phone: Any, tmp_path: Path
) -> None:
    log = tmp_path / "sessions.jsonl"
    with _logged_phone(adb_server, virtual_phone, log) as (phone, dev):
        assert dev.run(["getprop", "ro.product.model"], timeout=20).exit_code == 0  # not logged
        guard.claim(dev, 5)
        res = dev.run(guard.wrapped(dev, 5, ["sh", "-c", "sleep 0.3", "--model=m.pt"]), timeout=20)
        assert res.exit_code == 0
        plain = dev.run(["sh", "-c", "exit 3", "--model_path=m.pte"], timeout=20)
        assert plain.exit_code == 3
    phone.stop()
    events = [json.loads(x)["event"] for x in log.read_text().splitlines()]
    assert events == ["up", "start", "end", "start", "end", "down"]
    first, second = read_sessions(log)
    assert first.token == 5 and first.argv == ("sh", "-c", "sleep 0.3", "--model=m.pt")
    assert first.exit == 0 and first.end - first.start >= 0.3
    assert second.token is None and second.exit == 3 and second.start >= first.end
    assert overlaps([first, second]) == []
    assert_no_overlap([log])


def test_the_check_catches_two_benchmarks_at_once_and_a_killed_phones_session(
    adb_server: Any, virtual_phone: Any, tmp_path: Path
) -> None:
    log = tmp_path / "sessions.jsonl"
    phone = virtual_phone(profile="pixel8", session_log=log)
    both = [
        threading.Thread(target=phone.shell, args=(f"sleep 0.5 --model=m{i}.pt || sleep 0.5",))
        for i in range(2)
    ]
    for t in both:
        t.start()
    for t in both:
        t.join(30)
    a, b = read_sessions(log)
    assert overlaps([a, b]) == [(a, b)]
    with pytest.raises(AssertionError, match="sessions overlap"):
        assert_no_overlap([log])

    # a phone killed mid-session leaves no end line: the session runs until the phone's restart
    log2 = tmp_path / "killed.jsonl"
    phone2 = virtual_phone(profile="pixel8", session_log=log2)
    threading.Thread(
        target=phone2.shell, args=("sleep 60 --model=m.pt || sleep 60",), daemon=True
    ).start()
    _until_a_session(log2)
    phone2.kill()
    (open_one,) = read_sessions(log2)
    assert not open_one.ended and math.isinf(open_one.end)
    phone2.start()
    phone2.shell("true --model=m.pt")
    killed, after = read_sessions(log2)
    assert killed.end <= after.start and overlaps([killed, after]) == []


def test_drop_launch_every_two_fails_every_other_launch_only(
    adb_server: Any, virtual_phone: Any, tmp_path: Path
) -> None:
    log = tmp_path / "sessions.jsonl"
    outcomes = []
    with _logged_phone(adb_server, virtual_phone, log, drop_launch_every=2) as (phone, dev):
        for i in range(4):
            assert dev.run(["getprop", "ro.product.model"], timeout=20).complete  # not counted
            try:
                res = dev.run(["sh", "-c", "sleep 1; echo done", f"--model=m{i}.pt"], timeout=20)
                outcomes.append(res.complete and res.stdout.strip() == "done")
            except DeviceError:
                outcomes.append(False)
            phone.connect()  # the dropped transport comes back, as a flaky cable's does
    assert outcomes == [True, False, True, False]
    assert [s.exit for s in read_sessions(log)][::2] == [0, 0]


def test_a_superseded_attempts_refused_wrapper_is_no_session_at_all(
    adb_server: Any, virtual_phone: Any, tmp_path: Path
) -> None:
    log = tmp_path / "sessions.jsonl"
    with _logged_phone(adb_server, virtual_phone, log) as (_, dev):
        guard.claim(dev, 2)
        running = threading.Thread(
            target=dev.run,
            args=(guard.wrapped(dev, 2, ["sh", "-c", "sleep 1", "--model=m.pt"]),),
            kwargs={"timeout": 20},
        )
        running.start()
        _until_a_session(log, 2.5)
        late = dev.run(guard.wrapped(dev, 1, ["sh", "-c", "sleep 1", "--model=m.pt"]), timeout=20)
        running.join(20)
    assert late.exit_code == guard.SUPERSEDED_EXIT
    current, refused = read_sessions(log)
    assert (current.token, refused.token, refused.refused) == (2, 1, True)
    assert refused.start < current.end  # it did start while the other ran...
    assert overlaps([current, refused]) == []  # ...but ran no benchmark
