"""Building and registering ``speed_benchmark_torch``, with cache and provenance.

Public API: :func:`build` (a :class:`BuildRequest` on this machine or, with an
:func:`ssh_transport`, on a build host), :func:`register_binary`,
:func:`accepted_bytecode`, :class:`Provenance`.
"""

from __future__ import annotations

from benchorch.build.flow import build
from benchorch.build.provenance import Provenance, accepted_bytecode, register_binary
from benchorch.build.request import BuildRequest
from benchorch.build.transport import LocalTransport, ssh_transport

__all__ = [
    "BuildRequest",
    "LocalTransport",
    "Provenance",
    "accepted_bytecode",
    "build",
    "register_binary",
    "ssh_transport",
]
