"""The virtual phone's log: logd, ``logcat`` and ``log``, through Debian's real adb.

Writers are real processes on the phone speaking liblog's datagram protocol
(``log``, or any program writing to ``$BENCHORCH_LOGDW``); what logcat prints
is read with ``adb logcat`` and ``adb shell logcat``, as on a phone.
"""

from __future__ import annotations

import re
import socket
import subprocess

import pytest

from benchorch.virtualphone.harness import ADB
from benchorch.virtualphone.logd import (
    Entry,
    Request,
    UsageProblem,
    decode,
    encode,
    format_entry,
    parse_args,
)

THREADTIME = re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +(\d+) +(\d+) ([VDIWEF]) (\S+) *: (.*)$")


def test_a_datagram_round_trips_and_a_torn_one_is_dropped() -> None:
    packet = encode(4, "ExecuTorch", "Iteration 1 of 5: 4.1 ms", tid=77, at=1_700_000_000.25)
    entry = decode(packet, 4242)
    assert entry == Entry(0, 1_700_000_000, 250_000_000, 4242, 77, 4, "ExecuTorch", entry.message)
    assert entry.message == "Iteration 1 of 5: 4.1 ms"
    assert decode(packet[:12], 1) is None  # header and priority only
    assert decode(packet.replace(b"\0", b"x"), 1) is None  # no end to the tag


def test_filters_and_formats_are_logcats() -> None:
    req = parse_args(["-d", "-s", "ExecuTorch:I"])
    assert req.dump and not req.clear
    seen = [
        Entry(0, 0, 0, 1, 1, p, tag, "m")
        for tag in ("ExecuTorch", "other")
        for p in (3, 4, 6)  # D, I, E
    ]
    assert [(e.tag, e.priority) for e in seen if req.shows(e)] == [
        ("ExecuTorch", 4),
        ("ExecuTorch", 6),
    ]
    every = parse_args([])
    assert all(every.shows(e) for e in seen) and every.fmt == "threadtime"
    # ANDROID_LOG_TAGS counts only without filter specs on the command line
    assert not parse_args(["-d"], "*:S").shows(seen[0])
    assert parse_args(["-d", "ExecuTorch:D"], "*:S").shows(seen[0])
    entry = Entry(0, 1_700_000_000, 5_000_000, 4242, 4243, 4, "ExecuTorch", "a\nb")
    brief = format_entry(entry, "brief")
    assert brief == "I/ExecuTorch( 4242): a\nI/ExecuTorch( 4242): b\n"
    first = format_entry(entry, "threadtime").splitlines()[0]
    m = THREADTIME.match(first)
    assert m and m.groups() == ("4242", "4243", "I", "ExecuTorch", "a")
    assert first.split()[1].endswith(".005")
    assert format_entry(Entry(0, 0, 0, 7, 7, 5, "ab", "x"), "tag") == "W/ab      : x\n"
    for bad in (["-v", "fancy"], ["-q"], ["-t", "0"], ["ExecuTorch:Q"], ["-b", "nope"]):
        with pytest.raises(UsageProblem):
            parse_args(bad)
    assert parse_args(["-t", "3"]) == Request(dump=True, tail=3)


def _logcat_adb(adb_server, serial: str, *args: str) -> str:
    done = adb_server.run("-s", serial, "logcat", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_logcat_on_the_phone_clears_dumps_and_filters(adb_server, virtual_phone) -> None:
    phone = virtual_phone(profile="x86_64_emulator")
    out = phone.shell(
        "log -t ExecuTorch 'Model loaded in 1.5 ms.'; log -p d -t ExecuTorch debug;"
        " log -p e -t Other 'not ours'; echo $$"
    )
    assert out.returncode == 0, out.stderr
    dump = _logcat_adb(adb_server, phone.serial, "-d", "-s", "ExecuTorch:I")
    lines = dump.splitlines()
    assert lines[0] == "--------- beginning of main"
    assert len(lines) == 2, dump  # the debug line and the other tag are filtered out
    m = THREADTIME.match(lines[1])
    assert m is not None, lines[1]
    pid, _tid, prio, tag, message = m.groups()
    assert (prio, tag, message) == ("I", "ExecuTorch", "Model loaded in 1.5 ms.")
    assert int(pid) > 1  # the writer's real pid, as the kernel told logd
    everything = phone.shell("logcat -d -v brief").stdout
    assert "E/Other   (" in everything and "D/ExecuTorch(" in everything
    cleared = phone.shell("logcat -c")
    assert cleared.returncode == 0 and cleared.stdout == ""
    assert _logcat_adb(adb_server, phone.serial, "-d") == ""
    bad = phone.shell("logcat -d -v fancy")
    assert bad.returncode == 1 and 'Invalid parameter "fancy" to -v.' in bad.stdout + bad.stderr


def test_a_program_writes_to_logd_and_logcat_follows(adb_server, virtual_phone) -> None:
    phone = virtual_phone(profile="x86_64_emulator")
    follow = subprocess.Popen(
        [
            ADB,
            "-P",
            str(adb_server.port),
            "-s",
            phone.serial,
            "logcat",
            "-v",
            "brief",
            "-s",
            "ExecuTorch",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=adb_server.env,
    )
    try:
        # a writer of its own (not the log command): python on the phone, liblog's bytes
        sender = (
            "import os,socket,struct,time;s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM);"
            "t=time.time();p=struct.pack('<BHII',0,1,int(t),0)+bytes([4])+b'ExecuTorch\\0';"
            "[s.sendto(p+b'Iteration %d of 2\\0' % i,os.environ['BENCHORCH_LOGDW'])"
            " for i in (1,2)];print(os.getpid())"
        )
        sent = phone.shell(f"python3 -c {sender!r}")
        assert sent.returncode == 0, sent.stderr
        pid = int(sent.stdout.split()[-1])
        assert follow.stdout is not None
        got = [follow.stdout.readline() for _ in range(3)]
        assert got == [
            "--------- beginning of main\n",
            f"I/ExecuTorch({pid:5d}): Iteration 1 of 2\n",
            f"I/ExecuTorch({pid:5d}): Iteration 2 of 2\n",
        ]
    finally:
        follow.kill()
        follow.wait()


def test_the_write_socket_takes_only_datagrams(virtual_phone) -> None:
    phone = virtual_phone(profile="x86_64_emulator")
    path = phone.shell("echo $BENCHORCH_LOGDW").stdout.strip()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s, pytest.raises(OSError):
        s.connect(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"junk", path)  # too short to be an entry: dropped, logd lives on
    phone.shell("log -t ExecuTorch after")
    assert phone.shell("logcat -d -v raw -s ExecuTorch").stdout.splitlines()[-1] == "after"
