"""verify: every gate, c and h of a trace against the LSTM equations, and output, h_n, c_n
against nn.LSTM itself; a wrong value is reported with its place."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from lstm_viz import trace, verify

CONFIGS = {
    "plain": dict(),
    "two_layers": dict(num_layers=2),
    "bidirectional": dict(bidirectional=True),
    "proj_size": dict(proj_size=3),
    "batch_first": dict(batch_first=True),
    "no_bias": dict(bias=False),
    "everything": dict(num_layers=3, bidirectional=True, proj_size=2, batch_first=True),
}
LENGTHS = [6, 2, 5, 4]


def _model(seed=0, dtype=torch.float32, **kw):
    torch.manual_seed(seed)
    return nn.LSTM(3, 5, **kw).to(dtype).eval()


def _input(lstm, packed=False, seed=1):
    torch.manual_seed(seed)
    x = torch.randn(6, 4, 3, dtype=lstm.weight_ih_l0.dtype)  # time-major
    if packed:
        return pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)
    return x.transpose(0, 1) if lstm.batch_first else x


@pytest.mark.parametrize("method", ["loop", "torch", "fused", "layered"])
@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_config_verifies_clean_on_every_trace_method(name, packed, method):
    lstm = _model(**CONFIGS[name])
    x = _input(lstm, packed)
    v = verify(lstm, x, trace(lstm, x, method=method))
    assert v.status == "match" and v.ok, v.details()
    assert all(c.ok for c in v.checks)
    assert {c.name for c in v.checks} >= {"i", "f", "g", "o", "c", "h", "output", "h_n", "c_n"}
    assert v < 1e-5 and float(v) == v.max_abs_diff


@pytest.mark.parametrize("method", ["loop", "torch", "fused", "layered"])
def test_unbatched_input_with_initial_state_and_float64_verifies_clean(method):
    lstm = _model(dtype=torch.float64, num_layers=2, bidirectional=True, proj_size=2)
    torch.manual_seed(3)
    x = torch.randn(9, 3, dtype=torch.float64)
    hx = (torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64))
    v = verify(lstm, x, trace(lstm, x, hx, method=method), hx)
    assert v.status == "match" and v < 1e-12, v.details()


# (tensor, layer, direction, t, batch, gate or None, unit); t is a position inside sequence
# `batch`'s length, which is 5 for batch 2 and 4 for batch 3
CORRUPTIONS = [
    ("i", 0, 0, 2, 2, 0, 1), ("f", 1, 1, 4, 2, 1, 0), ("g", 1, 0, 0, 3, 2, 4),
    ("o", 0, 1, 3, 3, 3, 2), ("c", 1, 1, 1, 2, None, 3), ("c", 0, 0, 4, 2, None, 0),
    ("h", 0, 1, 0, 3, None, 1), ("h", 1, 0, 3, 2, None, 1),
]


@pytest.mark.parametrize("method", ["loop", "torch", "fused", "layered"])
@pytest.mark.parametrize("tensor, layer, d, t, b, gate, unit", CORRUPTIONS)
def test_one_corrupted_gate_c_or_h_value_is_reported_with_its_place(
        method, tensor, layer, d, t, b, gate, unit):
    lstm = _model(num_layers=2, bidirectional=True, proj_size=2)
    x = _input(lstm, packed=True)
    tr = trace(lstm, x, method=method)
    assert verify(lstm, x, tr).status == "match"
    if gate is not None:
        tr.gates[layer, d, t, b, gate, unit] += 0.01
    else:
        getattr(tr, tensor)[layer, d, t, b, unit] += 0.01
    v = verify(lstm, x, tr)
    assert v.status == "differs" and not v.ok
    check = next(c for c in v.checks if c.name == tensor)
    assert not check.ok
    assert check.max_abs_diff == pytest.approx(0.01, rel=1e-3)
    place = check.place
    assert (place.layer, place.direction, place.t, place.batch, place.unit) == \
        (layer, d, t, b, unit)
    assert place.tensor == (f"gate {tensor}" if gate is not None else tensor)
    assert v.worst.name not in ("output", "h_n", "c_n")  # the cause, not a consequence
    assert str(place) in v.details()


@pytest.mark.parametrize("method", ["loop", "torch", "fused", "layered"])
def test_a_value_past_a_packed_sequence_length_must_stay_nan(method):
    lstm = _model(bidirectional=True)
    x = _input(lstm, packed=True)
    tr = trace(lstm, x, method=method)
    tr.h[0, 1, 3, 1, 2] = 0.0  # sequence 1 has 2 steps
    v = verify(lstm, x, tr)
    assert v.status == "differs"
    check = next(c for c in v.checks if c.name == "h")
    assert check.place.tensor == "h past the sequence's length (must be NaN)"
    assert (check.place.t, check.place.batch, check.place.unit) == (3, 1, 2)


def test_a_nan_where_a_value_is_due_is_reported():
    lstm = _model()
    x = _input(lstm)
    tr = trace(lstm, x)
    tr.c[0, 0, 5, 0, 1] = float("nan")
    v = verify(lstm, x, tr)
    assert v.status == "differs" and v.worst.name == "c"
    assert (v.worst.place.t, v.worst.place.batch, v.worst.place.unit) == (5, 0, 1)


def test_a_trace_of_other_weights_differs_from_this_module():
    lstm, other = _model(seed=0, num_layers=2), _model(seed=5, num_layers=2)
    x = _input(lstm)
    v = verify(other, x, trace(lstm, x))
    assert v.status == "differs" and v > 1e-3
    assert v.worst.name in ("i", "f", "g", "o")  # the first thing other weights change


def test_a_trace_from_another_initial_state_differs_at_h_0():
    lstm = _model()
    x = _input(lstm)
    hx = (torch.ones(1, 4, 5), torch.zeros(1, 4, 5))
    v = verify(lstm, x, trace(lstm, x, hx))  # verified as if hx were zeros
    assert v.status == "differs" and v.worst.name == "h_0"


def test_an_output_that_is_not_the_traced_h_differs_even_where_torch_spreads():
    lstm = _chaotic(4.0)
    torch.manual_seed(2)
    x = torch.randn(2000, 1, 4)
    tr = trace(lstm, x, method="fused")
    tr.output = tr.output.clone()  # the output shares h's memory: corrupt only the output
    tr.output[100, 0, 3] += 0.5
    v = verify(lstm, x, tr)
    assert v.status == "differs" and v.worst.name == "output = last layer's h"
    assert (v.worst.place.t, v.worst.place.unit) == (100, 3)


def test_a_wrong_output_is_caught_against_nn_lstm():
    lstm = _model(batch_first=True)
    x = _input(lstm)
    tr = trace(lstm, x)
    tr.output[2, 3, 1] += 0.5  # batch_first: (batch, t, unit)
    v = verify(lstm, x, tr)
    assert v.status == "differs"
    out = next(c for c in v.checks if c.name == "output")
    assert not out.ok and (out.place.t, out.place.batch, out.place.unit) == (3, 2, 1)


def _chaotic(scale: float) -> nn.LSTM:
    """Large weights: float32 rounding grows over the steps until the run is a different one."""
    torch.manual_seed(1)
    lstm = nn.LSTM(4, 32).eval()
    with torch.no_grad():
        for p in lstm.parameters():
            p.mul_(scale / p.std())
    return lstm


def test_a_chaotic_float32_model_over_2000_steps_is_within_torchs_own_spread():
    lstm = _chaotic(4.0)
    torch.manual_seed(2)
    x = torch.randn(2000, 1, 4)
    tr = trace(lstm, x, method="loop")
    v = verify(lstm, x, tr)
    # the trace and nn.LSTM part ways (rounding, amplified), as nn.LSTM and its float64 self do
    assert v > 1e-2 and v.torch_spread is not None and v.torch_spread > 1e-2
    assert v.status == "within_spread" and v.ok
    assert all(c.ok for c in v.checks if c.name not in ("output", "h_n", "c_n"))
    assert [c.name for c in v.checks if not c.ok] != []  # torch's run is another one
    assert "within torch's own float32 spread" in v.summary()
    # and a real error inside such a trace is still a difference, with its place
    tr.gates[0, 0, 1500, 0, 1, 7] += 0.01
    v = verify(lstm, x, tr)
    assert v.status == "differs" and v.worst.place.t == 1500
    f = next(c for c in v.checks if c.name == "f")
    assert not f.ok and (f.place.t, f.place.unit) == (1500, 7)


def test_a_tame_float32_model_over_2000_steps_matches_without_measuring_spread():
    lstm = _chaotic(0.3)
    torch.manual_seed(2)
    x = torch.randn(2000, 1, 4)
    v = verify(lstm, x, trace(lstm, x, method="loop"))
    assert v.status == "match" and v.torch_spread is None, v.details()


def test_verify_refuses_a_trace_of_another_shape():
    lstm, other = _model(), nn.LSTM(3, 6)
    x = _input(lstm)
    with pytest.raises(ValueError, match="another shape"):
        verify(other, x, trace(lstm, x))
