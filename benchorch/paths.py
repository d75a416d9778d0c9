"""Where benchorch keeps things on the host."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$BENCHORCH_CACHE``, else the user cache dir (builds, exported variants, locks)."""
    env = os.environ.get("BENCHORCH_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("benchorch"))
