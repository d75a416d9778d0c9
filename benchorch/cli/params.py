"""Click parameter types shared by the commands."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import click


class LazyChoice(click.Choice[str]):
    """A ``click.Choice`` whose choices come from ``load``, called the first time
    they are needed (a value to check, the help): a command whose module defines
    the option does not import what ``load`` imports (``benchorch sweep`` never
    pays for pandas to declare ``--vary``)."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load
        self._choices: tuple[str, ...] | None = None
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:
        if self._choices is None:
            self._choices = tuple(self._load())
        return self._choices

    @choices.setter
    def choices(self, value: Iterable[str]) -> None:
        self._choices = tuple(value)


def comparable_fields() -> tuple[str, ...]:
    """The fields ``--vary`` accepts (``benchorch.stats.keys``, which imports pandas)."""
    from benchorch.stats.keys import COMPARABLE_FIELDS

    return COMPARABLE_FIELDS


#: ``--vary``'s type: one of the fields two runs' configurations are compared on.
VARY_FIELD = LazyChoice(comparable_fields)
