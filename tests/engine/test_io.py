"""lstm_viz.formats.loader: every way a trained LSTM arrives in a file, and every way such a file
goes wrong."""

from __future__ import annotations

import warnings
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from lstm_viz.config import LSTMConfig
from lstm_viz.formats.loader import fit_input, load_into_session, load_model


class TaggerNet(nn.Module):
    """Embedding -> LSTM -> Linear, as a typical user's model (module level so it pickles)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(12, 4)
        self.rnn = nn.LSTM(4, 6, batch_first=True)
        self.head = nn.Linear(6, 3)

    def forward(self, idx):
        out, _ = self.rnn(self.embed(idx))
        return self.head(out)


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
        self.decoder = nn.LSTM(4, 10, proj_size=5)


def _same_output(a: nn.LSTM, b: nn.LSTM, input_size: int, batch_first=False) -> None:
    x = torch.randn(7, 2, input_size, generator=torch.Generator().manual_seed(1))
    if batch_first:
        x = x.transpose(0, 1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
        torch.testing.assert_close(a(x)[0], b(x)[0])


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ----- the good files ------------------------------------------------------------------------
def test_plain_state_dict_gives_config_and_identical_weights(tmp_path):
    lstm = nn.LSTM(3, 8, num_layers=2, bidirectional=True, proj_size=4)
    torch.save(lstm.state_dict(), tmp_path / "lstm.pt")
    loaded = load_model(tmp_path / "lstm.pt")
    assert loaded.kind == "state_dict"
    (cand,) = loaded.lstms
    assert cand.prefix == "" and cand.batch_first is None
    assert cand.config == LSTMConfig(3, 8, num_layers=2, bidirectional=True, proj_size=4)
    _same_output(lstm.eval(), cand.build(), 3)


def test_checkpoint_with_nested_model_and_optimizer_finds_lstm_and_embedding(tmp_path):
    net = TaggerNet()
    opt = torch.optim.Adam(net.parameters())
    net(torch.zeros(2, 3, dtype=torch.long)).sum().backward()
    opt.step()
    torch.save({"epoch": 4, "model": net.state_dict(), "optimizer": opt.state_dict(),
                "vocab": list("abcdefghijkl")}, tmp_path / "ckpt.pth")
    loaded = load_model(tmp_path / "ckpt.pth")
    assert loaded.kind == "checkpoint"
    (cand,) = loaded.lstms
    assert (cand.location, cand.prefix) == ("['model']", "rnn.")
    assert cand.config == LSTMConfig(4, 6)
    assert cand.embedding_key == "embed.weight"
    torch.testing.assert_close(cand.embedding, net.embed.weight.detach())
    assert loaded.vocab == tuple("abcdefghijkl")
    assert loaded.metadata["epoch"] == 4
    assert not cand.build().batch_first  # a state dict does not record it
    _same_output(net.rnn.eval(), cand.build(batch_first=True), 4, batch_first=True)


def test_deeply_nested_checkpoint_is_searched(tmp_path):
    lstm = nn.LSTM(2, 3)
    torch.save({"state": {"nets": [{"rnn": 1}, {"enc": lstm.state_dict()}]}}, tmp_path / "d.pt")
    (cand,) = load_model(tmp_path / "d.pt").lstms
    assert cand.location == "['state']['nets'][1]['enc']"
    assert cand.config == LSTMConfig(2, 3)


def test_file_with_encoder_and_decoder_lists_both_and_picks_by_name(tmp_path):
    model = Seq2Seq()
    torch.save(model.state_dict(), tmp_path / "s2s.pt")
    loaded = load_model(tmp_path / "s2s.pt")
    assert [c.prefix for c in loaded.lstms] == ["encoder.", "decoder."]
    assert loaded.lstms[1].config == LSTMConfig(4, 10, proj_size=5)
    with pytest.raises(ValueError, match="holds 2 LSTMs: encoder; decoder"):
        loaded.pick()
    enc = loaded.pick("encoder")
    assert enc.config == LSTMConfig(3, 5, num_layers=2, bidirectional=True)
    _same_output(model.encoder.eval(), enc.build(), 3)
    _same_output(model.decoder.eval(), loaded.pick("decoder.").build(), 4)
    with pytest.raises(ValueError, match="no LSTM called 'middle'"):
        loaded.pick("middle")
    assert "nn.LSTM(3, 5, num_layers=2, bidirectional=True)" in enc.describe()


def test_torchscript_file_keeps_batch_first_and_weights(tmp_path):
    net = TaggerNet().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net).save(str(tmp_path / "net.ts"))
    loaded = load_model(tmp_path / "net.ts")
    assert loaded.kind == "torchscript"
    (cand,) = loaded.lstms
    assert cand.prefix == "rnn." and cand.batch_first is True
    assert cand.embedding_key == "embed.weight"
    rebuilt = cand.build()
    assert rebuilt.batch_first
    _same_output(net.rnn, rebuilt, 4, batch_first=True)


def test_legacy_non_zip_serialization_loads(tmp_path):
    lstm = nn.LSTM(2, 4, bias=False)
    torch.save(lstm.state_dict(), tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    (cand,) = load_model(tmp_path / "old.pt").lstms
    assert cand.config == LSTMConfig(2, 4, bias=False)


def test_full_pickled_model_is_read_without_importing_its_class(tmp_path):
    net = TaggerNet().eval()
    torch.save(net, tmp_path / "full.pt")
    loaded = load_model(tmp_path / "full.pt")
    assert loaded.kind == "pickled_module"
    (cand,) = loaded.lstms
    assert cand.prefix == "rnn." and cand.batch_first is True
    assert cand.embedding_key == "embed.weight" and cand.head.key == "head"
    _same_output(net.rnn, cand.build(), 4, batch_first=True)


def test_full_pickled_model_loads_with_allow_pickle(tmp_path):
    net = TaggerNet().eval()
    torch.save(net, tmp_path / "full.pt")
    loaded = load_model(tmp_path / "full.pt", allow_pickle=True)
    assert loaded.kind == "pickle"
    (cand,) = loaded.lstms
    assert cand.batch_first is True and cand.embedding_key == "embed.weight"
    _same_output(net.rnn, cand.build(), 4, batch_first=True)


# ----- the bad files -------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="model file not found: .*nope.pt; expected a file"):
        load_model(tmp_path / "nope.pt")


def test_empty_file(tmp_path):
    (tmp_path / "e.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"e.pt is empty \(0 bytes\)"):
        load_model(tmp_path / "e.pt")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.95])
def test_truncated_file_is_reported_as_truncated(tmp_path, keep):
    torch.save(nn.LSTM(3, 4).state_dict(), tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match="cut.pt is truncated or corrupt"):
        load_model(tmp_path / "cut.pt")


def test_truncated_legacy_file(tmp_path):
    torch.save(nn.LSTM(3, 4).state_dict(), tmp_path / "ok.pt",
               _use_new_zipfile_serialization=False)
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.pt is (truncated or )?corrupt"):
        load_model(tmp_path / "cut.pt")


def test_flipped_bytes_inside_archive_fail_the_checksum(tmp_path):
    torch.save(nn.LSTM(3, 4).state_dict(), tmp_path / "ok.pt")
    with zipfile.ZipFile(tmp_path / "ok.pt") as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("data/0"))
    data = bytearray((tmp_path / "ok.pt").read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for k in range(8):
        data[start + 64 + k] ^= 0xFF
    (tmp_path / "bad.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="bad.pt is corrupt: entry .*data/0 fails its checksum"):
        load_model(tmp_path / "bad.pt")


def test_text_file_is_not_a_pytorch_file_and_its_words_are_not_echoed(tmp_path):
    (tmp_path / "notes.pt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(ValueError, match="not a PyTorch file: found a text file") as err:
        load_model(tmp_path / "notes.pt")
    assert "root:x" not in str(err.value)


def test_binary_data_is_named_as_such_without_its_bytes(tmp_path):
    (tmp_path / "blob.pt").write_bytes(bytes([0xDE, 0xAD, 0xBE, 0xEF]) * 16)
    with pytest.raises(ValueError, match="found binary data of an unknown kind") as err:
        load_model(tmp_path / "blob.pt")
    assert "de ad" not in str(err.value)


def test_npy_file_is_named_as_an_input_not_a_model(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NumPy .npy array"):
        load_model(tmp_path / "x.npy")


def test_state_dict_without_lstm_names_what_it_found(tmp_path):
    torch.save(nn.Linear(3, 2).state_dict(), tmp_path / "lin.pt")
    with pytest.raises(ValueError) as info:
        load_model(tmp_path / "lin.pt")
    msg = str(info.value)
    assert "holds no nn.LSTM: found weight (2, 3), bias (2,)" in msg
    assert "weight_ih_l0" in msg


def test_gru_state_dict_is_recognised_as_a_gru(tmp_path):
    torch.save(nn.GRU(3, 8).state_dict(), tmp_path / "gru.pt")
    with pytest.raises(ValueError, match=r"^gru.pt holds no nn.LSTM: <root> is an nn.GRU, not"
                       r" an nn.LSTM; lstm-viz shows LSTMs only$"):
        load_model(tmp_path / "gru.pt")


def test_a_state_dict_of_several_grus_leads_with_what_they_are_not_with_their_shapes(tmp_path):
    model = nn.Module()
    model.enc = nn.GRU(4, 4, num_layers=2)
    model.dec = nn.RNN(4, 4)
    torch.save(model.state_dict(), tmp_path / "rnns.pt")
    with pytest.raises(ValueError) as err:
        load_model(tmp_path / "rnns.pt")
    assert str(err.value) == ("rnns.pt holds no nn.LSTM: enc is an nn.GRU, not an nn.LSTM;"
                              " lstm-viz shows LSTMs only | dec is an nn.RNN, not an nn.LSTM;"
                              " lstm-viz shows LSTMs only")


def test_checkpoint_without_tensors(tmp_path):
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "meta.pt")
    with pytest.raises(ValueError, match="holds no nn.LSTM: found a dict with no tensors"):
        load_model(tmp_path / "meta.pt")


def test_inconsistent_lstm_shapes_are_explained(tmp_path):
    sd = nn.LSTM(3, 4).state_dict()
    sd["weight_hh_l0"] = torch.zeros(16, 5)
    torch.save(sd, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match=r"weight_hh_l0 has shape \(16, 5\), expected \(16, 4\)"):
        load_model(tmp_path / "odd.pt")


# ----- input shapes --------------------------------------------------------------------------
def test_fit_input_accepts_the_usual_layouts():
    cfg = LSTMConfig(3, 4)
    x = np.arange(15, dtype=np.float32).reshape(5, 3)
    assert fit_input(x, cfg).shape == (5, 1, 3)
    torch.testing.assert_close(fit_input(x, cfg)[:, 0], torch.from_numpy(x))
    assert fit_input(np.zeros(5), LSTMConfig(1, 4)).shape == (5, 1, 1)
    bf = np.random.default_rng(0).normal(size=(2, 5, 3))
    out = fit_input(bf, cfg.replace(batch_first=True))
    assert out.shape == (5, 2, 3)
    torch.testing.assert_close(out[:, 1], torch.tensor(bf[1], dtype=torch.float32))


def test_transposed_input_suggests_transpose():
    with pytest.raises(ValueError) as info:
        fit_input(np.zeros((3, 50)), LSTMConfig(3, 4))
    msg = str(info.value)
    assert "input shape (3, 50) does not fit: expected (seq_len, input_size=3)" in msg
    assert "transpose it (data.T, shape (50, 3))" in msg


def test_wrong_feature_count_suggests_a_different_input_size():
    with pytest.raises(ValueError, match=r"\(50, 5\) does not fit.*open a model with input_size=5"):
        fit_input(np.zeros((50, 5)), LSTMConfig(3, 4))


def test_three_d_input_with_features_in_the_middle_mentions_batch_first():
    with pytest.raises(ValueError) as info:
        fit_input(np.zeros((50, 3, 2)), LSTMConfig(3, 4))
    msg = str(info.value)
    assert "expected (seq_len, batch, input_size) with input_size=3 (batch_first=False)" in msg
    assert "move them last" in msg and "batch_first=True reads (batch, seq_len" in msg


def test_one_d_input_needs_input_size_one():
    with pytest.raises(ValueError, match=r"reshape it to \(seq_len, 3\)"):
        fit_input(np.zeros(10), LSTMConfig(3, 4))


# ----- any config ----------------------------------------------------------------------------


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(input_size=st.integers(1, 5), hidden_size=st.integers(2, 6),
       num_layers=st.integers(1, 3), bias=st.booleans(), bidirectional=st.booleans(),
       proj=st.booleans(), nested=st.booleans())
def test_any_saved_lstm_comes_back_with_its_config_and_outputs(
        tmp_path, input_size, hidden_size, num_layers, bias, bidirectional, proj, nested):
    cfg = LSTMConfig(input_size, hidden_size, num_layers=num_layers, bias=bias,
                     bidirectional=bidirectional, proj_size=hidden_size - 1 if proj else 0)
    lstm = cfg.build().eval()
    sd = lstm.state_dict()
    obj = {"model": {f"net.rnn.{k}": v for k, v in sd.items()}, "step": 1} if nested else sd
    torch.save(obj, tmp_path / "m.pt")
    (cand,) = load_model(tmp_path / "m.pt").lstms
    assert cand.config == cfg
    assert cand.prefix == ("net.rnn." if nested else "")
    _same_output(lstm, cand.build(), input_size)


def test_load_into_session_uses_an_lstm_built_beforehand_without_reading_the_file_again(
        tmp_path, monkeypatch):
    from lstm_viz import Session
    from lstm_viz.formats import loader as io
    torch.manual_seed(5)
    saved = nn.LSTM(3, 5)
    torch.save(saved.state_dict(), tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    cand = loaded.pick()
    built, source = cand.build(), io.model_source(loaded, cand)
    (tmp_path / "m.pt").unlink()  # a second read or hash of the file would fail now
    s = Session()
    assert load_into_session(s, loaded, cand, lstm=built, source=source) == ""
    assert s.model_source == source
    _same_output(s.lstm, saved, 3)


def test_load_into_session_takes_model_and_input_together_or_neither(tmp_path):
    from lstm_viz import InputSpec, Session
    torch.save(nn.LSTM(3, 5).state_dict(), tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    s = Session(LSTMConfig(4, 8), InputSpec(source="text", text="abcd", seq_len=4,
                                            batch_size=1))
    with pytest.raises(ValueError, match="input_size"):  # 4 characters, one-hot, 3 features
        load_into_session(s, loaded, input_spec=InputSpec(source="text", text="abcd",
                                                          seq_len=4, batch_size=1))
    assert s.config == LSTMConfig(4, 8) and s.model_source is None
    load_into_session(s, loaded, input_spec=InputSpec(source="sine", seq_len=7, batch_size=1))
    assert s.config == LSTMConfig(3, 5) and s.input_tm.shape == (7, 1, 3)


# ----- many LSTMs, non-finite weights ----------------------------------------------------------
def test_a_file_of_many_lstms_names_five_and_the_count_when_asked_to_choose(tmp_path):
    nets = nn.ModuleDict({f"rnn{i:02d}": nn.LSTM(2, 3) for i in range(50)})
    torch.save(nets.state_dict(), tmp_path / "many.pt")
    loaded = load_model(tmp_path / "many.pt")
    assert len(loaded.lstms) == 50
    with pytest.raises(ValueError) as exc:
        loaded.pick()
    text = str(exc.value)
    assert "\n" not in text
    assert text.startswith("many.pt holds 50 LSTMs: rnn00; rnn01; rnn02; rnn03; rnn04; and 45"
                           " more (`lstm-viz models ")
    assert "rnn05" not in text and text.endswith("lists them all). Choose one.")
    with pytest.raises(ValueError, match=r"no LSTM called 'rnn50' in many.pt; found: rnn00;.*"
                                         r"rnn04; and 45 more") as exc:
        loaded.pick("rnn50")
    assert "rnn49" not in str(exc.value)
    few = nn.ModuleDict({f"rnn{i}": nn.LSTM(2, 3) for i in range(3)})
    torch.save(few.state_dict(), tmp_path / "few.pt")
    with pytest.raises(ValueError, match=r"holds 3 LSTMs: rnn0; rnn1; rnn2\. Choose one\.$"):
        load_model(tmp_path / "few.pt").pick()


def test_many_unusable_lstms_are_refused_in_one_short_line(tmp_path):
    sd = {}
    for i in range(40):
        sd.update({f"rnn{i}.{k}": v for k, v in nn.GRU(2, 3).state_dict().items()})
        sd[f"rnn{i}.weight_hh_l0"] = torch.zeros(7, 3)  # neither a GRU's nor an LSTM's rows
    torch.save(sd, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="no usable LSTM: rnn0: .* and 35 more") as exc:
        load_model(tmp_path / "bad.pt")
    text = str(exc.value)
    assert "\n" not in text and "rnn5:" not in text and text.count(" | ") == 5
    assert len(exc.value.problems) == 40


def test_nan_and_infinite_weights_open_with_the_warning_inputs_give(tmp_path):
    net = TaggerNet()
    with torch.no_grad():
        net.rnn.weight_hh_l0[2, 1] = float("nan")
        net.rnn.weight_hh_l0[3, 1] = float("nan")
        net.embed.weight[0, 0] = float("-inf")
        net.head.bias[1] = float("nan")
    torch.save(net.state_dict(), tmp_path / "nan.pt")
    loaded = load_model(tmp_path / "nan.pt")
    (cand,) = loaded.lstms
    assert cand.head is not None and cand.embedding is not None
    assert loaded.warnings == ("3 NaN and 1 infinite values in weight_hh_l0, embedding"
                               " embed.weight, head head.bias of the LSTM rnn; the trace will"
                               " carry them",)
    net = TaggerNet()
    torch.save(net.state_dict(), tmp_path / "fine.pt")
    assert load_model(tmp_path / "fine.pt").warnings == ()
