"""The battery gate: whether a phone may start a sweep (the one owner).

A phone whose battery is under the ``min_battery`` threshold and not charging
is refused before anything is pushed (a draining battery throttles and may die
mid-sweep); a charging phone, or one whose level is unknown (``local``, a
board without a battery), passes.
"""

from __future__ import annotations

from benchorch.errors import BatteryTooLow

__all__ = ["require_battery"]


def require_battery(
    serial: str, level: int | None, charging: bool | None, min_level: int | None
) -> None:
    """Raise ``BatteryTooLow`` when ``level`` is under ``min_level`` and not charging."""
    if min_level is None or level is None or charging or level >= min_level:
        return
    raise BatteryTooLow(
        f"battery at {level}% is under the {min_level}% threshold and not charging",
        serial=serial,
        hint="charge the phone or lower --min-battery",
    )
