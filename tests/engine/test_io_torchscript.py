"""TorchScript files (torch.jit.save) are read as data: their module tree and tensors through
the restricted unpickler and their source scanned as text, never torch.jit.load. What is found
equals what torch.jit.load would give, and nothing written in the archive ever runs."""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from lstm_viz.config import LSTMConfig
from lstm_viz.formats.loader import load_model
from lstm_viz.formats.torchscript import read_torchscript


def _script_save(module: nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():  # torch.jit.script is deprecated, not yet gone
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(module).save(str(path))
    return path


def _jit_load(path: Path):
    """torch.jit.load: only here, on files the test wrote itself, as the reference."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu")


class Mixed(nn.Module):
    """Two LSTMs that script to two classes (one name-mangled), cells in a ModuleList, a buffer
    and a head."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, 3)
        self.a = nn.LSTM(3, 5, batch_first=True)
        self.b = nn.LSTM(5, 4, num_layers=2, bidirectional=True, proj_size=2, dropout=0.25)
        self.cells = nn.ModuleList([nn.LSTMCell(3, 4), nn.LSTMCell(4, 4)])
        self.register_buffer("scale", torch.full((2,), 0.5))
        self.head = nn.Linear(4, 6)

    def forward(self, x):
        y = self.b(self.a(self.embed(x))[0].transpose(0, 1))[0]
        return self.head(y) * self.scale.sum()


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 6, num_layers=2, batch_first=True)
        self.out = nn.Linear(6, 3)

    def forward(self, x):
        return self.out(self.rnn(x)[0])


@pytest.mark.parametrize("make", [Mixed, Tagger, lambda: nn.LSTM(2, 3, bidirectional=True)])
def test_the_state_dict_and_modules_read_equal_what_torch_jit_load_gives(tmp_path, make):
    torch.manual_seed(0)
    path = _script_save(make().eval(), tmp_path / "m.pt")
    sd, modules = read_torchscript(path, 1 << 30)
    reference = _jit_load(path)
    ref_sd = reference.state_dict()
    assert list(sd) == list(ref_sd)
    for key, value in ref_sd.items():
        assert torch.equal(sd[key], value), key
    ref_modules = dict(reference.named_modules())
    assert list(modules) == list(ref_modules)
    for name, module in ref_modules.items():
        kind, settings = modules[name]
        assert kind == module.original_name, name
        for field in ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
                      "bidirectional", "proj_size", "dropout", "in_features", "out_features"):
            if isinstance(getattr(module, field, None), (bool, int, float)):
                assert settings[field] == getattr(module, field), (name, field)


def test_every_lstm_and_cell_of_a_scripted_model_opens_with_its_own_settings(tmp_path):
    torch.manual_seed(1)
    net = Mixed().eval()
    loaded = load_model(_script_save(net, tmp_path / "mixed.pt"))
    assert loaded.kind == "torchscript"
    by_name = {c.name: c for c in loaded.lstms}
    assert set(by_name) == {"a", "b", "cells.0", "cells.1", "cells.0+cells.1"}
    assert by_name["a"].batch_first is True and by_name["b"].batch_first is False
    assert by_name["b"].config == LSTMConfig(5, 4, num_layers=2, bidirectional=True,
                                             proj_size=2, dropout=0.25)
    assert by_name["a"].embedding_key == "embed.weight"
    x = torch.randn(2, 7, 3)
    with torch.no_grad():
        for name, theirs in (("a", net.a), ("b", net.b)):
            ours = by_name[name].build()
            inp = x if name == "a" else torch.randn(7, 2, 5)
            torch.testing.assert_close(ours(inp), theirs(inp), rtol=0, atol=0)


