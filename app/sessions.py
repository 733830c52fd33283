"""Small helpers over lstm_viz.Session that the GUI needs in more than one place."""

from __future__ import annotations


def call_sizes(session) -> tuple[int, int]:
    """(batch, seq_len) of the call nn.LSTM sees (a file source sets its own sizes)."""
    x = session.input_tm
    T, B = int(x.shape[0]), int(x.shape[1])
    lengths = session.input_spec.lengths
    if lengths and len(set(lengths)) == 1:
        T = min(T, int(lengths[0]))
    return B, T


def precheck(session, config=None, spec=None) -> None:
    """Refuse sizes over the memory budget before the session allocates anything.

    Raises the engine's TraceBudgetError (a ValueError) with its message; weights larger than
    the budget get a message of the same kind.
    """
    from lstm_viz import TraceBudgetError, check_budget, parameter_count

    cfg = config or session.config
    spec = spec or session.input_spec
    budget = session.memory_budget
    item = torch_item_size(session.dtype)
    weights = parameter_count(cfg) * item
    limit = budget if budget is not None else _default_budget()
    if weights > limit:
        raise TraceBudgetError(
            f"the weights alone would need {weights / 2**30:.1f} GiB ({parameter_count(cfg):,}"
            f" parameters), over the memory budget of {limit / 2**30:.1f} GiB; reduce"
            " hidden_size, input_size or num_layers")
    if spec.source != "file":
        check_budget(cfg, spec.batch_size, spec.seq_len, session.dtype, budget)


def torch_item_size(dtype) -> int:
    import torch
    return torch.empty((), dtype=dtype).element_size()


def _default_budget() -> int:
    from lstm_viz import DEFAULT_MEMORY_BUDGET
    return DEFAULT_MEMORY_BUDGET
