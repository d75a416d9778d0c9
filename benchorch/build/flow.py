"""``build(request, transport)``: the one entry to a build, here or on a build host."""

from __future__ import annotations

from typing import TextIO

from benchorch.build.android import build_android
from benchorch.build.host import build_host
from benchorch.build.provenance import Provenance
from benchorch.build.request import BuildRequest
from benchorch.build.transport import LocalTransport, Transport


def build(
    request: BuildRequest, transport: Transport | None = None, *, echo: TextIO | None = None
) -> Provenance:
    """Build (or take from the cache) what ``request`` asks for, on ``transport``
    (default: this machine); the build log streams to ``echo`` when given."""
    request = request.checked()
    where = transport if transport is not None else LocalTransport()
    if request.target == "host":
        return build_host(request, where, echo=echo)
    return build_android(request, where, echo=echo)
