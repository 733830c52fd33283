"""lstm-viz engine: nn.LSTM's config, shapes and a faithful step-by-step trace (no Qt)."""

from .config import LSTMConfig
from .devices import devices, resolve_device, unavailable_devices
from .inputs import INPUT_SOURCES, InputSpec, make_input, source_labels
from .session import Session, TraceRequest
from .shapes import (
    Dim,
    TensorShape,
    parameter_count,
    parameter_shapes,
    shape_facts,
    shapes,
    tensor_shapes,
)
from .textinput import register as _register_tokens_source
from .trace import (
    DEFAULT_MEMORY_BUDGET,
    GATE_NAMES,
    Trace,
    TraceBudgetError,
    check_budget,
    estimate_trace_bytes,
    trace,
    verify,
)

_register_tokens_source()  # the "tokens" input source (vocabulary / embedding text)

from .influence import Influence, check_influence_budget, forget_product, influence  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MEMORY_BUDGET", "GATE_NAMES", "INPUT_SOURCES", "Dim", "InputSpec", "LSTMConfig",
    "Session", "TensorShape", "Trace", "TraceBudgetError", "TraceRequest", "check_budget",
    "devices", "estimate_trace_bytes", "make_input", "parameter_count", "parameter_shapes",
    "resolve_device", "shape_facts", "shapes", "source_labels", "tensor_shapes", "trace",
    "unavailable_devices", "verify",
]
__all__ += ["Influence", "check_influence_budget", "forget_product", "influence"]
