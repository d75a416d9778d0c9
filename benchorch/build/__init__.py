"""Building and registering ``speed_benchmark_torch``, with cache and provenance.

Public API: :func:`build_host`, :func:`build_android`, :func:`register_binary`,
:func:`accepted_bytecode`, :class:`Provenance`.
"""

from __future__ import annotations

from benchorch.build.android import build_android
from benchorch.build.host import build_host
from benchorch.build.provenance import Provenance, accepted_bytecode, register_binary

__all__ = ["Provenance", "accepted_bytecode", "build_android", "build_host", "register_binary"]
