"""``benchorch virtual-phone``: the virtual phone's own command, under the main CLI."""

from __future__ import annotations

from benchorch.virtualphone.cli import virtual_phone

__all__ = ["virtual_phone"]
