"""GUI for real models: Open model (picker, unsafe pickle, errors), demos, text view, unit table,
pattern search and sessions with weights, checked as the user would see them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pickle_doubles import BuiltOnLoad
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCursor
from torch import nn

from lstm_viz import LSTMConfig, Session
from lstm_viz.explain.analysis import find_pattern, similar_units, unit_stats
from lstm_viz_app.dialogs import DemoDialog, LSTMPickerDialog, UnsafePickleDialog

pytestmark = pytest.mark.gui


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 6)


class TwoLSTMs(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.LSTM(4, 6, bidirectional=True)
        self.decoder = nn.LSTM(3, 5)


# ----- Open model --------------------------------------------------------------------------------
def test_open_state_dict_shows_it_read_only_with_edit_a_copy(window, qtbot, tmp_path, wait_traced):
    torch.manual_seed(0)
    net = Net()
    torch.save({"model": net.state_dict(), "epoch": 2}, tmp_path / "ckpt.pt")
    assert window.documents.open_model(tmp_path / "ckpt.pt")
    wait_traced(window)
    assert window.session.config == LSTMConfig(4, 6)
    torch.testing.assert_close(window.session.lstm.weight_hh_l0, net.rnn.weight_hh_l0.detach())
    info = window.panels["Loaded model"]
    assert "ckpt.pt" in info.source.text() and "rnn" in info.source.text()
    assert info.config_view.values["hidden_size"].text() == "6"
    model_panel = window.panels["Model"]
    assert not model_panel.isEnabled()
    qtbot.mouseClick(info.edit_copy, Qt.MouseButton.LeftButton)
    assert model_panel.isEnabled()


def test_command_line_model_goes_through_the_same_path(window, qtbot, tmp_path):
    torch.save(Net().state_dict(), tmp_path / "sd.pt")
    assert window.documents.open_model(str(tmp_path / "sd.pt"))
    assert window.session.config.hidden_size == 6


def test_several_lstms_ask_which_one(window, qtbot, tmp_path, wait_traced, modal_dialog):
    torch.save(TwoLSTMs().state_dict(), tmp_path / "s2s.pt")
    assert window.documents.open_model(tmp_path / "s2s.pt")
    picker = modal_dialog()
    assert isinstance(picker, LSTMPickerDialog) and picker.isVisible()
    assert picker.list.count() == 2
    assert "bidirectional=True" in picker.list.item(0).text()
    assert picker.config_view.values["bidirectional"].text() == "True"
    picker.list.setCurrentRow(1)
    assert picker.config_view.values["input_size"].text() == "3"
    picker.accept()
    wait_traced(window)
    assert window.session.config == LSTMConfig(3, 5)
    assert window.session.model_source["lstm"] == "decoder"


@pytest.mark.parametrize("content, expected", [
    (b"PK\x03\x04 cut short", "truncated or corrupt"),
    (b"hello, I am text", "not a PyTorch file"),
    (None, "model file not found"),
])
def test_broken_files_keep_the_previous_model(window, qtbot, tmp_path, content, expected,
                                              wait_traced, modal_dialog):
    wait_traced(window)
    before = window.session.lstm.weight_ih_l0.detach().clone()
    path = tmp_path / "bad.pt"
    if content is not None:
        path.write_bytes(content)
    assert not window.documents.open_model(path)
    box = modal_dialog()
    assert box.isVisible() and expected in box.text()
    assert "expected" in box.text() or "truncated" in box.text()
    assert expected in window.statusBar().currentMessage()
    assert window.session.config == LSTMConfig(4, 8)
    torch.testing.assert_close(window.session.lstm.weight_ih_l0, before)
    assert window.panels["Model"].isEnabled()
    box.close()


def test_non_lstm_file_says_what_was_found(window, qtbot, tmp_path, modal_dialog):
    torch.save(nn.Linear(3, 2).state_dict(), tmp_path / "lin.pt")
    assert not window.documents.open_model(tmp_path / "lin.pt")
    assert "found weight (2, 3), bias (2,)" in modal_dialog().text()


def test_pickled_model_warns_and_loads_only_when_the_user_agrees(window, qtbot, tmp_path,
                                                                 modal_dialog):
    torch.save(BuiltOnLoad(4, 6), tmp_path / "full.pt")
    assert window.documents.open_model(tmp_path / "full.pt")
    dialog = modal_dialog()
    assert isinstance(dialog, UnsafePickleDialog) and dialog.isVisible()
    assert "runs Python code" in dialog.text() and "state_dict()" in dialog.text()
    dialog.cancel_button.click()
    assert window.session.config == LSTMConfig(4, 8)
    assert window.documents.open_model(tmp_path / "full.pt")
    modal_dialog().load_button.click()
    qtbot.waitUntil(lambda: window.session.config == LSTMConfig(4, 6), timeout=5000)
    assert window.session.model_source["kind"] == "pickle"


def test_allow_pickle_flag_loads_without_asking(window, qtbot, tmp_path):
    torch.save(Net(), tmp_path / "full.pt")
    assert window.documents.open_model(str(tmp_path / "full.pt"), allow_pickle=True)
    assert window.session.config == LSTMConfig(4, 6)


# ----- demos and the text view -------------------------------------------------------------------
def test_demo_dialog_lists_descriptions_and_opens_the_choice(window, qtbot, wait_traced,
                                                             modal_dialog):
    window.documents.ask_open_demo()
    dialog = modal_dialog()
    assert isinstance(dialog, DemoDialog) and dialog.isVisible()
    texts = [dialog.list.item(k).text() for k in range(dialog.list.count())]
    assert any("Python standard-library source" in t for t in texts)
    assert any("sine" in t.lower() for t in texts)
    dialog.list.setCurrentRow([k for k, t in enumerate(texts) if "Sine" in t][0])
    dialog.accept()
    wait_traced(window)
    assert window.session.config == LSTMConfig(1, 32)
    assert window.tabs.tabText(window.tabs.currentIndex()) == "States"


def _char_demo(window, wait_traced):
    assert window.documents.open_demo("char_python")
    wait_traced(window)
    return window.panels["Text"]


def test_text_view_colours_each_character_by_the_unit(window, qtbot, wait_traced):
    view = _char_demo(window, wait_traced)
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Text"
    assert "def load_settings(path, defaults=None):" in view.text.toPlainText()
    tr = window.session.trace
    assert len(view.tokens) == tr.num_steps == len(view.starts)
    unit = window.ctx.unit
    assert unit == 37  # the demo's chosen unit
    h = tr.h[0, 0, :, 0, unit].numpy()
    np.testing.assert_allclose(view.values, h, rtol=1e-6)
    doc = view.text.document()
    for t in (int(np.argmax(h)), int(np.argmin(h))):
        if t == window.session.t:
            continue
        cursor = QTextCursor(doc)
        cursor.setPosition(view.starts[t] + 1)
        colour = cursor.charFormat().background().color()
        if h[t] > 0:
            assert colour.red() > colour.blue()
        else:
            assert colour.blue() > colour.red()


def test_text_cursor_follows_the_step_and_clicks_move_it(window, qtbot, wait_traced):
    view = _char_demo(window, wait_traced)
    window.session.seek(42)
    assert view.status.text().startswith("t = 42:")
    assert view._marked == 42
    target = 100
    rect = view.text.cursorRect(_cursor_at(view, view.starts[target]))
    qtbot.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.x() + 3, rect.center().y()))
    assert window.session.t == target
    assert view._marked == target


def _cursor_at(view, position):
    c = QTextCursor(view.text.document())
    c.setPosition(position)
    return c


def test_text_view_switches_to_c_and_follows_the_focus_unit(window, qtbot, wait_traced):
    view = _char_demo(window, wait_traced)
    view.set_kind("c")
    window.ctx.select(unit=107)
    c = window.session.trace.c[0, 0, :, 0, 107].numpy()
    np.testing.assert_allclose(view.values, c, rtol=1e-6)
    assert view.unit_box.value() == 107
    assert "c[107]" in view.caption.text()


def test_text_view_explains_when_the_input_is_not_text(window, qtbot, wait_traced):
    wait_traced(window)
    assert "current input is 'random'" in window.panels["Text"].status.text()


# ----- unit table and pattern search ------------------------------------------------------------
def test_unit_table_sorts_by_numbers_and_is_linked_to_the_focus_unit(window, qtbot, wait_traced):
    _char_demo(window, wait_traced)
    units = window.panels["Units"]
    stats = unit_stats(window.session.trace)
    assert units.proxy.rowCount() == 128
    tau_col = units.model.names.index("tau")
    units.table.sortByColumn(tau_col, Qt.SortOrder.DescendingOrder)
    order = [units.unit_in_row(r) for r in range(5)]
    assert order == list(np.argsort(-stats.timescale)[:5])
    units.table.selectRow(2)
    assert window.ctx.unit == order[2]
    assert window.panels["Text"].unit_box.value() == order[2]  # every view follows
    window.ctx.select(unit=9)
    assert units.unit_in_row(units.table.currentIndex().row()) == 9
    f_col = units.model.names.index("f mean")
    text = units.proxy.data(units.proxy.index(0, f_col))
    assert text == f"{stats.gate_mean[1, order[0]]:.3f}"


def test_pattern_search_lists_similar_units_and_matches(window, qtbot, wait_traced):
    _char_demo(window, wait_traced)
    units = window.panels["Units"]
    window.ctx.select(unit=37)
    units.set_span(150, 172)
    qtbot.mouseClick(units.search_button, Qt.MouseButton.LeftButton)
    acts = window.session.trace.h[0, 0].numpy()
    expected = similar_units(acts, 37, 150, 172, k=units.k_box.value())
    assert [int(units.similar_table.item(r, 0).text()) for r in range(len(expected))] == \
        [m.unit for m in expected]
    chosen = [37] + [m.unit for m in expected[:2] if m.score > 0.5]
    matches = find_pattern(acts, chosen, 150, 172, k=units.k_box.value())
    assert units.match_table.rowCount() == len(matches) > 0
    first = matches[0]
    assert units.match_table.item(0, 1).text() == f"{first.start}–{first.stop - 1}"
    text = "".join(window.panels["Text"].tokens[first.start:first.stop]).replace("\n", "↵")
    assert units.match_table.item(0, 3).text() == text
    units.match_table.selectRow(0)
    assert window.session.t == first.start
    assert len(units.match_regions) == len(matches)


def test_pattern_search_reports_a_too_short_span(window, qtbot, wait_traced):
    _char_demo(window, wait_traced)
    units = window.panels["Units"]
    units.set_span(10, 11)
    units.search()
    assert "at least 2 timesteps" in units.search_status.text()
    assert units.similar_table.rowCount() == 0


# ----- sessions with weights --------------------------------------------------------------------
def test_session_with_model_round_trips_in_the_window(window, qtbot, tmp_path, wait_traced):
    _char_demo(window, wait_traced)
    window.ctx.select(unit=107)
    window.panels["Units"].set_span(30, 40)
    window.session.seek(77)
    h_before = window.session.trace.h.clone()
    assert window.documents.save(tmp_path / "s.lstmviz.json")
    assert window.documents.open_demo("sine")
    wait_traced(window)
    assert window.session.config.input_size == 1
    assert window.documents.open_session(tmp_path / "s.lstmviz.json")
    wait_traced(window)
    assert window.session.config == LSTMConfig(16, 128)
    assert window.session.t == 77 and window.ctx.unit == 107
    assert window.panels["Units"].span() == (30, 40)
    torch.testing.assert_close(window.session.trace.h, h_before)
    assert not window.panels["Model"].isEnabled()


def test_a_plain_session_dict_opens_through_open_session(window, qtbot, tmp_path, wait_traced):
    import json
    plain = Session(LSTMConfig(3, 5, num_layers=2), seed=9)
    (tmp_path / "plain.json").write_text(json.dumps(plain.to_dict()))
    _char_demo(window, wait_traced)
    assert window.documents.open_session(tmp_path / "plain.json")
    wait_traced(window)
    session = window.session
    assert session.config == LSTMConfig(3, 5, num_layers=2) and session.seed == 9
    assert session.model_source is None and window.panels["Model"].isEnabled()
    for name, value in plain.lstm.state_dict().items():
        torch.testing.assert_close(session.lstm.state_dict()[name], value)
    assert session.input_spec == plain.input_spec


def test_broken_session_file_is_refused_in_the_window(window, qtbot, tmp_path, modal_dialog):
    (tmp_path / "s.json").write_text('{"format": "lstm-viz session", "format_version": 99}')
    assert not window.documents.open_session(tmp_path / "s.json")
    assert "newer lstm-viz" in modal_dialog().text()


def test_screenshots_of_the_new_views_are_not_empty(window, qtbot, wait_traced):
    _char_demo(window, wait_traced)
    for title in ("Text", "Units"):
        window.show_view(title)
        image = window.panels[title].grab().toImage()
        assert image.width() > 300 and image.height() > 200
        colours = {image.pixel(x, y) for x in range(0, image.width(), 23)
                   for y in range(0, image.height(), 23)}
        assert len(colours) > 10, title


# ----- text input ---------------------------------------------------------------------------------
def test_text_file_goes_through_the_models_embedding(window, qtbot, tmp_path, wait_traced):
    _char_demo(window, wait_traced)
    (tmp_path / "t.py").write_text("x = (1, 2)\n")
    assert window.documents.open_text_input(tmp_path / "t.py")
    wait_traced(window)
    src = window.session.model_source
    ck = torch.load(src["path"], weights_only=True)
    emb, vocab = ck["model"]["embed.weight"], ck["vocab"]
    expected = emb[[vocab.index(ch) for ch in "x = (1, 2)\n"]]
    torch.testing.assert_close(window.session.trace.x[:, 0], expected)
    assert window.panels["Text"].tokens == list("x = (1, 2)\n")
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Text"


def test_embedding_without_vocabulary_asks_for_a_vocabulary_file(window, qtbot, tmp_path,
                                                                 wait_traced, modal_dialog):
    import json

    torch.manual_seed(0)
    emb, lstm = nn.Embedding(3, 4), nn.LSTM(4, 5)
    torch.save({"model": {"embedding.weight": emb.weight.detach(),
                          **{f"rnn.{k}": v for k, v in lstm.state_dict().items()}}},
               tmp_path / "m.pt")
    assert window.documents.open_model(tmp_path / "m.pt")
    (tmp_path / "t.txt").write_text("ba ab")
    assert not window.documents.open_text_input(tmp_path / "t.txt")
    assert "choose a vocabulary file" in modal_dialog().text()
    (tmp_path / "v.json").write_text(json.dumps({"a": 0, "b": 1, " ": 2}))
    assert window.documents.open_text_input(tmp_path / "t.txt", tmp_path / "v.json")
    wait_traced(window)
    torch.testing.assert_close(window.session.trace.x[:, 0],
                               emb.weight.detach()[[1, 0, 2, 0, 1]])


def test_text_without_a_model_file_is_one_hot(window, qtbot, tmp_path, wait_traced, modal_dialog):
    (tmp_path / "t.txt").write_text("abba")
    assert window.documents.open_text_input(tmp_path / "t.txt")  # input_size 4 fits 2 characters
    wait_traced(window)
    x = window.session.trace.x[:, 0]
    assert x.shape == (4, 4) and x.sum() == 4
    (tmp_path / "long.txt").write_text("abcdefg")
    assert not window.documents.open_text_input(tmp_path / "long.txt")
    assert "input_size >= 7" in modal_dialog().text()


def test_edit_a_copy_keeps_the_loaded_weights_when_batch_first_changes(window, qtbot, tmp_path,
                                                                       wait_traced):
    torch.manual_seed(7)  # not the session's seed 0: re-drawn weights would differ
    net = Net()
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    assert window.documents.open_model(tmp_path / "sd.pt")
    wait_traced(window)
    qtbot.mouseClick(window.panels["Loaded model"].edit_copy, Qt.MouseButton.LeftButton)
    window.panels["Model"].fields["batch_first"].editor.click()
    wait_traced(window)
    session = window.session
    assert session.config == LSTMConfig(4, 6, batch_first=True)
    for name, value in net.rnn.state_dict().items():
        torch.testing.assert_close(session.lstm.state_dict()[name], value)
    assert "sd.pt" in window.panels["Loaded model"].source.text()  # the weights' origin
    reference = nn.LSTM(4, 6, batch_first=True)
    reference.load_state_dict(net.rnn.state_dict())
    with torch.no_grad():
        output, (h_n, c_n) = reference(session.input_tm.transpose(0, 1))
    torch.testing.assert_close(session.trace.output, output)
    torch.testing.assert_close(session.trace.h_n, h_n)


def test_choosing_tokens_without_a_vocabulary_says_so_next_to_the_field(window, qtbot, wait_traced):
    wait_traced(window)
    panel = window.panels["Input"]
    combo = panel.fields["source"].editor
    combo.setCurrentIndex(combo.findData("tokens"))
    assert set(panel.errors) == {"source"} and "vocabulary" in panel.errors["source"]
    assert "#a15c00" in panel.fields["source"].message.styleSheet()  # a note, not a refusal
    assert combo.currentData() == window.session.input_spec.source == "random"


def test_tokens_input_shows_its_text_and_keeps_its_vocabulary(window, qtbot, wait_traced):
    _char_demo(window, wait_traced)
    panel = window.panels["Input"]
    params = dict(window.session.input_spec.params)
    assert panel.fields["source"].value() == "tokens"
    assert panel.fields["text"].isVisible()
    assert panel.text.text() == window.session.input_spec.text
    panel.fields["seq_len"].editor.setValue(50)
    wait_traced(window)
    assert panel.errors == {}
    assert window.session.input_spec.seq_len == 50 and window.session.input_spec.params == params
    panel.text.setText("x = (1, 2)\n")
    panel.text.editingFinished.emit()
    wait_traced(window)
    assert panel.errors == {}
    ck = torch.load(params["model_path"], weights_only=True)
    emb, vocab = ck["model"]["embed.weight"], ck["vocab"]
    expected = emb[[vocab.index(ch) for ch in "x = (1, 2)\n" * 5]][:50]
    torch.testing.assert_close(window.session.trace.x[:, 0], expected)


def _fully_shown(panel, widget) -> bool:
    """True when ``widget`` lies wholly inside the visible part of the scrollable ``panel``."""
    from PySide6.QtCore import QRect
    top_left = widget.mapTo(panel.viewport(), QPoint(0, 0))
    return panel.viewport().rect().contains(QRect(top_left, widget.size()))


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_left_docks_show_every_field_of_the_char_demo(window, qtbot, size, wait_traced):
    _char_demo(window, wait_traced)
    window.resize(*size)
    qtbot.wait(20)
    window.fit_docks()
    qtbot.wait(20)
    model, inputs = window.panels["Model"], window.panels["Input"]
    assert _fully_shown(model, model.reinit)
    for name in ("seq_len", "source", "text", "lengths"):
        assert _fully_shown(inputs, inputs.fields[name].editor), name
    combo = inputs.fields["source"].editor
    assert combo.currentText() == "Text through a vocabulary / embedding"
    assert combo.tooltip_text().startswith("Text through a vocabulary / embedding")


def test_a_session_with_what_if_edits_opens_on_the_worker_with_its_original(window, qtbot,
                                                                          tmp_path):
    from lstm_viz.formats.sessionfile import save_session
    saved = Session(LSTMConfig(3, 5, bidirectional=True), seed=4)
    saved.retrace()
    saved.edit_state("c", 6, 0, 1, 0, 2, 1.25)
    saved.seek(9)
    save_session(tmp_path / "edited.lstmviz.json", saved)

    def no_gui_thread_trace():
        raise AssertionError("opening a session must not trace on the GUI thread")

    window.session.retrace = no_gui_thread_trace
    assert window.documents.open_session(tmp_path / "edited.lstmviz.json")
    qtbot.waitUntil(lambda: window.ctx.up_to_date and window.session.t == 9, timeout=10000)
    session = window.session
    assert float(session.trace.c[0, 1, 6, 0, 2]) == 1.25
    torch.testing.assert_close(session.trace.h, saved.trace.h, equal_nan=True)
    # the comparison run is the saved session without its edit, i.e. nn.LSTM's own run
    with torch.no_grad():
        out, _ = session.lstm(session.input_tm)
    torch.testing.assert_close(session.original.output, out, atol=1e-5, rtol=0)


class AttentionTagger(nn.Module):
    """An attention projection right after the LSTM, the output layer after it: no head is
    paired by itself."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 6)
        self.attn = nn.Linear(6, 6)
        self.out = nn.Linear(6, 9)


