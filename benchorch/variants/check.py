"""Load an exported file back, run it, and compare with the eager float model.

Outputs (a tensor, or tuples/lists/dicts of them) are flattened in order into
one float64 vector each. With ``a`` the variant's vector and ``r`` the
reference's:

* ``max_abs_err = max_i |a_i - r_i|``
* ``cosine = (a . r) / (|a| |r|)`` (1.0 when both are all zero, 0.0 when only one is)

Tolerances scale with the reference: ``s = max_i |r_i|`` (at least 1e-6), and

* ``float`` (scripting, fusion, channels-last, optimize_for_mobile: exact
  rewrites up to float rounding): ``max_abs_err <= 1e-3 * s``, ``cosine >= 0.9999``;
* ``int8`` (static or dynamic quantisation, 256 levels per tensor):
  ``max_abs_err <= 0.5 * s``, ``cosine >= 0.95``. Wide on the maximum because
  the qnnpack qconfig's histogram observer minimises L2 error over the
  calibration data and so clips the tails on purpose (torch 1.13.1 clips a
  10-logit output of ``demo:conv_bn_relu`` by ~40% of its range, cosine 0.97);
  the cosine still catches broken numerics (a scrambled layout gives < 0.7).

A file passes when both hold. A file that does not load or run fails with
``error`` set to the exception's first line and no numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchorch.domain import ModelFormat
from benchorch.variants.manifest import CheckResult, Tolerance

if TYPE_CHECKING:
    import torch

#: kind -> (max_abs_err relative to max |reference|, minimum cosine)
TOLERANCES: dict[str, tuple[float, float]] = {"float": (1e-3, 0.9999), "int8": (0.5, 0.95)}


def flatten(output: Any) -> torch.Tensor:
    """All tensors of ``output``, in order, as one float64 vector."""
    import torch

    parts: list[torch.Tensor] = []

    def walk(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            t = value.dequantize() if value.is_quantized else value
            parts.append(t.detach().reshape(-1).to(torch.float64))
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for k in sorted(value):
                walk(value[k])
        else:
            raise TypeError(f"output holds a {type(value).__name__}, not tensors")

    walk(output)
    if not parts:
        raise TypeError("output holds no tensors")
    return torch.cat(parts)


def tolerance(kind: str, reference: torch.Tensor) -> Tolerance:
    rel, cos = TOLERANCES[kind]
    scale = max(float(reference.abs().max()) if reference.numel() else 0.0, 1e-6)
    return Tolerance(max_abs_err=rel * scale, cosine=cos)


def compare(output: Any, reference: torch.Tensor, kind: str) -> CheckResult:
    import torch

    tol = tolerance(kind, reference)
    try:
        got = flatten(output)
    except TypeError as exc:
        return CheckResult(False, kind, None, None, tol, str(exc))
    if got.shape != reference.shape:
        return CheckResult(
            False,
            kind,
            None,
            None,
            tol,
            f"output has {got.numel()} values, the reference {reference.numel()}",
        )
    if not bool(torch.isfinite(got).all()):
        return CheckResult(False, kind, None, None, tol, "output has NaN or infinite values")
    err = float((got - reference).abs().max()) if got.numel() else 0.0
    na, nr = float(got.norm()), float(reference.norm())
    if na == 0.0 and nr == 0.0:
        cosine = 1.0
    elif na == 0.0 or nr == 0.0:
        cosine = 0.0
    else:
        cosine = float(torch.dot(got, reference)) / (na * nr)
    passed = err <= tol.max_abs_err and cosine >= tol.cosine
    return CheckResult(passed, kind, err, cosine, tol, None)


def load_file(path: Path, fmt: ModelFormat) -> Any:
    import torch

    if fmt is ModelFormat.FULL_JIT:
        module = torch.jit.load(str(path), map_location="cpu")
        module.eval()
        return module
    from torch.jit.mobile import _load_for_lite_interpreter

    return _load_for_lite_interpreter(str(path))


def first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    # TorchScript errors end with the Python-side reason; prefer it over the traceback
    reason = next((ln for ln in reversed(lines) if "Error:" in ln), lines[0] if lines else "")
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__


def check_file(
    path: Path, fmt: ModelFormat, inputs: tuple[Any, ...], reference: torch.Tensor, kind: str
) -> CheckResult:
    """Load ``path`` as ``fmt``, run it on ``inputs`` and compare with ``reference``."""
    import torch

    try:
        module = load_file(path, fmt)
        with torch.no_grad():
            output = module(*inputs)
    except Exception as exc:  # any load or run failure is the check's finding
        return CheckResult(False, kind, None, None, tolerance(kind, reference), first_line(exc))
    return compare(output, reference, kind)
