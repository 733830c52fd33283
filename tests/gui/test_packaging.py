"""lstm-viz as it is installed: data files found with importlib.resources, what the wheel
holds, the About and Keyboard shortcuts dialogs, the icon and version on the application,
the desktop entry, and the refusal of a Qt binding that would crash."""

from __future__ import annotations

import configparser
import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication

import lstm_viz
from lstm_viz_app import cli, desktop, syscheck
from lstm_viz_app.about import AboutDialog
from lstm_viz_app.shortcuts import ShortcutsDialog, window_shortcuts

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]


def _tracked(folder: str) -> list[str]:
    try:
        res = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True,
                             text=True)
    except OSError:
        pytest.skip("git is not available")
    if res.returncode != 0 or not res.stdout:
        pytest.skip("not a git checkout")
    return res.stdout.split()


# ----- data files -------------------------------------------------------------------------
def test_demos_are_found_inside_the_installed_package_not_beside_it(tmp_path):
    """Laid out as pip installs it (resources/ inside lstm_viz/, no source tree around), the
    demos open from there."""
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "lstm_viz", site / "lstm_viz",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "resources", site / "lstm_viz" / "resources",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import lstm_viz.demos as d\n"
            "from lstm_viz import Session\n"
            "s = Session()\n"
            "demo, loaded, cand = d.open_demo(s, 'sine')\n"
            "print(d.RESOURCES)\n"
            "print(demo.model)\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={"PYTHONPATH": str(site), "PATH": ""})
    assert res.returncode == 0, res.stderr[-1500:]
    resources, model = res.stdout.split()
    assert Path(resources) == site / "lstm_viz" / "resources"
    assert Path(model).is_relative_to(site / "lstm_viz" / "resources" / "models")


def _build_wheel(out: Path) -> Path:
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("setuptools is not installed here (.ci/run builds the wheel)")
    if int(version.split(".")[0]) < 77:
        pytest.skip(f"setuptools {version} < 77 cannot build it offline (.ci/run does)")
    source = out / "source"  # the tracked files alone: no stale build/ folder to reuse
    for name in _tracked("."):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "-q", "-w", str(out), str(source)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return next(out.glob("lstm_viz-*.whl"))


def test_the_wheel_ships_every_resource_file_the_license_and_no_top_level_app(tmp_path):
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(f"{dist_info}/METADATA").decode()
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    shipped = {n.removeprefix("lstm_viz/") for n in names if n.startswith("lstm_viz/resources/")}
    missing = [f for f in _tracked("resources") if f not in shipped]
    assert missing == []
    assert {n.split("/")[0] for n in names} == {"lstm_viz", "lstm_viz_app", dist_info}
    assert f"{dist_info}/licenses/LICENSE" in names
    assert "License-Expression: MIT" in metadata
    assert "lstm-viz = lstm_viz_app.cli:main" in entry_points


def test_pyproject_excludes_the_none_leaking_binding_only_where_none_is_mortal():
    import tomllib
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    qt = sorted(d for d in deps if d.lower().startswith("pyside6"))
    assert qt == ["PySide6-Essentials>=6.7,!=6.12.0; python_version < '3.12'",
                  "PySide6-Essentials>=6.7; python_version >= '3.12'"]


# ----- the application --------------------------------------------------------------------
def test_the_application_carries_the_version_and_the_icon(qtbot):
    from lstm_viz_app.entry import make_app
    app = make_app()
    assert app.applicationVersion() == lstm_viz.__version__
    icon = app.windowIcon()
    assert not icon.isNull()
    assert icon.pixmap(64, 64).size().width() == 64
    assert desktop.ICON_SVG.is_file() and desktop.ICON_PNG.is_file()


def _trigger(window, menu_title: str, text: str) -> None:
    from PySide6.QtWidgets import QMenu
    menu = next(m for m in window.menuBar().findChildren(QMenu) if m.title() == menu_title)
    action = next(a for a in menu.actions() if a.text() == text)
    action.trigger()


