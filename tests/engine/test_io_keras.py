"""Keras models saved by Keras 3 itself (torch backend) as .keras, legacy .h5 and .weights.h5
open as nn.LSTMs whose outputs, with the paired embedding and head, equal Keras' own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: no TensorFlow
h5py = pytest.importorskip("h5py")
keras = pytest.importorskip("keras")
layers = keras.layers

from lstm_viz.formats.loader import load_model  # noqa: E402

# Keras' torch backend turns variables into arrays the way numpy 2 deprecates
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
ATOL = 1e-5
T, B = 7, 3


def _seed(seed: int = 0) -> None:
    keras.utils.set_random_seed(seed)


def _lstm(units: int, **kw):
    """A Keras LSTM with random biases, so that the bias mapping is checked too."""
    return layers.LSTM(units, bias_initializer="random_normal", **kw)


def _save(model, tmp_path, suffix: str):
    path = tmp_path / f"model{suffix}"
    if suffix == ".weights.h5":
        model.save_weights(path)
    else:
        model.save(path)
    return path


def _keras_out(model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


def _torch_out(cand, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out, _ = cand.build()(torch.from_numpy(x))
    return out.numpy()


def _text(name) -> str:
    return name.decode() if isinstance(name, bytes) else str(name)


def _inputs(features: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((B, T, features)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".weights.h5"])
def test_a_keras_lstm_equals_keras_forward_from_every_kind_of_file(tmp_path, suffix):
    _seed()
    model = keras.Sequential([keras.Input((T, 3)), _lstm(5, return_sequences=True)])
    loaded = load_model(_save(model, tmp_path, suffix))
    assert loaded.kind == "keras"
    cand = loaded.pick()
    assert cand.batch_first is True and cand.origin == "Keras LSTM"
    assert (cand.config.input_size, cand.config.hidden_size) == (3, 5)
    assert "nn.LSTM(3, 5, batch_first=True) from a Keras LSTM layer" in cand.describe()
    x = _inputs()
    np.testing.assert_allclose(_torch_out(cand, x), _keras_out(model, x), atol=ATOL)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_stacked_return_sequences_lstms_open_as_one_two_layer_lstm_equal_to_keras(tmp_path,
                                                                                  suffix):
    _seed(2)
    inp = keras.Input((T, 3))
    first = _lstm(4, return_sequences=True, name="lower")(inp)
    model = keras.Model(inp, _lstm(4, return_sequences=True, name="upper")(first))
    loaded = load_model(_save(model, tmp_path, suffix))
    assert sorted(c.prefix for c in loaded.lstms) == ["lower+upper.", "lower.", "upper."]
    stack = loaded.pick("lower+upper")
    assert stack.config.num_layers == 2
    x = _inputs()
    np.testing.assert_allclose(_torch_out(stack, x), _keras_out(model, x), atol=ATOL)
    lower = keras.Model(inp, first)
    np.testing.assert_allclose(_torch_out(loaded.pick("lower"), x), _keras_out(lower, x),
                               atol=ATOL)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_bidirectional_concat_equals_keras_and_its_stack_too(tmp_path, suffix):
    _seed(3)
    model = keras.Sequential([
        keras.Input((T, 3)),
        layers.Bidirectional(_lstm(4, return_sequences=True), name="bi1"),
        layers.Bidirectional(_lstm(4, return_sequences=True), name="bi2")])
    loaded = load_model(_save(model, tmp_path, suffix))
    stack = loaded.pick("bi1+bi2")
    assert stack.config.bidirectional and stack.config.num_layers == 2
    x = _inputs()
    np.testing.assert_allclose(_torch_out(stack, x), _keras_out(model, x), atol=ATOL)
    single = loaded.pick("bi1")
    assert single.config.bidirectional and single.config.num_layers == 1
    assert single.state_dict["bias_hh_l0_reverse"].abs().sum() == 0


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_embedding_lstm_dense_pair_and_equal_keras_model_output(tmp_path, suffix):
    _seed(4)
    model = keras.Sequential([
        keras.Input((T,), dtype="int32"), layers.Embedding(11, 3, name="emb"),
        _lstm(5, return_sequences=True, name="rnn"),
        layers.Dense(11, bias_initializer="random_normal", name="logits")])
    cand = load_model(_save(model, tmp_path, suffix)).pick()
    assert cand.embedding_key == "emb" and cand.head is not None
    assert cand.head.key == "logits" and tuple(cand.head.weight.shape) == (11, 5)
    tokens = np.random.default_rng(5).integers(0, 11, (B, T)).astype(np.int32)
    with torch.no_grad():
        out, _ = cand.build()(cand.embedding[torch.from_numpy(tokens).long()])
        ours = out @ cand.head.weight.T + cand.head.bias
    np.testing.assert_allclose(ours.numpy(), _keras_out(model, tokens), atol=ATOL)


def test_a_stack_is_paired_with_the_embedding_before_it_and_the_dense_after_it(tmp_path):
    _seed(15)
    model = keras.Sequential([
        keras.Input((T,), dtype="int32"), layers.Embedding(9, 3, name="emb"),
        _lstm(4, return_sequences=True, name="low"), layers.Dropout(0.3),
        _lstm(4, return_sequences=True, name="high"),
        layers.Dense(9, bias_initializer="random_normal", name="logits")])
    loaded = load_model(_save(model, tmp_path, ".keras"))
    stack = loaded.pick("low+high")
    assert stack.embedding_key == "emb" and stack.head.key == "logits"
    assert loaded.pick("low").head is None and loaded.pick("high").embedding is None
    tokens = np.random.default_rng(16).integers(0, 9, (B, T)).astype(np.int32)
    with torch.no_grad():
        out, _ = stack.build()(stack.embedding[torch.from_numpy(tokens).long()])
        ours = out @ stack.head.weight.T + stack.head.bias
    np.testing.assert_allclose(ours.numpy(), _keras_out(model, tokens), atol=ATOL)


def test_lstms_inside_a_nested_sequential_open_under_its_name(tmp_path):
    _seed(26)
    inner = keras.Sequential([_lstm(4, return_sequences=True, name="a"),
                              _lstm(4, return_sequences=True, name="b")], name="inner")
    inp = keras.Input((T, 3))
    model = keras.Model(inp, layers.Dense(1)(inner(inp)))
    loaded = load_model(_save(model, tmp_path, ".keras"))
    x = _inputs()
    np.testing.assert_allclose(_torch_out(loaded.pick("inner/a+inner/b"), x),
                               _keras_out(inner, x), atol=ATOL)


def test_a_bidirectional_lstm_opens_from_a_weights_only_file_equal_to_keras(tmp_path):
    _seed(17)
    model = keras.Sequential([keras.Input((T, 3)),
                              layers.Bidirectional(_lstm(4, return_sequences=True))])
    loaded = load_model(_save(model, tmp_path, ".weights.h5"))
    assert any("weights only" in w for w in loaded.warnings)
    x = _inputs()
    np.testing.assert_allclose(_torch_out(loaded.pick(), x), _keras_out(model, x), atol=ATOL)


def test_an_lstm_started_from_another_layers_state_opens_with_a_warning(tmp_path):
    _seed(18)
    inp = keras.Input((T, 3))
    _, h, c = _lstm(4, return_state=True, name="encoder")(inp)
    decoded = _lstm(4, return_sequences=True, name="decoder")(inp, initial_state=[h, c])
    loaded = load_model(_save(keras.Model(inp, decoded), tmp_path, ".keras"))
    assert {c.prefix for c in loaded.lstms} == {"encoder.", "decoder."}
    assert any("decoder is called with more than its input" in w for w in loaded.warnings)


def test_a_legacy_h5_in_keras_2_layout_opens_equal_to_keras(tmp_path):
    """tf.keras 2 wrote inbound nodes as lists and weight names ending in ':0'."""
    _seed(19)
    inp = keras.Input((T, 3))
    x = layers.Bidirectional(_lstm(4, return_sequences=True), name="bi")(inp)
    model = keras.Model(inp, layers.Dense(2, name="out")(_lstm(4, return_sequences=True,
                                                                  name="top")(x)))
    path = _save(model, tmp_path, ".h5")
    with h5py.File(path, "a") as f:
        config = json.loads(f.attrs["model_config"])
        for layer in config["config"]["layers"]:
            layer["inbound_nodes"] = [
                [[t["config"]["keras_history"][0], *t["config"]["keras_history"][1:], {}]
                 for t in node["args"]] for node in layer["inbound_nodes"]]
        f.attrs["model_config"] = json.dumps(config)
        for name in ("bi", "top", "out"):
            group = f["model_weights"][name]
            names = [_text(n) for n in group.attrs["weight_names"]]
            for weight in names:
                group.move(weight, f"{weight}:0")
            group.attrs["weight_names"] = [f"{n}:0".encode() for n in names]
    loaded = load_model(path)
    assert loaded.pick("top").head.key == "out"
    series = _inputs()
    between = _keras_out(keras.Model(inp, x), series)
    np.testing.assert_allclose(_torch_out(loaded.pick("bi"), series), between, atol=ATOL)
    top = keras.Model(inp, model.get_layer("top").output)
    np.testing.assert_allclose(_torch_out(loaded.pick("top"), between), _keras_out(top, series),
                               atol=ATOL)


class _Subclassed(keras.Model):
    """A model whose layers are Python code: its config records none of them."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.rnn = _lstm(4, return_sequences=True)
        self.fc = layers.Dense(2)

    def call(self, x):
        return self.fc(self.rnn(x))


