"""Starting the window where Qt's X11 plugin lacks system libraries: a clear line, not an abort."""

from __future__ import annotations

import pytest

from lstm_viz_app import cli, syscheck


@pytest.mark.parametrize("env, platform, expected", [
    ({"DISPLAY": ":0"}, "linux", True),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"DISPLAY": ":0"}, "darwin", False),
    ({}, "linux", False),
])
def test_uses_xcb_only_where_qt_would_pick_x11(env, platform, expected):
    assert syscheck.uses_xcb(env, platform) is expected


def test_missing_libraries_are_found_by_the_loader_not_by_a_list():
    assert syscheck.missing_libraries({"libc.so.6": "libc6"}) == {}
    absent = {"libdoes-not-exist-lstmviz.so.9": "libdoes-not-exist9"}
    assert syscheck.missing_libraries(absent) == absent


def test_starting_the_window_without_them_says_what_to_install(monkeypatch, capsys):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(syscheck, "missing_libraries",
                        lambda: {"libxcb-cursor.so.0": "libxcb-cursor0",
                                 "libxcb-icccm.so.4": "libxcb-icccm4"})
    monkeypatch.setattr("sys.platform", "linux")
    assert cli.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in err
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4" in err
