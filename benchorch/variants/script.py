"""TorchScript for a variant: script it, else trace it, else name the failing layer.

``script_module`` returns the ScriptModule and how it was made (``script``,
``trace``, or ``file`` when it already was one). When both fail,
``failing_layer`` finds the deepest submodule that does not script on its own,
and the ``ModelError`` names it with both reasons.
"""

from __future__ import annotations

from typing import Any

from benchorch.errors import ModelError
from benchorch.variants import check as checks


def failing_layer(module: Any) -> str:
    """The deepest submodule that does not script on its own ("" = the top forward)."""
    import torch

    name = ""
    current = module
    while True:
        for child_name, child in current.named_children():
            try:
                torch.jit.script(child)
            except Exception:  # scripting raises many types; any means "this one"
                name = f"{name}.{child_name}" if name else child_name
                current = child
                break
        else:
            return name


def script_module(module: Any, inputs: tuple[Any, ...], variant: str) -> tuple[Any, str]:
    """A ScriptModule for ``module`` and how it was made: script, trace or file."""
    import torch

    if isinstance(module, torch.jit.ScriptModule):
        return module, "file"
    try:
        return torch.jit.script(module), "script"
    except Exception as script_exc:  # torch.jit.frontend errors are not one class
        script_err = checks.first_line(script_exc)
        try:
            with torch.no_grad():
                traced = torch.jit.trace(module, inputs, check_trace=False)
            return traced, "trace"
        except Exception as trace_exc:
            layer = failing_layer(module) or type(module).__name__ + ".forward"
            raise ModelError(
                f"variant {variant}: cannot script (layer {layer}: {script_err}) "
                f"or trace ({checks.first_line(trace_exc)}) the model",
                hint="make that layer TorchScript-compatible or traceable",
            ) from trace_exc


def mobile(scripted: Any) -> Any:
    from torch.utils.mobile_optimizer import optimize_for_mobile

    return optimize_for_mobile(scripted)
