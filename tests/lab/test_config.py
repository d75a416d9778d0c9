"""lab.toml: the issue's contract parses; every mistake is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchorch.errors import ConfigError
from benchorch.lab.config import load_lab_config, mask_url, parse_duration

GOOD = """
[database]
url = "postgresql://benchorch:pw@db.example:5432/benchorch"

[hosts.lab-a]
ssh = "benchorch@lab-a.example:2201"
ssh_key = "~/.ssh/benchorch_lab"
known_hosts = "~/.ssh/known_hosts"
adb_port = 5037

[hosts.edge]

[phones.R58M123ABC]
host = "lab-a"
model = "galaxy_s22"
tags = ["rooted", "cooling-plate"]

[phones.local1]
host = "edge"
model = "pixel_7"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(text)
    return path


def test_the_contract_parses(tmp_path: Path) -> None:
    cfg = load_lab_config(_write(tmp_path, GOOD))
    a = cfg.hosts["lab-a"]
    assert a.ssh is not None and (a.ssh.user, a.ssh.host, a.ssh.port) == (
        "benchorch",
        "lab-a.example",
        2201,
    )
    assert a.ssh_key == Path("~/.ssh/benchorch_lab").expanduser()
    assert cfg.hosts["edge"].ssh is None and cfg.hosts["edge"].adb_port == 5037
    assert cfg.phones["R58M123ABC"].tags == ("rooted", "cooling-plate")
    assert [p.serial for p in cfg.phones_of("edge")] == ["local1"]


def test_path_from_env_and_url_from_benchorch_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path, GOOD.replace('url = "postgresql://benchorch:pw@db.example:5432/benchorch"', "")
    )
    monkeypatch.setenv("BENCHORCH_LAB", str(path))
    monkeypatch.setenv("BENCHORCH_DB", "postgresql://u@h/d")
    assert load_lab_config().database_url == "postgresql://u@h/d"
    monkeypatch.delenv("BENCHORCH_DB")
    with pytest.raises(ConfigError, match=r"\[database\] url is missing"):
        load_lab_config()
    monkeypatch.delenv("BENCHORCH_LAB")
    with pytest.raises(ConfigError, match="BENCHORCH_LAB"):
        load_lab_config()


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        (
            'host = "lab-a"',
            'host = "lab-z"',
            r"\[phones.R58M123ABC\] host = 'lab-z' names no \[hosts.lab-z\]",
        ),
        (
            'ssh = "benchorch@lab-a.example:2201"',
            'ssh = "lab-a.example"',
            r"\[hosts.lab-a\] ssh = .* user@host",
        ),
        ("adb_port = 5037", "adb_port = 70000", r"\[hosts.lab-a\] adb_port = 70000"),
        ("adb_port = 5037", "adb_prot = 5037", r"\[hosts.lab-a\] has an unknown key 'adb_prot'"),
        ('model = "galaxy_s22"', "", r"\[phones.R58M123ABC\] model is missing"),
        ('tags = ["rooted", "cooling-plate"]', 'tags = "rooted"', r"\[phones.R58M123ABC\] tags"),
        ("postgresql://benchorch:pw@", "sqlite://benchorch:pw@", r"not a postgresql:// URL"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, old: str, new: str, names: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError, match=names) as err:
        load_lab_config(_write(tmp_path, GOOD.replace(old, new, 1)))
    assert "\n" not in str(err.value) and ":pw@" not in str(err.value)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_lab_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_lab_config(_write(tmp_path, "[hosts\n"))


def test_durations_and_masking() -> None:
    assert parse_duration("2h") == 7200
    assert parse_duration("1h30m") == 5400
    assert parse_duration("45") == 45
    for bad in ("", "2x", "0s", "h"):
        with pytest.raises(ConfigError):
            parse_duration(bad)
    assert mask_url("postgresql://u:s3cr:et@h:5/d") == "postgresql://u:***@h:5/d"
    assert mask_url("postgresql://u@h/d") == "postgresql://u@h/d"


def test_max_phone_storage_per_phone_then_host_then_lab_then_2gb(tmp_path: Path) -> None:
    text = (
        GOOD.replace("[database]", 'max_phone_storage = "5GB"\n\n[database]').replace(
            "adb_port = 5037\n", 'adb_port = 5037\nmax_phone_storage = "500MB"\n'
        )
        + '\n[phones.own]\nhost = "lab-a"\nmodel = "m"\nmax_phone_storage = "1.5GiB"\n'
    )
    cfg = load_lab_config(_write(tmp_path, text))
    assert cfg.phones["own"].max_phone_storage == 3 * 2**29  # the phone's own
    assert cfg.phones["R58M123ABC"].max_phone_storage == 500 * 10**6  # its host's
    assert cfg.phones["local1"].max_phone_storage == 5 * 10**9  # the lab's
    assert load_lab_config(_write(tmp_path, GOOD)).phones["local1"].max_phone_storage == 2 * 10**9


def test_a_bad_max_phone_storage_names_its_table(tmp_path: Path) -> None:
    text = GOOD.replace('tags = ["rooted", "cooling-plate"]', 'max_phone_storage = "2 gigs"')
    with pytest.raises(ConfigError, match=r"\[phones.R58M123ABC\] max_phone_storage = '2 gigs'"):
        load_lab_config(_write(tmp_path, text))
