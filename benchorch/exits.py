"""The one place that decides ``benchorch``'s exit codes (README, "Exit codes").

The commands' plain callables return typed results (``Outcome``, a
``Comparison``) or raise a ``BenchorchError``; nothing below the CLI knows a
process exit code. ``exit_code`` maps both to one of:

* 0 ``OK``: everything ran and succeeded.
* 1 ``FAILED``: a benchmark launch failed, a variant failed its check, a
  comparison confirmed a regression, or the work was interrupted (Ctrl-C).
* 2 ``USAGE``: a bad flag or value, a missing or corrupt input file, an
  unwritable output folder: the user can fix it by changing the call.
* 3 ``INFRA``: the world failed: a device is unreachable or was lost, a build
  failed, the database is locked, a remote host refused us; ``compare`` found
  nothing comparable.

Importing this module costs nothing heavy (no pandas, no torch): the
comparison is only read through its attributes.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

from benchorch.domain import Outcome
from benchorch.errors import UsageError, VariantCheckFailed

if TYPE_CHECKING:
    from benchorch.stats import Comparison

__all__ = ["ExitCode", "comparison_outcome", "exit_code"]


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    INFRA = 3


_OUTCOME_CODES: dict[Outcome, ExitCode] = {
    Outcome.OK: ExitCode.OK,
    Outcome.FAILED: ExitCode.FAILED,
    Outcome.REGRESSION: ExitCode.FAILED,
    Outcome.INTERRUPTED: ExitCode.FAILED,  # --resume RUN finishes a sweep
    Outcome.PARTIAL: ExitCode.INFRA,  # a device was lost or refused; the others' results are kept
    Outcome.NOT_COMPARABLE: ExitCode.INFRA,
}


def exit_code(result: Outcome | BaseException | None) -> ExitCode:
    """The exit code of a command that returned ``result`` (``None``: plain success) or raised it.

    Errors map by branch of the tree in ``benchorch.errors``: ``UsageError`` 2,
    ``InfraError`` 3, ``VariantCheckFailed`` 1; Ctrl-C is 1 (what was measured
    is kept). Any other exception is a defect, reported as infrastructure (3).
    """
    if result is None:
        return ExitCode.OK
    if isinstance(result, Outcome):
        return _OUTCOME_CODES[result]
    if isinstance(result, UsageError):
        return ExitCode.USAGE
    if isinstance(result, VariantCheckFailed):
        return ExitCode.FAILED
    if isinstance(result, KeyboardInterrupt):
        return ExitCode.FAILED
    return ExitCode.INFRA  # InfraError, and any other BenchorchError or exception


def comparison_outcome(cmp: Comparison) -> Outcome:
    """``compare``'s verdict as an outcome: nothing comparable; a confirmed
    regression or a configuration that failed only in the candidate; else ok."""
    if not cmp.comparable:
        return Outcome.NOT_COMPARABLE
    if cmp.regressions or any(row.broke for row in cmp.rows):
        return Outcome.REGRESSION
    return Outcome.OK
