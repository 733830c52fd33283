"""torch.save files are read without running code stored in them, and checked before they are
materialised: a file whose objects would write a marker file when unpickled never does, while
the LSTM inside still opens equal to the original."""

from __future__ import annotations

import builtins
import importlib
import os
import pickle
import struct
import sys
import time
import zipfile

import pytest
import torch
from torch import nn

import lstm_viz.formats.loader as lio
from lstm_viz.config import LSTMConfig
from lstm_viz.formats.loader import load_model
from lstm_viz.formats.safe_pickle import Placeholder, safe_load


class SystemPayload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


class ExecPayload:
    """Unpickling this runs Python code that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').close()",)


class _OsModule:
    """Pickles as importlib.import_module("os")."""

    def __reduce__(self):
        return importlib.import_module, ("os",)


class _SystemByGetattr:
    """Pickles as getattr(import_module("os"), "system"): a callable that is a call's result."""

    def __call__(self, *args):
        return os.system(*args)

    def __reduce__(self):
        return getattr, (_OsModule(), "system")


class GetattrPayload:
    """Unpickling this calls getattr(os, "system")("touch marker")."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return _SystemByGetattr(), (f"touch '{self.marker}'",)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 3)
        self.rnn = nn.LSTM(3, 4, batch_first=True, num_layers=2, dropout=0.25)
        self.fc = nn.Linear(4, 2)


_CUSTOM_MODULE = '''
import pathlib
class Payload:
    """Creating one (as unpickling would) writes the marker."""
    def __init__(self, marker):
        pathlib.Path(marker).write_text("ran")
        self.marker = marker
    def __reduce__(self):
        return Payload, (self.marker,)
'''


def _custom_payload(tmp_path, marker, name):
    """A Payload from a module made for this test; building it once writes ``marker``, which
    is removed again so that only unpickling could bring it back."""
    (tmp_path / f"{name}.py").write_text(_CUSTOM_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        obj = __import__(name).Payload(str(marker))
    finally:
        sys.path.remove(str(tmp_path))
    marker.unlink()
    return obj


def _same(a: nn.LSTM, b: nn.LSTM):
    x = torch.randn(2, 5, a.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(a.eval()(x)[0], b.eval()(x)[0])


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("payload", ["system", "exec", "getattr", "custom",
                                     "custom_importable"])
def test_payloads_nested_anywhere_never_run_and_the_lstm_still_loads(tmp_path, payload,
                                                                      legacy):
    marker = tmp_path / "marker"
    name = f"lstm_viz_payload_{payload}_{int(legacy)}"
    if payload == "system":
        evil = SystemPayload(marker)
    elif payload == "exec":
        evil = ExecPayload(marker)
    elif payload == "getattr":
        evil = GetattrPayload(marker)
    else:
        evil = _custom_payload(tmp_path, marker, name)
    sys.path.insert(0, str(tmp_path))  # the payload's module is importable while saving
    try:
        net = Tagger()
        net.payload = evil
        net.rnn.notes = [{"deep": (1, evil)}]
        ckpt = {"model": net, "args": {"evil": evil}, "extra": [evil],
                "state": net.state_dict()}
        torch.save(ckpt, tmp_path / "evil.pt", _use_new_zipfile_serialization=not legacy)
        if payload != "custom_importable":
            sys.modules.pop(name, None)
            sys.path.remove(str(tmp_path))
        loaded = load_model(tmp_path / "evil.pt")
    finally:
        if str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))
    assert not marker.exists()
    assert [c.name for c in loaded.lstms] == ["['model'] rnn", "['state'] rnn"]
    cand = loaded.lstms[0]
    assert cand.batch_first is True
    assert cand.config == LSTMConfig(3, 4, num_layers=2, dropout=0.25)
    assert cand.embedding_key == "embed.weight" and cand.head.key == "fc"
    _same(net.rnn, cand.build())
    assert loaded.lstms[1].config == LSTMConfig(3, 4, num_layers=2)  # a state dict: no dropout
    _same(net.rnn, loaded.lstms[1].build(batch_first=True))


def test_placeholders_record_the_class_and_the_pickled_attributes(tmp_path):
    net = Tagger()
    torch.save(net, tmp_path / "whole.pt")
    obj = safe_load(tmp_path / "whole.pt", 1 << 30)
    assert isinstance(obj, Placeholder) and obj.qualname.endswith("Tagger")
    rnn = obj.attributes()["_modules"]["rnn"]
    assert rnn.qualname == "torch.nn.modules.rnn.LSTM"
    attrs = rnn.attributes()
    assert attrs["batch_first"] is True and attrs["dropout"] == 0.25
    torch.testing.assert_close(attrs["_parameters"]["weight_hh_l1"], net.rnn.weight_hh_l1)


@pytest.mark.parametrize("unsafe", [False, True])
def test_whole_model_lists_its_modules_with_their_recorded_settings(tmp_path, unsafe):
    torch.save(Tagger(), tmp_path / "whole.pt")
    modules = load_model(tmp_path / "whole.pt", allow_pickle=unsafe).modules
    assert modules["rnn"] == {"kind": "LSTM", "input_size": 3, "hidden_size": 4,
                              "num_layers": 2, "bias": True, "batch_first": True,
                              "dropout": 0.25, "bidirectional": False, "proj_size": 0}
    assert modules["embed"] == {"kind": "Embedding", "num_embeddings": 10, "embedding_dim": 3}
    assert modules["fc"] == {"kind": "Linear", "in_features": 4, "out_features": 2}


def test_allow_pickle_still_means_the_full_torch_load(tmp_path):
    marker = tmp_path / "marker"
    torch.save({"model": nn.LSTM(2, 3).state_dict(), "evil": ExecPayload(marker)},
               tmp_path / "evil.pt")
    load_model(tmp_path / "evil.pt", allow_pickle=True)
    assert marker.exists()
    marker.unlink()
    torch.save({"model": nn.LSTM(2, 3).state_dict(), "evil": GetattrPayload(marker)},
               tmp_path / "evil2.pt")
    load_model(tmp_path / "evil2.pt", allow_pickle=True)
    assert marker.exists()  # the payload works when run


# ----- checked before materialised ------------------------------------------------------------
def test_stride_zero_tensors_are_refused_quickly(tmp_path):
    big = torch.zeros(1).expand(1 << 31)
    torch.save({"weight_ih_l0": big}, tmp_path / "expand.pt")
    assert (tmp_path / "expand.pt").stat().st_size < 4096
    start = time.perf_counter()
    with pytest.raises(ValueError, match="stride of 0"):
        load_model(tmp_path / "expand.pt")
    assert time.perf_counter() - start < 3


def test_overlapping_views_are_refused(tmp_path):
    t = torch.zeros(10).as_strided((5, 5), (1, 1))
    torch.save({"w": t}, tmp_path / "overlap.pt")
    with pytest.raises(ValueError, match="overlaps itself"):
        load_model(tmp_path / "overlap.pt")


def test_sparse_weights_are_refused_by_name(tmp_path):
    sd = nn.LSTM(3, 4).state_dict()
    sd["weight_ih_l0"] = sd["weight_ih_l0"].to_sparse()
    torch.save(sd, tmp_path / "sparse.pt")
    with pytest.raises(ValueError, match="sparse"):
        load_model(tmp_path / "sparse.pt")


@pytest.mark.parametrize("dtype", [torch.complex64, torch.int64])
def test_complex_and_integer_weights_are_refused_by_name(tmp_path, dtype):
    sd = nn.LSTM(3, 4).state_dict()
    sd["weight_hh_l0"] = sd["weight_hh_l0"].to(dtype)
    torch.save(sd, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match=f"weight_hh_l0 has dtype {dtype}; nn.LSTM weights must"
                                         " be real floating point"):
        load_model(tmp_path / "odd.pt")


def test_files_larger_than_the_memory_budget_are_refused(tmp_path, monkeypatch):
    torch.save(nn.LSTM(30, 30).state_dict(), tmp_path / "m.pt")
    monkeypatch.setattr(lio, "_memory_budget", lambda: 10_000)
    with pytest.raises(ValueError, match="more than 9.8 KiB of memory"):
        load_model(tmp_path / "m.pt")


def test_zip_listing_one_entry_many_times_is_refused_quickly(tmp_path):
    torch.save(nn.LSTM(3, 4).state_dict(), tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    eocd = data.rindex(b"PK\x05\x06")
    n, cd_size, cd_offset = struct.unpack("<HII", data[eocd + 10:eocd + 20])
    central = data[cd_offset:cd_offset + cd_size]
    first_len = 46 + sum(struct.unpack("<HHH", central[28:34]))
    record = central[:first_len]  # one entry's directory record, repeated 60 times more
    new_central = central + record * 60
    tail = bytearray(data[eocd:])
    struct.pack_into("<HHI", tail, 8, n + 60, n + 60, len(new_central))
    (tmp_path / "dup.pt").write_bytes(data[:cd_offset] + new_central + bytes(tail))
    with zipfile.ZipFile(tmp_path / "dup.pt") as zf:
        assert len(zf.infolist()) == n + 60  # a readable zip, just lying about its data
    start = time.perf_counter()
    with pytest.raises(ValueError, match="overlapping entries"):
        load_model(tmp_path / "dup.pt")
    assert time.perf_counter() - start < 3


def test_compressed_zip_bomb_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "bomb.pt", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        zf.writestr("archive/data/0", bytes(50_000_000))
    with pytest.raises(ValueError, match="zip bomb"):
        load_model(tmp_path / "bomb.pt")


class Expanded:
    """Unpickles (fully) into a (12, 2**26) stride-0 view of one zero: 3 GiB if copied."""

    def __reduce__(self):
        return torch.broadcast_to, (torch.zeros(1), (12, 1 << 26))


def test_stride_zero_weights_are_refused_after_a_full_load_too(tmp_path):
    sd = dict(nn.LSTM(2, 3).state_dict())
    sd["weight_ih_l0"] = Expanded()
    torch.save(sd, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="weight_ih_l0 missing"):  # read safely: no tensor
        load_model(tmp_path / "x.pt")
    with pytest.raises(ValueError, match="weight_ih_l0 is a tensor of shape .* stride of 0"):
        load_model(tmp_path / "x.pt", allow_pickle=True)


def test_many_views_of_one_storage_count_against_the_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(lio, "_memory_budget", lambda: 100_000)
    base = torch.zeros(1000)
    sd = dict(nn.LSTM(2, 3).state_dict())
    torch.save({**sd, "views": [base[:] for _ in range(100)]}, tmp_path / "views.pt")
    with pytest.raises(ValueError, match="more than 97.7 KiB of memory"):
        load_model(tmp_path / "views.pt")
    torch.save({**sd, "views": [base[:] for _ in range(10)]}, tmp_path / "few.pt")
    assert load_model(tmp_path / "few.pt").pick().config == LSTMConfig(2, 3)


class AttributeDict(dict):
    """A dict subclass with attribute access, as training libraries store hyperparameters."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