def test_a_subclassed_model_opens_its_lstms_by_their_weights_with_a_note(tmp_path):
    _seed(20)
    model = _Subclassed()
    x = _inputs()
    model(x)
    loaded = load_model(_save(model, tmp_path, ".keras"))
    assert any("subclassed Keras model (_Subclassed)" in w for w in loaded.warnings)
    np.testing.assert_allclose(_torch_out(loaded.pick(), x), _keras_out(model.rnn, x),
                               atol=ATOL)


def test_dense_after_the_last_step_is_the_head_of_a_functional_lstm(tmp_path):
    _seed(6)
    inp = keras.Input((T, 3))
    model = keras.Model(inp, layers.Dense(2, name="out")(
        layers.Dropout(0.5)(_lstm(4, name="enc")(inp))))
    cand = load_model(_save(model, tmp_path, ".keras")).pick()
    assert cand.head is not None and cand.head.key == "out"
    x = _inputs()
    with torch.no_grad():
        ours = torch.from_numpy(_torch_out(cand, x))[:, -1] @ cand.head.weight.T \
            + cand.head.bias
    np.testing.assert_allclose(ours.numpy(), _keras_out(model, x), atol=ATOL)


def test_a_dense_that_applies_another_activation_is_not_paired_and_says_why(tmp_path):
    _seed(7)
    model = keras.Sequential([keras.Input((T, 3)), _lstm(4, name="rnn"),
                              layers.Dense(1, activation="sigmoid", name="prob")])
    loaded = load_model(_save(model, tmp_path, ".keras"))
    assert loaded.pick().head is None
    assert any("Dense prob" in w and "'sigmoid'" in w for w in loaded.warnings)


