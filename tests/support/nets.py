"""A small TorchScript CNN twice, the second deliberately slower, and the CLI as a subprocess:
what the end-to-end A/A and A/B tests sweep with the real speed_benchmark_torch.

``same.pt``: a conv of 3 to 16 channels then 2 convs of 16 (each with a ReLU);
``slowed.pt``: the same with ``extra`` more convs of 16 (4 by default: about 2.5x the work;
a 16x16 conv costs 1 unit, the first 3-to-16 conv 0.19, so the work grows as
(2.19 + extra) / 2.19).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def same_and_slowed(folder: Path, side: int, extra: int = 4) -> dict[str, Path]:
    """``{"same": same.pt, "slowed": slowed.pt}`` in ``folder``, traced at 1x3x``side``x``side``,
    ``slowed`` with ``extra`` more convs (a class defined in a test cannot be scripted: no
    source annotations)."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self, extra: int) -> None:
            super().__init__()
            layers = [torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU()]
            for _ in range(2 + extra):
                layers += [torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU()]
            self.body = torch.nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            return self.body(x)

    torch.manual_seed(0)
    out = {}
    for name, more in (("same", 0), ("slowed", extra)):
        out[name] = folder / f"{name}.pt"
        torch.jit.trace(Net(more).eval(), torch.ones(1, 3, side, side)).save(str(out[name]))
    return out


def benchorch_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m benchorch ARGS`` in ``env`` (the whole environment), its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "benchorch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
