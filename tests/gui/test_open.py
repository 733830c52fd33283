"""Opening a model or a session never freezes the window: the file is read on a worker behind
a progress dialog with Cancel, the newest open wins, a failure leaves the previous model, and
a session is traced once. Closing (or opening over) unsaved changes asks Save / Discard /
Cancel first."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QPushButton
from torch import nn

from lstm_viz import LSTMConfig, Session
from lstm_viz.formats.sessionfile import load_session, save_session
from lstm_viz.session import TraceRequest
from lstm_viz_app.controllers import documents as docs
from lstm_viz_app.controllers import recent
from lstm_viz_app.workers import LoadRunner

pytestmark = pytest.mark.gui

#: how long a held load waits for the test to let it go (a frozen GUI thread never does)
HOLD_S = 4.0


def _model_file(tmp_path, name: str, input_size: int, hidden_size: int, seed: int):
    torch.manual_seed(seed)
    lstm = nn.LSTM(input_size, hidden_size)
    path = tmp_path / name
    torch.save(lstm.state_dict(), path)
    return path, lstm


@pytest.fixture
def model_file(tmp_path):
    """A state dict of nn.LSTM(4, 6); (path, the module)."""
    return _model_file(tmp_path, "weights.pt", 4, 6, seed=3)


class HeldLoader:
    """``load_model`` that, for the files in ``held``, waits until the test calls ``release``
    (at most HOLD_S) before reading; it records whether it was let go in time."""

    def __init__(self, monkeypatch, *held):
        self.gates = {str(p): threading.Event() for p in held}
        self.let_go: list[bool] = []
        self.real = docs.load_model
        monkeypatch.setattr(docs, "load_model", self)

    def __call__(self, path, **kwargs):
        gate = self.gates.get(str(path))
        if gate is not None:
            self.let_go.append(gate.wait(HOLD_S))
        return self.real(path, **kwargs)

    def release(self, path=None) -> None:
        """Let the load of ``path`` (default: every held file) go on."""
        for p, gate in self.gates.items():
            if path is None or p == str(path):
                gate.set()


@pytest.fixture
def installs(monkeypatch):
    """The LSTMs ``install_model`` was asked to put into the session, by name of file."""
    seen: list[str] = []
    real = docs.DocumentsController.install_model

    def spy(window, loaded, cand, **kwargs):
        seen.append(loaded.path.name)
        return real(window, loaded, cand, **kwargs)

    monkeypatch.setattr(docs.DocumentsController, "install_model", spy)
    return seen


def _settle(window, qtbot) -> None:
    """Wait until every load, dropped ones too, has ended and reported."""
    window.documents.opener.runner.wait(int(HOLD_S * 2000))
    qtbot.wait(50)


def _progress(window, qtbot) -> QProgressDialog:
    qtbot.waitUntil(lambda: (d := window.documents.opener.progress) is not None
                    and d.isVisible(), timeout=int(HOLD_S * 1000))
    return window.documents.opener.progress


# ----- the window stays responsive -------------------------------------------------------------
def test_the_window_handles_events_while_a_model_is_read(window, model_file, monkeypatch,
                                                         qtbot, wait_traced):
    path, lstm = model_file
    loader = HeldLoader(monkeypatch, path)
    wait_traced(window)
    before = window.session.config
    QTimer.singleShot(50, loader.release)  # fires only if the GUI thread is free meanwhile
    assert window.documents.open_path(str(path))
    assert window.session.config == before  # nothing is installed before the file is read
    wait_traced(window)
    assert loader.let_go == [True]
    assert window.session.config == LSTMConfig(4, 6)
    torch.testing.assert_close(window.session.lstm.weight_hh_l0, lstm.weight_hh_l0.detach())


def test_the_window_handles_events_while_a_session_is_read(window, tmp_path, monkeypatch,
                                                           qtbot, wait_traced):
    save_session(tmp_path / "s.lstmviz.json", Session(LSTMConfig(3, 5), seed=4))
    gate, let_go = threading.Event(), []
    real = docs.load_session

    def held(path, **kwargs):
        let_go.append(gate.wait(HOLD_S))
        return real(path, **kwargs)

    monkeypatch.setattr(docs, "load_session", held)
    wait_traced(window)
    QTimer.singleShot(50, gate.set)
    assert window.documents.open_path(str(tmp_path / "s.lstmviz.json"))
    wait_traced(window)
    assert let_go == [True]
    assert window.session.config == LSTMConfig(3, 5)


def test_a_slow_load_shows_a_progress_dialog_naming_the_file(window, model_file, monkeypatch,
                                                            qtbot, wait_traced):
    path, _ = model_file
    loader = HeldLoader(monkeypatch, path)
    try:
        assert window.documents.open_path(str(path))
        dialog = _progress(window, qtbot)
        assert "weights.pt" in dialog.labelText()
        assert dialog.findChild(QPushButton).text() == "Cancel"
    finally:
        loader.release()
    wait_traced(window)
    assert window.documents.opener.progress is None
    assert window.session.config == LSTMConfig(4, 6)


# ----- Cancel, and the newest open wins ---------------------------------------------------------
def test_cancel_discards_the_model_being_read(window, model_file, monkeypatch, qtbot, installs,
                                              wait_traced):
    path, _ = model_file
    loader = HeldLoader(monkeypatch, path)
    wait_traced(window)
    before, title = window.session.config, window.windowTitle()
    try:
        assert window.documents.open_path(str(path))
        qtbot.mouseClick(_progress(window, qtbot).findChild(QPushButton),
                         Qt.MouseButton.LeftButton)
        assert not window.opening
    finally:
        loader.release()
    _settle(window, qtbot)
    assert loader.let_go == [True]  # the file was read to its end, and then dropped
    assert installs == []
    assert window.session.config == before and window.windowTitle() == title
    assert recent.recent_files(window.settings) == []
    assert "Cancelled" in window.statusBar().currentMessage()


def test_two_opens_in_a_row_install_the_second_only(window, tmp_path, monkeypatch, qtbot,
                                                    installs, wait_traced):
    first, _ = _model_file(tmp_path, "first.pt", 4, 6, seed=1)
    second, lstm = _model_file(tmp_path, "second.pt", 3, 5, seed=2)
    loader = HeldLoader(monkeypatch, first)
    wait_traced(window)
    try:
        assert window.documents.open_path(str(first))
        assert window.documents.open_path(str(second))  # does not wait for the first
        wait_traced(window)
        assert window.session.config == LSTMConfig(3, 5)
    finally:
        loader.release()
    _settle(window, qtbot)
    wait_traced(window)
    assert installs == ["second.pt"]
    assert window.session.config == LSTMConfig(3, 5)
    torch.testing.assert_close(window.session.lstm.weight_ih_l0, lstm.weight_ih_l0.detach())
    assert window.windowTitle().startswith("second.pt")


def test_an_earlier_open_that_ends_first_is_still_dropped(window, tmp_path, monkeypatch, qtbot,
                                                          installs, wait_traced):
    first, _ = _model_file(tmp_path, "first.pt", 4, 6, seed=1)
    second, _ = _model_file(tmp_path, "second.pt", 3, 5, seed=2)
    loader = HeldLoader(monkeypatch, first, second)
    wait_traced(window)
    before = window.session.config
    try:
        assert window.documents.open_path(str(first))
        assert window.documents.open_path(str(second))
        loader.release(first)
        qtbot.waitUntil(lambda: loader.let_go == [True])  # the second is still held
        qtbot.wait(300)  # the first load's result reaches the GUI thread, and is dropped
        assert installs == [] and window.session.config == before
        assert window.opening
    finally:
        loader.release()
    wait_traced(window)
    assert installs == ["second.pt"]
    assert window.session.config == LSTMConfig(3, 5)


def test_the_load_runner_reports_only_the_newest_load(qtbot):
    runner = LoadRunner()
    older, newer = threading.Event(), threading.Event()
    reported = []
    runner.finished.connect(lambda ticket, result: reported.append(result))
    runner.failed.connect(lambda ticket, exc: reported.append(exc))
    try:
        runner.start(lambda: older.wait(HOLD_S) and "older")
        runner.start(lambda: newer.wait(HOLD_S) and "newer")
        older.set()
        qtbot.wait(200)
        assert reported == [] and runner.busy
        newer.set()
        qtbot.waitUntil(lambda: reported == ["newer"])
        assert not runner.busy
        runner.start(lambda: older.wait(HOLD_S) and "cancelled")
        runner.cancel()
        assert not runner.busy
        runner.wait(int(HOLD_S * 1000))
        qtbot.wait(100)
        assert reported == ["newer"]
    finally:
        older.set()
        newer.set()
        runner.wait(int(HOLD_S * 1000))


# ----- failures ----------------------------------------------------------------------------------
def test_a_load_that_fails_shows_its_message_and_keeps_the_previous_model(
        window, model_file, tmp_path, qtbot, wait_traced, modal_dialog):
    path, lstm = model_file
    assert window.documents.open_model(path)
    wait_traced(window)
    (tmp_path / "broken.pt").write_bytes(b"\x80\x04 not really a pickle")
    assert window.documents.open_path(str(tmp_path / "broken.pt"))
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "error_box") is not None)
    box = window.findChild(QMessageBox, "error_box")
    assert box.windowTitle() == "Could not open model" and "broken.pt" in box.text()
    assert "Traceback" not in box.text()
    assert window.session.config == LSTMConfig(4, 6)
    torch.testing.assert_close(window.session.lstm.weight_hh_l0, lstm.weight_hh_l0.detach())
    assert window.windowTitle().startswith("weights.pt")


def test_a_model_with_nan_weights_opens_and_the_status_bar_warns(window, tmp_path, qtbot):
    path, lstm = _model_file(tmp_path, "nan.pt", 4, 6, seed=3)
    sd = lstm.state_dict()
    sd["weight_hh_l0"][0, 0] = float("nan")
    torch.save(sd, path)
    assert window.documents.open_model(path)
    qtbot.waitUntil(lambda: "nan.pt" in window.statusBar().full_message())
    assert torch.isnan(window.session.lstm.weight_hh_l0).sum() == 1
    assert "Warning: 1 NaN values in weight_hh_l0 of the LSTM <root>; the trace will carry" \
        " them" in window.statusBar().full_message()


def test_a_loader_that_crashes_shows_one_line_not_a_traceback(window, model_file, monkeypatch,
                                                              qtbot, wait_traced):
    path, _ = model_file
    wait_traced(window)
    before = window.session.config

    def crash(path, **kwargs):
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(docs, "load_model", crash)
    assert window.documents.open_path(str(path))
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "error_box") is not None)
    box = window.findChild(QMessageBox, "error_box")
    assert box.text() == "RuntimeError: the disk went away"
    assert window.session.config == before
    assert not window.opening


# ----- one trace per session --------------------------------------------------------------------
@pytest.fixture
def traces(monkeypatch):
    """Every trace run, on any thread (the GUI's worker, or the loader's)."""
    runs, lock = [], threading.Lock()
    real = TraceRequest.run

    def run(self):
        with lock:
            runs.append(self)
        return real(self)

    monkeypatch.setattr(TraceRequest, "run", run)
    return runs


def test_opening_a_session_traces_it_once_in_all(window, tmp_path, traces, qtbot, wait_traced):
    saved = Session(LSTMConfig(3, 5), seed=4)
    save_session(tmp_path / "s.lstmviz.json", saved)
    wait_traced(window)
    traces.clear()
    assert window.documents.open_path(str(tmp_path / "s.lstmviz.json"))
    wait_traced(window)
    assert len(traces) == 1
    expected, _ = saved.lstm(window.session.input_tm)
    torch.testing.assert_close(window.session.trace.output, expected.detach())


def test_a_session_with_edits_traces_the_saved_run_and_the_edited_run(window, tmp_path, traces,
                                                                      qtbot, wait_traced):
    saved = Session(LSTMConfig(3, 4), seed=2)
    saved.retrace()
    saved.edit_input(1, 0, 0, 2.5)
    save_session(tmp_path / "edited.lstmviz.json", saved)
    wait_traced(window)
    traces.clear()
    assert window.documents.open_path(str(tmp_path / "edited.lstmviz.json"))
    qtbot.waitUntil(lambda: not window.opening and window.ctx.up_to_date
                    and bool(window.session.edits) and window.session.original is not None,
                    timeout=10000)
    assert len(traces) == 2  # "before edit" needs the run as saved
    torch.testing.assert_close(window.session.trace.h, saved.trace.h)
    assert not window.isWindowModified()


def test_a_sessions_ablations_are_replayed(window, tmp_path, wait_traced, qtbot):
    from lstm_viz.tracing.edits import Ablation
    saved = Session(LSTMConfig(3, 4), seed=2)
    saved.retrace()
    saved.ablate(Ablation(kind="h", layer=0, direction=0, batch=0, units=(1,), start=2, stop=5))
    save_session(tmp_path / "ablated.lstmviz.json", saved)
    assert window.documents.open_path(str(tmp_path / "ablated.lstmviz.json"))
    qtbot.waitUntil(lambda: not window.opening and window.ctx.up_to_date
                    and bool(window.session.edits), timeout=10000)
    assert window.session.edits.ablations == saved.edits.ablations
    torch.testing.assert_close(window.session.trace.h, saved.trace.h)


@pytest.mark.parametrize("how", ["--config", "File > Open", "restored"])
def test_a_plain_session_json_with_edits_shows_the_run_before_them(how, make_window, tmp_path,
                                                                   wait_traced, qtbot, settings):
    import json

    from lstm_viz.formats.export import save_config_json
    from lstm_viz.tracing.edits import Ablation
    saved = Session(LSTMConfig(3, 4), seed=2)
    saved.edit_state("c", 2, 0, 0, 0, 1, 2.5, rerun=False)
    saved.ablate(Ablation("h", 0, 0, 0, (3,), 0.0, start=4), rerun=False)
    path = save_config_json(saved, tmp_path / "session.json")  # what `lstm-viz export` writes
    if how == "--config":  # the command line builds the session from the file
        window = make_window(Session.from_dict(json.loads(path.read_text())), view="States")
    elif how == "restored":  # the session the last run left in the settings
        settings.setValue("session", path.read_text())
        window = make_window(restore=True)
        window.show_view("States")
    else:
        window = make_window(view="States")
        wait_traced(window)
        assert window.documents.open_path(str(path))
    qtbot.waitUntil(lambda: not window.opening and window.ctx.up_to_date
                    and bool(window.session.edits), timeout=15000)
    session = window.session
    assert session.trace.meta["edited"]
    assert "what-if run" in window.status_bar.truth_label.text()
    assert session.original is not None and not session.original.meta["edited"]
    expected, _ = session.lstm(session.input_tm)
    torch.testing.assert_close(session.original.h[0, 0], expected.detach(), atol=1e-5, rtol=0)
    states = window.panels["States"]
    states.units_edit.setText("1, 3")
    states.units_edit.editingFinished.emit()
    assert len(states.before_lines) == 4  # c and h of units 1 and 3 before the edits


# ----- the start-up path --------------------------------------------------------------------------
def test_starting_with_a_model_shows_the_window_while_it_is_read(qtbot, model_file, tmp_path,
                                                                 monkeypatch, wait_traced):
    from lstm_viz_app import entry
    monkeypatch.setenv("LSTM_VIZ_SETTINGS", str(tmp_path / "settings.ini"))
    path, _ = model_file
    loader = HeldLoader(monkeypatch, path)
    try:
        window = entry.build_window({"model": str(path), "step": 2})
        qtbot.addWidget(window)
        assert window.opening
    finally:
        loader.release()
    wait_traced(window)
    assert window.session.config == LSTMConfig(4, 6)
    assert window.session.t == 2


# ----- unsaved changes ---------------------------------------------------------------------------
@pytest.fixture
def edited(window, wait_traced):
    """The window, asking about unsaved changes as on a desktop, with a changed hidden size."""
    wait_traced(window)
    window.confirm_unsaved = True
    window.session.set_config(dataclasses.replace(window.session.config, hidden_size=7))
    assert window.isWindowModified()
    yield window
    window.confirm_unsaved = False  # the test's end closes it without asking


def _answer(box: QMessageBox, button) -> None:
    assert box.objectName() == "unsaved_box"
    box.button(button).click()


def test_closing_with_unsaved_changes_asks_and_cancel_keeps_the_window(edited, modal_dialog,
                                                                       qtbot):
    assert not edited.close()
    box = modal_dialog()
    assert "not saved" in box.text()
    _answer(box, QMessageBox.StandardButton.Cancel)
    qtbot.wait(20)
    assert edited.isVisible() and edited.isWindowModified()
    assert edited.session.config.hidden_size == 7


def test_closing_again_while_asked_asks_once(edited, modal_dialog, qtbot):
    edited.close()
    box = modal_dialog()
    edited.close()
    asked = [b for b in edited.findChildren(QMessageBox, "unsaved_box") if b.isVisible()]
    assert asked == [box]
    _answer(box, QMessageBox.StandardButton.Cancel)


def test_save_writes_the_session_then_closes(edited, modal_dialog, tmp_path, monkeypatch,
                                             qtbot):
    target = tmp_path / "kept.lstmviz.json"
    monkeypatch.setattr(docs.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(target), ""))
    edited.close()
    _answer(modal_dialog(), QMessageBox.StandardButton.Save)
    qtbot.waitUntil(lambda: not edited.isVisible())
    reopened, _ = load_session(target)
    assert reopened.config == edited.session.config and reopened.config.hidden_size == 7
    torch.testing.assert_close(reopened.lstm.weight_hh_l0, edited.session.lstm.weight_hh_l0)


def test_save_to_the_session_file_it_came_from(window, tmp_path, modal_dialog, monkeypatch,
                                               qtbot, wait_traced):
    path = tmp_path / "study.lstmviz.json"
    save_session(path, Session(LSTMConfig(3, 5), seed=4))
    assert window.documents.open_session(path)
    wait_traced(window)
    window.confirm_unsaved = True
    monkeypatch.setattr(docs.QFileDialog, "getSaveFileName",
                        lambda *a, **k: pytest.fail("the session has a file already"))
    window.session.edit_input(2, 0, 1, 4.0)
    assert window.isWindowModified()
    window.close()
    _answer(modal_dialog(), QMessageBox.StandardButton.Save)
    qtbot.waitUntil(lambda: not window.isVisible())
    reopened, _ = load_session(path)
    assert [(e.t, e.feature, e.value) for e in reopened.edits.inputs] == [(2, 1, 4.0)]


def test_discard_closes_without_writing(edited, modal_dialog, tmp_path, monkeypatch, qtbot):
    monkeypatch.setattr(docs.QFileDialog, "getSaveFileName",
                        lambda *a, **k: pytest.fail("Discard must not ask for a file"))
    edited.close()
    _answer(modal_dialog(), QMessageBox.StandardButton.Discard)
    qtbot.waitUntil(lambda: not edited.isVisible())
    assert list(tmp_path.glob("*.json")) == []


def test_saving_cancelled_in_the_file_dialog_keeps_the_window(edited, modal_dialog,
                                                              monkeypatch, qtbot):
    monkeypatch.setattr(docs.QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    edited.close()
    _answer(modal_dialog(), QMessageBox.StandardButton.Save)
    qtbot.wait(20)
    assert edited.isVisible() and edited.isWindowModified()


def test_opening_a_model_over_unsaved_changes_asks_first(edited, model_file, modal_dialog,
                                                         qtbot, wait_traced):
    path, _ = model_file
    edited.documents.open_path(str(path))
    _answer(modal_dialog(), QMessageBox.StandardButton.Cancel)
    qtbot.wait(20)
    assert edited.session.config.hidden_size == 7 and not edited.opening
    edited.documents.open_path(str(path))
    _answer(modal_dialog(), QMessageBox.StandardButton.Discard)
    wait_traced(edited)
    assert edited.session.config == LSTMConfig(4, 6)


def test_a_window_with_nothing_to_save_closes_without_asking(window, wait_traced):
    wait_traced(window)
    window.confirm_unsaved = True
    assert not window.isWindowModified()
    assert window.close()


def test_headless_windows_never_ask(window, wait_traced):
    wait_traced(window)
    assert not window.confirm_unsaved  # the offscreen platform: no one could answer
    window.session.set_config(dataclasses.replace(window.session.config, hidden_size=7))
    assert window.close()


# ----- a new input over what-if edits ----------------------------------------------------------
@pytest.fixture
def with_edits(window, wait_traced):
    """The window, asking as on a desktop, with two what-if edits on its input."""
    wait_traced(window)
    window.confirm_unsaved = True
    window.session.edit_input(2, 0, 1, 4.0)
    window.session.edit_state("c", 3, 0, 0, 0, 1, 0.5)
    assert len(window.session.edits) == 2 and window.isWindowModified()
    yield window
    window.confirm_unsaved = False


@pytest.fixture
def array_file(window, tmp_path):
    import numpy as np

    path = tmp_path / "series.npy"
    np.save(path, np.random.default_rng(0).normal(size=(9, window.session.config.input_size))
            .astype(np.float32))
    return path


def test_opening_an_input_over_what_if_edits_asks_and_cancel_keeps_them(with_edits, array_file,
                                                                        modal_dialog, qtbot):
    before = with_edits.session.input_spec
    assert with_edits.documents.open_path(str(array_file))
    box = modal_dialog()
    assert "opening another input" in box.text() and "what-if edits" in box.informativeText()
    _answer(box, QMessageBox.StandardButton.Cancel)
    qtbot.wait(20)
    assert with_edits.session.input_spec == before and len(with_edits.session.edits) == 2


def test_discarding_the_edits_opens_the_input_and_says_what_it_cleared(with_edits, array_file,
                                                                       modal_dialog, qtbot):
    posted = []
    with_edits.ctx.messages.posted.connect(lambda text, _ms: posted.append(text))
    done = []
    with_edits.documents.open_path(str(array_file), done=done.append)
    _answer(modal_dialog(), QMessageBox.StandardButton.Discard)
    qtbot.waitUntil(lambda: done == [True])
    assert with_edits.session.input_spec.path == str(array_file)
    assert not with_edits.session.edits
    assert any("cleared 2 what-if edits" in text for text in posted)


def test_an_input_opens_without_a_question_where_no_edits_would_be_lost(window, array_file,
                                                                        wait_traced):
    wait_traced(window)
    window.confirm_unsaved = True
    window.session.set_config(dataclasses.replace(window.session.config, hidden_size=7))
    assert window.isWindowModified() and not window.session.edits
    done = []
    window.documents.open_path(str(array_file), done=done.append)
    assert done == [True] and window.session.input_spec.path == str(array_file)
    window.confirm_unsaved = False


def test_a_change_of_settings_that_drops_edits_says_so_in_the_status_bar(window, wait_traced,
                                                                         qtbot):
    wait_traced(window)
    window.session.edit_state("h", 1, 0, 0, 0, 2, 0.0)
    posted = []
    window.ctx.messages.posted.connect(lambda text, _ms: posted.append(text))
    window.session.set_config(dataclasses.replace(window.session.config, hidden_size=7))
    assert posted and "cleared the what-if edit," in posted[0]
    qtbot.waitUntil(lambda: "cleared the what-if edit" in window.statusBar().currentMessage())


# ----- File > New session --------------------------------------------------------------------
def test_new_session_over_a_loaded_model_with_edits_asks_then_starts_as_a_first_start(
        window, model_file, modal_dialog, qtbot, wait_traced):
    path, _ = model_file
    assert window.documents.open_model(path)
    wait_traced(window)
    window.confirm_unsaved = True
    window.session.edit_state("c", 2, 0, 0, 0, 1, 0.5)
    action = window.findChild(QAction, "action_new_session")
    assert action.shortcut() == QKeySequence(QKeySequence.StandardKey.New)
    action.trigger()
    _answer(modal_dialog(), QMessageBox.StandardButton.Cancel)
    qtbot.wait(20)
    assert window.session.config == LSTMConfig(4, 6) and window.session.edits
    action.trigger()
    _answer(modal_dialog(), QMessageBox.StandardButton.Discard)
    wait_traced(window)
    first = Session()
    s = window.session
    assert s.config == first.config and s.input_spec == first.input_spec and s.seed == 0
    assert s.model_source is None and s.head is None and not s.edits
    for name, value in first.lstm.state_dict().items():
        torch.testing.assert_close(s.lstm.state_dict()[name], value, rtol=0, atol=0)
    assert window.document is None and not window.isWindowModified()
    assert window.windowTitle().startswith("lstm-viz")
    assert window.panels["Model"].isEnabled()  # no model file: the config is editable
    window.confirm_unsaved = False


def test_open_session_from_the_menu_asks_about_unsaved_changes_before_choosing_a_file(
        edited, tmp_path, modal_dialog, monkeypatch, qtbot, wait_traced):
    save_session(tmp_path / "s.lstmviz.json", Session(LSTMConfig(3, 5), seed=4))
    chosen = []

    def choose(*args, **kwargs):
        chosen.append(args[1])
        return str(tmp_path / "s.lstmviz.json"), ""

    monkeypatch.setattr(docs.QFileDialog, "getOpenFileName", choose)
    action = edited.findChild(QAction, "action_open_session")
    assert action.shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    action.trigger()
    _answer(modal_dialog(), QMessageBox.StandardButton.Cancel)
    qtbot.wait(20)
    assert chosen == [] and edited.session.config.hidden_size == 7
    action.trigger()
    _answer(modal_dialog(), QMessageBox.StandardButton.Discard)
    wait_traced(edited)
    assert chosen == ["Open session"]
    assert edited.session.config == LSTMConfig(3, 5) and not edited.isWindowModified()


# ----- the context traces once, whoever asks --------------------------------------------------
def test_ensure_traced_traces_a_changed_session_once(window, traces, qtbot, wait_traced):
    wait_traced(window)
    traces.clear()
    window.session.set_config(dataclasses.replace(window.session.config, hidden_size=7))
    window.ctx.ensure_traced()
    assert len(traces) == 1 and window.session.trace.config.hidden_size == 7
    window.ctx.ensure_traced()  # nothing changed since: nothing to trace
    qtbot.wait(50)  # nor is the change traced again on the worker
    assert len(traces) == 1 and window.ctx.up_to_date


def test_ensure_traced_waits_for_the_trace_on_the_worker_instead_of_tracing_again(
        window, traces, qtbot, wait_traced):
    wait_traced(window)
    traces.clear()
    window.session.set_config(dataclasses.replace(window.session.config, hidden_size=9))
    qtbot.waitUntil(lambda: len(traces) == 1)  # the worker has started it
    window.ctx.ensure_traced()
    assert len(traces) == 1 and window.session.trace.config.hidden_size == 9
    assert window.ctx.up_to_date
