"""Consent to run the code pickled in a model file covers the file the user agreed to, nothing
else: whatever a session file says about its model, reopening it (File > Open session, File >
Open text input, ``--config``, a demo) never unpickles it without the same question that
opening that model by hand asks. Checked with files whose objects write a marker file when
they are fully unpickled."""

from __future__ import annotations

import json

import pytest
import torch
from pickle_doubles import BuiltOnLoad, NetWithPayload, WriteMarker
from PySide6.QtWidgets import QApplication
from torch import nn

from lstm_viz import LSTMConfig, Session
from lstm_viz import demos as demo_registry
from lstm_viz.formats.loader import PickleConsentNeeded, load_model
from lstm_viz.formats.sessionfile import load_session, save_session
from lstm_viz.text.textinput import text_input_spec
from lstm_viz_app import cli
from lstm_viz_app.dialogs import UnsafePickleDialog

pytestmark = pytest.mark.gui


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "marker"


@pytest.fixture
def readable_model(tmp_path, marker):
    """A pickled whole model that opens without running code; unpickled, it writes ``marker``."""
    torch.manual_seed(3)
    path = tmp_path / "whole.pt"
    torch.save(NetWithPayload(marker), path)
    assert not marker.exists()
    return path


@pytest.fixture
def code_only_model(tmp_path, marker):
    """A pickle whose LSTM exists only once its code has run (which also writes ``marker``)."""
    path = tmp_path / "code_only.pt"
    torch.save({"model": BuiltOnLoad(4, 6), "payload": WriteMarker(marker)}, path)
    return path


def _session_saying_pickle(tmp_path, model_path, *, embed: bool):
    """A session file whose model_source says its model was unpickled (kind "pickle")."""
    session = Session(LSTMConfig(4, 6))
    session.load_module(nn.LSTM(4, 6), source={"path": str(model_path), "lstm": "",
                                               "kind": "pickle"})
    path = tmp_path / "s.lstmviz.json"
    save_session(path, session, embed_weights=embed)
    return path


