"""File names with spaces, quotes, ``;``, ``$(...)`` and newlines: pushed intact, nothing run."""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.adb_fixtures import AdbServer

HOSTILE = st.sampled_from(
    [" ", "'", '"', ";", "$(", ")", "`", "\n", "&", "|", "*", "\\", ",", "#", "~", "é"]
)
PLAIN = st.text(alphabet="abcXYZ019._-", min_size=1, max_size=4)
NAMES = (
    st.lists(st.one_of(HOSTILE, PLAIN), min_size=1, max_size=8)
    .map("".join)
    .map(lambda s: s.replace("$(", "$(touch canary;"))
    .filter(lambda s: s not in (".", "..") and not s.startswith("-") and len(s.encode()) < 200)
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=NAMES, payload=st.binary(min_size=0, max_size=5000))
def test_hostile_names_arrive_intact_and_execute_nothing(
    virtual_phone_once, adb_server: AdbServer, tmp_path_factory, name: str, payload: bytes
) -> None:
    phone = virtual_phone_once
    local_dir = tmp_path_factory.mktemp("src")
    local = local_dir / name
    local.write_bytes(payload)
    remote = f"/data/local/tmp/in/{name}"
    res = adb_server.run("-s", phone.serial, "push", str(local), remote)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (phone.root / "in" / name).read_bytes() == payload
    # the name also survives a quoted shell line (path rewriting included)
    out = phone.shell("sha256sum " + shlex.quote(remote))
    assert out.returncode == 0, out.stderr
    assert out.stdout.lstrip("\\")[:64] == hashlib.sha256(payload).hexdigest()
    listing = phone.shell("ls -1b /data/local/tmp/in").stdout
    assert listing.strip()
    assert not list(phone.root.rglob("canary")), "a file name was executed"
    assert not (Path.cwd() / "canary").exists()
