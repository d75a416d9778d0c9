"""Find and fuse the recipe's module chains: Conv-BN(-ReLU), Conv-ReLU, Linear-ReLU.

The chains are found in the model's data flow, not in hand-written names:

1. ``torch.fx.symbolic_trace`` gives the graph. A chain is a run of
   ``call_module`` nodes ``a -> b (-> c)`` whose types match a pattern, where
   each node but the last has exactly one user (the next one), so replacing
   ``a`` by the fused module and the others by ``Identity`` computes the same
   thing. A module called from more than one place is never fused.
2. When the model cannot be traced (data-dependent control flow), only
   ``nn.Sequential`` containers are walked: their children run in order, so
   adjacent children matching a pattern are a chain.

``torch.ao.quantization.fuse_modules`` then does the fusion (in eval mode it
folds BN into the conv's weights: ``w' = w * g / sqrt(v + eps)``,
``b' = (b - m) * g / sqrt(v + eps) + beta``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class FusionPlan:
    groups: tuple[tuple[str, ...], ...]
    method: str  # "fx" | "sequential"


def _patterns() -> list[tuple[type, ...]]:
    from torch import nn

    convs: tuple[type, ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    bns: dict[type, type] = {
        nn.Conv1d: nn.BatchNorm1d,
        nn.Conv2d: nn.BatchNorm2d,
        nn.Conv3d: nn.BatchNorm3d,
    }
    out: list[tuple[type, ...]] = []
    for conv in convs:
        out.append((conv, bns[conv], nn.ReLU))  # longest first
    for conv in convs:
        out.append((conv, bns[conv]))
        out.append((conv, nn.ReLU))
    out.append((nn.Linear, nn.ReLU))
    return out


def _match(types: list[type], pattern: tuple[type, ...]) -> bool:
    return len(types) >= len(pattern) and all(t is p for t, p in zip(types, pattern, strict=False))


def _fx_groups(model: nn.Module) -> list[tuple[str, ...]]:
    import torch.fx

    graph_module = torch.fx.symbolic_trace(model)
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for node in graph_module.graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    used: set[str] = set()
    groups: list[tuple[str, ...]] = []
    for node in graph_module.graph.nodes:
        if node.op != "call_module" or str(node.target) in used:
            continue
        chain = [node]
        while len(chain) < 3:
            last = chain[-1]
            users = list(last.users)
            if len(users) != 1 or users[0].op != "call_module":
                break
            nxt = users[0]
            if nxt.args[:1] != (last,) or len(nxt.args) != 1 or nxt.kwargs:
                break
            chain.append(nxt)
        names = [str(n.target) for n in chain]
        if any(calls[n] != 1 or n in used for n in names):
            continue
        types = [type(modules[n]) for n in names]
        for pattern in _patterns():
            if _match(types, pattern):
                group = tuple(names[: len(pattern)])
                groups.append(group)
                used.update(group)
                break
    return groups


def _sequential_groups(model: nn.Module) -> list[tuple[str, ...]]:
    from torch import nn

    groups: list[tuple[str, ...]] = []
    for prefix, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        i = 0
        while i < len(children):
            types = [type(m) for _, m in children[i : i + 3]]
            for pattern in _patterns():
                if _match(types, pattern):
                    names = [n for n, _ in children[i : i + len(pattern)]]
                    groups.append(tuple(f"{prefix}.{n}" if prefix else n for n in names))
                    i += len(pattern) - 1
                    break
            i += 1
    return groups


def plan_fusion(model: nn.Module) -> FusionPlan:
    try:
        return FusionPlan(tuple(_fx_groups(model)), "fx")
    except Exception:  # fx raises many kinds on untraceable code; fall back, never fail here
        return FusionPlan(tuple(_sequential_groups(model)), "sequential")


def fuse(model: nn.Module, plan: FusionPlan | None = None) -> tuple[nn.Module, FusionPlan]:
    """A fused copy of ``model`` (eval mode) and the plan that made it."""
    from torch.ao.quantization import fuse_modules

    plan = plan or plan_fusion(model)
    fused: Any = copy.deepcopy(model).eval()
    if plan.groups:
        fused = fuse_modules(fused, [list(g) for g in plan.groups], inplace=False)
    return fused, plan