def test_about_shows_the_versions_of_what_runs_and_the_devices(qtbot, window):
    import numpy
    import pyqtgraph
    import PySide6
    import torch
    from PySide6.QtCore import qVersion
    _trigger(window, "&Help", "About lstm-viz")
    dialog = window.findChild(AboutDialog)
    assert dialog is not None and dialog.isVisible()
    fields = {k: v.text() for k, v in dialog.fields.items()}
    assert fields["lstm-viz"] == lstm_viz.__version__
    assert fields["torch"] == torch.__version__
    assert fields["PySide6"] == PySide6.__version__ and fields["Qt"] == qVersion()
    assert fields["pyqtgraph"] == pyqtgraph.__version__
    assert fields["numpy"] == numpy.__version__
    assert fields["devices"].splitlines()[0] == "cpu"
    if not torch.cuda.is_available():
        assert "no cuda:" in fields["devices"]
    dialog.copy()
    copied = QApplication.clipboard().text()
    assert f"torch: {torch.__version__}" in copied and lstm_viz.__version__ in copied
    dialog.close()


def test_about_says_how_traces_compute_their_steps_here(qtbot, window, monkeypatch):
    import torch

    from lstm_viz.tracing import _native
    monkeypatch.setattr(_native, "_NATIVE", None)
    monkeypatch.setattr(_native, "_TRIED", False)
    monkeypatch.setattr(_native, "_REASON", "")
    dialog = AboutDialog(window)
    qtbot.addWidget(dialog)
    assert dialog.fields["trace steps"].text() == "not built yet (the first trace builds it)"
    monkeypatch.setenv(_native.ENV_SWITCH, "0")
    lstm_viz.trace(torch.nn.LSTM(2, 4), torch.zeros(3, 2))  # the first trace tries to build
    dialog = AboutDialog(window)
    qtbot.addWidget(dialog)
    assert dialog.fields["trace steps"].text() == \
        "torch calls (turned off by LSTM_VIZ_NATIVE)"
    dialog.copy()
    assert "trace steps: torch calls (turned off" in QApplication.clipboard().text()


def test_about_says_which_trace_method_was_chosen_and_why(qtbot, window, monkeypatch):
    import torch

    from lstm_viz.tracing import method_choice
    monkeypatch.setattr(method_choice, "_cache_path", lambda: None)  # nothing read or kept
    monkeypatch.delenv(method_choice.ENV_METHOD, raising=False)
    method_choice.forget()
    dialog = AboutDialog(window)
    qtbot.addWidget(dialog)
    assert dialog.fields["trace method"].text() == \
        "chosen by measuring, on the first trace of each size"
    torch.manual_seed(0)
    tr = lstm_viz.trace(torch.nn.LSTM(2, 4, num_layers=2), torch.zeros(300, 2))
    dialog = AboutDialog(window)
    qtbot.addWidget(dialog)
    shown = dialog.fields["trace method"].text()
    assert shown.startswith(f"{tr.method} for cpu/float32/") and tr.meta["method_why"] in shown
    assert " ms" in shown
    monkeypatch.setenv(method_choice.ENV_METHOD, "layered")
    dialog = AboutDialog(window)
    qtbot.addWidget(dialog)
    assert dialog.fields["trace method"].text() == "layered (forced by LSTM_VIZ_METHOD)"
    dialog.copy()
    assert "trace method: layered (forced by" in QApplication.clipboard().text()
    method_choice.forget()