def _text_file(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("abba ab")
    return path


# ----- the engine: text input and session files -----------------------------------------------
def test_text_input_spec_reads_a_pickle_kind_model_without_running_it(readable_model, marker):
    spec = text_input_spec({"path": str(readable_model), "kind": "pickle"}, "abc")
    assert spec.text == "abc"
    assert not marker.exists()


def test_text_input_spec_runs_the_code_only_with_consent(code_only_model, marker):
    with pytest.raises(PickleConsentNeeded) as err:
        text_input_spec({"path": str(code_only_model), "kind": "pickle"}, "abc")
    assert err.value.path == code_only_model and not marker.exists()
    text_input_spec({"path": str(code_only_model), "kind": "pickle"}, "abc", allow_pickle=True)
    assert marker.exists()


def test_session_file_cannot_unpickle_its_model_unless_that_file_is_trusted(
        tmp_path, code_only_model, marker):
    path = _session_saying_pickle(tmp_path, code_only_model, embed=False)
    with pytest.raises(PickleConsentNeeded, match="a session file cannot allow that"):
        load_session(path)
    with pytest.raises(PickleConsentNeeded):
        load_session(path, trusted_models=[tmp_path / "another.pt"])
    assert not marker.exists()
    session, _ = load_session(path, trusted_models=[code_only_model])
    assert marker.exists() and session.config == LSTMConfig(4, 6)


def test_demos_open_their_models_without_running_code(tmp_path, readable_model,
                                                      code_only_model, marker):
    demos = {"demos": [
        {"name": "whole", "title": "Whole", "description": "d", "model": readable_model.name,
         "input": {"source": "random"}},
        {"name": "code", "title": "Code", "description": "d", "model": code_only_model.name,
         "input": {"source": "random"}}]}
    (tmp_path / "demos.json").write_text(json.dumps(demos))
    session = Session()
    demo_registry.open_demo(session, "whole", tmp_path / "demos.json")
    assert session.config == LSTMConfig(4, 6)
    with pytest.raises(ValueError, match="pickled Python object"):
        demo_registry.open_demo(Session(), "code", tmp_path / "demos.json")
    assert not marker.exists()


# ----- the GUI -----------------------------------------------------------------------------------
def test_session_saying_pickle_then_open_text_input_never_unpickles(
        window, tmp_path, readable_model, marker, wait_traced):
    path = _session_saying_pickle(tmp_path, readable_model, embed=True)
    assert window.documents.open_session(path)
    wait_traced(window)
    assert window.session.model_source["kind"] == "pickle"
    assert window.documents.open_text_input(_text_file(tmp_path)), \
        window.statusBar().currentMessage()
    assert window.session.input_spec.text == "abba ab"
    assert QApplication.activeModalWidget() is None
    assert not marker.exists()


def test_open_session_asks_before_unpickling_its_model(window, qtbot, tmp_path, code_only_model,
                                                       marker, modal_dialog, wait_traced):
    wait_traced(window)
    trace = window.session.trace
    path = _session_saying_pickle(tmp_path, code_only_model, embed=False)
    assert not window.documents.open_session(path)
    dialog = modal_dialog()
    assert isinstance(dialog, UnsafePickleDialog) and code_only_model.name in dialog.text()
    dialog.cancel_button.click()
    assert not marker.exists()
    assert window.session.config == LSTMConfig(4, 8) and window.session.trace is trace
    window.documents.open_session(path)
    modal_dialog().load_button.click()
    qtbot.waitUntil(lambda: window.session.config == LSTMConfig(4, 6), timeout=5000)
    assert marker.exists()


def test_text_input_after_a_session_asks_for_its_code_only_model(
        window, qtbot, tmp_path, code_only_model, marker, modal_dialog):
    session = Session(LSTMConfig(4, 6))
    session.load_module(nn.LSTM(4, 6), source={"path": str(code_only_model), "lstm": "",
                                               "kind": "pickle"})
    save_session(tmp_path / "s.json", session, embed_weights=True)
    assert window.documents.open_session(tmp_path / "s.json")
    before = window.session.input_spec
    assert not window.documents.open_text_input(_text_file(tmp_path))
    dialog = modal_dialog()
    assert isinstance(dialog, UnsafePickleDialog)
    dialog.cancel_button.click()
    assert not marker.exists() and window.session.input_spec == before


def test_consent_given_to_open_a_model_covers_that_file_only(window, qtbot, tmp_path,
                                                             code_only_model, marker,
                                                             modal_dialog):
    other = tmp_path / "other.pt"
    other.write_bytes(code_only_model.read_bytes())
    assert window.documents.open_model(code_only_model)
    modal_dialog().load_button.click()
    qtbot.waitUntil(lambda: window.session.config == LSTMConfig(4, 6), timeout=5000)
    assert window.documents.consent.covers(code_only_model)
    assert not window.documents.consent.covers(other)
    marker.unlink()
    with open(code_only_model, "ab") as fh:  # a changed file needs asking again
        fh.write(b"\0")
    assert not window.documents.consent.covers(code_only_model)
    assert not marker.exists()


# ----- the command line --------------------------------------------------------------------------
def test_allow_pickle_does_not_cover_the_model_a_config_session_names(
        qtbot, tmp_path, code_only_model, marker, capsys):
    path = _session_saying_pickle(tmp_path, code_only_model, embed=False)
    shot = tmp_path / "shot.png"
    assert cli.main(["--screenshot", str(shot), "--config", str(path), "--allow-pickle"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lstm-viz: error: --config:")
    assert f"--model {code_only_model} --allow-pickle" in err
    assert not marker.exists() and not shot.exists()


def test_allow_pickle_covers_the_model_file_named_on_the_command_line(
        qtbot, tmp_path, code_only_model, marker, capsys):
    path = _session_saying_pickle(tmp_path, code_only_model, embed=False)
    shot = tmp_path / "shot.png"
    assert cli.main(["--screenshot", str(shot), "--config", str(path), "--model",
                     str(code_only_model), "--allow-pickle"]) == 0
    assert marker.exists() and shot.exists()


def test_a_model_that_needs_its_code_is_refused_without_allow_pickle(
        qtbot, tmp_path, code_only_model, marker, capsys):
    assert cli.main(["--screenshot", str(tmp_path / "x.png"), "--model",
                     str(code_only_model)]) == 2
    assert "--allow-pickle" in capsys.readouterr().err
    assert not marker.exists()
    with pytest.raises(PickleConsentNeeded):
        load_model(code_only_model)
    assert not marker.exists()


def test_consent_to_a_model_file_is_asked_once_in_a_run(window, qtbot, code_only_model,
                                                        modal_dialog, monkeypatch):
    from lstm_viz_app.controllers.documents import DocumentsController

    asked = []
    real = DocumentsController.ask_pickle_consent

    def ask(self, path, *args, **kwargs):
        asked.append(path)
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(DocumentsController, "ask_pickle_consent", ask)
    assert window.documents.open_model(code_only_model)
    modal_dialog().load_button.click()
    qtbot.waitUntil(lambda: window.session.config == LSTMConfig(4, 6), timeout=5000)
    assert window.documents.new_session()
    assert window.session.config != LSTMConfig(4, 6)
    assert window.documents.open_model(code_only_model)  # at once: nothing to ask
    assert window.session.config == LSTMConfig(4, 6)
    assert len(asked) == 1
