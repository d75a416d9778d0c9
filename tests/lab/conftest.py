"""The lab's tests: a database per test on the session's one PostgreSQL server
(``postgres``, from ``tests/support/postgres_fixtures.py``, shared with the store's tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from benchorch.cli.main import cli
from tests.support.postgres import PgServer
from tests.sweep.conftest import small_variants, sweep_binaries  # noqa: F401  (fixtures)


@pytest.fixture
def lab_db(postgres: PgServer) -> str:
    return postgres.url(postgres.new_database())


def write_lab_toml(folder: Path, url: str, extra: str = "") -> Path:
    path = folder / "lab.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n\n'
        "[hosts.lab-a]\nadb_port = 5037\n\n"
        '[hosts.lab-b]\nssh = "bench@127.0.0.1:2222"\nknown_hosts = "/tmp/kh"\n\n'
        '[phones.PHONE1]\nhost = "lab-a"\nmodel = "pixel_7"\ntags = ["rooted"]\n\n'
        '[phones.PHONE2]\nhost = "lab-a"\nmodel = "pixel_7"\n\n'
        '[phones.PHONE3]\nhost = "lab-b"\nmodel = "galaxy_s22"\ntags = ["cooling-plate"]\n' + extra
    )
    return path


@pytest.fixture
def lab_toml(tmp_path: Path, lab_db: str) -> Path:
    return write_lab_toml(tmp_path, lab_db)


@pytest.fixture
def ready(lab_toml: Path) -> Path:
    """lab.toml whose database has been through ``benchorch lab init``."""
    result = CliRunner().invoke(cli, ["lab", "init", "--config", str(lab_toml)])
    assert result.exit_code == 0, result.output
    return lab_toml
