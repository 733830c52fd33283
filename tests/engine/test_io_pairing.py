"""Each LSTM comes with the embedding under its own parent module and the output head that reads
it; vocabularies are found under their usual names, in objects, and in files."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from lstm_viz.formats.loader import load_model
from lstm_viz.text.vocab import read_vocab_file


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 6)
        self.rnn = nn.LSTM(6, 8)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(15, 6)
        self.rnn = nn.LSTM(6, 8)
        self.out = nn.Linear(8, 15)


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()


class WordLM(nn.Module):
    """PyTorch's word_language_model: encoder (embedding), rnn, decoder with tied weights."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(30, 7)
        self.rnn = nn.LSTM(7, 7, num_layers=2)
        self.decoder = nn.Linear(7, 30)
        self.decoder.weight = self.encoder.weight


class Vocabulary:
    """A user's vocabulary class, pickled inside the checkpoint."""

    def __init__(self, tokens):
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(tokens)}


@pytest.mark.parametrize("whole", [False, True])
def test_seq2seq_pairs_each_lstm_with_its_own_embedding_and_the_decoder_with_its_head(
        tmp_path, whole):
    model = Seq2Seq()
    torch.save(model if whole else model.state_dict(), tmp_path / "s2s.pt")
    loaded = load_model(tmp_path / "s2s.pt")
    enc, dec = loaded.pick("encoder.rnn"), loaded.pick("decoder.rnn")
    assert enc.embedding_key == "encoder.embedding.weight"
    torch.testing.assert_close(enc.embedding, model.encoder.embedding.weight.detach())
    assert dec.embedding_key == "decoder.embedding.weight"
    torch.testing.assert_close(dec.embedding, model.decoder.embedding.weight.detach())
    assert enc.head is None
    assert dec.head.key == "decoder.out" and dec.head.out_features == 15 and not dec.head.tied
    torch.testing.assert_close(dec.head.weight, model.decoder.out.weight.detach())
    torch.testing.assert_close(dec.head.bias, model.decoder.out.bias.detach())
    x = torch.tensor([[1], [4], [2]])
    with torch.no_grad():
        expected = model.decoder.out(model.decoder.rnn(model.decoder.embedding(x))[0])
        got = torch.nn.functional.linear(dec.build()(dec.embedding[x])[0], dec.head.weight,
                                         dec.head.bias)
    torch.testing.assert_close(got, expected)
    assert "head decoder.out (15 outputs)" in dec.describe()


def test_tied_decoder_is_the_head_of_a_word_language_model(tmp_path):
    model = WordLM()
    torch.save(model.state_dict(), tmp_path / "lm.pt")
    (cand,) = load_model(tmp_path / "lm.pt").lstms
    assert cand.embedding_key == "encoder.weight"
    assert cand.head.key == "decoder" and cand.head.tied
    torch.testing.assert_close(cand.head.bias, model.decoder.bias.detach())


