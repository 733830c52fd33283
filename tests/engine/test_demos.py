"""The demos that ship: they open from a fresh clone, load safely, do what docs/demos.md says."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_viz.demos import DEMOS_FILE, RESOURCES, list_demos, open_demo
from lstm_viz.explain.analysis import signal_correlation
from lstm_viz.formats.loader import load_model
from lstm_viz.session import Session
from lstm_viz.text.textinput import python_text_features, spec_tokens

ROOT = Path(__file__).resolve().parents[2]


def test_every_demo_is_described_and_its_files_are_in_the_repository():
    demos = list_demos()
    assert {d.name for d in demos} >= {"char_python", "sine"}
    try:
        listing = subprocess.run(["git", "ls-files", "resources"], cwd=ROOT, capture_output=True,
                                 text=True)
    except OSError:
        pytest.skip("git is not available")
    if listing.returncode != 0:
        pytest.skip("not a git checkout")
    tracked = listing.stdout.split()
    for d in demos:
        assert d.description and "\n" not in d.description and len(d.description) < 200
        assert d.model.is_file(), d.model
        assert d.model.stat().st_size < 2 * 1024 * 1024
        rel = d.model.relative_to(ROOT).as_posix()
        assert rel in tracked, f"{rel} is not committed"
        script = {"char_python": "train_char_python.py", "sine": "train_sine.py"}.get(d.name)
        if script:
            assert f"resources/models/{script}" in tracked


@pytest.mark.parametrize("name", ["char_python", "sine"])
def test_demo_models_load_with_weights_only(name):
    demo = next(d for d in list_demos() if d.name == name)
    loaded = load_model(demo.model)  # weights_only=True: no pickle needed
    assert loaded.kind == "checkpoint"
    cand = loaded.pick(demo.lstm)
    with torch.no_grad():
        x = torch.randn(5, 1, cand.config.input_size)
        out, _ = cand.build()(x)
    assert out.shape == (5, 1, cand.config.hidden_size)


def test_char_demo_opens_with_its_embedding_and_text():
    s = Session()
    demo, loaded, cand = open_demo(s, "char_python")
    tr = s.retrace()
    text = (RESOURCES / "samples" / "python_sample.py").read_text()
    assert s.input_spec.source == "tokens"
    assert "".join(spec_tokens(s.input_spec)[0]) == text
    assert tr.num_steps == len(text)
    idx = [loaded.vocab.index(ch) for ch in text[:10]]
    torch.testing.assert_close(tr.x[:10, 0], cand.embedding[idx])
    assert s.model_source["lstm"] == "['model'] lstm"
    assert loaded.metadata["train"]["val_loss"] < 1.5  # nats/char, quoted in docs/demos.md


def test_sine_demo_forecasts_better_than_repeating_the_last_value():
    s = Session()
    demo, loaded, cand = open_demo(s, "sine")
    tr = s.retrace()
    sd = torch.load(demo.model, weights_only=True)["model"]
    head_w, head_b = sd["head.weight"], sd["head.bias"]
    pred = (tr.h[0, 0, :, 0] @ head_w.T + head_b)[:, 0]
    x = tr.x[:, 0, 0]
    err = (pred[:-1] - x[1:]) ** 2
    naive = (x[:-1] - x[1:]) ** 2
    # docs/demos.md: good on a steady wave, off for about 15 steps after the period changes
    # at t=60 (the sample is sin(2 pi t / 20), then 0.8 sin(2 pi (t - 60) / 32)).
    for a, b, factor in ((10, 55, 50), (80, 119, 2)):
        assert float(err[a:b].mean()) < float(naive[a:b].mean()) / factor, (a, b)
    assert float(err[58:72].mean()) > float(err[10:55].mean()) * 10


def test_char_demo_units_quoted_in_the_docs_do_what_the_docs_say():
    """docs/demos.md: c[107] grows with indentation, h[37] is low inside brackets."""
    s = Session()
    open_demo(s, "char_python")
    tr = s.retrace()
    text = "".join(spec_tokens(s.input_spec)[0])
    feats = python_text_features(text)
    c107 = tr.c[0, 0, :, 0, 107:108].numpy()
    h37 = tr.h[0, 0, :, 0, 37:38].numpy()
    assert signal_correlation(c107, feats["indent"])[0] > 0.5
    inside = (feats["bracket_depth"] > 0) & (feats["in_string"] == 0)
    assert signal_correlation(h37, inside.astype(float))[0] < -0.5


def test_units_json_matches_the_trained_models():
    report = json.loads((RESOURCES / "models" / "units.json").read_text())
    train = report["char_python"]["train"]
    ck = torch.load(RESOURCES / "models" / "char_python.pt", weights_only=True)
    assert math.isclose(train["val_loss"], ck["train"]["val_loss"])


def test_sample_csv_has_a_header_and_one_column():
    lines = (RESOURCES / "samples" / "sine.csv").read_text().splitlines()
    assert lines[0] == "x" and len(lines) == 121
    values = np.array([float(v) for v in lines[1:]])
    assert np.abs(values).max() <= 1.0


def test_training_scripts_run_briefly(tmp_path):
    """The scripts `make demos` runs work end to end (a few steps, into tmp_path)."""
    for script, args in (("train_sine.py", ["--steps", "3", "--samples", str(tmp_path)]),
                         ("train_char_python.py", ["--steps", "2", "--max-chars", "20000",
                                                   "--batch", "4"])):
        result = subprocess.run([sys.executable, str(RESOURCES / "models" / script), *args,
                                 "--out", str(tmp_path)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
    assert load_model(tmp_path / "sine_forecaster.pt").pick().config.hidden_size == 32
    assert load_model(tmp_path / "char_python.pt").vocab[1] == "\n"
    assert (tmp_path / "sine.csv").is_file()


def test_demo_list_errors_are_clear(tmp_path):
    (tmp_path / "demos.json").write_text("{")
    with pytest.raises(ValueError, match="cannot read the demo list"):
        list_demos(tmp_path / "demos.json")
    (tmp_path / "demos.json").write_text(json.dumps({"demos": [
        {"name": "x", "title": "X", "description": "d", "model": "missing.pt"}]}))
    with pytest.raises(ValueError, match="missing.pt is missing; run `make demos`"):
        open_demo(Session(), "x", tmp_path / "demos.json")
    with pytest.raises(ValueError, match="no demo called 'y'"):
        open_demo(Session(), "y", tmp_path / "demos.json")
    assert DEMOS_FILE.is_file()
