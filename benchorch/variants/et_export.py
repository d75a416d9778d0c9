"""ExecuTorch ``.pte`` variants: lower the eager model to a program, count its delegation.

The recipe's ExecuTorch steps (``recipe.ET_STEPS``) make these variants:

=====================================  ==============================================
``executorch``                         ``torch.export`` -> ``to_edge`` -> portable kernels
``executorch+xnnpack``                 ... partitioned to the XNNPACK delegate (fp32)
``executorch+xnnpack+int8``            PT2E static int8 (XNNPACKQuantizer, per-channel
                                       weights, calibrated), then lowered to XNNPACK
``executorch+xnnpack+dynamic_int8``    PT2E dynamic int8 (Linear/LSTM models), XNNPACK
=====================================  ==============================================

ExecuTorch is the optional extra ``benchorch[executorch]``; ``missing_extra``
says what is missing before any torch work, so a recipe naming these steps
without it is a one-line usage error. Everything here imports torch,
executorch and torchao lazily.

The delegation statistics come from ``get_delegation_info`` on the lowered
graph: delegated subgraphs and nodes, nodes left on CPU kernels, and which
operator types those are (``getitem``, which unpacks a delegate's outputs and
runs no kernel, is not counted) (what a user must see: an LSTM stays half on CPU).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchorch.variants.manifest import Delegation

if TYPE_CHECKING:
    from torch import nn

#: Graph nodes that run no kernel (a delegate's tuple output unpacked): not counted as CPU work.
STRUCTURAL = frozenset({"getitem"})

INSTALL = "pip install 'benchorch[executorch]'  (keeps torch==2.13.0; `make setup` does it)"

PORTABLE = "portable"
XNNPACK = "xnnpack"
STATIC_INT8 = "int8"
DYNAMIC_INT8 = "dynamic_int8"


def missing_extra() -> str | None:
    """The first module of the extra that cannot be imported, or None when all can."""
    for name in ("executorch.exir", "executorch.runtime", "torchao"):
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):  # a parent package is missing
            return name
    return None


def executorch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("executorch")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Lowered:
    """One lowered program: its bytes and how much of it a delegate runs."""

    buffer: bytes
    delegation: Delegation


def _delegation(graph_module: Any, backend: str | None) -> Delegation:
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    left = {
        op: int(getattr(counts, "non_delegated", 0))
        for op, counts in info.delegation_by_operator.items()
        if op not in STRUCTURAL
    }
    structural = sum(
        int(getattr(c, "non_delegated", 0))
        for op, c in info.delegation_by_operator.items()
        if op in STRUCTURAL
    )
    return Delegation(
        backend=backend,
        delegated_subgraphs=int(info.num_delegated_subgraphs),
        delegated_nodes=int(info.num_delegated_nodes),
        cpu_nodes=max(int(info.num_non_delegated_nodes) - structural, 0),
        cpu_ops=tuple(sorted(op for op, n in left.items() if n > 0)),
    )


def fit_batches(
    batches: Sequence[tuple[Any, ...]], inputs: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    """The calibration batches cut to the exported shapes (an exported graph's are fixed)."""
    import torch

    shapes = [tuple(t.shape) for t in inputs]
    fitted: list[tuple[Any, ...]] = []
    for batch in batches:
        if len(batch) != len(inputs):
            continue
        if [tuple(t.shape) for t in batch] == shapes:
            fitted.append(tuple(batch))
            continue
        n = shapes[0][0] if shapes[0] else 0
        if n <= 0 or any(tuple(t.shape[1:]) != s[1:] for t, s in zip(batch, shapes, strict=True)):
            continue
        for parts in zip(*(torch.split(t, n) for t in batch), strict=True):
            if [tuple(p.shape) for p in parts] == shapes:
                fitted.append(tuple(parts))
    return fitted or [inputs]


def _quantize(
    model: nn.Module,
    inputs: tuple[Any, ...],
    calibration: Sequence[tuple[Any, ...]],
    dynamic: bool,
) -> Any:
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = torch.export.export(model, inputs).module()
    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic)
    prepared = prepare_pt2e(graph, XNNPACKQuantizer().set_global(config))
    with torch.no_grad():
        for batch in [inputs] if dynamic else fit_batches(calibration, inputs):
            prepared(*batch)
    return convert_pt2e(prepared)


def lower(
    model: nn.Module,
    inputs: tuple[Any, ...],
    mode: str,
    calibration: Sequence[tuple[Any, ...]] = (),
) -> Lowered:
    """Lower ``model`` (eager, eval) exported on ``inputs`` as ``mode`` (PORTABLE...)."""
    import torch
    from executorch.exir import to_edge, to_edge_transform_and_lower

    with torch.no_grad():
        if mode == PORTABLE:
            edge = to_edge(torch.export.export(model, inputs))
            backend = None
        else:
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
                XnnpackPartitioner,
            )
            from executorch.backends.xnnpack.utils.configs import get_transform_passes

            source: Any = model
            if mode in (STATIC_INT8, DYNAMIC_INT8):
                source = _quantize(model, inputs, calibration, mode == DYNAMIC_INT8)
            edge = to_edge_transform_and_lower(
                torch.export.export(source, inputs),
                partitioner=[XnnpackPartitioner()],
                transform_passes=get_transform_passes(),
            )
            backend = "XnnpackBackend"
        delegation = _delegation(edge.exported_program().graph_module, backend)
        program = edge.to_executorch()
    return Lowered(bytes(program.buffer), delegation)


def run_pte(path: str, inputs: tuple[Any, ...]) -> Any:
    """Load ``path`` with ``executorch.runtime`` and run ``forward`` on ``inputs``."""
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(path).load_method("forward")
    if method is None:
        raise RuntimeError(f"{path} has no forward method")
    return method.execute(list(inputs))


def operators(path: str) -> tuple[str, ...]:
    """The operator names a ``.pte`` program asks its kernel library for (delegates excluded)."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    with open(path, "rb") as f:
        pte = deserialize_pte_binary(f.read())
    program = getattr(pte, "program", pte)
    names: set[str] = set()
    for plan in program.execution_plan:
        for op in plan.operators:
            names.add(f"{op.name}.{op.overload}" if op.overload else op.name)
    return tuple(sorted(names))
