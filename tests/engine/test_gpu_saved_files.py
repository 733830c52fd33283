"""Model files saved on a GPU open on a machine without one.

The files in tests/data/gpu_saved were written on an NVIDIA GPU by make_gpu_saved.py beside
them: every tensor in them records the location "cuda:0", and reference.npz holds an input and
what nn.LSTM returned for it there (in IEEE float32).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_viz.formats.loader import load_model

DATA = Path(__file__).resolve().parents[1] / "data" / "gpu_saved"
FORMS = {"state_dict.pt": "state_dict", "checkpoint.pt": "checkpoint",
         "whole_module.pt": "pickled_module", "torchscript.pt": "torchscript"}


@pytest.fixture(scope="module")
def reference():
    with np.load(DATA / "reference.npz") as ref:
        return {k: ref[k] for k in ref.files}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_a_gpu_saved_file_runs_on_the_cpu_as_nn_lstm_ran_on_the_gpu(name, reference):
    assert "NVIDIA" in str(reference["device"])
    assert b"cuda:0" in (DATA / name).read_bytes()  # the file really holds GPU tensors
    loaded = load_model(DATA / name)
    assert loaded.kind == FORMS[name]
    (cand,) = [c for c in loaded.lstms if c.prefix.rstrip(".") in ("rnn", "")]
    lstm = cand.build(batch_first=True)
    assert next(lstm.parameters()).device.type == "cpu"
    with torch.no_grad():
        out, (h_n, c_n) = lstm(torch.from_numpy(reference["input"]))
    np.testing.assert_allclose(out.numpy(), reference["output"], atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(h_n.numpy(), reference["h_n"], atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(c_n.numpy(), reference["c_n"], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["state_dict.pt", "checkpoint.pt", "whole_module.pt"])
def test_a_gpu_saved_model_keeps_its_embedding_and_head(name, reference):
    cand = load_model(DATA / name).pick()
    assert cand.embedding is not None and cand.head is not None
    np.testing.assert_array_equal(cand.embedding.numpy(), reference["embedding"])
    np.testing.assert_array_equal(cand.head.weight.numpy(), reference["head_weight"])
