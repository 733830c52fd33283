"""Desktop conventions: drag and drop, File > Open recent, the window title with the open file
and its modified mark, and dark mode (plots, equation box and diagram follow the palette)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QGraphicsTextItem, QMenu, QMessageBox
from torch import nn

from lstm_viz import LSTMConfig, Session
from lstm_viz_app import theme
from lstm_viz_app.controllers import recent
from lstm_viz_app.controllers.documents import DocumentsController
from lstm_viz_app.main import MainWindow

pytestmark = pytest.mark.gui


def _mime(*paths) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def drag_enter(window, *paths) -> bool:
    """Send a drag entering the window with ``paths``; True if the window accepts it."""
    mime = _mime(*paths)  # the event does not own it: keep it alive while it is delivered
    event = QDragEnterEvent(QPoint(200, 200), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    event.setAccepted(False)
    QApplication.sendEvent(window, event)
    return event.isAccepted()


def drop(window, *paths) -> bool:
    """Drag ``paths`` onto the window and drop them; True if the window accepted the drop."""
    drag_enter(window, *paths)
    mime = _mime(*paths)
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    event.setAccepted(False)
    QApplication.sendEvent(window, event)
    return event.isAccepted()


@pytest.fixture
def lstm_file(tmp_path):
    """A state dict of nn.LSTM(4, 6), saved as the user would; (path, the module)."""
    torch.manual_seed(3)
    lstm = nn.LSTM(4, 6)
    path = tmp_path / "weights.pt"
    torch.save(lstm.state_dict(), path)
    return path, lstm


@pytest.fixture
def spy(monkeypatch):
    """``spy(name)``: count calls of the documents controller's ``name`` (still doing their
    work)."""

    def make(name):
        calls = []
        real = getattr(DocumentsController, name)

        def wrapper(*args, **kwargs):
            calls.append(args[1:])
            return real(*args, **kwargs)

        monkeypatch.setattr(DocumentsController, name, wrapper)
        return calls

    return make


# ----- drag and drop -----------------------------------------------------------------------------
def test_dropping_a_model_file_opens_it_with_the_file_menus_open_model(window, lstm_file, spy,
                                                                       wait_traced):
    path, lstm = lstm_file
    calls = spy("open_model")
    assert drag_enter(window, path)
    assert drop(window, path)
    assert calls == [(str(path),)]
    wait_traced(window)
    assert window.session.config == LSTMConfig(4, 6)
    torch.testing.assert_close(window.session.lstm.weight_ih_l0, lstm.weight_ih_l0.detach())
    assert not window.panels["Model"].isEnabled()  # read-only, as File > Open model leaves it


def test_dropping_an_npy_array_makes_it_the_input(window, tmp_path, wait_traced):
    cfg = window.session.config
    x = np.random.default_rng(0).normal(size=(9, cfg.input_size)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert drop(window, tmp_path / "x.npy")
    wait_traced(window)
    assert window.session.input_spec.source == "file"
    got = window.session.input_tm.detach().cpu().numpy()
    np.testing.assert_array_equal(got.reshape(9, cfg.input_size), x)
    expected, _ = window.session.lstm(torch.from_numpy(x))
    torch.testing.assert_close(window.session.trace.output.reshape(9, -1),
                               expected.detach().reshape(9, -1))


def test_dropping_a_text_file_uses_the_file_menus_text_input(window, tmp_path, spy):
    calls = spy("open_text_input")
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    assert drop(window, tmp_path / "notes.txt")
    assert calls == [(str(tmp_path / "notes.txt"),)]


def test_dropping_a_session_file_restores_it_and_names_the_window(window, tmp_path, spy,
                                                                  wait_traced):
    saved = Session(LSTMConfig(3, 5, num_layers=2), seed=11)
    path = tmp_path / "study.lstmviz.json"
    from lstm_viz.formats.sessionfile import save_session
    save_session(path, saved)
    calls = spy("open_session")
    assert drop(window, path)
    assert calls == [(str(path),)]
    wait_traced(window)
    assert window.session.config == LSTMConfig(3, 5, num_layers=2)
    assert "study.lstmviz.json" in window.windowTitle()
    assert not window.isWindowModified()


def test_files_lstm_viz_cannot_open_are_refused_at_the_door(window, tmp_path):
    (tmp_path / "setup.exe").write_bytes(b"MZ")
    assert not drag_enter(window, tmp_path / "setup.exe")
    assert not drop(window, tmp_path / "setup.exe")
    mime = QMimeData()
    mime.setText("just text")
    event = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    event.setAccepted(False)
    QApplication.sendEvent(window, event)
    assert not event.isAccepted()


def test_a_dropped_model_that_cannot_be_read_keeps_the_session(window, tmp_path, qtbot):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a safetensors file")
    before = window.session.config
    assert drop(window, bad)
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "error_box") is not None)
    box = window.findChild(QMessageBox, "error_box")
    assert box is not None and box.isVisible()
    assert window.session.config == before
    assert recent.recent_files(window.settings) == []


# ----- Open recent -------------------------------------------------------------------------------
def _recent_entries(window) -> list[tuple[str, bool]]:
    window.documents.fill_recent_menu()
    return [(a.text(), a.isEnabled()) for a in window.recent_menu.actions()
            if a.objectName() == "recent_file"]


def test_open_recent_lists_opened_files_newest_first_and_survives_a_restart(
        window, lstm_file, tmp_path, settings, qtbot):
    path, _ = lstm_file
    assert window.documents.open_model(path)
    np.save(tmp_path / "zeros.npy", np.zeros((5, 4), np.float32))
    assert drop(window, tmp_path / "zeros.npy")
    assert _recent_entries(window) == [("&1 zeros.npy", True), ("&2 weights.pt", True)]
    assert window.documents.open_model(path)  # opened again: back on top, listed once
    assert _recent_entries(window) == [("&1 weights.pt", True), ("&2 zeros.npy", True)]
    window.close()
    again = MainWindow(session=Session(), settings=settings, restore=False)
    qtbot.addWidget(again)
    assert [t for t, _ in _recent_entries(again)] == ["&1 weights.pt", "&2 zeros.npy"]


def test_open_recent_keeps_at_most_eight(window, tmp_path):
    for k in range(11):
        (tmp_path / f"in{k}.txt").write_text("ab", encoding="utf-8")
        assert window.documents.open_text_input(tmp_path / f"in{k}.txt")
    names = [t.split(" ", 1)[1] for t, _ in _recent_entries(window)]
    assert names == [f"in{k}.txt" for k in range(10, 2, -1)]


def test_a_recent_file_that_is_gone_is_greyed_and_removed_when_chosen(window, lstm_file, qtbot,
                                                                     spy):
    path, _ = lstm_file
    assert window.documents.open_model(path)
    os.remove(path)
    assert _recent_entries(window) == [("&1 weights.pt (missing)", False)]
    calls = spy("open_model")
    assert not window.documents.open_recent(str(path.resolve()))
    assert calls == []
    box = window.findChild(QMessageBox, "error_box")
    assert box is not None and "no longer exists" in box.text()
    assert _recent_entries(window) == []


def test_choosing_a_recent_file_opens_it(window, lstm_file, wait_traced):
    path, lstm = lstm_file
    assert window.documents.open_model(path)
    window.session.set_config(LSTMConfig(2, 3))  # something else is open now
    window.documents.fill_recent_menu()
    entry = next(a for a in window.recent_menu.actions() if a.objectName() == "recent_file")
    entry.trigger()
    wait_traced(window)
    assert window.session.config == LSTMConfig(4, 6)
    torch.testing.assert_close(window.session.lstm.weight_hh_l0, lstm.weight_hh_l0.detach())


def test_clear_list_empties_open_recent(window, lstm_file):
    assert window.documents.open_model(lstm_file[0])
    window.documents.fill_recent_menu()
    clear = next(a for a in window.recent_menu.actions()
                 if a.objectName() == "action_clear_recent")
    assert clear.isEnabled()
    clear.trigger()
    assert _recent_entries(window) == []
    assert recent.recent_files(window.settings) == []


def test_open_recent_sits_under_the_file_menu(window):
    texts = [a.text() for a in window.file_menu.actions()]
    assert "Open &recent" in texts
    assert texts.index("Open &recent") == texts.index("Open session…") + 1


# ----- title and modified mark -------------------------------------------------------------------
def test_the_title_names_the_open_model_and_marks_changes(window, lstm_file, tmp_path,
                                                          wait_traced):
    assert not window.isWindowModified()
    assert window.documents.open_model(lstm_file[0])
    wait_traced(window)
    assert window.windowTitle().startswith("weights.pt[*]")
    assert not window.isWindowModified()
    window.session.set_config(dataclasses.replace(window.session.config, hidden_size=7))
    assert window.isWindowModified()
    assert window.documents.save(tmp_path / "mine.lstmviz.json")
    assert window.windowTitle().startswith("mine.lstmviz.json[*]")
    assert not window.isWindowModified()


def test_an_input_change_or_an_edit_marks_the_session_modified(window, wait_traced):
    wait_traced(window)
    assert not window.isWindowModified()
    window.session.seek(3)  # moving through time is looking, not changing
    assert not window.isWindowModified()
    window.session.set_input(dataclasses.replace(window.session.input_spec, source="sine"))
    assert window.isWindowModified()
    window.session.set_input(dataclasses.replace(window.session.input_spec, source="random"))
    assert not window.isWindowModified()  # back to what was opened
    wait_traced(window)
    window.session.edit_input(2, 0, 0, 5.0)
    assert window.isWindowModified()


def test_a_session_with_edits_opens_unmodified(window, tmp_path, wait_traced):
    source = Session(LSTMConfig(3, 4), seed=2)
    source.retrace()
    source.edit_input(1, 0, 0, 2.5)
    from lstm_viz.formats.sessionfile import save_session
    save_session(tmp_path / "edited.lstmviz.json", source)
    assert window.documents.open_session(tmp_path / "edited.lstmviz.json")
    wait_traced(window)
    assert window.session.edits
    assert not window.isWindowModified()


# ----- dark mode ---------------------------------------------------------------------------------
@pytest.fixture
def dark(qapp):
    """A dark Fusion palette for the test, the previous style and palette afterwards."""
    style, palette = qapp.style().name(), qapp.palette()
    qapp.setStyle("Fusion")
    qapp.setPalette(theme.dark_palette())
    yield qapp
    qapp.setStyle(style)
    qapp.setPalette(palette)
    theme.apply()


def _pixel_colours(image: QImage) -> list[QColor]:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    return [image.pixelColor(x, y) for y in range(0, image.height(), 1)
            for x in range(0, image.width(), 1)]


def test_dark_palette_makes_every_plot_dark_with_readable_axes(dark, make_window):
    w = make_window(view="States")
    views = w.findChildren(pg.GraphicsView)
    assert len(views) >= 5
    for view in views:
        assert view.backgroundBrush().color().lightness() < 60, view
    plot = w.panels["States"].timeline.overview.plot
    background = views[0].backgroundBrush().color()
    for item in w.findChildren(pg.GraphicsView)[0].items():
        if isinstance(item, pg.AxisItem):
            assert theme.contrast_ratio(item.pen().color(), background) >= 4.5
            assert theme.contrast_ratio(item.textPen().color(), background) >= 4.5
    assert plot is not None


def test_dark_palette_keeps_the_equation_box_readable(dark, make_window, qtbot, wait_traced):
    w = make_window(view="States")
    wait_traced(w)
    label = w.panels["States"].equation
    assert label.text()
    image = label.grab().toImage()
    background = image.pixelColor(image.width() - 4, image.height() - 4)
    assert background.lightness() < 60
    ink = max(_pixel_colours(image), key=lambda c: theme.contrast_ratio(c, background))
    assert theme.contrast_ratio(ink, background) >= 4.5


def test_dark_palette_gives_the_shapes_diagram_a_dark_background_and_light_labels(dark,
                                                                                  make_window):
    w = make_window(view="Shapes")
    diagram = w.panels["Shapes"].diagram
    background = diagram.backgroundBrush().color()
    assert background.lightness() < 60
    texts = [item for item in diagram.scene().items() if isinstance(item, QGraphicsTextItem)]
    in_boxes = [t for t in texts if t.defaultTextColor() == QColor("#212121")]
    on_background = [t for t in texts if t not in in_boxes]
    assert in_boxes and on_background  # the boxes keep their light fill and dark ink
    for item in on_background:
        assert theme.contrast_ratio(item.defaultTextColor(), background) >= 4.5, \
            item.toPlainText()


def test_light_palette_keeps_white_plots(make_window):
    w = make_window()
    for view in w.findChildren(pg.GraphicsView):
        assert view.backgroundBrush().color().lightness() > 200


def test_contrast_ratio_matches_the_wcag_extremes():
    assert theme.contrast_ratio(QColor("black"), QColor("white")) == pytest.approx(21.0)
    assert theme.contrast_ratio(QColor("#777777"), QColor("#777777")) == pytest.approx(1.0)
    # WCAG's own example: #767676 on white is just above 4.5
    assert theme.contrast_ratio(QColor("#767676"), QColor("white")) == pytest.approx(4.54,
                                                                                     abs=0.01)


def test_switching_to_a_dark_palette_recolours_the_open_window(make_window, qapp, qtbot):
    w = make_window(view="States")
    assert w.findChildren(pg.GraphicsView)[0].backgroundBrush().color().lightness() > 200
    style, palette = qapp.style().name(), qapp.palette()
    try:
        qapp.setStyle("Fusion")
        qapp.setPalette(theme.dark_palette())
        qtbot.waitUntil(lambda: all(v.backgroundBrush().color().lightness() < 60
                                    for v in w.findChildren(pg.GraphicsView)), timeout=3000)
        assert "#1e1e1e" in w.panels["States"].equation.styleSheet()
    finally:
        qapp.setStyle(style)
        qapp.setPalette(palette)
        theme.apply()


@pytest.fixture
def chosen_theme(qapp):
    """Gives the application its own style and palette back after a test that picks a theme."""
    yield
    theme.use("system")
    theme.apply()


def _plots_dark(w) -> bool:
    return all(v.backgroundBrush().color().lightness() < 60
               for v in w.findChildren(pg.GraphicsView))


def test_view_theme_dark_recolours_the_window_at_once_and_is_remembered(
        chosen_theme, make_window, settings, qtbot):
    w = make_window(view="States")
    assert not _plots_dark(w)
    menu = w.findChild(QMenu, "theme_menu")
    assert [a.text().replace("&", "") for a in menu.actions()] == ["System", "Light", "Dark"]
    assert w.themes.actions["system"].isChecked()  # the default: follow the system
    w.themes.actions["dark"].trigger()
    qtbot.waitUntil(lambda: _plots_dark(w), timeout=3000)
    assert w.themes.actions["dark"].isChecked()
    assert settings.value("theme") == "dark"
    w.themes.actions["light"].trigger()
    qtbot.waitUntil(lambda: all(v.backgroundBrush().color().lightness() > 200
                                for v in w.findChildren(pg.GraphicsView)), timeout=3000)
    w.themes.actions["system"].trigger()
    assert settings.value("theme") == "system"
    assert not _plots_dark(w)


def test_a_saved_dark_theme_is_used_from_the_start(chosen_theme, make_window, settings):
    settings.setValue("theme", "dark")
    w = make_window(view="States")
    assert w.themes.actions["dark"].isChecked()
    assert _plots_dark(w)
    assert theme.is_dark()
    # every axis of every track is drawn light on dark, though built before the theme
    for title in ("States", "Gates"):
        for view in w.panels[title].findChildren(pg.GraphicsView):
            background = view.backgroundBrush().color()
            for item in view.items():
                if isinstance(item, pg.AxisItem) and item.isVisible():
                    assert theme.contrast_ratio(item.textPen().color(), background) >= 4.5, \
                        (title, view.objectName(), item.orientation)


def test_an_unknown_saved_theme_follows_the_system(make_window, settings):
    settings.setValue("theme", "purple")
    w = make_window()
    assert w.themes.actions["system"].isChecked() and not theme.is_dark()


# ----- one trace per open ------------------------------------------------------------------------
def _count_requests(monkeypatch, window) -> list:
    requests = []
    real = window.ctx.runner.submit

    def submit(request):
        requests.append(request)
        real(request)

    monkeypatch.setattr(window.ctx.runner, "submit", submit)
    return requests


def test_opening_a_session_traces_it_once(window, tmp_path, monkeypatch, wait_traced):
    from lstm_viz.formats.sessionfile import save_session
    save_session(tmp_path / "s.lstmviz.json", Session(LSTMConfig(3, 5), seed=4))
    wait_traced(window)
    requests = _count_requests(monkeypatch, window)
    assert window.documents.open_session(tmp_path / "s.lstmviz.json")
    wait_traced(window)
    assert len(requests) == 1
    expected, _ = window.session.lstm(window.session.input_tm)
    torch.testing.assert_close(window.session.trace.output, expected.detach())


def test_opening_a_model_traces_it_once(window, lstm_file, monkeypatch, wait_traced):
    wait_traced(window)
    requests = _count_requests(monkeypatch, window)
    assert window.documents.open_model(lstm_file[0])
    wait_traced(window)
    assert len(requests) == 1


def test_starting_with_a_model_traces_only_the_model(qtbot, lstm_file, tmp_path, monkeypatch,
                                                     wait_traced):
    from lstm_viz_app import entry
    from lstm_viz_app.workers import TraceRunner
    monkeypatch.setenv("LSTM_VIZ_SETTINGS", str(tmp_path / "settings.ini"))
    traced = []
    real_retrace, real_submit = Session.retrace, TraceRunner.submit

    def retrace(self, *args, **kwargs):
        traced.append(self.config)
        return real_retrace(self, *args, **kwargs)

    def submit(self, request):
        traced.append(request)
        return real_submit(self, request)

    monkeypatch.setattr(Session, "retrace", retrace)
    monkeypatch.setattr(TraceRunner, "submit", submit)
    window = entry.build_window({"model": str(lstm_file[0])})
    qtbot.addWidget(window)
    wait_traced(window)
    assert window.session.config == LSTMConfig(4, 6)
    assert len(traced) == 1


def test_starting_with_a_model_that_cannot_be_read_still_traces_the_session(qtbot, tmp_path,
                                                                            monkeypatch):
    from lstm_viz_app import entry
    monkeypatch.setenv("LSTM_VIZ_SETTINGS", str(tmp_path / "settings.ini"))
    (tmp_path / "bad.safetensors").write_bytes(b"nope")
    window = entry.build_window({"model": str(tmp_path / "bad.safetensors")})
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.session.trace is not None)  # once the worker has read it


def test_a_demo_after_a_file_leaves_the_window_without_a_file(window, lstm_file, wait_traced):
    assert window.documents.open_model(lstm_file[0])
    assert window.windowTitle().startswith("weights.pt")
    assert window.documents.open_demo("sine")
    wait_traced(window)
    assert "weights.pt" not in window.windowTitle()
    assert not window.isWindowModified()
