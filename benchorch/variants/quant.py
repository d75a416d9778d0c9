"""int8 quantisation as the recipe does it: qnnpack engine and qconfig.

Static (``quantized``): eager mode, as in the recipe. The model gets a
``qconfig`` from ``get_default_qconfig("qnnpack")`` (activations: histogram
observer, per-tensor affine uint8; weights: min/max, per-tensor symmetric
int8), ``prepare`` inserts observers, the calibration batches run through it,
``convert`` swaps in quantised modules. A model with no ``QuantStub`` is wrapped
as ``DeQuantStub(model(QuantStub(x)))`` (one float input only). When the eager
result cannot run (a float ``+`` between quantised tensors, say), FX graph mode
(``prepare_fx``/``convert_fx``, which inserts the quant/dequant nodes itself) is
tried once, and the caller records that it was used.

Dynamic (``dynamic_quantized``): ``quantize_dynamic`` on ``Linear``, ``LSTM``,
``GRU``: weights int8 ahead of time, activations quantised per batch at run
time. For recurrent and Linear-only models, where static quantisation does not
apply.

A PyTorch bug (1.13.1 and 2.13 alike): under qnnpack, quantised ``relu6`` /
``hardtanh`` / ``clamp`` on a channels-last quantised tensor (what qnnpack's
conv returns) scrambles the layout, so an eager-quantised MobileNetV2 computes
garbage (cosine ~0.3 per layer). ``relu6_layout_bug()`` probes for it; when
present, ``static_quantize`` swaps each ``nn.ReLU6``/``Hardtanh`` for a
``ContiguousReLU6`` (``relu6(x.contiguous())``) and reports how many, so the
manifest says so.

The quantised engine is process-global in torch: ``use_qnnpack()`` sets it for
export and checks alike (packed weights are engine-specific).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

Batch = tuple["torch.Tensor", ...]


def use_qnnpack() -> None:
    import torch

    if "qnnpack" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "qnnpack"


def has_quant_stubs(model: nn.Module) -> bool:
    from torch.ao.quantization import QuantStub

    return any(isinstance(m, QuantStub) for m in model.modules())


def recurrent_layers(model: nn.Module) -> list[str]:
    from torch import nn

    return [n for n, m in model.named_modules() if isinstance(m, nn.LSTM | nn.GRU | nn.RNN)]


def has_conv(model: nn.Module) -> bool:
    from torch import nn

    return any(isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d) for m in model.modules())


def has_linear(model: nn.Module) -> bool:
    from torch import nn

    return any(isinstance(m, nn.Linear) for m in model.modules())


def static_reason(model: nn.Module, input_types: Sequence[str]) -> str | None:
    """Why static int8 does not apply to ``model``, or None when it does."""
    if recurrent_layers(model):
        return "static int8 does not cover LSTM/GRU layers; see dynamic_quantized"
    if not (has_conv(model) or has_linear(model)):
        return "the model has no Conv or Linear layer to quantise"
    if any(t != "float" for t in input_types) and not has_quant_stubs(model):
        return "static int8 needs float inputs (the model takes " + ";".join(input_types) + ")"
    if len(input_types) != 1 and not has_quant_stubs(model):
        return "the model has no QuantStub and more than one input to wrap"
    return None


def dynamic_reason(model: nn.Module) -> str | None:
    """Why dynamic int8 is not made: only for recurrent or Linear-only models."""
    if recurrent_layers(model):
        return None
    if has_linear(model) and not has_conv(model):
        return None
    return "dynamic int8 is for LSTM/GRU and Linear-only models; this one has Conv layers"


def relu6_layout_bug() -> bool:
    """True when quantised relu6 on a channels-last tensor is wrong on this torch."""
    import torch
    import torch.nn.functional as F

    use_qnnpack()
    x = torch.arange(-40.0, 40.0).reshape(1, 5, 4, 4)
    q = torch.quantize_per_tensor(x, 0.1, 128, torch.quint8)
    q = q.contiguous(memory_format=torch.channels_last)
    expected = F.relu6(q.dequantize())
    return not torch.equal(F.relu6(q).dequantize(), expected)


def _contiguous_relu6_class() -> type:
    import torch.nn.functional as F
    from torch import nn

    class ContiguousReLU6(nn.Module):
        """``relu6(x.contiguous())``: sidesteps qnnpack's channels-last relu6 bug."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.relu6(x.contiguous())

    return ContiguousReLU6


def _swap_relu6(model: nn.Module) -> int:
    """Replace every ReLU6 (and Hardtanh(0, 6)) child in place; returns the count."""
    from torch import nn

    cls = _contiguous_relu6_class()
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            is_relu6 = isinstance(child, nn.ReLU6) or (
                isinstance(child, nn.Hardtanh) and (child.min_val, child.max_val) == (0.0, 6.0)
            )
            if is_relu6:
                setattr(parent, name, cls())
                count += 1
    return count


def _wrap(model: nn.Module) -> nn.Module:
    from torch import nn
    from torch.ao.quantization import DeQuantStub, QuantStub

    class QuantWrapped(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.quant = QuantStub()
            self.module = inner
            self.dequant = DeQuantStub()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.dequant(self.module(self.quant(x)))

    return QuantWrapped(model)


def _eager_static(
    model: nn.Module, calibration: Sequence[Batch], swap_relu6: bool
) -> tuple[nn.Module, int]:
    import torch
    from torch.ao.quantization import convert, get_default_qconfig, prepare

    m: Any = copy.deepcopy(model).eval()
    swapped = _swap_relu6(m) if swap_relu6 else 0
    if not has_quant_stubs(m):
        m = _wrap(m).eval()
    m.qconfig = get_default_qconfig("qnnpack")
    prepare(m, inplace=True)
    with torch.no_grad():
        for batch in calibration:
            m(*batch)
    convert(m, inplace=True)
    return m, swapped


def _fx_static(model: nn.Module, calibration: Sequence[Batch]) -> nn.Module:
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    m = copy.deepcopy(model).eval()
    prepared = prepare_fx(m, get_default_qconfig_mapping("qnnpack"), calibration[0])
    with torch.no_grad():
        for batch in calibration:
            prepared(*batch)
    return convert_fx(prepared)


@dataclass(frozen=True)
class StaticResult:
    model: Any  # the converted nn.Module
    mode: str  # "eager" | "fx"
    relu6_swapped: int  # ReLU6 modules replaced by ContiguousReLU6


def static_quantize(model: nn.Module, calibration: Sequence[Batch], probe: Batch) -> StaticResult:
    """Static int8 copy of ``model``.

    ``probe`` is run through the eager result; if it raises, FX mode is tried.
    Errors of the last attempt propagate.
    """
    import torch

    use_qnnpack()
    quantized, swapped = _eager_static(model, calibration, relu6_layout_bug())
    try:
        with torch.no_grad():
            quantized(*probe)
        return StaticResult(quantized, "eager", swapped)
    except Exception as eager_exc:  # quantised kernels raise RuntimeError/NotImplementedError
        try:
            return StaticResult(_fx_static(model, calibration), "fx", 0)
        except Exception:
            raise eager_exc from None


def dynamic_quantize(model: nn.Module) -> nn.Module:
    import torch
    from torch import nn
    from torch.ao.quantization import quantize_dynamic

    use_qnnpack()
    return quantize_dynamic(
        copy.deepcopy(model).eval(), {nn.Linear, nn.LSTM, nn.GRU}, dtype=torch.qint8
    )