class TaggerWithHparams(Tagger):
    def __init__(self):
        super().__init__()
        self.hparams = AttributeDict(lr=0.01, hidden=6, tags=["a", "b"])


PROTOCOLS = [2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_placeholders_built_without_init_keep_their_arguments_items_and_state(tmp_path,
                                                                              protocol):
    # protocol 2 and later build such objects with cls.__new__(cls, *args), never __init__
    path = tmp_path / "objs.pt"
    torch.save({"hp": AttributeDict(lr=0.5), "version": torch.__version__,
                "net": TaggerWithHparams()}, path, pickle_protocol=protocol)
    obj = safe_load(path, 1 << 30)
    hp, version = obj["hp"], obj["version"]
    assert isinstance(hp, Placeholder) and hp.items == {"lr": 0.5}
    assert isinstance(version, Placeholder) and version.qualname.endswith("TorchVersion")
    assert str(torch.__version__) in [str(a) for a in version.args] + [str(version.state)]
    net = obj["net"]
    assert net.attributes()["hparams"].items == {"lr": 0.01, "hidden": 6, "tags": ["a", "b"]}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_whole_model_without_an_lstm_says_it_holds_none(tmp_path, protocol):
    path = tmp_path / "linear.pt"
    torch.save(nn.Sequential(nn.Linear(3, 4)), path, pickle_protocol=protocol)
    with pytest.raises(ValueError, match=r"holds no nn\.LSTM: found 0\.weight \(4, 3\)") as err:
        load_model(path)
    assert not isinstance(err.value, lio.PickleConsentNeeded)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_checkpoint_that_records_the_torch_version_opens(tmp_path, protocol):
    lstm = nn.LSTM(3, 4)
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": lstm.state_dict(), "torch_version": torch.__version__,
                "epoch": 3}, path, pickle_protocol=protocol)
    loaded = load_model(path)
    (cand,) = loaded.lstms
    assert cand.config == LSTMConfig(3, 4) and loaded.metadata["epoch"] == 3
    for key, value in lstm.state_dict().items():
        assert torch.equal(cand.state_dict[key], value)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_model_with_a_dict_subclass_attribute_opens_without_consent(tmp_path, protocol):
    net = TaggerWithHparams().eval()
    path = tmp_path / "hp.pt"
    torch.save(net, path, pickle_protocol=protocol)
    loaded = load_model(path)
    assert loaded.kind == "pickled_module"
    (cand,) = loaded.lstms
    assert cand.batch_first is True
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        torch.testing.assert_close(cand.build()(x), net.rnn(x), rtol=0, atol=0)


