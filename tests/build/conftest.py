"""A real OpenSSH server (Debian's sshd) on a free loopback port, for --build-host tests
(``tests/support/sshd.py``, shared with the lab's tests): one for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.sshd import Sshd, SshdServer, keygen

__all__ = ["Sshd", "keygen", "sshd"]


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    try:
        server = SshdServer(tmp_path_factory.mktemp("sshd")).start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server.info
    finally:
        server.stop()
