"""The loop's compiled steps: built from the shipped C source on first use, cached, checked
against torch before they are trusted, and equal to nn.LSTM wherever they run; with no compiler,
a failed build, a wrong build or the switch off, traces take torch's calls and say so."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lstm_refs import model_and_input, native_or_skip
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from lstm_viz import trace
from lstm_viz.tracing import _buffers, _native, release_buffers
from lstm_viz.tracing.edits import StateEdit

REAL_SOURCE = _native.SOURCE


@pytest.fixture(autouse=True)
def the_loop(monkeypatch):
    """These tests are about the compiled loop: traces take it rather than measuring."""
    monkeypatch.setenv("LSTM_VIZ_METHOD", "loop")


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process that has not tried the compiled code yet, with an empty cache of its own."""
    monkeypatch.setattr(_native, "_NATIVE", None)
    monkeypatch.setattr(_native, "_TRIED", False)
    cache = tmp_path / "cache"
    monkeypatch.setattr(_native, "_cache_dir", lambda: cache)
    return cache


def _broken_source(tmp_path, old, new):
    """The shipped source with one change, as a file of its own."""
    text = REAL_SOURCE.read_text()
    assert old in text
    path = tmp_path / "broken.c"
    path.write_text(text.replace(old, new))
    return path


def _lstm_matches(lstm, x, method="auto", **tol):
    with torch.no_grad():
        out, (h_n, c_n) = lstm(x)
    tr = trace(lstm, x, method=method)
    data = (lambda o: o.data) if isinstance(out, nn.utils.rnn.PackedSequence) else (lambda o: o)
    torch.testing.assert_close(data(tr.output), data(out), **tol)
    torch.testing.assert_close(tr.h_n, h_n, **tol)
    torch.testing.assert_close(tr.c_n, c_n, **tol)
    return tr