@pytest.mark.parametrize("entry", [
    {"itos": ["<unk>", "a", "b"]},
    {"stoi": {"<unk>": 0, "a": 1, "b": 2}},
    {"idx2word": ["<unk>", "a", "b"], "word2idx": {"<unk>": 0, "a": 1, "b": 2}},
    {"word2idx": {"<unk>": 0, "a": 1, "b": 2}},
    {"char_to_id": {"<unk>": 0, "a": 1, "b": 2}},
    {"id_to_char": {0: "<unk>", 1: "a", 2: "b"}},
    {"vocab": Vocabulary(["<unk>", "a", "b"])},
    {"data": {"vocab": {"stoi": {"<unk>": 0, "a": 1, "b": 2}}}},
])
def test_vocabulary_in_a_checkpoint_under_its_usual_names(tmp_path, entry):
    torch.save({"model": nn.LSTM(3, 4).state_dict(), **entry}, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.vocab == ("<unk>", "a", "b") and loaded.warnings == ()


@pytest.mark.parametrize("bad", [-1, 10**9, 1.7])
def test_unusable_vocabulary_index_drops_the_vocabulary_with_a_warning(tmp_path, bad):
    torch.save({"model": nn.LSTM(3, 4).state_dict(), "stoi": {"a": 0, "b": bad}},
               tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.vocab is None
    (warning,) = loaded.warnings
    assert f"the vocabulary was dropped: stoi gives 'b' the index {bad}" in warning
    assert loaded.pick().config.input_size == 3


@pytest.mark.parametrize("name, content", [
    ("v.json", json.dumps(["x", "y", "<eos>"])),
    ("v.json", json.dumps({"x": 0, "y": 1, "<eos>": 2})),
    ("v.json", json.dumps({"0": "x", "1": "y", "2": "<eos>"})),
    ("v.json", json.dumps({"itos": ["x", "y", "<eos>"]})),
    ("v.txt", "x\ny\n<eos>\n"),
])
def test_vocabulary_files(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    assert read_vocab_file(tmp_path / name) == ("x", "y", "<eos>")


def test_vocabulary_file_with_a_bad_index_names_it(tmp_path):
    (tmp_path / "v.json").write_text(json.dumps({"x": 0, "y": -1}))
    with pytest.raises(ValueError, match="gives 'y' the index -1"):
        read_vocab_file(tmp_path / "v.json")


class SpeechEncoder(nn.Module):
    """Tacotron 2's shape: convolutions between the embedding and the encoder's LSTM."""

    def __init__(self):
        super().__init__()
        self.convolutions = nn.Sequential(nn.Conv1d(8, 8, 5, padding=2), nn.BatchNorm1d(8))
        self.lstm = nn.LSTM(8, 4, bidirectional=True, batch_first=True)


class SpeechModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(30, 8)
        self.encoder = SpeechEncoder()
        self.projection = nn.Linear(8, 5)


class ForecastModel(nn.Module):
    """The Temporal Fusion Transformer's shape: its output layer reads attention features, not
    either LSTM, although its input width is the LSTMs' output size."""

    def __init__(self):
        super().__init__()
        self.lstm_encoder = nn.LSTM(6, 6, batch_first=True)
        self.lstm_decoder = nn.LSTM(6, 6, batch_first=True)
        self.post_lstm_gate = nn.Linear(6, 12)
        self.multihead_attn = nn.MultiheadAttention(6, 2)
        self.output_layer = nn.Linear(6, 3)


class AttentionTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 8)
        self.attn = nn.Linear(8, 8)
        self.out = nn.Linear(8, 10)


@pytest.mark.parametrize("whole", [False, True])
def test_an_embedding_with_layers_between_it_and_the_lstm_is_not_paired(tmp_path, whole):
    model = SpeechModel()
    torch.save(model if whole else model.state_dict(), tmp_path / "tts.pt")
    cand = load_model(tmp_path / "tts.pt").pick("encoder.lstm")
    assert cand.embedding is None
    assert cand.embedding_options == ("embedding.weight",)
    assert any("no embedding paired: embedding.weight" in n for n in cand.pairing_notes)
    chosen = cand.with_embedding("embedding.weight")
    torch.testing.assert_close(chosen.embedding, model.embedding.weight.detach())


@pytest.mark.parametrize("whole", [False, True])
def test_an_output_layer_that_reads_attention_is_not_the_head_of_either_lstm(tmp_path, whole):
    model = ForecastModel()
    torch.save(model if whole else model.state_dict(), tmp_path / "tft.pt")
    loaded = load_model(tmp_path / "tft.pt")
    for name in ("lstm_encoder", "lstm_decoder"):
        cand = loaded.pick(name)
        assert cand.head is None, name
        assert "output_layer" in cand.head_options
        assert any("no output head paired" in n for n in cand.pairing_notes)


def test_a_linear_right_after_the_lstm_but_not_last_and_not_named_a_head_is_not_paired(
        tmp_path):
    model = AttentionTagger()
    torch.save(model.state_dict(), tmp_path / "att.pt")
    (cand,) = load_model(tmp_path / "att.pt").lstms
    assert cand.head is None and cand.head_options == ("attn", "out")
    head = cand.with_head("out").head
    assert head.key == "out"
    torch.testing.assert_close(head.weight, model.out.weight.detach())
    torch.testing.assert_close(head.bias, model.out.bias.detach())
    with pytest.raises(ValueError, match="not a Linear that reads this LSTM's output size"):
        cand.with_head("rnn")


def test_an_embedding_and_head_in_wrapping_modules_with_nothing_between_are_paired(tmp_path):
    frontend = nn.Sequential()
    frontend.add_module("embed", nn.Embedding(12, 5))
    body = nn.Sequential()
    body.add_module("rnn", nn.LSTM(5, 7))
    model = nn.Sequential()
    model.add_module("frontend", frontend)
    model.add_module("body", body)
    model.add_module("classifier", nn.Linear(7, 4))
    torch.save(model.state_dict(), tmp_path / "wrapped.pt")
    (cand,) = load_model(tmp_path / "wrapped.pt").lstms
    assert cand.embedding_key == "frontend.embed.weight"
    assert cand.head is not None and cand.head.key == "classifier"
    assert cand.pairing_notes == ()


def test_text_goes_through_an_embedding_paired_by_hand(tmp_path):
    from lstm_viz.formats.loader import model_source
    from lstm_viz.inputs import make_input
    from lstm_viz.text.textinput import text_input_spec

    torch.manual_seed(5)
    model = SpeechModel()
    itos = [f"t{i}" for i in range(30)]
    itos[1:4] = ["a", "b", "c"]
    torch.save({"model": model.state_dict(), "itos": itos}, tmp_path / "tts.pt")
    loaded = load_model(tmp_path / "tts.pt")
    cand = loaded.pick("['model'] encoder.lstm")
    source = model_source(loaded, cand)
    assert source["embedding_key"] is None
    assert source["embedding_options"] == ["embedding.weight"]
    # nothing paired: the tokens are one-hot, through no embedding
    assert "model_path" not in text_input_spec(source, "a b c a").params
    source["embedding_key"] = "embedding.weight"  # what the Loaded model panel records
    spec = text_input_spec(source, "a b c a")
    assert spec.source == "tokens" and spec.params["embedding_key"] == "embedding.weight"
    x = make_input(spec, 8)
    expected = model.embedding.weight.detach()[torch.tensor([1, 2, 3, 1])]
    torch.testing.assert_close(x[:, 0, :], expected, rtol=0, atol=0)
