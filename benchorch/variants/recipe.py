"""Which variants the recipe makes from a model, and how each module is built.

Steps (``--recipe``, listed in ``steps.py``): ``fuse``, ``quantize``, ``mobile``,
``channels_last``, ``lite``, ``flatbuffer``. The first four make variants; the
last two pick file formats (full-JIT ``.pt`` is always written); the ExecuTorch
steps, only when named, lower to ``.pte`` (``et_plans``, ``et_export.py``).
Variant names join the steps' adjectives in the recipe's order, so a report
reads as the recipe's story:

=======================================  ========================================
``baseline``                             the model, scripted (traced if needed)
``fused``                                Conv-BN(-ReLU), Conv-ReLU, Linear-ReLU fused
``quantized``                            static int8, no fusion (only without BN)
``fused+quantized``                      fuse, then static int8
``dynamic_quantized``                    Linear/LSTM weights int8 (recurrent or Linear-only models)
``mobile``                               ``optimize_for_mobile`` on the baseline
``fused+quantized+mobile``               ... on the fused int8 model (or the dynamic one)
``channels_last``                        the baseline converting its input to NHWC in ``forward``
``fused+quantized+mobile+channels_last`` the whole recipe, input converted in ``forward``
=======================================  ========================================

Each plan's ``make()`` returns an ``nn.Module`` or ``ScriptModule`` to be
scripted; ``mobile`` says whether ``optimize_for_mobile`` follows. A variant
that cannot apply becomes a ``SkippedVariant`` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchorch.variants import quant
from benchorch.variants.fuse import FusionPlan, fuse, plan_fusion
from benchorch.variants.inputs import InputSpec
from benchorch.variants.manifest import SkippedVariant
from benchorch.variants.steps import ET_STEPS

if TYPE_CHECKING:
    from torch import nn

    from benchorch.variants.load import LoadedModel

XNNPACK_REASON = "Mobile optimization only available with XNNPACK (this torch is built without it)"


@dataclass(frozen=True)
class EtPlan:
    """One ExecuTorch variant: its name, recipe steps, tolerance kind and lowering mode."""

    name: str
    steps: tuple[str, ...]
    kind: str  # "float" | "int8"
    mode: str  # et_export.PORTABLE | XNNPACK | STATIC_INT8 | DYNAMIC_INT8


def et_plans(
    steps: tuple[str, ...], eager: nn.Module | None, input_types: list[str]
) -> tuple[list[EtPlan], list[SkippedVariant]]:
    """The ``.pte`` variants the named ExecuTorch steps (``steps.ET_STEPS``) make of this model."""
    from benchorch.variants import et_export as et

    wanted = [s for s in ET_STEPS if s in steps]
    plans: list[EtPlan] = []
    skipped: list[SkippedVariant] = []
    if not wanted:
        return plans, skipped
    if eager is None:
        reason = "torch.export needs the eager model; a TorchScript file cannot be lowered"
        return plans, [SkippedVariant(s.replace("_", "+"), reason) for s in wanted]
    if "executorch" in steps:
        plans.append(EtPlan("executorch", ("executorch",), "float", et.PORTABLE))
    if "executorch_xnnpack" in steps:
        plans.append(EtPlan("executorch+xnnpack", ("executorch", "xnnpack"), "float", et.XNNPACK))
    if "executorch_int8" in steps:
        int8 = ("executorch", "xnnpack", "int8")
        static_reason = quant.static_reason(eager, input_types)
        if static_reason is None:
            plans.append(EtPlan("executorch+xnnpack+int8", int8, "int8", et.STATIC_INT8))
        else:
            why = static_reason.replace("dynamic_quantized", "executorch+xnnpack+dynamic_int8")
            skipped.append(SkippedVariant("executorch+xnnpack+int8", why))
        dyn_reason = quant.dynamic_reason(eager)
        if dyn_reason is None:
            plans.append(
                EtPlan(
                    "executorch+xnnpack+dynamic_int8",
                    ("executorch", "xnnpack", "dynamic_int8"),
                    "int8",
                    et.DYNAMIC_INT8,
                )
            )
        else:
            skipped.append(SkippedVariant("executorch+xnnpack+dynamic_int8", dyn_reason))
    return plans, skipped


def xnnpack_available() -> bool:
    import torch

    probe = getattr(torch._C, "_is_xnnpack_enabled", None)
    return bool(probe()) if probe is not None else True


@dataclass(frozen=True)
class VariantPlan:
    name: str
    steps: tuple[str, ...]
    kind: str  # "float" | "int8"
    make: Callable[[], Any]
    mobile: bool = False


def channels_last_wrapper(inner: Any) -> nn.Module:
    """``forward(x) = inner(x.contiguous(memory_format=torch.channels_last))``."""
    import torch
    from torch import nn

    class ChannelsLastInput(nn.Module):
        def __init__(self, module: Any) -> None:
            super().__init__()
            self.module = module

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.module(x.contiguous(memory_format=torch.channels_last))

    return ChannelsLastInput(inner).eval()


class RecipeBuilder:
    """Builds (and caches) the modules the plans need; collects notes for the manifest."""

    def __init__(
        self,
        loaded: LoadedModel,
        specs: tuple[InputSpec, ...],
        calibration: list[tuple[Any, ...]],
        probe: tuple[Any, ...],
    ) -> None:
        self.loaded = loaded
        self.specs = specs
        self.calibration = calibration
        self.probe = probe
        self.notes: list[str] = []
        self._cache: dict[str, Any] = {}
        self._fusion: FusionPlan | None = None

    def _cached(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    @property
    def eager(self) -> nn.Module:
        assert self.loaded.eager is not None
        return self.loaded.eager

    def fusion(self) -> FusionPlan:
        if self._fusion is None:
            self._fusion = plan_fusion(self.eager)
        return self._fusion

    def baseline(self) -> Any:
        return self.loaded.reference

    def fused(self) -> Any:
        return self._cached("fused", lambda: fuse(self.eager, self.fusion())[0])

    def static(self, base_key: str) -> Any:
        def build() -> Any:
            base = self.fused() if base_key == "fused" else self.eager
            result = quant.static_quantize(base, self.calibration, self.probe)
            if result.mode == "fx":
                self.notes.append(
                    f"{base_key}: eager-mode static quantisation could not run the model; "
                    "FX graph mode was used"
                )
            if result.relu6_swapped:
                self.notes.append(
                    f"quantize: {result.relu6_swapped} ReLU6 layer(s) run as "
                    "relu6(x.contiguous()): this torch's qnnpack relu6 is wrong on "
                    "channels-last quantised tensors"
                )
            return result.model

        return self._cached(f"static:{base_key}", build)

    def dynamic(self) -> Any:
        return self._cached("dynamic", lambda: quant.dynamic_quantize(self.eager))

    def plans(self, steps: tuple[str, ...]) -> tuple[list[VariantPlan], list[SkippedVariant]]:
        plans: list[VariantPlan] = [VariantPlan("baseline", (), "float", self.baseline)]
        skipped: list[SkippedVariant] = []
        eager = self.loaded.eager is not None
        no_eager = "needs the eager model; a TorchScript model can only be scripted variants"
        types = [s.type for s in self.specs]
        quantized: VariantPlan | None = None

        if "fuse" in steps:
            if not eager:
                skipped.append(SkippedVariant("fused", no_eager))
            elif not self.fusion().groups:
                skipped.append(
                    SkippedVariant("fused", "no Conv-BN, Conv-ReLU or Linear-ReLU chain")
                )
            else:
                plans.append(VariantPlan("fused", ("fuse",), "float", self.fused))
        if "quantize" in steps:
            if not eager:
                skipped.append(SkippedVariant("quantized", no_eager))
            else:
                quantized = self._quant_plans(steps, types, plans, skipped)
        if "mobile" in steps:
            if not xnnpack_available():
                skipped.append(SkippedVariant("mobile", XNNPACK_REASON))
            else:
                plans.append(VariantPlan("mobile", ("mobile",), "float", self.baseline, True))
                if quantized is not None:
                    plans.append(
                        VariantPlan(
                            quantized.name + "+mobile",
                            (*quantized.steps, "mobile"),
                            "int8",
                            quantized.make,
                            True,
                        )
                    )
        if "channels_last" in steps:
            self._channels_last_plans(steps, quantized, plans, skipped)
        return plans, skipped

    def _quant_plans(
        self,
        steps: tuple[str, ...],
        types: list[str],
        plans: list[VariantPlan],
        skipped: list[SkippedVariant],
    ) -> VariantPlan | None:
        from torch import nn

        deepest: VariantPlan | None = None
        reason = quant.static_reason(self.eager, types)
        if reason is not None:
            skipped.append(SkippedVariant("quantized", reason))
        else:
            has_bn = any(
                isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.eager.modules()
            )
            if has_bn:
                skipped.append(
                    SkippedVariant(
                        "quantized",
                        "the recipe fuses BatchNorm before quantising (a quantised standalone "
                        "BatchNorm does not run under TorchScript); see fused+quantized",
                    )
                )
            else:
                deepest = VariantPlan(
                    "quantized", ("quantize",), "int8", lambda: self.static("eager")
                )
                plans.append(deepest)
            if "fuse" in steps and self.fusion().groups:
                deepest = VariantPlan(
                    "fused+quantized", ("fuse", "quantize"), "int8", lambda: self.static("fused")
                )
                plans.append(deepest)
        dyn_reason = quant.dynamic_reason(self.eager)
        if dyn_reason is None:
            dyn = VariantPlan("dynamic_quantized", ("dynamic_quantize",), "int8", self.dynamic)
            plans.append(dyn)
            deepest = deepest or dyn
        else:
            skipped.append(SkippedVariant("dynamic_quantized", dyn_reason))
        return deepest

    def _channels_last_plans(
        self,
        steps: tuple[str, ...],
        quantized: VariantPlan | None,
        plans: list[VariantPlan],
        skipped: list[SkippedVariant],
    ) -> None:
        if len(self.specs) != 1 or not self.specs[0].is_image:
            skipped.append(
                SkippedVariant("channels_last", "channels-last needs one 4-D float input (N,C,H,W)")
            )
            return
        plans.append(
            VariantPlan(
                "channels_last",
                ("channels_last",),
                "float",
                lambda: channels_last_wrapper(self.baseline()),
            )
        )
        if quantized is None or quantized.name == "dynamic_quantized":
            return
        mobile = "mobile" in steps and xnnpack_available()
        name = quantized.name + ("+mobile" if mobile else "") + "+channels_last"
        tail = ("mobile", "channels_last") if mobile else ("channels_last",)
        make = quantized.make
        plans.append(
            VariantPlan(
                name,
                (*quantized.steps, *tail),
                "int8",
                lambda: channels_last_wrapper(make()),
                mobile,
            )
        )
