"""lstm_viz.formats.sessionfile: a saved session reopens exactly; newer or broken files are
refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lstm_viz.config import LSTMConfig
from lstm_viz.formats.loader import load_into_session, load_model
from lstm_viz.formats.sessionfile import (
    FORMAT_VERSION,
    load_session,
    save_session,
    timeline_layouts,
)
from lstm_viz.inputs import InputSpec
from lstm_viz.session import Session


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _session() -> Session:
    s = Session(LSTMConfig(3, 5, num_layers=2), InputSpec(seq_len=12, batch_size=2, seed=4),
                seed=7)
    s.retrace()
    return s


def test_seeded_session_round_trips_with_step_edits_and_selection(tmp_path):
    s = _session()
    s.edit_input(3, 1, 2, 5.0)
    s.edit_state("c", 5, 0, 0, 0, 4, -2.0)
    s.seek(8)
    sel = {"layer": 1, "unit": 4, "kind": "h", "span": [2, 6]}
    save_session(tmp_path / "s.lstmviz.json", s, selection=sel, view={"panel": "units"})
    r, extras = load_session(tmp_path / "s.lstmviz.json")
    assert r.config == s.config and r.input_spec == s.input_spec and r.t == 8
    assert extras.selection == sel and extras.view == {"panel": "units"}
    assert extras.weights_from == "file"
    for name, p in s.lstm.state_dict().items():
        torch.testing.assert_close(r.lstm.state_dict()[name], p)
    torch.testing.assert_close(r.trace.h, s.trace.h, equal_nan=True)
    torch.testing.assert_close(r.original.h, s.original.h, equal_nan=True)
    assert r.edits.inputs == s.edits.inputs and r.edits.states == s.edits.states
    assert r.trace.c[0, 0, 5, 0, 4] == pytest.approx(-2.0)


def test_untraced_load_keeps_edits_and_step_and_traces_like_nn_lstm(tmp_path, monkeypatch):
    s = _session()
    s.edit_input(3, 1, 2, 5.0)
    s.seek(8)
    save_session(tmp_path / "s.lstmviz.json", s)
    runs = []
    real = Session.request
    monkeypatch.setattr(Session, "request", lambda self: runs.append(1) or real(self))
    r, _ = load_session(tmp_path / "s.lstmviz.json", trace=False)
    assert runs == [] and r.trace is None
    assert r.edits.inputs == s.edits.inputs and r.t == 8
    monkeypatch.undo()
    r.retrace()
    x = r.input_tm.clone()
    x[3, 1, 2] = 5.0
    expected, _ = s.lstm(x)
    torch.testing.assert_close(r.trace.output, expected.detach())


def test_trained_weights_survive_even_without_the_model_file(tmp_path):
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4)
    torch.save({"model": {f"rnn.{k}": v for k, v in lstm.state_dict().items()}},
               tmp_path / "m.pt")
    s = Session(LSTMConfig(3, 4))
    load_into_session(s, load_model(tmp_path / "m.pt"))
    assert s.model_source["lstm"] == "['model'] rnn"
    save_session(tmp_path / "s.json", s)
    (tmp_path / "m.pt").unlink()
    r, extras = load_session(tmp_path / "s.json")
    torch.testing.assert_close(r.lstm.weight_hh_l0, lstm.weight_hh_l0.detach())
    assert r.model_source["lstm"] == "['model'] rnn"
    x = torch.randn(5, 1, 3)
    with torch.no_grad():
        torch.testing.assert_close(r.lstm(x)[0], lstm(x)[0])


def test_reference_only_session_rereads_the_model_file_and_notices_changes(tmp_path):
    lstm = nn.LSTM(2, 3)
    torch.save(lstm.state_dict(), tmp_path / "m.pt")
    s = Session(LSTMConfig(2, 3))
    load_into_session(s, load_model(tmp_path / "m.pt"))
    save_session(tmp_path / "s.json", s, embed_weights=False)
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["weights"] is None and doc["session"]["model_source"]["path"] == "m.pt"
    r, extras = load_session(tmp_path / "s.json")
    assert extras.weights_from == "model file"
    torch.testing.assert_close(r.lstm.weight_ih_l0, lstm.weight_ih_l0.detach())
    torch.save(nn.LSTM(2, 3).state_dict(), tmp_path / "m.pt")
    with pytest.raises(ValueError, match="m.pt has changed since the session was saved"):
        load_session(tmp_path / "s.json")
    (tmp_path / "m.pt").unlink()
    with pytest.raises(ValueError, match="m.pt is missing and the session does not contain"):
        load_session(tmp_path / "s.json")


def test_file_input_moves_with_the_folder_and_is_kept_in_the_session(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    data = np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32)
    np.save(folder / "x.npy", data)
    s = Session(LSTMConfig(3, 4), InputSpec(source="file", path=str(folder / "x.npy")))
    s.retrace()
    save_session(folder / "s.json", s)
    assert json.loads((folder / "s.json").read_text())["session"]["input"]["path"] == "x.npy"
    moved = tmp_path / "moved"
    shutil.move(folder, moved)
    r, _ = load_session(moved / "s.json")
    assert r.input_spec.path == str((moved / "x.npy").resolve())
    torch.testing.assert_close(r.trace.x[:, 0], torch.from_numpy(data))
    (moved / "x.npy").unlink()
    r2, _ = load_session(moved / "s.json")  # from the copy stored in the session
    torch.testing.assert_close(r2.trace.x[:, 0], torch.from_numpy(data))
    assert "session-inputs" in r2.input_spec.path


def test_newer_format_is_refused_with_a_clear_message(tmp_path):
    save_session(tmp_path / "s.json", _session())
    doc = json.loads((tmp_path / "s.json").read_text())
    doc["format_version"] = FORMAT_VERSION + 1
    (tmp_path / "s.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=f"written by a newer lstm-viz \\(session format"
                                         f" {FORMAT_VERSION + 1}; this version reads format"
                                         f" {FORMAT_VERSION} and older\\)"):
        load_session(tmp_path / "s.json")


def test_truncated_session_file_is_broken(tmp_path):
    save_session(tmp_path / "s.json", _session())
    text = (tmp_path / "s.json").read_text()
    (tmp_path / "s.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="s.json is broken: invalid JSON at line .* truncated"):
        load_session(tmp_path / "s.json")


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a session file: it is not text"),
    (b'{"hello": 1}', "not an lstm-viz session file"),
    (b'{"format": "lstm-viz session", "format_version": "1"}', "format_version must be"),
    (b'{"format": "lstm-viz session", "format_version": 1}', 'no "session" object'),
])
def test_other_files_are_refused(tmp_path, content, message):
    (tmp_path / "s.json").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_session(tmp_path / "s.json")


def test_damaged_weights_are_reported(tmp_path):
    save_session(tmp_path / "s.json", _session())
    doc = json.loads((tmp_path / "s.json").read_text())
    doc["weights"]["weight_hh_l0"]["data"] = "not base64!"
    (tmp_path / "s.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="tensor 'weight_hh_l0' cannot be read"):
        load_session(tmp_path / "s.json")
    doc["weights"]["weight_hh_l0"] = doc["weights"]["weight_ih_l0"]  # (20, 3), not (20, 5)
    (tmp_path / "s.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="stored weights do not fit the stored config"):
        load_session(tmp_path / "s.json")


def test_unknown_session_fields_are_reported(tmp_path):
    save_session(tmp_path / "s.json", _session())
    doc = json.loads((tmp_path / "s.json").read_text())
    doc["session"]["hidden_sise"] = 3
    (tmp_path / "s.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="unknown session field\\(s\\): hidden_sise"):
        load_session(tmp_path / "s.json")


@pytest.mark.parametrize("where", [("session",), ("session", "edits")])
def test_an_unknown_field_named_with_control_characters_is_reported_on_one_line(tmp_path,
                                                                                 where):
    save_session(tmp_path / "s.json", _session())
    doc = json.loads((tmp_path / "s.json").read_text())
    node = doc
    for key in where:
        node = node.setdefault(key, {})
    node["line\nbreak"] = 1
    node["x" * 60] = 2
    (tmp_path / "s.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError) as info:
        load_session(tmp_path / "s.json")
    message = str(info.value)
    assert "\n" not in message and "'line\\nbreak'" in message
    assert "x" * 60 not in message and "'" + "x" * 36 + "..." in message


def test_selection_must_be_plain_data(tmp_path):
    with pytest.raises(ValueError, match="selection and view must be plain JSON data"):
        save_session(tmp_path / "s.json", _session(), selection={"unit": object()})
    assert not (tmp_path / "s.json").exists()


def test_tokens_input_with_checkpoint_embedding_round_trips(tmp_path):
    from lstm_viz.text.textinput import tokens_spec
    torch.manual_seed(1)
    emb, lstm = nn.Embedding(4, 3), nn.LSTM(3, 5)
    torch.save({"model": {"embed.weight": emb.weight.detach(),
                          **{f"lstm.{k}": v for k, v in lstm.state_dict().items()}},
                "vocab": list("xabc")}, tmp_path / "c.pt")
    loaded = load_model(tmp_path / "c.pt")
    s = Session(LSTMConfig(3, 5))
    load_into_session(s, loaded)
    s.set_input(tokens_spec("abcabc", vocab=loaded.vocab, model_path=str(tmp_path / "c.pt")))
    s.retrace()
    save_session(tmp_path / "s.json", s)
    r, _ = load_session(tmp_path / "s.json")
    torch.testing.assert_close(r.trace.x[:, 0], emb.weight.detach()[[1, 2, 3, 1, 2, 3]])
    torch.testing.assert_close(r.trace.h, s.trace.h)


def test_a_bare_session_dict_opens_with_seeded_weights(tmp_path):
    s = _session()
    s.seek(4)
    (tmp_path / "plain.json").write_text(json.dumps(s.to_dict()))
    r, extras = load_session(tmp_path / "plain.json")
    assert extras.weights_from == "seed" and r.t == 4
    torch.testing.assert_close(r.trace.h, s.trace.h, equal_nan=True)


class _AttentionTagger(nn.Module):
    """An attention projection right after the LSTM, the output layer after it."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(3, 8)
        self.attn = nn.Linear(8, 8)
        self.out = nn.Linear(8, 10)