def test_the_shipped_source_builds_into_the_cache_and_loads_from_it_next_time(fresh,
                                                                              monkeypatch):
    compiled = native_or_skip()
    built = list(fresh.glob("lstm_viz_step-*.so"))
    assert len(built) == 1 and compiled.isa in built[0].name
    # beside it, the digest of the build that passed the check; nothing else is left there
    record = built[0].with_name(built[0].name + ".sha256")
    assert record.read_text().strip() == hashlib.sha256(built[0].read_bytes()).hexdigest()
    assert sorted(fresh.iterdir()) == sorted([built[0], record])
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    # a second process finds the library: no compiler is run
    monkeypatch.setattr(_native, "_NATIVE", None)
    monkeypatch.setattr(_native, "_TRIED", False)

    def no_compiler(*args, **kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(_native, "_build", no_compiler)
    assert _native.native() is not None


@pytest.mark.parametrize("kw, lengths", [
    (dict(input_size=7, hidden_size=300), None),
    (dict(input_size=7, hidden_size=300, num_layers=2, bidirectional=True), None),
    (dict(input_size=7, hidden_size=300, num_layers=2, bidirectional=True, batch_first=True),
     [9, 4, 12, 1, 12, 7, 3, 12, 12, 5, 8, 2, 12, 11, 6, 10]),
    (dict(input_size=7, hidden_size=300, num_layers=2, proj_size=40), None),
])
def test_the_compiled_loop_equals_nn_lstm_on_steps_large_enough_for_threads(kw, lengths):
    """16 x 300 cells a step: above MIN_PARALLEL, so the element-wise work is split over
    threads; hidden 300 is no multiple of the chunk or of any vector width."""
    compiled = native_or_skip()
    assert 16 * 300 >= _native.MIN_PARALLEL
    lstm, x = model_and_input(kw, lengths, 12, 16, seed=0)
    tr = _lstm_matches(lstm, x, atol=2e-6, rtol=0)
    assert f"step={compiled.name}" in tr.meta["kernels"]


def test_saturated_gates_and_a_nan_go_through_as_in_nn_lstm():
    native_or_skip()
    torch.manual_seed(1)
    lstm = nn.LSTM(3, 24).eval()
    with torch.no_grad():
        for p in lstm.parameters():
            p.mul_(30.0)  # pre-activations in the hundreds: exp overflows, gates hit 0 and 1
    x = torch.randn(10, 2, 3) * 5
    x[4, 1, 0] = float("nan")
    with torch.no_grad():
        out, _ = lstm(x)
    tr = trace(lstm, x)
    assert torch.isnan(out[4:, 1]).all() and not torch.isnan(out[:, 0]).any()
    torch.testing.assert_close(tr.output, out, atol=2e-6, rtol=0, equal_nan=True)
    assert ((tr.gates[0, 0, :, 0] == 0) | (tr.gates[0, 0, :, 0] == 1)).any()


def test_an_edit_splits_the_run_of_steps_and_holds_its_value():
    """Steps before and after an edited step run in C, the edited step in torch."""
    native_or_skip()
    torch.manual_seed(2)
    lstm = nn.LSTM(4, 32, bidirectional=True).eval()
    x = torch.randn(9, 3, 4)
    tr = trace(lstm, x, overrides=[StateEdit("c", 4, 0, 1, 2, 5, 1.75)])
    assert float(tr.c[0, 1, 4, 2, 5]) == 1.75
    # by hand: the reverse direction, c clamped at position 4 before h = o * tanh(c) reads it
    w_ih, w_hh = lstm.weight_ih_l0_reverse, lstm.weight_hh_l0_reverse
    bias = lstm.bias_ih_l0_reverse + lstm.bias_hh_l0_reverse
    h, c = torch.zeros(3, 32), torch.zeros(3, 32)
    with torch.no_grad():
        for t in range(8, -1, -1):
            i, f, g, o = (x[t] @ w_ih.t() + h @ w_hh.t() + bias).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            if t == 4:
                c[2, 5] = 1.75
            h = torch.sigmoid(o) * torch.tanh(c)
            torch.testing.assert_close(tr.c[0, 1, t], c, atol=2e-6, rtol=0)
            torch.testing.assert_close(tr.h[0, 1, t], h, atol=2e-6, rtol=0)


def test_trace_steps_says_what_computes_the_steps_and_builds_only_when_asked(fresh):
    from lstm_viz import trace_steps

    assert trace_steps(build=False) == "not built yet (the first trace builds it)"
    assert not fresh.exists()
    compiled = native_or_skip()
    assert trace_steps(build=False) == trace_steps() == f"compiled C loop ({compiled.name})"


def test_turned_off_it_is_not_built_and_traces_take_torch_calls(fresh, monkeypatch, caplog):
    monkeypatch.setenv(_native.ENV_SWITCH, "0")
    with caplog.at_level(logging.INFO, logger="lstm_viz.tracing"):
        assert _native.native() is None
    assert not fresh.exists()
    assert any("turned off by LSTM_VIZ_NATIVE" in r.getMessage() for r in caplog.records)
    torch.manual_seed(3)
    tr = _lstm_matches(nn.LSTM(5, 64).eval(), torch.randn(6, 4, 5), atol=2e-6, rtol=0)
    assert "native" not in tr.meta["kernels"]


def test_elsewhere_than_x86_64_linux_it_is_not_built(fresh, monkeypatch):
    monkeypatch.setattr(_native.platform, "machine", lambda: "arm64")
    assert _native.native() is None and not fresh.exists()
    assert _native.describe() == "torch calls (built only on x86-64 Linux, not " \
        f"{_native.sys.platform} arm64)"


def test_with_no_compiler_traces_take_torch_calls_and_the_log_says_why(fresh, monkeypatch,
                                                                       caplog):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    with caplog.at_level(logging.INFO, logger="lstm_viz.tracing"):
        assert _native.native() is None
        assert _native.native() is None  # tried once
    lines = [r.getMessage() for r in caplog.records if "element-wise step" in r.getMessage()]
    assert len(lines) == 1 and "/nonexistent/cc did not run" in lines[0]
    torch.manual_seed(4)
    x = torch.randn(6, 4, 5)
    tr = _lstm_matches(nn.LSTM(5, 64, bidirectional=True).eval(), x, atol=2e-6, rtol=0)
    assert "native" not in tr.meta["kernels"]


def test_a_source_that_does_not_compile_falls_back_with_the_compilers_first_line(
        fresh, monkeypatch, tmp_path, caplog):
    if _native.native() is None:
        pytest.skip("no compiled code here to break")
    monkeypatch.setattr(_native, "_NATIVE", None)
    monkeypatch.setattr(_native, "_TRIED", False)
    monkeypatch.setattr(_native, "SOURCE", _broken_source(tmp_path, "#define CHUNK 256",
                                                          "#define CHUNK 256 +"))
    with caplog.at_level(logging.INFO, logger="lstm_viz.tracing"):
        assert _native.native() is None
    assert any("failed:" in r.getMessage() for r in caplog.records)


def test_a_build_whose_step_is_wrong_is_never_used(fresh, monkeypatch, tmp_path, caplog):
    native_or_skip()
    monkeypatch.setattr(_native, "_NATIVE", None)
    monkeypatch.setattr(_native, "_TRIED", False)
    monkeypatch.setattr(_native, "SOURCE", _broken_source(
        tmp_path, "const float f = 1.0f / (1.0f + expf(-zf[j]));",
        "const float f = 1.0f / (1.0f + expf(zf[j]));"))
    with caplog.at_level(logging.INFO, logger="lstm_viz.tracing"):
        assert _native.native() is None
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "disagrees with torch" in warning[0].getMessage()
    torch.manual_seed(5)
    _lstm_matches(nn.LSTM(5, 64).eval(), torch.randn(6, 4, 5), atol=2e-6, rtol=0)


def test_a_build_whose_loop_is_wrong_keeps_only_its_checked_step(fresh, monkeypatch, tmp_path,
                                                                  caplog):
    native_or_skip()
    monkeypatch.setattr(_native, "_NATIVE", None)
    monkeypatch.setattr(_native, "_TRIED", False)
    # the recurrent product overwrites the input projection instead of adding to it
    monkeypatch.setattr(_native, "SOURCE", _broken_source(
        tmp_path, "whh, (int)K, 1.0f, zt, (int)z_rs);", "whh, (int)K, 0.0f, zt, (int)z_rs);"))
    with caplog.at_level(logging.INFO, logger="lstm_viz.tracing"):
        compiled = _native.native()
    assert compiled is not None and compiled.loop is None
    assert compiled.name == f"native_step_{compiled.isa}"
    assert any("compiled loop disagrees" in r.getMessage() for r in caplog.records)
    torch.manual_seed(6)
    tr = _lstm_matches(nn.LSTM(5, 64, num_layers=2, proj_size=9).eval(), torch.randn(6, 4, 5),
                       method="loop", atol=2e-6, rtol=0)
    assert f"step=native_step_{compiled.isa}" in tr.meta["kernels"]


def test_a_build_whose_cell_scan_is_wrong_keeps_it_out_and_the_layered_method_scans_in_torch(
        fresh, monkeypatch, tmp_path, caplog):
    native_or_skip()
    monkeypatch.setattr(_native, "_NATIVE", None)
    monkeypatch.setattr(_native, "_TRIED", False)
    # each step reads c_0 instead of the previous step's c
    monkeypatch.setattr(_native, "SOURCE", _broken_source(tmp_path, "cp = ct;", "(void)ct;"))
    with caplog.at_level(logging.INFO, logger="lstm_viz.tracing"):
        compiled = _native.native()
    assert compiled is not None and compiled.loop is not None
    assert not compiled.scans and compiled.act_scan is None
    assert sum("scan disagrees" in r.getMessage() for r in caplog.records) == 2
    assert any("scan with activations disagrees" in r.getMessage() for r in caplog.records)
    torch.manual_seed(7)
    tr = _lstm_matches(nn.LSTM(5, 64, bidirectional=True).eval(), torch.randn(6, 4, 5),
                       method="layered", atol=2e-6, rtol=0)
    assert tr.meta["kernels"].endswith("scan=torch_scan")


def test_a_build_whose_fused_activations_are_wrong_keeps_only_its_plain_scans(
        fresh, monkeypatch, tmp_path, caplog):
    native_or_skip()
    monkeypatch.setattr(_native, "_NATIVE", None)
    monkeypatch.setattr(_native, "_TRIED", False)
    monkeypatch.setattr(_native, "SOURCE", _broken_source(
        tmp_path, "zo[j] = 1.0f / (1.0f + expf(-zo[j]));", "zo[j] = 1.0f / (1.0f + expf(zo[j]));"))
    with caplog.at_level(logging.INFO, logger="lstm_viz.tracing"):
        compiled = _native.native()
    assert compiled is not None and compiled.act_scan is None
    assert set(compiled.scans) == {torch.float32, torch.float64}
    assert any("scan with activations disagrees" in r.getMessage() for r in caplog.records)
    torch.manual_seed(8)
    tr = _lstm_matches(nn.LSTM(5, 64, num_layers=2).eval(), torch.randn(6, 4, 5),
                       method="layered", atol=2e-6, rtol=0)
    assert tr.meta["kernels"].endswith("scan=native_scan")


def test_an_unusable_cached_file_is_rebuilt_elsewhere(fresh):
    compiled = native_or_skip()
    [built] = fresh.glob("lstm_viz_step-*.so")
    _native.reset()
    built.unlink()  # a new file, as another process would leave it (this one maps the old)
    built.write_bytes(b"not a shared library")
    assert _native.native() is not None and _native.native().name == compiled.name


def test_a_cached_file_others_may_write_is_not_loaded_but_rebuilt(fresh):
    native_or_skip()
    [built] = fresh.glob("lstm_viz_step-*.so")
    _native.reset()
    built.unlink()
    built.write_bytes(b"planted")
    built.chmod(0o666)  # anyone could have written it
    assert _native.native() is not None
    assert built.read_bytes()[:4] == b"\x7fELF" and not built.stat().st_mode & 0o022


def test_a_missing_source_falls_back_with_its_reason(fresh, monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(_native, "SOURCE", tmp_path / "_native_step.c")
    with caplog.at_level(logging.INFO, logger="lstm_viz.tracing"):
        assert _native.native() is None
    assert any("is not installed" in r.getMessage() for r in caplog.records)


def test_a_library_that_loads_nowhere_falls_back_instead_of_failing_the_trace(fresh,
                                                                               monkeypatch,
                                                                               caplog):
    if shutil.which(os.environ.get("CC") or "cc") is None:
        pytest.skip("no compiler to build the library with")
    real_cdll = _native.ctypes.CDLL

    def noexec(path, *args, **kwargs):  # as on a cache and a /tmp mounted noexec
        if path and "lstm_viz_step" in str(path):  # a build, under its final or temporary name
            raise OSError(f"{path}: failed to map segment from shared object")
        return real_cdll(path, *args, **kwargs)

    monkeypatch.setattr(_native.ctypes, "CDLL", noexec)
    with caplog.at_level(logging.INFO, logger="lstm_viz.tracing"):
        assert _native.native() is None
    assert any("does not load here" in r.getMessage() for r in caplog.records)
    torch.manual_seed(9)
    _lstm_matches(nn.LSTM(5, 64).eval(), torch.randn(6, 4, 5), atol=2e-6, rtol=0)


def test_an_unwritable_cache_builds_into_a_folder_of_its_own(fresh, monkeypatch):
    if os.geteuid() == 0:
        # root writes anywhere: point the cache under a file, which no one can create
        blocker = fresh.parent / "a file"
        blocker.write_text("")
        monkeypatch.setattr(_native, "_cache_dir", lambda: blocker / "native")
    else:
        fresh.mkdir()
        fresh.chmod(stat.S_IRUSR | stat.S_IXUSR)
    native_or_skip()


# A process of its own per run below: a library that should never be loaded could crash the one
# that loads it (a truncated file is a SIGBUS), and its constructor runs there.
CHILD = """
import logging, os, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")
import torch
from torch import nn
from lstm_viz import trace, trace_steps
from lstm_viz.tracing import _native
if "TEST_COMPILE_TIMEOUT_S" in os.environ:
    _native.COMPILE_TIMEOUT_S = float(os.environ["TEST_COMPILE_TIMEOUT_S"])
torch.manual_seed(0)
lstm, x = nn.LSTM(3, 8).eval(), torch.randn(4, 2, 3)
tr = trace(lstm, x)
with torch.no_grad():
    torch.testing.assert_close(tr.output, lstm(x)[0], atol=2e-6, rtol=0)
print("steps:", trace_steps())
print("kernels:", tr.meta["kernels"])
"""

# A library that says it ran: its constructor writes the file $PLANTED_MARKER names.
PLANTED = """
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void planted(void) {
    const char *path = getenv("PLANTED_MARKER");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) { fputs("ran\\n", f); fclose(f); }
}
#ifdef WITH_STEP
void lstm_viz_step(void) {}
void lstm_viz_loop(void) {}
#endif
"""


def _run_child(tmp_path, timeout_s=300, **env):
    """CHILD in a new process whose cache is under ``tmp_path``: (exit status, what it printed,
    seconds). Its process group is killed where it runs past ``timeout_s``."""
    full = {k: v for k, v in os.environ.items() if k not in ("CC", _native.ENV_SWITCH)}
    full.update(XDG_CACHE_HOME=str(tmp_path / "xdg"), PLANTED_MARKER=str(tmp_path / "marker"),
                **env)
    out_path = tmp_path / "child.out"
    start = time.monotonic()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=out, stderr=out,
                                env=full, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"still running after {timeout_s} s:\n{out_path.read_text()}")
    return code, out_path.read_text(), time.monotonic() - start


def _cache_of(tmp_path):
    return tmp_path / "xdg" / "lstm-viz" / "native"


def _library_in(folder):
    [library] = folder.glob("lstm_viz_step-*.so")
    return library, library.with_name(library.name + ".sha256")


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory):
    """A cache as a first run leaves it, built in a process of its own, to copy."""
    tmp = tmp_path_factory.mktemp("built")
    code, out, _ = _run_child(tmp)
    if "steps: compiled C" not in out:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the compiled steps did not build on this CI machine:\n{out}")
        last = out.strip().splitlines()[-1] if out.strip() else "no output"
        pytest.skip(f"the compiled steps do not build here ({last})")
    assert code == 0, out
    return tmp / "xdg"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Two libraries whose constructor writes a marker: "bare" (no symbols of ours) and "step"
    (lstm_viz_step and lstm_viz_loop that do nothing)."""
    compiler = shutil.which(os.environ.get("CC") or "cc")
    if compiler is None:
        pytest.skip("no compiler to build the planted library with")
    tmp = tmp_path_factory.mktemp("planted")
    source = tmp / "planted.c"
    source.write_text(PLANTED)
    for kind, defines in (("bare", []), ("step", ["-DWITH_STEP"])):
        subprocess.run([compiler, "-shared", "-fPIC", *defines, "-o", str(tmp / f"{kind}.so"),
                        str(source)], check=True, timeout=300)
    return {kind: (tmp / f"{kind}.so").read_bytes() for kind in ("bare", "step")}


def _copy_built(built_cache, tmp_path):
    shutil.copytree(built_cache, tmp_path / "xdg")
    return _library_in(_cache_of(tmp_path))


def _replace(path, data):
    """``data`` in a new file at ``path``, as another process would leave it."""
    path.unlink()
    path.write_bytes(data)
    path.chmod(0o700)


def test_a_library_planted_under_the_cache_name_is_never_loaded_but_rebuilt(built_cache,
                                                                           planted, tmp_path):
    library, record = _copy_built(built_cache, tmp_path)
    _replace(library, planted["step"])
    code, out, _ = _run_child(tmp_path)
    assert code == 0, out
    assert not (tmp_path / "marker").exists(), "the planted library was loaded"
    assert "steps: compiled C loop" in out and "step=native_loop_" in out
    assert library.read_bytes() != planted["step"]
    assert record.read_text().strip() == hashlib.sha256(library.read_bytes()).hexdigest()


def test_a_truncated_cached_library_is_rebuilt_not_loaded(built_cache, tmp_path):
    library, record = _copy_built(built_cache, tmp_path)
    whole = library.read_bytes()
    with open(library, "r+b") as f:
        f.truncate(len(whole) // 2)
    code, out, _ = _run_child(tmp_path)
    assert code == 0, out  # not killed by SIGBUS
    assert "steps: compiled C loop" in out
    assert len(library.read_bytes()) == len(whole)
    assert record.read_text().strip() == hashlib.sha256(library.read_bytes()).hexdigest()


@pytest.mark.parametrize("level", ["native", "lstm-viz"])
def test_a_cache_folder_others_may_write_is_not_trusted(built_cache, planted, tmp_path, level):
    """Whoever may write the folder may write the library and its record both: neither is
    read, the library is built in a private folder instead, and the log says why."""
    library, record = _copy_built(built_cache, tmp_path)
    _replace(library, planted["step"])
    record.write_text(hashlib.sha256(planted["step"]).hexdigest() + "\n")
    folder = tmp_path / "xdg" / "lstm-viz" / ("native" if level == "native" else "")
    folder.chmod(0o770)
    code, out, _ = _run_child(tmp_path)
    assert code == 0, out
    assert not (tmp_path / "marker").exists(), "the planted library was loaded"
    assert f"others may write {folder} (mode 770)" in out, out
    assert "steps: compiled C loop" in out
    assert library.read_bytes() == planted["step"]  # not written to either


def test_a_compiler_that_hangs_is_stopped_and_traces_take_torch_calls(tmp_path):
    """$CC never finishes (nor the process it starts): stopped after COMPILE_TIMEOUT_S, both
    of them, and the trace says why it takes torch calls."""
    pid_file = tmp_path / "sleep.pid"
    cc = tmp_path / "hanging-cc"
    cc.write_text(f"#!/bin/sh\nsh -c 'echo $$ > \"$0\"; exec sleep 600' {pid_file}\n")
    cc.chmod(0o755)
    code, out, seconds = _run_child(tmp_path, timeout_s=240, CC=str(cc),
                                    TEST_COMPILE_TIMEOUT_S="1")
    assert code == 0, out
    assert seconds < 200
    assert f"steps: torch calls ({cc} did not finish within 1 s and was stopped)" in out
    assert "native" not in out.split("kernels:")[1]
    pid = int(pid_file.read_text())
    for _ in range(300):  # killed: gone, or a zombie until its new parent reaps it
        try:
            state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the compiler's child is still running")
    assert list(_cache_of(tmp_path).iterdir()) == []


@pytest.mark.parametrize("writes, reason", [
    ("garbage", "does not load here"),
    ("nothing", "reported success but wrote no library"),
    ("bare", "lacks its functions"),
    ("step", "self-check failed"),
])
def test_a_compiler_that_lies_is_not_trusted_nor_kept_for_the_next_run(planted, tmp_path,
                                                                        writes, reason):
    """$CC exits 0 having written something else: the trace takes torch calls and says why,
    and the next run, with the real compiler, neither loads nor keeps it."""
    lie = tmp_path / "lie.so"
    lie.write_bytes(b"\x7fELF garbage" * 100 if writes == "garbage" else
                    planted.get(writes, b""))
    copy = "" if writes == "nothing" else f'cp {lie} "$out"'
    cc = tmp_path / "lying-cc"
    cc.write_text('#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done\n'
                  f"{copy}\nexit 0\n")
    cc.chmod(0o755)
    code, out, _ = _run_child(tmp_path, CC=str(cc))
    assert code == 0, out
    assert "steps: torch calls (" in out and reason in out, out
    assert list(_cache_of(tmp_path).iterdir()) == []
    if writes not in planted:
        return
    (tmp_path / "marker").unlink()  # its own $CC: what it wrote ran once, in that run
    code, out, _ = _run_child(tmp_path)
    assert code == 0, out
    assert not (tmp_path / "marker").exists(), "the lying compiler's library was loaded again"
    if "steps: compiled C" in out:
        library, record = _library_in(_cache_of(tmp_path))
        assert record.read_text().strip() == hashlib.sha256(library.read_bytes()).hexdigest()


def test_large_buffers_go_back_to_the_pool_and_serve_the_next_trace(monkeypatch):
    monkeypatch.setattr(_buffers, "MIN_POOLED", 1 << 16)  # small traces, same path
    _buffers.release()
    torch.manual_seed(7)
    lstm = nn.LSTM(4, 64).eval()
    x = torch.randn(50, 8, 4)
    first = trace(lstm, x)
    gates_at = first.gates.data_ptr()
    assert _buffers.pooled_bytes() == 0
    second = trace(lstm, x)  # the first is alive: the second has memory of its own
    assert second.gates.data_ptr() != gates_at
    del first
    assert _buffers.pooled_bytes() > 0
    third = _lstm_matches(lstm, x, atol=2e-6, rtol=0)
    assert gates_at in (third.gates.data_ptr(), third.c.data_ptr(), third.h.data_ptr())
    torch.testing.assert_close(third.gates, second.gates, rtol=0, atol=0)
    _buffers.release()
    assert _buffers.pooled_bytes() == 0


def test_the_pool_keeps_at_most_its_limit(monkeypatch):
    monkeypatch.setattr(_buffers, "MIN_POOLED", 1 << 16)
    monkeypatch.setattr(_buffers, "POOL_LIMIT", 3 << 20)
    _buffers.release()
    like = torch.zeros(1)
    bufs = [_buffers.empty(1 << 18, like=like) for _ in range(5)]  # 1 MiB each
    del bufs
    assert _buffers.pooled_bytes() == 3 << 20
    _buffers.release()


def test_releasing_the_pool_can_keep_its_largest_buffer(monkeypatch):
    monkeypatch.setattr(_buffers, "MIN_POOLED", 1 << 16)
    _buffers.release()
    like = torch.zeros(1)
    bufs = [_buffers.empty(n << 16, like=like) for n in (2, 5, 3)]  # 0.5, 1.25, 0.75 MiB
    del bufs
    assert _buffers.pooled_bytes() == 10 << 18
    release_buffers(keep=1)
    assert _buffers.pooled_bytes() == 5 << 18
    release_buffers()
    assert _buffers.pooled_bytes() == 0


@pytest.mark.parametrize("bidirectional, lengths", [(False, None), (True, [40, 17, 33]),
                                                   (True, None)])
def test_windows_traced_in_c_equal_the_full_trace_and_nn_lstm(bidirectional, lengths):
    from lstm_viz.tracing import checkpoints, trace_window

    native_or_skip()
    torch.manual_seed(8)
    lstm = nn.LSTM(6, 48, num_layers=2, bidirectional=bidirectional).eval()
    x = torch.randn(40, 3, 6)
    inp = x if lengths is None else pack_padded_sequence(x, torch.tensor(lengths),
                                                         enforce_sorted=False)
    full = _lstm_matches(lstm, inp, atol=2e-6, rtol=0)
    ckpt = checkpoints(lstm, inp, every=8)
    assert ckpt.method == "loop"
    for start, stop in ((0, 9), (13, 29), (31, 40)):
        win = trace_window(ckpt, start, stop, packed=lengths is not None)
        for name in ("gates", "c", "h"):
            torch.testing.assert_close(getattr(win, name), getattr(full, name)[:, :, start:stop],
                                       atol=2e-6, rtol=0, equal_nan=True)
