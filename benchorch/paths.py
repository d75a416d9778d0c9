"""Where benchorch keeps things on the host: the only reader of ``BENCHORCH_CACHE``
and the only user of platformdirs (everything else imports these)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$BENCHORCH_CACHE``, else the user cache dir: builds, exported variants,
    device locks and the ``local`` device's work folder live under it."""
    env = os.environ.get("BENCHORCH_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("benchorch"))


def default_results_db() -> Path:
    """The results database when neither ``--db`` nor ``BENCHORCH_DB`` names one."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("benchorch")) / "results.sqlite"
