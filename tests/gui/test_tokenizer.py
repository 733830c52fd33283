"""The Input panel's tokenizer: shown, changeable, and loud about unknown tokens."""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from lstm_viz import LSTMConfig
from lstm_viz.text.textinput import tokens_spec
from lstm_viz.text.tokenize import UnknownTokensWarning

WORDS = ["<unk>", "<eos>", "the", "cat", "sat", "on", "mat", "."]


def _tokens_window(make_window, text):
    w = make_window()
    w.session.set_config(LSTMConfig(len(WORDS), 6))
    with pytest.warns(UnknownTokensWarning) if "dog" in text else nullcontext():
        w.session.set_input(tokens_spec(text, vocab=WORDS))
    w.session.retrace()
    return w, w.panels["Input"]


def _choose(panel, kind, pattern=""):
    combo = panel.tokenizer
    combo.setCurrentIndex(combo.findData(kind))
    panel.pattern.setText(pattern)
    combo.activated.emit(combo.currentIndex())


def test_the_input_panel_shows_the_vocabularys_tokenizer_and_the_unknown_tokens(make_window):
    w, panel = _tokens_window(make_window, "the dog sat on the mat")
    assert panel.fields["tokenizer"].isVisible()
    assert panel.tokenizer.currentData() == ""  # the vocabulary's choice
    note = panel.token_note.text()
    assert "6 tokens, split into words" in note
    assert "⚠ 1 of 6 tokens are not in the vocabulary and read as '<unk>': 'dog'" in note


def test_choosing_another_tokenizer_changes_the_input(make_window):
    w, panel = _tokens_window(make_window, "the cat sat")
    assert "⚠" not in panel.token_note.text()
    _choose(panel, "characters")
    spec = w.session.input_spec
    assert spec.params["tokenizer"] == "characters" and spec.seq_len == 11
    assert "⚠ 11 of 11 tokens are not in the vocabulary" in panel.token_note.text()
    _choose(panel, "regex", "[a-z]+")
    assert w.session.input_spec.params["tokenizer"] == "regex:[a-z]+"
    assert w.session.input_spec.seq_len == 3 and "⚠" not in panel.token_note.text()
    _choose(panel, "regex", "[a-")
    assert "does not compile" in panel.errors["tokenizer"]
    assert w.session.input_spec.params["tokenizer"] == "regex:[a-z]+"  # unchanged
    _choose(panel, "")
    assert "tokenizer" not in w.session.input_spec.params


def test_the_tokenizer_is_hidden_for_other_inputs(make_window):
    w = make_window()
    assert not w.panels["Input"].fields["tokenizer"].isVisible()
