"""Model factories that the variant tests name as ``tests.variants.factories:NAME``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class OddNames(nn.Module):
    """Fusable chains under names no hand-written list would know, plus a shared ReLU."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.alpha = nn.Conv2d(3, 8, 3, padding=1)
        self.beta = nn.BatchNorm2d(8)
        self.gamma = nn.ReLU()
        self.delta = nn.Conv2d(8, 8, 3, padding=1)
        self.shared = nn.ReLU()  # called twice: must not be fused into anything
        self.omega = nn.Linear(8, 4)
        self.psi = nn.ReLU()
        with torch.no_grad():
            self.beta.running_mean.uniform_(-0.2, 0.2)
            self.beta.running_var.uniform_(0.5, 1.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.gamma(self.beta(self.alpha(x)))
        x = self.shared(self.delta(x))
        x = self.shared(x)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.psi(self.omega(x))


def odd_names() -> nn.Module:
    return OddNames().eval()


def not_a_module() -> Any:
    return 42


def raises() -> nn.Module:
    raise RuntimeError("weights file is missing")


class Untraceable(nn.Module):
    """Scripting fails in ``inner`` (a Python set); strict tracing rejects its dict output."""

    class Inner(nn.Module):
        def forward(self, x: torch.Tensor) -> Any:
            seen = {int(x.shape[0])}
            return {"out": x * len(seen)}

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.inner = Untraceable.Inner()

    def forward(self, x: torch.Tensor) -> Any:
        return self.inner(self.conv(x))


def untraceable() -> nn.Module:
    return Untraceable().eval()


class NeedsTrace(nn.Module):
    """Not scriptable (``*args`` forward), traceable."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(xs[0]))


def needs_trace() -> nn.Module:
    return NeedsTrace().eval()


class PlainResidual(nn.Module):
    """No BatchNorm, and a plain ``+`` between activations: eager int8 cannot run it."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu1(self.conv1(x))
        return y + self.relu2(self.conv2(y))


def plain_residual() -> nn.Module:
    return PlainResidual().eval()
