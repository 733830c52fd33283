"""Ablations and clamps against a hand-edited run: nn.LSTMCell stepped with the module's own
weights, the ablated unit's gate or state then set by hand at every step of the span."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from lstm_viz import LSTMConfig, Session
from lstm_viz.explain.ablation import difference, head_outputs, replay, step_losses
from lstm_viz.tracing.edits import Ablation

GATES = "ifgo"


def _lstm(seed=0, **kw) -> nn.LSTM:
    torch.manual_seed(seed)
    lstm = nn.LSTM(**kw).double().eval()
    with torch.no_grad():
        for p in lstm.parameters():
            p.mul_(2.0)
    return lstm


def _cell(lstm: nn.LSTM, layer: int, d: int) -> nn.LSTMCell:
    sfx = f"_l{layer}" + ("_reverse" if d else "")
    w_ih = getattr(lstm, "weight_ih" + sfx)
    cell = nn.LSTMCell(w_ih.shape[1], lstm.hidden_size).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(lstm, name + sfx))
    return cell


def _hand_run(lstm: nn.LSTM, x: torch.Tensor, ablations=()):
    """(gates (L, D, T, B, 4, H), c, h) of ``lstm`` on time-major x, by nn.LSTMCell steps; at
    each ablated (position, unit) the gate or state is set by hand and that unit's c and h are
    recomputed from the edited gates."""
    L, D, H = lstm.num_layers, 2 if lstm.bidirectional else 1, lstm.hidden_size
    T, B, _ = x.shape
    gates = torch.zeros(L, D, T, B, 4, H, dtype=x.dtype)
    cs = torch.zeros(L, D, T, B, H, dtype=x.dtype)
    hs = torch.zeros(L, D, T, B, H, dtype=x.dtype)
    layer_in = x
    with torch.no_grad():
        for layer in range(L):
            for d in range(D):
                cell = _cell(lstm, layer, d)
                h = torch.zeros(B, H, dtype=x.dtype)
                c = torch.zeros(B, H, dtype=x.dtype)
                for p in (range(T) if d == 0 else range(T - 1, -1, -1)):
                    xt = layer_in[p]
                    z = xt @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
                    zi, zf, zg, zo = z.chunk(4, -1)
                    act = [torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg),
                           torch.sigmoid(zo)]
                    h_new, c_new = cell(xt, (h, c))
                    for a in ablations:
                        if (a.layer, a.direction) != (layer, d) or p not in a.steps(T):
                            continue
                        for u in a.units:
                            b = a.batch
                            if a.kind in GATES:
                                act[GATES.index(a.kind)][b, u] = a.value
                                i, f, g, o = (v[b, u] for v in act)
                                c_new[b, u] = f * c[b, u] + i * g
                                h_new[b, u] = o * torch.tanh(c_new[b, u])
                            elif a.kind == "c":
                                c_new[b, u] = a.value
                                h_new[b, u] = act[3][b, u] * torch.tanh(c_new[b, u])
                            else:
                                h_new[b, u] = a.value
                    gates[layer, d, p] = torch.stack(act, 1)
                    h, c = h_new, c_new
                    hs[layer, d, p], cs[layer, d, p] = h, c
            layer_in = torch.cat([hs[layer, d] for d in range(D)], -1)
    return gates, cs, hs


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_the_hand_run_without_ablations_is_nn_lstm():
    lstm = _lstm(input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    x = torch.randn(7, 2, 3, dtype=torch.float64)
    _, _, h = _hand_run(lstm, x)
    out, _ = lstm(x)
    _close(torch.cat([h[1, 0], h[1, 1]], -1), out.detach())


CASES = [("h", 0.0, 2, None), ("c", 0.0, 3, None), ("i", 0.0, 1, 5), ("f", 0.0, 2, None),
         ("f", 1.0, 0, 4), ("g", -0.5, 3, 6), ("o", 0.0, 1, None), ("o", 1.0, 4, 5),
         ("c", 0.7, 2, 3)]


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind,value,start,stop", CASES)
def test_ablation_equals_a_hand_edited_lstm_cell_run(bidirectional, kind, value, start, stop):
    lstm = _lstm(input_size=3, hidden_size=5, num_layers=2, bidirectional=bidirectional)
    torch.manual_seed(1)
    x = torch.randn(8, 2, 3, dtype=torch.float64)
    direction = 1 if bidirectional else 0
    ablations = [Ablation(kind, layer=0, direction=direction, batch=1, units=(1, 3),
                          value=value, start=start, stop=stop),
                 Ablation(kind, layer=1, direction=0, batch=0, units=(4,), value=value,
                          start=start, stop=stop)]
    run = replay(lstm, x, ablations)
    gates, c, h = _hand_run(lstm, x, ablations)
    plain_gates, plain_c, plain_h = _hand_run(lstm, x)
    assert not torch.allclose(c, plain_c)  # the ablation changes the run
    _close(run.edited.gates, gates)
    _close(run.edited.c, c)
    _close(run.edited.h, h)
    _close(run.original.h, plain_h)
    _close(run.difference.h, h - plain_h)
    _close(run.difference.c, c - plain_c)
    _close(run.difference.gates, gates - plain_gates)


def test_steps_outside_the_span_are_untouched_and_the_layer_above_sees_the_ablation():
    lstm = _lstm(input_size=2, hidden_size=4, num_layers=2)
    x = torch.randn(10, 1, 2, dtype=torch.float64)
    run = replay(lstm, x, [Ablation("f", 0, 0, 0, (2,), 0.0, start=4, stop=7)])
    assert float(run.difference.c[:, :, :4].abs().max()) == 0.0
    assert (run.edited.gates[0, 0, 4:7, 0, 1, 2] == 0).all()
    assert run.edited.gates[0, 0, 7, 0, 1, 2] > 0
    assert float(run.difference.h[1].abs().max()) > 1e-6


def test_changed_steps_are_where_an_ablation_moves_the_run():
    from lstm_viz.explain.ablation import changed_steps
    lstm = _lstm(input_size=2, hidden_size=4, bidirectional=True)
    x = torch.randn(30, 1, 2, dtype=torch.float64)
    forward = replay(lstm, x, [Ablation("c", 0, 0, 0, (1,), 0.0, start=12, stop=15)])
    # the forward direction reads on from t=12: changed from there to the end
    assert changed_steps(forward.original.c[0, 0], forward.edited.c[0, 0], axis=0) == (12, 30)
    assert changed_steps(forward.original.c[0, 1], forward.edited.c[0, 1], axis=0) is None
    reverse = replay(lstm, x, [Ablation("h", 0, 1, 0, (2,), 0.0, start=20, stop=22)])
    # the reverse direction reads t=21 first and carries the change back to t=0
    assert changed_steps(reverse.original.h[0, 1], reverse.edited.h[0, 1], axis=0) == (0, 22)
    # and as a view holds it, (units, T)
    assert changed_steps(reverse.original.h[0, 1, :, 0].T, reverse.edited.h[0, 1, :, 0].T) \
        == (0, 22)
    before = np.zeros((3, 8))
    after = before.copy()
    after[2, 5] = 1e-3
    assert changed_steps(before, after) == (5, 6)
    assert changed_steps(before, after, atol=1e-2) is None
    after[0, 7] = np.nan  # a value appearing or vanishing is a change; NaN in both is not
    assert changed_steps(before, after) == (5, 8)
    with pytest.raises(ValueError, match="differ in shape"):
        changed_steps(before, after[:, :4])


def test_a_head_gives_prediction_and_loss_differences():
    lstm = _lstm(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    head = nn.Linear(8, 5).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    target = torch.randint(0, 5, (6, 2))
    ablation = Ablation("c", 1, 0, 0, (0, 1, 2, 3), 0.0, start=2)
    run = replay(lstm, x, [ablation], head=head, target=target)
    _, _, h = _hand_run(lstm, x, [ablation])
    with torch.no_grad():
        pred = head(torch.cat([h[1, 0], h[1, 1]], -1))
        pred0 = head(lstm(x)[0])
    _close(run.difference.edited_prediction, pred)
    _close(run.difference.prediction, pred - pred0)
    loss = nn.functional.cross_entropy(pred.reshape(12, 5), target.reshape(-1),
                                       reduction="none").view(6, 2)
    loss0 = nn.functional.cross_entropy(pred0.reshape(12, 5), target.reshape(-1),
                                        reduction="none").view(6, 2)
    _close(run.difference.loss, loss - loss0)
    assert float(run.difference.loss[:2].abs().max()) == 0.0
    mse = step_losses(pred, torch.zeros(6, 2, 5, dtype=torch.float64))
    _close(mse, (pred ** 2).mean(-1))


def test_a_head_given_as_weights_equals_the_linear_module():
    lstm = _lstm(input_size=2, hidden_size=3)
    head = nn.Linear(3, 4).double()
    run = replay(lstm, torch.randn(5, 1, 2, dtype=torch.float64), [])

    class Weights:
        weight, bias = head.weight.detach(), head.bias.detach()

    _close(head_outputs(run.original, Weights()), head_outputs(run.original, head))


def test_packed_ablation_stops_at_each_sequence_end():
    lstm = _lstm(input_size=2, hidden_size=3, bidirectional=True)
    x = torch.randn(6, 2, 2, dtype=torch.float64)
    packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor([6, 3]), enforce_sorted=False)
    run = replay(lstm, packed, [Ablation("h", 0, 1, 1, (0,), 0.0, start=1)])
    _, _, h = _hand_run(lstm, x[:3, 1:2], [Ablation("h", 0, 1, 0, (0,), 0.0, start=1)])
    _close(run.edited.h[0, :, :3, 1], h[0, :, :, 0])
    assert torch.isnan(run.edited.h[0, :, 3:, 1]).all()
    assert float(run.difference.h[:, :, :, 0].abs().max()) == 0.0


def test_projected_h_is_zeroed_in_its_projected_units():
    lstm = _lstm(input_size=2, hidden_size=4, proj_size=2, num_layers=2)
    x = torch.randn(5, 1, 2, dtype=torch.float64)
    run = replay(lstm, x, [Ablation("h", 0, 0, 0, (1,), 0.0, start=0)])
    assert (run.edited.h[0, 0, :, 0, 1] == 0).all()
    with pytest.raises(ValueError, match="unit=3 is outside the 2 units in h"):
        replay(lstm, x, [Ablation("h", 0, 0, 0, (3,), 0.0)])


@pytest.mark.parametrize("kwargs,message", [
    ({"kind": "x"}, "kind must be one of"),
    ({"kind": "f", "value": 1.5}, r"clamp it to a value in \[0, 1\]"),
    ({"kind": "g", "value": -2.0}, r"value in \[-1, 1\]"),
    ({"start": 4, "stop": 4}, "start < stop"),
    ({"units": ()}, "at least one unit"),
])
def test_bad_ablations_are_refused_by_name(kwargs, message):
    args = {"kind": "h", "layer": 0, "direction": 0, "batch": 0, "units": (0,), "value": 0.0,
            "start": 0, "stop": None} | kwargs
    with pytest.raises(ValueError, match=message):
        Ablation(**args)


def test_an_ablation_outside_the_lstm_is_refused():
    lstm = _lstm(input_size=2, hidden_size=3)
    x = torch.randn(5, 1, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="layer=1 is outside the 1 layers"):
        replay(lstm, x, [Ablation("c", 1, 0, 0, (0,))])
    with pytest.raises(ValueError, match="start=5 is outside the 5 steps"):
        replay(lstm, x, [Ablation("c", 0, 0, 0, (0,), start=5)])
    with pytest.raises(ValueError, match="must be an Ablation"):
        replay(lstm, x, [("c", 0)])


# ----- in a session ---------------------------------------------------------------------------

def _session():
    s = Session(LSTMConfig(input_size=3, hidden_size=4, num_layers=2), dtype=torch.float64)
    s.retrace()
    return s


def test_session_ablation_traces_like_the_hand_run_and_keeps_the_original():
    s = _session()
    before = s.trace
    ablation = Ablation("f", 1, 0, 0, (2,), 0.0, start=3)
    s.ablate(ablation)
    assert s.original is before
    gates, c, h = _hand_run(s.lstm, s.input_tm, [ablation])
    _close(s.trace.c, c)
    _close(s.trace.gates, gates)
    _close(difference(s.original, s.trace).c, c - before.c)
    s.clear_edits()
    assert s.trace is before and not s.edits


def test_session_ablations_round_trip_through_json_and_old_files_still_load():
    s = _session()
    s.ablate(Ablation("g", 0, 0, 0, (1, 3), 0.25, start=2, stop=5), rerun=False)
    data = json.loads(json.dumps(s.to_dict()))
    assert data["edits"]["ablations"] == [["g", 0, 0, 0, [1, 3], 0.25, 2, 5]]
    back = Session.from_dict(data)
    assert back.edits.ablations == s.edits.ablations
    back.retrace()
    _close(back.trace.c, _hand_run(back.lstm, back.input_tm, s.edits.ablations)[1])
    del data["edits"]["ablations"]
    assert not Session.from_dict(data).edits


@pytest.mark.parametrize("entry,message", [
    (["f", 0, 0, 0, [9], 0.0, 0, None], "unit=9 is outside the 4 units in f"),
    (["f", 0, 0, 0, [1], 3.0, 0, None], r"ablations\[0\]: gate f is a sigmoid"),
    (["q", 0, 0, 0, [1], 0.0, 0, None], "kind must be one of"),
    (["h", 0, 0, 0, [1], 0.0, 0], "must be a list of 8 values"),
])
def test_a_bad_ablation_in_a_session_file_is_refused_by_name(entry, message):
    data = _session().to_dict()
    data["edits"]["ablations"] = [entry]
    with pytest.raises(ValueError, match=message):
        Session.from_dict(data)


# ----- heads and next-step targets ------------------------------------------------------------

def test_head_module_holds_the_loaded_heads_weights():
    from lstm_viz.explain.ablation import head_module
    from lstm_viz.formats.loader import Head
    w, b = torch.randn(5, 3), torch.randn(5)
    lin = head_module(Head("fc", w, b), torch.zeros(1, dtype=torch.float64))
    x = torch.randn(2, 3, dtype=torch.float64)
    _close(lin(x), x @ w.double().T + b.double())


def test_next_step_targets_are_the_next_token_for_text_and_the_next_input_otherwise():
    from lstm_viz.explain.ablation import next_step_targets
    from lstm_viz.formats.loader import Head
    from lstm_viz.text.textinput import tokens_spec
    vocab = list("abc ")
    spec = tokens_spec("abc cab", vocab=vocab)
    s = Session(LSTMConfig(input_size=4, hidden_size=3), input_spec=spec)
    assert next_step_targets(s) is None  # no head
    s.head = Head("fc", torch.zeros(4, 3))
    want = [vocab.index(ch) for ch in "bc cab" + "a"]  # the last step wraps to the first
    assert next_step_targets(s)[:, 0].tolist() == want
    s.head = Head("fc", torch.zeros(5, 3))  # outputs that are not the vocabulary
    assert next_step_targets(s) is None
    r = Session(LSTMConfig(input_size=2, hidden_size=3))
    r.head = Head("fc", torch.zeros(2, 3))
    _close(next_step_targets(r)[:-1].double(), r.input_tm[1:].double())


def test_a_loaded_head_stays_with_its_lstm_until_the_weights_change():
    from lstm_viz.formats.loader import Head
    s = Session(LSTMConfig(input_size=2, hidden_size=3))
    head = Head("fc", torch.zeros(2, 3))
    s.load_module(nn.LSTM(2, 3), head=head)
    assert s.head is head
    s.set_config(s.config.replace(batch_first=True), reinit=False)
    assert s.head is head
    s.reinitialize()
    assert s.head is None


def test_a_saved_session_file_replays_its_ablations(tmp_path):
    from lstm_viz.formats.sessionfile import load_session, save_session
    s = _session()
    ablation = Ablation("i", 1, 0, 0, (0, 2), 1.0, start=1, stop=4)
    s.ablate(ablation)
    save_session(tmp_path / "s.lstmviz.json", s)
    back, _ = load_session(tmp_path / "s.lstmviz.json")
    assert back.edits.ablations == [ablation]
    _close(back.trace.c, _hand_run(back.lstm, back.input_tm, [ablation])[1])
    _close(back.trace.c, s.trace.c)
