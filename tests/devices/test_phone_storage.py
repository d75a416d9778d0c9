"""benchorch's folder on a phone stays under ``max_phone_storage`` (``phonestore``).

Real parts: Debian's adb server and a virtual phone; files go there by
``AdbDevice.push`` and the bound is kept by ``PhoneFolder.make_room`` (a clock of
the test's own orders the uses). What could break: the wrong file evicted (not
the least recently used, one the sweep needs, one benchorch never pushed, one
outside the folder), a name reaching the shell unquoted, a bound too small
passing silently.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.devices.phonestore import MANIFEST, PhoneFolder, PhoneStorageBound, parse_size
from benchorch.errors import ConfigError
from benchorch.exits import exit_code

pytestmark = pytest.mark.slow


class Phone:
    """One virtual phone, its benchorch folder on the host, and a folder with a clock."""

    def __init__(self, adb_server: Any, phone: Any, tmp_path: Path) -> None:
        self.dev = AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))
        self.root = Path(phone.root)  # the phone's /data/local/tmp
        self.folder_on_host = self.root / "benchorch"
        self.now = 1_000.0
        self.folder = PhoneFolder(self.dev.conn, clock=lambda: self.now)
        self.src = tmp_path / "src"
        self.src.mkdir()

    def use(self, sizes: dict[str, int], bound: int) -> tuple[str, ...]:
        """A sweep part needing ``sizes`` at the next tick: room made, then the pushes."""
        self.now += 1
        evicted = self.folder.make_room(sizes, bound)
        for name, size in sizes.items():
            local = self.src / f"f{abs(hash(name))}"
            if not local.exists() or local.stat().st_size != size:
                local.write_bytes(os.urandom(size))
            self.dev.push(local, name)
        return evicted

    def files(self) -> set[str]:
        return {p.name for p in self.folder_on_host.iterdir() if p.is_file()} - {MANIFEST}


@pytest.fixture
def phone(adb_server: Any, virtual_phone: Callable[..., Any], tmp_path: Path) -> Iterator[Phone]:
    yield Phone(adb_server, virtual_phone(profile="pixel8"), tmp_path)


def test_least_recently_used_files_go_first(phone: Phone) -> None:
    for name in ("a", "b", "c"):
        assert phone.use({name: 300}, 1000) == ()
    assert phone.use({"d": 300}, 1000) == ("a",)  # 4 x 300 > 1000: the oldest goes
    phone.use({"b": 300}, 1000)  # b used again: now c is the oldest
    assert phone.use({"e": 300}, 1000) == ("c",)
    assert phone.files() == {"b", "d", "e"}
    held = [p for p in phone.folder_on_host.iterdir() if p.name != MANIFEST]
    assert sum(p.stat().st_size for p in held) <= 1000
    assert set(phone.folder.tracked()) == {"b", "d", "e"}
    # two at once when one is not enough, oldest first
    assert phone.use({"f": 650}, 1000) == ("d", "b")  # d (4th tick) before b (5th)
    assert phone.files() == {"e", "f"}


def test_a_needed_file_is_never_evicted_even_the_oldest(phone: Phone) -> None:
    for name in ("old", "x", "y"):
        phone.use({name: 300}, 1000)
    # "old" is the least recently used, but this part needs it: the others go
    assert phone.use({"old": 300, "new": 600}, 1000) == ("x", "y")
    assert phone.files() == {"old", "new"}


def test_nothing_benchorch_did_not_push_is_touched(phone: Phone) -> None:
    outside = phone.root / "someone-elses.bin"
    outside.write_bytes(b"x" * 5000)
    phone.use({"a": 300}, 1000)
    notes = phone.folder_on_host / "notes.txt"  # put in benchorch's folder by a person
    notes.write_bytes(b"y" * 5000)
    guard = phone.folder_on_host / "lab-guard"  # the lab's guard folder
    guard.mkdir()
    (guard / "token").write_text("7")
    # a manifest edited to name paths outside the folder, and the guard
    manifest = phone.folder_on_host / MANIFEST
    data = json.loads(manifest.read_text())
    data["files"].update({"../someone-elses.bin": 0, "lab-guard": 0, "/etc/passwd": 0, "..": 0})
    manifest.write_text(json.dumps(data))
    assert phone.use({"b": 900}, 1000) == ("a",)  # only what it pushed, though notes is big
    assert outside.read_bytes() == b"x" * 5000
    assert notes.read_bytes() == b"y" * 5000
    assert (guard / "token").read_text() == "7"
    assert set(phone.folder.tracked()) == {"b"}


def test_a_bound_smaller_than_the_parts_own_files_is_refused_in_one_line(phone: Phone) -> None:
    phone.use({"a": 300}, 1000)
    with pytest.raises(PhoneStorageBound) as err:
        phone.use({"model.ptl": 700, "speed_benchmark_torch-0123": 500}, 1000)
    text = str(err.value)
    assert "\n" not in text and phone.dev.serial in text
    assert "1.2 kB" in text and "max_phone_storage = 1 kB" in text
    assert "--max-phone-storage" in text and "lab.toml" in text
    assert exit_code(err.value) == 2
    assert phone.files() == {"a"}  # refused before anything was evicted


HOSTILE = [
    "$(touch pwned)",
    "`touch pwned2`",
    "a b; rm -rf ..",
    "-rf",
    'it\'s "quoted"',
    "*",
    "new\nline",
    "ünï €",
]


def test_hostile_file_names_are_pushed_tracked_and_evicted_as_plain_names(phone: Phone) -> None:
    keep = phone.root / "keep.me"
    keep.write_text("safe")
    for name in HOSTILE:
        phone.use({name: 100}, 10_000)
    assert phone.files() == set(HOSTILE)
    assert set(phone.folder.tracked()) == set(HOSTILE)
    evicted = phone.use({"last": 10_000}, 10_000)  # everything else must go
    assert evicted == tuple(HOSTILE)  # in the order they were used
    assert phone.files() == {"last"}
    assert keep.read_text() == "safe"
    for sentinel in ("pwned", "pwned2"):
        assert not list(phone.root.rglob(sentinel))
        assert not (Path.cwd() / sentinel).exists()


def test_the_device_keeps_the_bound_through_its_own_clock(phone: Phone, tmp_path: Path) -> None:
    """``AdbDevice.make_room`` (what the executor calls) tracks with the real clock."""
    src = tmp_path / "m.ptl"
    src.write_bytes(os.urandom(400))
    assert phone.dev.make_room({"m.ptl": 400}, 1000) == ()
    phone.dev.push(src, "m.ptl")
    assert phone.dev.make_room({"n.ptl": 800}, 1000) == ("m.ptl",)
    assert "m.ptl" not in phone.files()


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2GB", 2 * 10**9),
        ("500MB", 500 * 10**6),
        ("1.5GiB", 3 * 2**29),
        ("750 kB", 750_000),
        ("123", 123),
        (4096, 4096),
    ],
)
def test_sizes(text: Any, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["2 GG", "-1GB", "0", "", "lots", True, 1.5])
def test_bad_sizes_name_the_key(text: Any) -> None:
    with pytest.raises(ConfigError, match=r"max_phone_storage = .* (not a size|more than zero)"):
        parse_size(text)