class _Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(3, 8)
        self.fc = nn.Linear(8, 4)


@pytest.mark.parametrize("embed_weights", [True, False])
def test_a_head_chosen_by_hand_is_kept_when_the_session_is_reopened(tmp_path, embed_weights):
    model = _AttentionTagger()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    s = _session()
    load_into_session(s, load_model(tmp_path / "m.pt"))
    assert s.head is None and set(s.head_choices) == {"attn", "out"}
    s.set_head("out")
    save_session(tmp_path / "s.json", s, embed_weights=embed_weights)
    r, _ = load_session(tmp_path / "s.json", trace=False)
    assert r.head is not None and r.head.key == "out"
    torch.testing.assert_close(r.head.weight, model.out.weight.detach())
    torch.testing.assert_close(r.head.bias, model.out.bias.detach())
    r.set_head(None)
    save_session(tmp_path / "none.json", r, embed_weights=embed_weights)
    assert load_session(tmp_path / "none.json", trace=False)[0].head is None
    with pytest.raises(ValueError, match="not one of this model's Linear layers"):
        r.set_head("rnn")


def test_a_reopened_session_keeps_the_head_its_model_file_pairs(tmp_path):
    model = _Tagger()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    s = _session()
    load_into_session(s, load_model(tmp_path / "m.pt"))
    assert s.head is not None and s.head.key == "fc"
    save_session(tmp_path / "s.json", s)
    r, _ = load_session(tmp_path / "s.json", trace=False)
    assert r.head is not None and r.head.key == "fc"
    torch.testing.assert_close(r.head.weight, model.fc.weight.detach())