class Payload(nn.Module):
    """Restoring this module writes the file it names: its scripted __setstate__ maps the file
    with torch.from_file(shared=True), which creates it, and fill_ writes into it."""

    def __init__(self, target: str):
        super().__init__()
        self.target = target

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return (self.target, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        written = torch.from_file(state[0], shared=True, size=4).fill_(7)
        self.target = state[0] if bool(written.sum() > 0) else ""
        self.training = state[1]

    def forward(self, x):
        return x


class NetWithScriptedPayload(nn.Module):
    def __init__(self, target: str):
        super().__init__()
        self.rnn = nn.LSTM(3, 4)
        self.payload = Payload(target)

    def forward(self, x):
        return self.payload(self.rnn(x)[0])


def _payload_module(marker: str) -> nn.Module:
    return NetWithScriptedPayload(marker)


def test_a_scripted_setstate_that_writes_a_file_never_runs(tmp_path):
    marker = tmp_path / "written_by_the_file"
    torch.manual_seed(2)
    net = _payload_module(str(marker)).eval()
    path = _script_save(net, tmp_path / "payload.pt")
    assert not marker.exists()
    _jit_load(path)  # the payload is live: torch.jit.load runs it
    assert marker.exists()
    marker.unlink()

    loaded = load_model(path)
    assert not marker.exists()
    (cand,) = loaded.lstms
    x = torch.randn(5, 2, 3)
    with torch.no_grad():
        torch.testing.assert_close(cand.build()(x), net.rnn(x), rtol=0, atol=0)


def test_an_existing_user_file_is_not_overwritten_by_opening_a_scripted_model(tmp_path):
    victim = tmp_path / "notes.txt"
    path = _script_save(_payload_module(str(victim)).eval(), tmp_path / "payload.pt")
    victim.write_bytes(b"keep me")
    load_model(path)
    assert victim.read_bytes() == b"keep me"


def test_torchscript_files_open_without_torch_jit_load(tmp_path, monkeypatch):
    path = _script_save(Tagger().eval(), tmp_path / "tagger.pt")

    def refuse(*_args, **_kwargs):
        raise AssertionError("torch.jit.load must not be called")

    monkeypatch.setattr(torch.jit, "load", refuse)
    monkeypatch.setattr(torch._C, "import_ir_module", refuse)
    monkeypatch.setattr(torch._C, "import_ir_module_from_buffer", refuse)
    (cand,) = load_model(path).lstms
    assert cand.batch_first is True and cand.head is not None and cand.head.key == "out"


def test_code_added_to_an_archive_is_never_compiled_or_run(tmp_path):
    marker = tmp_path / "ran"
    path = _script_save(Tagger().eval(), tmp_path / "tagger.pt")
    edited = tmp_path / "edited.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(edited, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("code/__torch__.py"):
                data = data.replace(b"class Tagger(Module):", (
                    f"import os\nos.system('touch {marker}')\nopen({str(marker)!r}, 'w')\n"
                    "class Tagger(Module):").encode())
            dst.writestr(info, data)
    (cand,) = load_model(edited).lstms
    assert cand.config == LSTMConfig(4, 6, num_layers=2) and cand.batch_first is True
    assert not marker.exists()


def test_a_torchscript_archive_without_a_module_is_refused_in_one_line(tmp_path):
    path = tmp_path / "odd.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("odd/data.pkl", b"\x80\x02}q\x00.")  # an empty dict
        zf.writestr("odd/constants.pkl", b"\x80\x02).")
        zf.writestr("odd/code/__torch__.py", b"class Odd(Module):\n  pass\n")
    with pytest.raises(ValueError, match="holds no scripted module") as err:
        load_model(path)
    assert "\n" not in str(err.value)


def test_a_cut_short_torchscript_archive_is_called_damaged(tmp_path):
    path = _script_save(Tagger().eval(), tmp_path / "tagger.pt")
    damaged = tmp_path / "damaged.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(damaged, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info, data[: len(data) // 2] if info.filename.endswith("data.pkl")
                         else data)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_model(damaged)
    assert os.path.exists(damaged)
