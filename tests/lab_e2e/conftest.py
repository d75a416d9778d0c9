"""The lab end-to-end suite's one lab (``lab.py``), shared by every scenario of the session:
three hosts in their own PID namespaces on the session's PostgreSQL. Each scenario takes
``lab`` and calls ``lab.fresh()`` first (its own database, no workers, every host healthy)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from benchorch.virtualphone.harness import ADB
from tests.lab_e2e.lab import Lab
from tests.support.postgres import PgServer, pg_server
from tests.sweep.conftest import small_variants, sweep_binaries

__all__ = ["dedicated_postgres", "lab", "small_variants", "sweep_binaries"]


@pytest.fixture(scope="session")
def lab(postgres: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail("the lab e2e suite needs root and unshare (a PID namespace per lab host)")
    if not os.path.exists(ADB):
        pytest.fail("Debian's adb is not installed (tools/setup.sh installs it)")
    the_lab = Lab.build(tmp_path_factory.mktemp("lab"), postgres)
    try:
        yield the_lab
    finally:
        the_lab.close()


@pytest.fixture
def dedicated_postgres() -> Iterator[PgServer]:
    """A PostgreSQL server of the test's own, for a scenario that restarts it."""
    with pg_server() as server:
        yield server
