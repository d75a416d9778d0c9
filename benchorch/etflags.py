"""An ExecuTorch runner's flag vocabulary (upstream executor_runner's; ours speaks it too).

``--model_path``, ``--num_executions``, ``--cpu_threads`` (always passed: -1
may resolve to 0 cores), ``--print_output=none``. The runner has no warm-up
flag: every execution is timed, so a launch runs ``warmup + iters`` executions
and the parser drops the first ``warmup``. A load launch runs one execution and
keeps only ``Model loaded in``. Stdlib only (the planner imports it).
"""

from __future__ import annotations

__all__ = ["et_runner_args"]


def et_runner_args(*, model: str, warmup: int, iters: int, threads: int) -> tuple[str, ...]:
    """The flags of one ExecuTorch runner launch (``iters`` 0: a load launch, one execution)."""
    executions = warmup + iters if iters > 0 else 1
    return (
        f"--model_path={model}",
        f"--num_executions={executions}",
        f"--cpu_threads={threads}",
        "--print_output=none",
    )
