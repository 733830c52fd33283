"""Tokenizers: characters, words, a regex; picked from the vocabulary; unknown tokens counted."""

from __future__ import annotations

import pytest
import torch

from lstm_viz import make_input
from lstm_viz.text.textinput import (
    encode,
    spec_encoding,
    spec_tokenizer,
    spec_tokens,
    tokens_spec,
    with_tokenizer,
)
from lstm_viz.text.tokenize import Tokenizer, UnknownTokensWarning, choose, encode_tokens

CHARS = list("\nabcdefghijklmnopqrstuvwxyz .,") + ["<unk>"]
WORDS = ["<unk>", "<eos>", "the", "cat", "sat", "on", "mat", ".", "don't", ","]


def test_a_character_vocabulary_picks_characters_and_keeps_specials_whole():
    tok, why = choose(CHARS)
    assert tok == Tokenizer("characters") and why.startswith("characters: 30 of")
    assert tok.split("ab<unk>c", CHARS) == ["a", "b", "<unk>", "c"]
    assert tok.split("a\nb", CHARS) == ["a", "\n", "b"]


def test_a_word_vocabulary_picks_words_with_specials_eos_at_line_ends_and_known_words_whole():
    tok, why = choose(WORDS)
    assert tok == Tokenizer("words") and why.startswith("words: 6 of the vocabulary's 8")
    text = "the cat sat.\ndon't sit,<eos> on the mat"
    assert tok.split(text, WORDS) == ["the", "cat", "sat", ".", "<eos>", "don't", "sit", ",",
                                      "<eos>", "on", "the", "mat"]


def test_words_split_punctuation_off_only_when_the_vocabulary_lacks_the_word():
    vocab = ["<unk>", "e.g.", "e", "g", "."]
    assert Tokenizer("words").split("e.g. g.", vocab) == ["e.g.", "g", "."]


def test_a_regex_tokenizer_takes_every_match_and_keeps_specials_whole():
    tok = Tokenizer.parse(r"regex:[a-z]+|\d")
    assert str(tok) == r"regex:[a-z]+|\d"
    assert tok.split("ab12 <eos>cd!", WORDS) == ["ab", "1", "2", "<eos>", "cd"]
    assert Tokenizer.parse("regex:(a)(b)?").split("aab", []) == ["a", "ab"]  # whole match


def test_bad_tokenizers_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="tokenizer must be one of characters, words, regex"):
        Tokenizer.parse("bytes")
    with pytest.raises(ValueError, match="does not compile"):
        Tokenizer.parse("regex:[a-")
    with pytest.raises(ValueError, match="needs a pattern"):
        Tokenizer.parse("regex:")


def test_unknown_tokens_read_as_unk_and_are_counted():
    enc = encode_tokens(["the", "dog", "sat", "dog", "!"], WORDS)
    assert enc.indices == (2, 0, 4, 0, 0)
    assert enc.unknown == ("dog", "dog", "!")
    assert enc.unknown_message() == ("3 of 5 tokens are not in the vocabulary and read as"
                                     " '<unk>': '!', 'dog'")
    assert encode_tokens(["the"], WORDS).unknown_message() == ""
    with pytest.warns(UnknownTokensWarning, match="2 of 3 tokens"):
        assert encode("the dog barked", WORDS) == [2, 0, 0]
    with pytest.raises(ValueError, match="no <unk> token"):
        encode_tokens(["x"], ["a", "b"])


def test_a_tokens_input_says_how_many_tokens_are_unknown_and_never_silently():
    spec = tokens_spec("the dog sat on the mat", vocab=WORDS)
    assert spec.seq_len == 6 and spec_tokenizer(spec)[0].kind == "words"
    assert spec_encoding(spec).unknown == ("dog",)
    with pytest.warns(UnknownTokensWarning, match="1 of 6 tokens"):
        x = make_input(spec, len(WORDS))
    assert x[:, 0].argmax(dim=1).tolist() == [2, 0, 4, 5, 2, 6]  # one-hot rows


def test_the_tokenizer_can_be_changed_and_the_length_follows():
    spec = tokens_spec("the cat", vocab=WORDS)
    assert spec.seq_len == 2 and spec_tokens(spec) == [["the", "cat"]]
    chars = with_tokenizer(spec, "characters")
    assert chars.params["tokenizer"] == "characters" and chars.seq_len == 7
    with pytest.warns(UnknownTokensWarning, match="7 of 7 tokens"):
        x = make_input(chars, len(WORDS))
    assert (x[:, 0].argmax(dim=1) == 0).all()  # every character is <unk> in a word vocabulary
    back = with_tokenizer(chars, None)
    assert "tokenizer" not in back.params and back.seq_len == 2
    regex = with_tokenizer(spec, r"regex:\w")
    assert spec_tokens(regex)[0][:3] == ["t", "h", "e"]
    # a session file can store it
    assert tokens_spec("ab", vocab=CHARS, tokenizer="words").to_dict()["params"]["tokenizer"] \
        == "words"


def test_a_session_with_a_chosen_tokenizer_survives_a_session_file_round_trip():
    from lstm_viz import LSTMConfig, Session
    spec = tokens_spec("the cat sat", vocab=WORDS, tokenizer="regex:[a-z]+")
    s = Session(LSTMConfig(len(WORDS), 4), spec)
    again = Session.from_dict(s.to_dict())
    assert again.input_spec.params["tokenizer"] == "regex:[a-z]+"
    torch.testing.assert_close(again.input_tm, s.input_tm)