# ----- paths and budgets a session file cannot turn into a traceback ---------------------------
def _reference_only(tmp_path, model: str, **session) -> Path:
    doc = {"format": "lstm-viz session", "format_version": 1, "weights": None,
           "session": {"input_size": 2, "hidden_size": 3, "seq_len": 4, "batch_size": 1,
                       "input": {"source": "sine"}, "seed": 1,
                       "model_source": {"path": model, "lstm": "", "kind": "state_dict"},
                       **session}}
    path = tmp_path / "s.lstmviz.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("where", ["model", "input"])
def test_a_path_that_is_a_symlink_loop_is_named_in_one_line(tmp_path, where):
    (tmp_path / "loop").symlink_to("loop")
    extra = {"input": {"source": "file", "path": "loop"}} if where == "input" else {}
    path = _reference_only(tmp_path, "loop" if where == "model" else "", **extra)
    with pytest.raises(ValueError, match=rf"the {where} file .*loop cannot be opened \(Too many"
                       r" levels of symbolic links\)") as err:
        load_session(path)
    assert "\n" not in str(err.value)


def test_a_model_path_up_the_tree_that_is_a_folder_is_named_as_such(tmp_path):
    (tmp_path / "deep").mkdir()
    path = _reference_only(tmp_path / "deep", "../..")
    with pytest.raises(ValueError, match=r"the model file .* is not a regular file"):
        load_session(path)


