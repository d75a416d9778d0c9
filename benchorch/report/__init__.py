"""HTML reports: the run report, the comparison and the trend report.

``model`` (with ``story``, ``problems``, ``headline``, ``compare_view``) and
``trend_model`` are pure (DataFrames in, view records out), ``fmt`` is the one
owner of number, time and verdict formatting, ``render`` the only jinja2 user,
``text`` the comparison as text or Markdown, ``api`` reads a ``Store``.

The entry points below are imported on first use, so ``benchorch.report.fmt``
costs neither pandas nor jinja2.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchorch.report.api import (
        build_run_report,
        compare_runs,
        write_run_report,
        write_trend_report,
    )

__all__ = ["build_run_report", "compare_runs", "write_run_report", "write_trend_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("benchorch.report.api"), name)
    raise AttributeError(f"module 'benchorch.report' has no attribute {name!r}")