def test_the_loaded_model_panel_says_why_no_head_is_paired_and_lets_the_user_pick_one(
        window, qtbot, tmp_path, wait_traced):
    torch.manual_seed(0)
    net = AttentionTagger()
    torch.save(net.state_dict(), tmp_path / "att.pt")
    assert window.documents.open_model(tmp_path / "att.pt")
    wait_traced(window)
    info = window.panels["Loaded model"]
    assert window.session.head is None
    assert "no output head paired: attn, out" in info.pairing.text()
    combo = info.head_choice
    assert combo.isEnabled() and combo.currentText() == "none"
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "none", "attn (6 outputs)", "out (9 outputs)"]
    combo.setCurrentIndex(2)
    combo.activated.emit(2)
    assert window.session.head is not None and window.session.head.key == "out"
    torch.testing.assert_close(window.session.head.weight, net.out.weight.detach())
    assert window.session.model_source["head"] == "out"
    wait_traced(window)
    assert info.head_choice.currentText() == "out (9 outputs)"
    assert "output head: out" in info.pairing.text()


def test_a_recorded_batch_first_is_said_to_come_from_the_file(window, tmp_path, wait_traced):
    model = nn.Sequential()
    model.add_module("rnn", nn.LSTM(4, 6, batch_first=True))
    torch.save(model, tmp_path / "whole.pt")
    assert window.documents.open_model(tmp_path / "whole.pt")
    wait_traced(window)
    values = window.panels["Loaded model"].config_view.values
    assert "from the file" in values["batch_first"].text()
    assert "from the file" in values["dropout"].text()


