"""The SSH edge against a REAL OpenSSH server on loopback (see conftest.py)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from benchorch.build.remote import RemoteHost, SshOptions
from benchorch.errors import HostKeyError, RemoteError, UsageError
from benchorch.exits import ExitCode, exit_code
from tests.build.conftest import Sshd, keygen


def opts(sshd: Sshd, known: Path, **kw: object) -> SshOptions:
    return SshOptions.parse(sshd.spec, known_hosts=known, identity=sshd.client_key, **kw)


def test_parse_build_host() -> None:
    o = SshOptions.parse("ci@build.example:2222")
    assert (o.user, o.host, o.port, o.label) == (
        "ci",
        "build.example",
        2222,
        "ci@build.example:2222",
    )
    assert SshOptions.parse("box").port == 22
    with pytest.raises(UsageError):
        SshOptions.parse("a b@c")


def test_unknown_host_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    with pytest.raises(HostKeyError) as info:
        RemoteHost(opts(sshd, known))
    assert "not in" in str(info.value) and "SHA256:" in str(info.value)
    assert exit_code(info.value) == ExitCode.INFRA
    assert not known.exists()  # nothing written without --trust-new-host-key


def test_trust_new_host_key_adds_it_and_it_is_then_known(
    sshd: Sshd, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    with RemoteHost(opts(sshd, known, trust_new_host_key=True)) as host:
        assert host.run_capture(["echo", "hi"])[1] == "hi\n"
    said = capsys.readouterr().err
    assert "trusted the new host key" in said and str(known) in said and "SHA256:" in said
    line = known.read_text().strip()
    assert line == f"[127.0.0.1]:{sshd.port} {sshd.host_pub}"
    with RemoteHost(opts(sshd, known)) as host:  # now known: no trust needed
        assert host.run_capture(["true"])[0] == 0
    assert known.read_text().strip() == line  # not added twice


def test_changed_host_key_is_always_refused(sshd: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "other"
    keygen(other)
    fake = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {fake}\n")
    with pytest.raises(HostKeyError, match="CHANGED"):
        RemoteHost(opts(sshd, known, trust_new_host_key=True))


def test_wrong_client_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    keygen(stranger)
    known = sshd.known_hosts(tmp_path / "known_hosts")
    o = SshOptions.parse(sshd.spec, known_hosts=known, identity=stranger)
    with pytest.raises(RemoteError, match="refused our key"):
        RemoteHost(o)


def test_arguments_are_quoted_exit_codes_and_live_log(sshd: Sshd, tmp_path: Path) -> None:
    known = sshd.known_hosts(tmp_path / "known_hosts")
    weird = "a b;$(touch pwned)'\"`x`"
    sink, echo = io.BytesIO(), io.StringIO()
    with RemoteHost(opts(sshd, known)) as host:
        status, out = host.run(
            ["sh", "-c", 'printf "%s|%s|" "$1" "$V"; echo err >&2; exit 7', "sh", weird],
            cwd=str(tmp_path),
            env={"V": "x y$HOME"},
            log_file=sink,
            echo=echo,
        )
    assert status == 7
    assert out.decode() == f"{weird}|x y$HOME|err\n"
    assert sink.getvalue() == out and echo.getvalue() == out.decode()
    assert not (tmp_path / "pwned").exists()


def _alive(marker: str) -> bool:
    for proc in Path("/proc").iterdir():
        try:
            if marker.encode() in (proc / "cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def test_a_hanging_command_times_out_and_is_killed(sshd: Sshd, tmp_path: Path) -> None:
    known = sshd.known_hosts(tmp_path / "known_hosts")
    marker = f"987.{os.getpid()}"
    with RemoteHost(opts(sshd, known)) as host:
        with pytest.raises(RemoteError, match="timeout"):
            host.run(["sh", "-c", f"sleep {marker}; echo never"], timeout=1.5)
        assert not _alive(f"sleep\0{marker}")
        assert host.run_capture(["echo", "still usable"])[1] == "still usable\n"


def test_sftp_put_get(sshd: Sshd, tmp_path: Path) -> None:
    known = sshd.known_hosts(tmp_path / "known_hosts")
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(100_000))
    with RemoteHost(opts(sshd, known)) as host:
        host.put(src, str(tmp_path / "remote" / "deep" / "copy.bin"))
        host.get(str(tmp_path / "remote" / "deep" / "copy.bin"), tmp_path / "back.bin")
        assert host.exists(str(tmp_path / "remote")) and not host.exists(str(tmp_path / "nope"))
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