def test_keyboard_shortcuts_list_every_action_with_a_key_even_one_added_later(qtbot, window):
    extra = QAction("Frobnicate", window)
    extra.setShortcut(QKeySequence("Ctrl+Alt+J"))
    window.transport.addAction(extra)
    _trigger(window, "&Help", "Keyboard shortcuts")
    dialog = window.findChild(ShortcutsDialog)
    assert dialog is not None and dialog.isVisible()
    table = dialog.table
    listed = {(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(table.rowCount())}
    expected = {(a.shortcut().toString(QKeySequence.SequenceFormat.NativeText),
                 a.text().replace("&", "").rstrip("…"))
                for a in window.findChildren(QAction) if not a.shortcut().isEmpty()}
    assert expected and listed == expected
    assert ("Ctrl+Alt+J", "Frobnicate") in listed
    assert ("Space", "Play") in listed and ("F1", "Keyboard shortcuts") in listed
    where = {r[1]: r[2] for r in window_shortcuts(window)}
    assert where["Play"] == "Transport" and where["Gates"] == "View"
    dialog.close()
    import gc
    gc.collect()  # listing them twice left every menu in place
    assert window_shortcuts(window) == window_shortcuts(window)
    from PySide6.QtWidgets import QMenu
    assert {"&File", "&View", "&Help"} <= {m.title() for m in
                                            window.menuBar().findChildren(QMenu)}


# ----- the desktop entry ------------------------------------------------------------------
def test_install_desktop_writes_the_entry_and_icons_whole(tmp_path):
    written = desktop.install_desktop(tmp_path, command="/opt/tools/bin/lstm-viz")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "applications/lstm-viz.desktop", "icons/hicolor/256x256/apps/lstm-viz.png",
        "icons/hicolor/scalable/apps/lstm-viz.svg"]
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(tmp_path / "applications" / "lstm-viz.desktop")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application" and section["Name"] == "lstm-viz"
    assert section["Exec"] == "/opt/tools/bin/lstm-viz"
    assert section["TryExec"] == "/opt/tools/bin/lstm-viz"
    assert section["Icon"] == "lstm-viz"
    assert (tmp_path / "icons/hicolor/256x256/apps/lstm-viz.png").read_bytes() == \
        desktop.ICON_PNG.read_bytes()
    leftovers = [p for p in tmp_path.rglob(".*")]
    assert leftovers == []  # no temporary file stays behind
    validator = shutil.which("desktop-file-validate")  # Debian: desktop-file-utils
    if validator:
        res = subprocess.run([validator, str(tmp_path / "applications" / "lstm-viz.desktop")],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr


def test_install_desktop_from_the_command_line_uses_xdg_data_home(tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert cli.main(["--install-desktop"]) == 0
    out = capsys.readouterr().out.split()
    assert str(tmp_path / "applications" / "lstm-viz.desktop") in out
    exec_line = next(line for line in (tmp_path / "applications" / "lstm-viz.desktop")
                     .read_text().splitlines() if line.startswith("Exec="))
    assert Path(exec_line.removeprefix("Exec=").split()[0]).is_absolute()


def test_a_failed_write_leaves_the_previous_entry(tmp_path, monkeypatch):
    desktop.install_desktop(tmp_path, command="/first/lstm-viz")
    entry = tmp_path / "applications" / "lstm-viz.desktop"
    before = entry.read_text()

    def broken_fsync(fd):
        raise OSError("disk full")
    monkeypatch.setattr(desktop.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        desktop.install_desktop(tmp_path, command="/second/lstm-viz")
    assert entry.read_text() == before
    assert [p.name for p in entry.parent.iterdir()] == ["lstm-viz.desktop"]


# ----- a broken Qt binding ----------------------------------------------------------------
@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal: nothing can leak")
def test_a_call_that_drops_a_reference_to_none_is_caught():
    import ctypes
    dec, inc = ctypes.pythonapi.Py_DecRef, ctypes.pythonapi.Py_IncRef
    dec.argtypes = inc.argtypes = [ctypes.py_object]

    def leaky():  # what shiboken6 6.12.0 does on every call that returns None
        dec(None)

    try:
        assert syscheck.leaks_none(leaky, calls=200)
    finally:
        for _ in range(200):
            inc(None)
    assert not syscheck.leaks_none(lambda: None, calls=200)


def test_the_installed_binding_passes_the_start_up_check():
    assert syscheck.binding_problem() == ""


def test_a_broken_binding_stops_the_start_with_one_line_and_status_2(monkeypatch, capsys,
                                                                      tmp_path):
    monkeypatch.setattr(syscheck, "binding_problem", lambda: "PySide6 9.9 leaks None")
    for argv in (["--screenshot", str(tmp_path / "x.png")], ["export", "--out", str(tmp_path)],
                 []):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err == "lstm-viz: error: PySide6 9.9 leaks None\n"
    assert not (tmp_path / "x.png").exists()


def test_verbose_export_logs_the_demo_load_and_the_trace(tmp_path):
    env = {"PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen", "PATH": ""}
    res = subprocess.run([sys.executable, "-m", "lstm_viz_app", "--verbose", "export",
                          "--demo", "sine", "--out", str(tmp_path), "--format", "npz"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-1500:]
    assert (tmp_path / "trace.npz").is_file()
    assert "lstm_viz.demos: opened demo sine" in res.stderr
    trace_line = next(line for line in res.stderr.splitlines() if "trace: method=" in line)
    assert "input (T=120, B=1, 1)" in trace_line and "hidden 32" in trace_line
