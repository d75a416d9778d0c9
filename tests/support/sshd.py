"""The tests' sshd: ``benchorch.lab.sshdserver`` (the lab's benchmarks use it too)."""

from benchorch.lab.sshdserver import SSHD, Sshd, SshdServer, hub_host_toml, keygen, restricted_to

__all__ = ["SSHD", "Sshd", "SshdServer", "hub_host_toml", "keygen", "restricted_to"]