def test_a_whole_pickle_the_safe_reader_cannot_rebuild_is_not_called_corrupt(tmp_path,
                                                                            monkeypatch):
    path = tmp_path / "net.pt"
    torch.save(Tagger(), path)

    def fails(*_args, **_kwargs):
        raise TypeError("something the reader does not handle")

    monkeypatch.setattr(lio, "safe_load", fails)
    with pytest.raises(lio.PickleConsentNeeded) as err:
        load_model(path)
    assert "corrupt" not in str(err.value) and "--allow-pickle" in str(err.value)
def _deflated_copy(src, dst, extra: dict[str, bytes] | None = None):
    """The torch.save zip ``src`` rewritten with every entry deflated, plus ``extra`` entries."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
        for name, data in (extra or {}).items():
            zout.writestr(name, data)


def _sparse_bytes(n: int, every: int) -> bytes:
    """``n`` bytes of zeros with a random byte every ``every``: deflate shrinks it ~500-fold."""
    data = bytearray(n)
    noise = torch.randint(1, 255, (len(range(0, n, every)),), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    data[::every] = bytes(noise.tolist())
    return bytes(data)


def test_a_deflated_torch_file_opens_like_the_stored_one(tmp_path):
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4)
    torch.save(lstm.state_dict(), tmp_path / "ok.pt")
    _deflated_copy(tmp_path / "ok.pt", tmp_path / "deflated.pt")
    cand = load_model(tmp_path / "deflated.pt").pick()
    for key, value in lstm.state_dict().items():
        torch.testing.assert_close(cand.state_dict[key], value, rtol=0, atol=0)


def test_a_big_zip_entry_inflating_hundreds_fold_is_refused_in_seconds(tmp_path):
    torch.save(nn.LSTM(3, 4).state_dict(), tmp_path / "ok.pt")
    blob = _sparse_bytes(20 << 20, 4096)
    _deflated_copy(tmp_path / "ok.pt", tmp_path / "bomb.pt", {"archive/extra": blob})
    with zipfile.ZipFile(tmp_path / "bomb.pt") as zf:
        info = zf.getinfo("archive/extra")
        assert 200 < info.file_size / info.compress_size < 1000  # under the old 1000x limit
    start = time.perf_counter()
    with pytest.raises(ValueError, match="entry archive/extra would expand [0-9]+-fold, to"
                                         " 20.0 MiB \\(a zip bomb\\?\\); model files expand"
                                         " at most 100-fold"):
        load_model(tmp_path / "bomb.pt")
    assert time.perf_counter() - start < 30


def test_zip_entries_inflating_past_the_memory_budget_are_refused_before_reading(
        tmp_path, monkeypatch):
    torch.save(nn.LSTM(3, 4).state_dict(), tmp_path / "ok.pt")
    with zipfile.ZipFile(tmp_path / "ok.pt", "a") as zf:  # an entry no tensor refers to
        zf.writestr("archive/extra", bytes(2 << 20))
    monkeypatch.setattr(lio, "_memory_budget", lambda: 1 << 20)
    with pytest.raises(ValueError, match="ok.pt would need more than 1.0 MiB of memory: its"
                                         " entries inflate to 2.0 MiB \\(archive/extra: 2.0"
                                         " MiB\\); raise the memory budget"):
        load_model(tmp_path / "ok.pt")


def test_a_pickle_entry_larger_than_a_sixteenth_of_the_budget_is_refused(tmp_path,
                                                                          monkeypatch):
    sd = nn.LSTM(3, 4).state_dict()
    torch.save({"state_dict": sd, "notes": "x" * (17 << 20)}, tmp_path / "big.pt")
    monkeypatch.setattr(lio, "_memory_budget", lambda: 256 << 20)
    with pytest.raises(ValueError, match="big.pt: entry big/data.pkl holds 17.0 MiB, more than"
                                         " the 16.0 MiB lstm-viz reads for it"):
        load_model(tmp_path / "big.pt")
    monkeypatch.setattr(lio, "_memory_budget", lambda: 1 << 30)  # 64 MiB for the pickle
    assert load_model(tmp_path / "big.pt").pick().config == LSTMConfig(3, 4)


def test_zip_entries_compressed_with_bzip2_are_refused_by_name(tmp_path):
    torch.save(nn.LSTM(3, 4).state_dict(), tmp_path / "ok.pt")
    with zipfile.ZipFile(tmp_path / "ok.pt") as zin, \
            zipfile.ZipFile(tmp_path / "bz.pt", "w", zipfile.ZIP_BZIP2) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    with pytest.raises(ValueError, match="is compressed with a method \\(number 12\\) that"
                                         " PyTorch files never use"):
        load_model(tmp_path / "bz.pt")


class _Namespace:
    """What argparse.Namespace-like config objects pickle as: a class with a __dict__."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_a_lightning_style_checkpoint_opens_without_running_its_code(tmp_path):
    net = Tagger().eval()
    opt = torch.optim.Adam(net.parameters())
    ckpt = {
        "epoch": 4, "global_step": 1200, "pytorch-lightning_version": "2.4.0",
        "state_dict": {f"model.{k}": v for k, v in net.state_dict().items()},
        "hyper_parameters": AttributeDict(hidden=4, lr=1e-3, args=_Namespace(layers=2)),
        "hparams_name": "kwargs", "optimizer_states": [opt.state_dict()], "lr_schedulers": [],
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score":
                                                                  torch.tensor(0.25)}},
        "torch_version": torch.__version__,
    }
    path = tmp_path / "epoch=4.ckpt"
    torch.save(ckpt, path)
    loaded = load_model(path)
    (cand,) = loaded.lstms
    assert cand.name == "['state_dict'] model.rnn"
    assert loaded.metadata["epoch"] == 4
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        torch.testing.assert_close(cand.build(batch_first=True)(x), net.rnn(x), rtol=0, atol=0)
