"""The Input panel's tokenizer note fits its dock at the common window sizes: a line or two cut
to the dock's width, the whole note in the tooltip."""

from __future__ import annotations

import warnings

import pytest

from lstm_viz import LSTMConfig
from lstm_viz.text.textinput import tokens_spec

pytestmark = pytest.mark.gui

WORDS = ["<unk>", "<eos>", "the", "cat", "sat", "on", "mat", "."]
TEXT = ("the dog sat on the mat with a hat and a bat, the dog and the frog sat by the log of an"
        " old oak tree")


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_tokenizer_note_is_never_clipped_and_its_tooltip_says_it_all(make_window, qtbot, size):
    w = make_window()
    w.resize(*size)
    w.session.set_config(LSTMConfig(len(WORDS), 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the note says it
        w.session.set_input(tokens_spec(TEXT, vocab=WORDS))
    w.ctx.retrace_now()
    panel = w.panels["Input"]
    note = panel.token_note
    panel.ensureWidgetVisible(note)
    qtbot.waitUntil(lambda: note.isVisible() and note.height() > note.fontMetrics().height())
    full = note.text()
    assert "⚠" in full and "'frog'" in full and "the vocabulary's choice" in full
    # a line or two, whatever the note's length: the dock keeps room for the other fields
    metrics = note.fontMetrics()
    assert note.height() <= 2 * metrics.lineSpacing() + 4
    shown = note.shown_lines()
    assert shown[0] == full.split("\n")[0]  # the count, whole
    assert shown[1].startswith("⚠")  # ... then the warning, cut
    for line in shown:
        assert metrics.horizontalAdvance(line) <= note.contentsRect().width()
    assert note.height() >= len(shown) * metrics.lineSpacing()
    assert note.toolTip() == full
    # nothing of the field reaches past the dock's right edge
    viewport = panel.viewport()
    qtbot.waitUntil(lambda: panel.widget().width() <= viewport.width())  # after the layout
    field = panel.fields["tokenizer"]
    right = field.mapTo(viewport, field.rect().topRight()).x()
    assert right <= viewport.width()
    assert panel.horizontalScrollBar().maximum() == 0


def test_a_short_note_is_shown_whole_without_a_tooltip(make_window, qtbot):
    w = make_window()
    w.session.set_config(LSTMConfig(len(WORDS), 6))
    w.session.set_input(tokens_spec("the cat sat", vocab=WORDS, tokenizer="words"))
    w.ctx.retrace_now()
    note = w.panels["Input"].token_note
    qtbot.waitUntil(lambda: note.isVisible() and note.height() > note.fontMetrics().height())
    assert note.shown_lines() == ["3 tokens, split into words"]
    assert note.toolTip() == ""