def test_mask_zero_embedding_opens_with_a_warning_that_masking_is_not_shown(tmp_path):
    _seed(8)
    model = keras.Sequential([keras.Input((T,), dtype="int32"),
                              layers.Embedding(6, 3, mask_zero=True, name="emb"), _lstm(4)])
    loaded = load_model(_save(model, tmp_path, ".keras"))
    assert loaded.pick().embedding_key == "emb"
    assert any("mask_zero=True" in w for w in loaded.warnings)


def test_a_lambda_between_embedding_and_lstm_is_never_run_and_nothing_is_paired_across_it(
        tmp_path):
    _seed(24)
    model = keras.Sequential([keras.Input((T,), dtype="int32"), layers.Embedding(6, 3),
                              layers.Lambda(lambda x: x * 2.0, name="double"),
                              _lstm(4, name="rnn")])
    loaded = load_model(_save(model, tmp_path, ".keras"))
    assert loaded.pick().embedding is None
    assert any("reads Lambda layer double" in w for w in loaded.warnings)


def test_recurrent_dropout_is_noted_and_the_lstm_equals_keras_at_inference(tmp_path):
    _seed(25)
    model = keras.Sequential([keras.Input((T, 3)),
                              _lstm(4, return_sequences=True, dropout=0.3,
                                    recurrent_dropout=0.25, name="rnn")])
    loaded = load_model(_save(model, tmp_path, ".keras"))
    assert [w for w in loaded.warnings if "dropout" in w] == [
        "Keras layer rnn has recurrent_dropout=0.25, which Keras applies only in training;"
        " lstm-viz shows inference"]
    x = _inputs()
    np.testing.assert_allclose(_torch_out(loaded.pick(), x), _keras_out(model, x), atol=ATOL)


@pytest.mark.parametrize("layer, named", [
    (lambda: _lstm(4, recurrent_activation="hard_sigmoid"), "recurrent_activation 'hard_sigmoid'"),
    (lambda: _lstm(4, activation="relu"), "activation 'relu'"),
    (lambda: layers.Bidirectional(_lstm(4), merge_mode="sum"), "merge_mode 'sum'"),
    (lambda: _lstm(4, go_backwards=True), "go_backwards=True"),
])
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lstms_nn_lstm_cannot_compute_are_refused_in_one_line_naming_the_setting(
        tmp_path, layer, named, suffix):
    _seed(9)
    model = keras.Sequential([keras.Input((T, 3)), layer()])
    with pytest.raises(ValueError) as err:
        load_model(_save(model, tmp_path, suffix))
    message = str(err.value)
    assert named in message and "\n" not in message
    assert "cannot open" in message