class ConvFrontLSTM(nn.Module):
    """A convolution between the embedding and the LSTM: no embedding is paired by itself."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(12, 4)
        self.conv = nn.Conv1d(4, 4, 3, padding=1)
        self.rnn = nn.LSTM(4, 6)


def test_an_embedding_can_be_paired_by_hand_in_the_loaded_model_panel(window, tmp_path,
                                                                        wait_traced):
    torch.save(ConvFrontLSTM().state_dict(), tmp_path / "conv.pt")
    assert window.documents.open_model(tmp_path / "conv.pt")
    wait_traced(window)
    info = window.panels["Loaded model"]
    combo = info.embedding_choice
    assert [combo.itemText(i) for i in range(combo.count())] == ["none", "embedding.weight"]
    assert combo.currentText() == "none"
    assert "no embedding paired: embedding.weight has the width" in info.pairing.text()
    combo.setCurrentIndex(1)
    combo.activated.emit(1)
    assert window.session.model_source["embedding_key"] == "embedding.weight"
    assert info.embedding_choice.currentText() == "embedding.weight"


# ----- Corpus view -------------------------------------------------------------------------------
def _demo_store(tmp_path):
    pytest.importorskip("zarr")
    pytest.importorskip("dask")
    from lstm_viz import corpus

    model = corpus.model_from_demo("char_python")
    (tmp_path / "a.py").write_text("def f(x):\n    return [x + 1, (x - 2)]\n")
    (tmp_path / "b.py").write_text("for i in range(3):\n    print((i, i * 2))\n")
    docs = corpus.text_documents([tmp_path / "a.py", tmp_path / "b.py"], model.vocab)
    return corpus.trace_corpus(model, docs, tmp_path / "code.zarr", dtype="float32")


def test_the_corpus_view_ranks_units_lists_contexts_and_matches_and_opens_a_document(
        window, qtbot, tmp_path, wait_traced):
    store = _demo_store(tmp_path)
    assert window.documents.open_demo("char_python")
    wait_traced(window)
    view = window.views["Corpus"]
    view.open_store(store.path)
    qtbot.waitUntil(lambda: view.store is not None and view.units.rowCount() == 128,
                    timeout=20000)
    assert "2 documents" in view.summary.text()
    qtbot.waitUntil(lambda: view.contexts.count() > 0, timeout=20000)
    unit = int(view.units.item(0, 0).text())
    first = view.contexts.item(0).data(Qt.ItemDataRole.UserRole)
    best = store.top(unit, k=1)[0]
    assert first == (best["doc"], best["position"])
    view.on_edit.setText(str(unit))
    view.threshold.setValue(0.0)
    view.min_len.setValue(2)
    view.match_button.click()
    qtbot.waitUntil(lambda: view.matches.count() > 0
                    and view.matches.item(0).text() != "Searching…", timeout=20000)
    expected = store.match([unit], threshold=0.0, min_len=2, limit=200)
    got = [view.matches.item(i).data(Qt.ItemDataRole.UserRole)
           for i in range(view.matches.count())]
    assert got == [(r["doc"], r["start"]) for r in expected]
    # a span opens its document in the stepping views, traced again and equal to the store
    doc, start = got[0]
    assert view.open_document(doc, start)
    wait_traced(window)
    begin, end = int(store.doc_start[doc]), int(store.doc_start[doc + 1])
    assert window.session.input_spec.seq_len == end - begin
    assert window.session.t == start - begin
    traced = window.session.trace.h[0, 0, :, 0].numpy()
    np.testing.assert_allclose(traced, np.asarray(store.root["h/l0"][begin:end]), atol=1e-5)


def test_a_store_of_another_model_is_not_stepped_through_with_this_one(window, qtbot,
                                                                       tmp_path, wait_traced):
    store = _demo_store(tmp_path)
    view = window.views["Corpus"]
    view.open_store(store.path)
    qtbot.waitUntil(lambda: view.store is not None, timeout=20000)
    before = window.session.input_spec
    assert not view.open_document(0, 3)
    assert window.session.input_spec == before


def test_a_folder_that_is_not_a_corpus_store_says_so_in_the_view(window, qtbot, tmp_path):
    pytest.importorskip("zarr")
    view = window.views["Corpus"]
    view.open_store(tmp_path)
    qtbot.waitUntil(lambda: "Could not open the store" in view.summary.text(), timeout=20000)
    assert view.store is None


def test_without_a_model_file_the_loaded_model_panel_shows_no_pairing_rows(window):
    info = window.panels["Loaded model"]
    assert window.session.model_source is None
    assert not info.pairing_form.isVisibleTo(info) and not info.pairing.isVisibleTo(info)
