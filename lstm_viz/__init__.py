"""lstm-viz engine: nn.LSTM's config, shapes and a faithful step-by-step trace (no Qt).

Names are loaded on first use (PEP 562), so ``import lstm_viz`` and the torch-free modules
(``lstm_viz.config``, ``lstm_viz.shapes``) start without importing torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

# name -> the module (under lstm_viz) that defines it
_EXPORTS = {
    "LSTMConfig": "config",
    "Dim": "shapes", "TensorShape": "shapes", "all_shapes": "shapes",
    "parameter_count": "shapes", "parameter_shapes": "shapes", "shape_facts": "shapes",
    "tensor_shapes": "shapes",
    "DEFAULT_MEMORY_BUDGET": "tracing.budget", "TraceBudgetError": "tracing.budget",
    "check_budget": "tracing.budget", "estimate_trace_bytes": "tracing.budget",
    "precheck": "tracing.budget",
    "Ablation": "tracing.edits", "InputEdit": "tracing.edits", "StateEdit": "tracing.edits",
    "devices": "torch_devices", "resolve_device": "torch_devices",
    "unavailable_devices": "torch_devices",
    "INPUT_SOURCES": "inputs", "InputSpec": "inputs", "make_input": "inputs",
    "source_labels": "inputs",
    "Session": "session", "TraceRequest": "session",
    "GATE_NAMES": "tracing", "Trace": "tracing", "trace": "tracing", "trace_steps": "tracing",
    "verify": "tracing.verification",
    "Influence": "explain.gradients", "check_influence_budget": "explain.gradients",
    "forget_product": "explain.gradients", "influence": "explain.gradients",
}
# Modules that import torch (the tracing package's do, through the package); the first use of
# one of their names also registers the "tokens" input source (vocabulary / embedding text), as
# every input source must be known by then.
_TORCH_MODULES = {"torch_devices", "inputs", "session", "tracing", "tracing.budget",
                  "tracing.edits", "tracing.verification", "explain.gradients"}

__all__ = [
    "Ablation", "DEFAULT_MEMORY_BUDGET", "Dim", "GATE_NAMES", "INPUT_SOURCES", "Influence",
    "InputEdit", "InputSpec", "LSTMConfig", "Session", "StateEdit", "TensorShape", "Trace",
    "TraceBudgetError", "TraceRequest", "all_shapes", "check_budget", "check_influence_budget",
    "devices", "estimate_trace_bytes", "forget_product", "influence", "make_input",
    "parameter_count", "parameter_shapes", "precheck", "resolve_device", "shape_facts",
    "source_labels", "tensor_shapes", "trace", "trace_steps", "unavailable_devices", "verify",
]

if TYPE_CHECKING:
    from .config import LSTMConfig
    from .explain.gradients import Influence, check_influence_budget, forget_product, influence
    from .inputs import INPUT_SOURCES, InputSpec, make_input, source_labels
    from .session import Session, TraceRequest
    from .shapes import (
        Dim,
        TensorShape,
        all_shapes,
        parameter_count,
        parameter_shapes,
        shape_facts,
        tensor_shapes,
    )
    from .torch_devices import devices, resolve_device, unavailable_devices
    from .tracing import GATE_NAMES, Trace, trace, trace_steps
    from .tracing.budget import (
        DEFAULT_MEMORY_BUDGET,
        TraceBudgetError,
        check_budget,
        estimate_trace_bytes,
        precheck,
    )
    from .tracing.edits import Ablation, InputEdit, StateEdit
    from .tracing.verification import verify


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'lstm_viz' has no attribute {name!r}")
    if module_name in _TORCH_MODULES:
        import_module(".text.textinput", __name__)
    value = getattr(import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