def test_the_callers_budget_reaches_the_model_file_a_session_names(tmp_path):
    """A tiny LSTM beside an 8 MB tensor: the session fits 4 MiB, the file's tensors do not."""
    from safetensors.torch import save_file
    torch.manual_seed(0)
    lstm = nn.LSTM(2, 3)
    save_file({**{f"rnn.{k}": v for k, v in lstm.state_dict().items()},
               "extra.table": torch.zeros(2_000_000)}, str(tmp_path / "m.safetensors"))
    path = _reference_only(tmp_path, "m.safetensors", model_source={
        "path": "m.safetensors", "lstm": "rnn", "kind": "safetensors"})
    r, extras = load_session(path)
    assert extras.weights_from == "model file"
    torch.testing.assert_close(r.lstm.weight_hh_l0, lstm.weight_hh_l0.detach())
    with pytest.raises(ValueError, match="more than the memory budget"):
        load_session(path, memory_budget=4 << 20)
    with pytest.raises(ValueError, match="more than the memory budget"):
        load_model(tmp_path / "m.safetensors", memory_budget=4 << 20)
    assert load_model(tmp_path / "m.safetensors").lstms  # the default budget again


def test_timeline_layouts_round_trip_as_plain_data(tmp_path):
    tracks = [{"kind": "input", "height": None, "collapsed": True, "scale": "",
               "options": {}},
              {"kind": "c", "height": 300, "collapsed": False, "scale": "robust",
               "options": {"units": "1-3"}}]
    path = save_session(tmp_path / "s.json", Session(),
                        view={"tab": "States", "timelines": {"States": tracks}})
    _, extras = load_session(path)
    assert timeline_layouts(extras.view) == {"States": tracks}
    assert timeline_layouts({}) == {}  # a session from before timelines: the presets


@pytest.mark.parametrize("bad, message", [
    ({"timelines": []}, "view.timelines must map"),
    ({"timelines": {"Gates": {"kind": "i"}}}, r"view.timelines\['Gates'\] must be a list"),
    ({"timelines": {"Gates": [{"height": 3}]}}, r"\[0\] must be a mapping with a 'kind'"),
    ({"timelines": {"Gates": [{"kind": "i", "height": "tall"}]}}, "height has the wrong type"),
    ({"timelines": {"Gates": [{"kind": "i", "height": True}]}}, "height has the wrong type"),
    ({"timelines": {"Gates": [{"kind": "i", "height": -4}]}}, "0 to 100000 pixels"),
    ({"timelines": {"Gates": [{"kind": "i", "options": [1]}]}}, "options has the wrong type"),
])
def test_a_bad_timeline_layout_is_named_in_one_line(bad, message):
    with pytest.raises(ValueError, match=message):
        timeline_layouts(bad)