def test_a_refused_layer_is_skipped_with_a_note_when_another_lstm_opens(tmp_path):
    _seed(10)
    inp = keras.Input((T, 3))
    model = keras.Model(inp, [_lstm(4, name="good")(inp),
                              _lstm(4, activation="relu", name="bad")(inp)])
    loaded = load_model(_save(model, tmp_path, ".keras"))
    assert [c.prefix for c in loaded.lstms] == ["good."]
    assert any("bad" in w and "'relu'" in w for w in loaded.warnings)


def test_a_model_without_lstm_layers_lists_what_it_holds(tmp_path):
    _seed(11)
    model = keras.Sequential([keras.Input((T, 3)), layers.GRU(4, name="gru")])
    with pytest.raises(ValueError, match="no LSTM layer \\(found gru \\(GRU\\)\\)"):
        load_model(_save(model, tmp_path, ".keras"))


def test_a_dataset_linked_to_another_file_is_refused_not_followed(tmp_path):
    _seed(12)
    model = keras.Sequential([keras.Input((T, 3)), _lstm(4, name="rnn")])
    path = _save(model, tmp_path, ".h5")
    with h5py.File(tmp_path / "elsewhere.h5", "w") as other:
        other["kernel"] = np.zeros((3, 16), np.float32)
    with h5py.File(path, "a") as f:
        kernel = _text(f["model_weights/rnn"].attrs["weight_names"][0])  # rnn/lstm_cell/kernel
        cell = f["model_weights/rnn"]
        del cell[kernel]
        cell[kernel] = h5py.ExternalLink(str(tmp_path / "elsewhere.h5"), "kernel")
    with pytest.raises(ValueError, match="links to another file"):
        load_model(path)


def test_without_h5py_a_keras_file_says_how_to_install_it(tmp_path, monkeypatch):
    _seed(13)
    model = keras.Sequential([keras.Input((T, 3)), _lstm(4)])
    path = _save(model, tmp_path, ".keras")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ValueError, match="pip install lstm-viz\\[keras\\]"):
        load_model(path)


def test_a_keras_archive_with_a_damaged_weights_file_is_refused_in_one_line(tmp_path):
    _seed(14)
    model = keras.Sequential([keras.Input((T, 3)), _lstm(4)])
    path = _save(model, tmp_path, ".keras")
    import zipfile

    with zipfile.ZipFile(path) as zf:
        config = zf.read("config.json")
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("config.json", config)
        zf.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(200))
    with pytest.raises(ValueError, match="broken.keras is not a readable HDF5 file"):
        load_model(broken)


def test_reading_a_keras_file_imports_neither_keras_nor_tensorflow(tmp_path):
    _seed(23)
    path = _save(keras.Sequential([keras.Input((T, 3)), _lstm(4)]), tmp_path, ".keras")
    code = ("import sys; from lstm_viz.formats.loader import load_model; load_model(sys.argv[1]);"
            " print(sorted(m for m in sys.modules if m.split('.')[0] in"
            " ('keras', 'tensorflow', 'tf_keras')))")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _stand_in_reader(tmp_path, body: str) -> str:
    """A program that takes the child reader's place and does ``body`` instead."""
    script = tmp_path / "reader.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX signal stands in for the crash")
def test_an_hdf5_library_crash_on_a_damaged_file_is_one_line_not_a_crash(tmp_path,
                                                                          monkeypatch):
    _seed(21)
    path = _save(keras.Sequential([keras.Input((T, 3)), _lstm(4)]), tmp_path, ".h5")
    monkeypatch.setattr(sys, "executable", _stand_in_reader(tmp_path, "kill -SEGV $$"))
    with pytest.raises(ValueError, match="model.h5 is a damaged HDF5 file: reading it stopped"
                                         " the HDF5 library \\(signal 11\\)"):
        load_model(path)


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for the reader")
def test_a_reader_that_hangs_is_stopped_with_one_line(tmp_path, monkeypatch):
    from lstm_viz.formats import keras_lstm

    _seed(22)
    path = _save(keras.Sequential([keras.Input((T, 3)), _lstm(4)]), tmp_path, ".h5")
    monkeypatch.setattr(sys, "executable", _stand_in_reader(tmp_path, "exec sleep 60"))
    monkeypatch.setattr(keras_lstm, "_CHILD_TIMEOUT", 1)
    with pytest.raises(ValueError, match="model.h5: reading it with h5py took more than 1 s"):
        load_model(path)
