"""MODEL specs: ``demo:NAME``, ``package.module:function`` or a TorchScript file.

* ``demo:NAME``: a built-in demo (``benchorch.variants.models``), with default
  example dims and types.
* ``package.module:function``: imported (the current folder is importable) and
  called without arguments; it must return a ``torch.nn.Module``. A returned
  ``ScriptModule`` is treated like a TorchScript file.
* a path (``.pt``, ``.ptl``, FlatBuffer, or any existing file): loaded with
  ``torch.jit.load``. There is no eager model then, so only the variants that
  need none can be made; the loaded module is the reference for the checks.

Every failure is a ``ModelError`` (exit 2) naming the spec and what to do.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchorch.errors import ModelError
from benchorch.variants.models import DEMOS, build_demo

if TYPE_CHECKING:
    from torch import nn

FILE_SUFFIXES = (".pt", ".ptl", ".pth", ".ff", ".bin", ".flatbuffer")


@dataclass(frozen=True)
class LoadedModel:
    spec: str
    source: str  # "demo" | "factory" | "file"
    eager: nn.Module | None  # None for TorchScript sources
    scripted: Any | None  # a torch.jit.ScriptModule for TorchScript sources
    default_dims: str | None = None
    default_types: str | None = None

    @property
    def reference(self) -> Any:
        """What the checks compare against: the eager float model, else the file."""
        return self.eager if self.eager is not None else self.scripted


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def load_model(spec: str) -> LoadedModel:
    if spec.startswith("demo:"):
        name = spec[len("demo:") :]
        demo = DEMOS.get(name)
        model = build_demo(name)  # raises ModelError for unknown names
        assert demo is not None
        return LoadedModel(spec, "demo", model, None, demo.dims, demo.types)
    path = Path(spec)
    if path.suffix in FILE_SUFFIXES or path.exists() or ":" not in spec:
        return _load_file(spec, path)
    return _load_factory(spec)


def _load_file(spec: str, path: Path) -> LoadedModel:
    import torch

    if not path.is_file():
        raise ModelError(
            f"model file {spec} not found",
            hint="give a TorchScript file, demo:NAME or package.module:function",
        )
    try:
        scripted = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError, ValueError, zip errors...
        raise ModelError(
            f"cannot load model file {spec} as TorchScript ({_first_line(exc)})",
            hint="export it with torch.jit.save or _save_for_lite_interpreter",
        ) from exc
    scripted.eval()
    return LoadedModel(spec, "file", None, scripted)


def _load_factory(spec: str) -> LoadedModel:
    from torch import jit, nn

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ModelError(
            f"model {spec!r} is not demo:NAME, package.module:function or a file",
            hint="e.g. demo:mobilenet_v2 or mypkg.models:make_model",
        )
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ModelError(
            f"cannot import {module_name} for model {spec} ({_first_line(exc)})",
            hint="check the module name and that it is importable from this folder",
        ) from exc
    finally:
        if added:
            sys.path.remove(cwd)
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise ModelError(
            f"{module_name} has no callable {attr!r} for model {spec}",
            hint="name a function that returns a torch.nn.Module",
        )
    try:
        model = factory()
    except Exception as exc:
        raise ModelError(
            f"model factory {spec} raised {_first_line(exc)}",
            hint="make the factory return a torch.nn.Module when called without arguments",
        ) from exc
    if isinstance(model, jit.ScriptModule):
        return LoadedModel(spec, "factory", None, model.eval())
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"model factory {spec} returned {type(model).__name__}, not a torch.nn.Module",
            hint="return the model instance from the factory",
        )
    return LoadedModel(spec, "factory", model.eval(), None)
