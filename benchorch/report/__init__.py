"""HTML reports: the run report, the comparison and the trend report.

``model`` and ``trend_model`` are pure (DataFrames in, view records out),
``render`` is the only jinja2 user, ``api`` reads a ``Store``.
"""

from benchorch.report.api import (
    build_run_report,
    compare_runs,
    write_run_report,
    write_trend_report,
)

__all__ = ["build_run_report", "compare_runs", "write_run_report", "write_trend_report"]
