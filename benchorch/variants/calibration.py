"""Calibration data for static quantisation.

``--calibration PATH``: a file saved with ``torch.save`` (a tensor, or a
tuple/list of tensors, one per model input), or a folder of such files (``*.pt``
and ``*.pth``, in name order). Each tensor must have the input's shape, or the
same shape with another batch size (dim 0). Loaded with ``weights_only=True``:
no code runs from the file.

Without a path: one batch of ``RANDOM_SAMPLES`` seeded N(0, 1) samples of the
example dims, and a manifest warning that accuracy was not calibrated.

Batches are run through the observers as few times as possible: every call
after the first makes qnnpack's histogram observer re-bin (seconds per call on
MobileNetV2), so samples of compatible shapes are concatenated along dim 0
into one batch when the model accepts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchorch.errors import UsageError
from benchorch.variants.inputs import InputSpec

if TYPE_CHECKING:
    import torch

RANDOM_SAMPLES = 8
UNCALIBRATED = "static quantisation was calibrated on seeded random data, not real inputs"

Batch = tuple["torch.Tensor", ...]


def _load_one(path: Path, specs: tuple[InputSpec, ...]) -> Batch:
    import torch

    try:
        try:
            data = torch.load(str(path), map_location="cpu", weights_only=True)
        except TypeError:  # pragma: no cover - torch without weights_only
            data = torch.load(str(path), map_location="cpu")
    except Exception as exc:  # torch.load raises pickle, zip and runtime errors alike
        raise UsageError(
            f"--calibration {path}: not a saved tensor ({type(exc).__name__})",
            hint="save inputs with torch.save(tensor, path)",
        ) from exc
    tensors = tuple(data) if isinstance(data, list | tuple) else (data,)
    if len(tensors) != len(specs) or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise UsageError(
            f"--calibration {path}: holds {len(tensors)} item(s), the model takes "
            f"{len(specs)} tensor input(s)",
            hint="save one tensor per input (a tuple when there are several)",
        )
    out = []
    for i, (t, spec) in enumerate(zip(tensors, specs, strict=True)):
        shape = tuple(t.shape)
        if shape != spec.shape and shape[1:] != spec.shape[1:]:
            want = ",".join(str(d) for d in spec.shape)
            raise UsageError(
                f"--calibration {path}: input {i} has shape {','.join(map(str, shape))}, "
                f"the model's input is {want}",
                hint="save tensors of the --dims shape (any batch size)",
            )
        out.append(t.float() if spec.type == "float" else t)
    return tuple(out)


def load_calibration(path: Path, specs: tuple[InputSpec, ...]) -> list[Batch]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".pt", ".pth"))
        if not files:
            raise UsageError(
                f"--calibration {path}: folder holds no .pt files",
                hint="put tensors saved with torch.save in it",
            )
        return [_load_one(p, specs) for p in files]
    if not path.is_file():
        raise UsageError(f"--calibration {path}: no such file or folder", hint="check the path")
    return [_load_one(path, specs)]


def random_calibration(specs: tuple[InputSpec, ...], seed: int = 4321) -> list[Batch]:
    from benchorch.variants.inputs import check_inputs

    return [check_inputs(specs, seed + i) for i in range(RANDOM_SAMPLES)]


def merge_batches(model: Any, batches: list[Batch]) -> list[Batch]:
    """One concatenated batch when the model runs on it, else the batches as given."""
    import torch

    if len(batches) < 2:
        return batches
    try:
        merged = tuple(torch.cat(parts, 0) for parts in zip(*batches, strict=True))
        with torch.no_grad():
            model(*merged)
    except Exception:  # shapes differ or the model fixes its batch size
        return batches
    return [merged]
