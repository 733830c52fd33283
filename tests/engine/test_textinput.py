"""lstm_viz.text.textinput: vocabularies, token indices, embedding lookup and Python text
features."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from lstm_viz.formats.loader import load_model
from lstm_viz.inputs import INPUT_SOURCES, make_input
from lstm_viz.text.textinput import (
    embed,
    encode,
    python_text_features,
    read_vocab,
    spec_tokens,
    tokens_spec,
    vocab_from,
)
from lstm_viz.text.vocab import MAX_VOCAB_BYTES, MAX_VOCAB_ENTRIES, read_vocab_file


def test_vocab_file_formats(tmp_path):
    (tmp_path / "v.json").write_text(json.dumps({"b": 1, "a": 0, "\n": 2}))
    assert read_vocab(tmp_path / "v.json") == ["a", "b", "\n"]
    (tmp_path / "l.json").write_text(json.dumps(["<unk>", "the", "cat"]))
    assert read_vocab(tmp_path / "l.json") == ["<unk>", "the", "cat"]
    (tmp_path / "v.txt").write_text("<unk>\nthe\ncat\n")
    assert read_vocab(tmp_path / "v.txt") == ["<unk>", "the", "cat"]


def test_broken_vocab_files_say_what_is_wrong(tmp_path):
    (tmp_path / "gap.json").write_text(json.dumps({"a": 0, "b": 2}))
    with pytest.raises(ValueError, match="indices must be 0..1 without gaps"):
        read_vocab(tmp_path / "gap.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        read_vocab(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="vocabulary file not found"):
        read_vocab(tmp_path / "none.json")
    with pytest.raises(ValueError, match="expected a"):
        vocab_from(3)


def test_fractional_vocabulary_indices_are_refused_naming_the_entry(tmp_path):
    (tmp_path / "frac.json").write_text(json.dumps({"a": 0, "b": 1.7}))
    with pytest.raises(ValueError, match="frac.json: 'b' has the index 1.7, not an integer"):
        read_vocab(tmp_path / "frac.json")
    (tmp_path / "float.json").write_text(json.dumps({"a": 0.0, "b": 1}))
    with pytest.raises(ValueError, match="float.json: 'a' has the index 0.0, not an integer"):
        read_vocab(tmp_path / "float.json")
    with pytest.raises(ValueError, match="'b' has the index '1', not an integer"):
        vocab_from({"a": 0, "b": "1"})
    for reader in (read_vocab, read_vocab_file):  # the checkpoint-side reader agrees
        with pytest.raises(ValueError, match="'b' the index 1.7, not an integer|'b' has the"
                                             " index 1.7"):
            reader(tmp_path / "frac.json")


@pytest.mark.parametrize("reader", [read_vocab, read_vocab_file])
def test_a_vocabulary_file_over_64_mib_is_refused_before_it_is_read(tmp_path, reader):
    path = tmp_path / "huge.txt"
    with path.open("wb") as fh:  # sparse: takes no disk space
        fh.truncate(MAX_VOCAB_BYTES + 1)
    with pytest.raises(ValueError, match="huge.txt is 67,108,865 bytes; a vocabulary file may"
                                         " be at most 67,108,864 bytes"):
        reader(path)


@pytest.mark.parametrize("reader", [read_vocab, read_vocab_file])
def test_a_deeply_nested_vocabulary_file_is_one_line_not_a_recursion_error(tmp_path, reader):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="deep.json nests 100000 levels deep; a vocabulary is"
                                         " a list or an object of tokens"):
        reader(tmp_path / "deep.json")


@pytest.mark.parametrize("reader", [read_vocab, read_vocab_file])
def test_a_vocabulary_of_more_than_a_million_entries_is_refused_at_once(tmp_path, reader):
    (tmp_path / "many.txt").write_text("a\n" * (MAX_VOCAB_ENTRIES + 1))
    with pytest.raises(ValueError, match="many.txt has 1,000,001 entries; lstm-viz reads"
                                         " vocabularies of at most 1,000,000 tokens"):
        reader(tmp_path / "many.txt")
    (tmp_path / "many.json").write_text(json.dumps(["a"] * (MAX_VOCAB_ENTRIES + 1)))
    with pytest.raises(ValueError, match="many.json has 1,000,001 entries"):
        reader(tmp_path / "many.json")
    (tmp_path / "strings.json").write_text(json.dumps(["a"] * (3 * MAX_VOCAB_ENTRIES + 1)))
    with pytest.raises(ValueError, match="strings.json holds 3,000,001 strings"):
        reader(tmp_path / "strings.json")


def test_a_huge_vocabulary_in_a_tokens_input_or_a_checkpoint_is_refused_or_dropped(tmp_path):
    many = ["a"] * (MAX_VOCAB_ENTRIES + 1)
    with pytest.raises(ValueError, match="has 1,000,001 entries"):
        tokens_spec("a", vocab=many)
    (tmp_path / "many.txt").write_text("a\n" * (MAX_VOCAB_ENTRIES + 1))
    with pytest.raises(ValueError, match="many.txt has 1,000,001 entries"):
        tokens_spec("a", vocab_path=str(tmp_path / "many.txt"))
    torch.save({"model": nn.LSTM(3, 4).state_dict(), "itos": many}, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.vocab is None and "itos has 1,000,001 entries" in loaded.warnings[0]


def test_encode_characters_and_words():
    assert encode("abca", list("abc")) == [0, 1, 2, 0]
    vocab = ["<unk>", "the", "cat", "."]
    with pytest.warns(UserWarning, match="1 of 3 tokens are not in the vocabulary and read as"
                                         " '<unk>': 'dog'"):
        assert encode("the dog.", vocab) == [1, 0, 3]
    with pytest.raises(ValueError, match="1 token\\(s\\) not in the vocabulary of 3: 'd'"):
        encode("ad", list("abc"))


def test_embed_looks_up_rows_and_checks_sizes():
    emb = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    out = embed([[0, 3], [2, 1]], emb, 3)
    assert out.shape == (2, 2, 3)
    torch.testing.assert_close(out[0, 1], emb[3])
    torch.testing.assert_close(out[1, 0], emb[2])
    onehot = embed([1, 0], None, 3)
    torch.testing.assert_close(onehot[:, 0], torch.tensor([[0.0, 1, 0], [1, 0, 0]]))
    with pytest.raises(ValueError, match=r"embedding matrix is \(4, 3\) but the LSTM has"
                                         r" input_size=5; expected \(4, 5\)"):
        embed([0], emb, 5)
    with pytest.raises(ValueError, match="outside the embedding's 4 rows"):
        embed([7], emb, 3)


def test_tokens_source_uses_the_checkpoint_embedding(tmp_path):
    torch.manual_seed(0)
    emb = nn.Embedding(5, 3)
    lstm = nn.LSTM(3, 4)
    torch.save({"model": {"embed.weight": emb.weight.detach(),
                          **{f"rnn.{k}": v for k, v in lstm.state_dict().items()}}},
               tmp_path / "m.pt")
    assert "tokens" in INPUT_SOURCES
    spec = tokens_spec("abcab", vocab="xabc", model_path=str(tmp_path / "m.pt"))
    assert spec.seq_len == 5
    x = make_input(spec, 3)
    assert x.shape == (5, 1, 3)
    torch.testing.assert_close(x[:, 0], emb.weight.detach()[[1, 2, 3, 1, 2]])
    assert spec_tokens(spec) == [list("abcab")]
    assert spec.to_dict()["params"]["vocab"] == list("xabc")  # a session file can store it


def test_tokens_source_without_embedding_is_one_hot():
    spec = tokens_spec("the cat", vocab=["<unk>", "the", "cat"], batch_size=1)
    x = make_input(spec, 3)
    torch.testing.assert_close(x[:, 0], torch.tensor([[0.0, 1, 0], [0, 0, 1]]))
    assert spec_tokens(spec) == [["the", "cat"]]


def test_text_source_tokens_follow_the_engine_layout():
    from lstm_viz.inputs import InputSpec
    spec = InputSpec(source="text", text="hello", seq_len=3, batch_size=2)
    assert spec_tokens(spec) == [list("hel"), list("loh")]
    x = make_input(spec, 5)
    vocab = sorted(set("hello"))
    assert [vocab[int(i)] for i in x[:, 1].argmax(dim=1)] == list("loh")


def test_python_text_features_by_hand():
    src = 'f(a, "x)")  # (\n    [b]\n'
    feats = python_text_features(src)
    at = {name: {i: v[i] for i in range(len(src))} for name, v in feats.items()}
    q1, x, close_in_str = src.index('"'), src.index("x"), src.index(")")
    assert [at["in_string"][i] for i in (q1, x, close_in_str, q1 + 3)] == [1, 1, 1, 1]
    assert at["in_string"][q1 + 4] == 0
    assert at["bracket_depth"][close_in_str] == 1  # a bracket inside a string does not count
    assert at["bracket_depth"][q1 + 4] == 0
    hash_ = src.index("#")
    assert at["in_comment"][hash_ + 2] == 1 and at["bracket_depth"][hash_ + 2] == 0
    b = src.index("b")
    assert at["indent"][b] == 4 and at["column"][b] == 5 and at["bracket_depth"][b] == 1
    assert all(len(v) == len(src) for v in feats.values())
    assert np.all(feats["in_string"][: q1] == 0)


def test_triple_quoted_strings_span_lines():
    src = 'x = """a\n(b"\n"""\ny'
    feats = python_text_features(src)
    inside = src.index("(")
    assert feats["in_string"][inside] == 1 and feats["bracket_depth"][inside] == 0
    assert feats["in_string"][src.index("y")] == 0
