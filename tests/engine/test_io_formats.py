"""safetensors state dicts open like torch.save ones; files lstm-viz cannot open say what they
are and what it can open."""

from __future__ import annotations

import json
import struct
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from lstm_viz.config import LSTMConfig
from lstm_viz.formats.loader import load_model

CAN_OPEN = ("expected a file written by torch.save .* a .safetensors state dict, an ONNX"
            " model.*or a Keras")


def test_safetensors_lstm_state_dict_with_metadata(tmp_path):
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2).eval()
    sd = {f"model.rnn.{k}": v.contiguous() for k, v in lstm.state_dict().items()}
    save_file(sd, str(tmp_path / "m.safetensors"), metadata={"epoch": "3"})
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.kind == "safetensors" and loaded.metadata == {"epoch": "3"}
    (cand,) = loaded.lstms
    assert cand.prefix == "model.rnn."
    assert cand.config == LSTMConfig(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    x = torch.randn(6, 2, 3)
    with torch.no_grad():
        torch.testing.assert_close(cand.build()(x)[0], lstm(x)[0])


def test_safetensors_integer_weights_are_refused_by_name(tmp_path):
    sd = {k: v.contiguous() for k, v in nn.LSTM(3, 4).state_dict().items()}
    sd["weight_ih_l0"] = sd["weight_ih_l0"].to(torch.int32)
    save_file(sd, str(tmp_path / "m.safetensors"))
    with pytest.raises(ValueError, match="weight_ih_l0 has dtype torch.int32"):
        load_model(tmp_path / "m.safetensors")


def test_safetensors_header_claiming_more_data_than_the_file_holds(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [1 << 20, 1 << 20],
                               "data_offsets": [0, 16]}}).encode()
    (tmp_path / "lie.safetensors").write_bytes(struct.pack("<Q", len(header)) + header
                                               + bytes(16))
    with pytest.raises(ValueError, match="claims 4398046511104 bytes of tensors but the file"
                                         " holds 16"):
        load_model(tmp_path / "lie.safetensors")


def test_a_damaged_hdf5_file_is_read_as_keras_and_refused_in_one_line(tmp_path):
    (tmp_path / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    # without h5py installed, the message says how to install it instead
    with pytest.raises(ValueError, match="model.h5 (is not a readable HDF5 file|is a Keras file;"
                                         " reading it needs h5py: pip install lstm-viz)"):
        load_model(tmp_path / "model.h5")


def test_tensorflow_saved_model_folder_and_file_are_named(tmp_path):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "saved_model.pb").write_bytes(b"\x08\x01")
    with pytest.raises(ValueError, match="export is a TensorFlow SavedModel folder.*" + CAN_OPEN):
        load_model(tmp_path / "export")
    with pytest.raises(ValueError, match="saved_model.pb is a TensorFlow SavedModel"):
        load_model(tmp_path / "export" / "saved_model.pb")


def test_npy_and_npz_are_named_as_arrays(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(3))
    np.savez(tmp_path / "x.npz", a=np.zeros(3), b=np.ones(2))
    with pytest.raises(ValueError, match="a NumPy .npy array"):
        load_model(tmp_path / "x.npy")
    with pytest.raises(ValueError, match="a NumPy .npz archive.*" + CAN_OPEN):
        load_model(tmp_path / "x.npz")


def test_other_zip_lists_what_it_holds(tmp_path):
    with zipfile.ZipFile(tmp_path / "docs.zip", "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match="a zip archive but not a PyTorch file \\(it holds"
                                         " readme.txt\\).*" + CAN_OPEN):
        load_model(tmp_path / "docs.zip")


def test_protobuf_that_is_not_onnx_is_refused(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07\x12\xff\xff\xff\xff\x0fgarbage")
    with pytest.raises(ValueError, match="m.onnx is not a readable ONNX model"):
        load_model(tmp_path / "m.onnx")


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 3)
        self.rnn = nn.LSTM(3, 4)
        self.cell = nn.LSTMCell(4, 4)
        self.fc = nn.Linear(4, 2)


def test_damaged_model_files_are_refused_with_a_value_error_quickly(tmp_path):
    import random
    import time

    torch.save(_Net().state_dict(), tmp_path / "zip.pt")
    torch.save(_Net(), tmp_path / "whole.pt")
    torch.save({"m": _Net().state_dict(), "stoi": {"a": 0}}, tmp_path / "legacy.pt",
               _use_new_zipfile_serialization=False)
    save_file({k: v.contiguous() for k, v in _Net().state_dict().items()},
              str(tmp_path / "m.safetensors"))
    sources = [tmp_path / n for n in ("zip.pt", "whole.pt", "legacy.pt", "m.safetensors")]
    rng = random.Random(0)
    for k in range(120):
        src = sources[k % len(sources)]
        data = bytearray(src.read_bytes())
        if k % 3 == 0:
            data = data[:rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        bad = tmp_path / f"bad{src.suffix}"
        bad.write_bytes(bytes(data))
        start = time.perf_counter()
        try:
            load_model(bad)
        except ValueError:
            pass
        assert time.perf_counter() - start < 3, f"case {k} from {src.name} was slow"


def test_a_safetensors_header_over_16_mib_is_refused_before_it_is_parsed(tmp_path):
    sd = {k: v.contiguous() for k, v in nn.LSTM(2, 3).state_dict().items()}
    save_file(sd, str(tmp_path / "m.safetensors"), metadata={"note": "x" * (17 << 20)})
    with pytest.raises(ValueError, match="its safetensors header claims 17,8[0-9,]+ bytes, more"
                                         " than the 16,777,216 lstm-viz reads"):
        load_model(tmp_path / "m.safetensors")


def test_long_metadata_is_cut_to_what_a_window_can_show(tmp_path):
    sd = {k: v.contiguous() for k, v in nn.LSTM(2, 3).state_dict().items()}
    save_file(sd, str(tmp_path / "m.safetensors"), metadata={"description": "d" * 50_000})
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.metadata["description"] == "d" * 2000 + "… (50,000 characters)"
    torch.save({"model": nn.LSTM(2, 3).state_dict(), "description": "e" * 3000},
               tmp_path / "c.pt")
    assert load_model(tmp_path / "c.pt").metadata["description"] == \
        "e" * 2000 + "… (3,000 characters)"
