"""The timeline of tracks: legible heights at 1280x800 that scroll rather than squeeze, colour
bars that are the scale each heatmap is drawn with (read back from the pixels), collapse to a
summary, and track sets and heights that persist through a session file and the settings."""

from __future__ import annotations

import re

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRect
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from lstm_viz import Ablation, InputSpec, LSTMConfig, Session
from lstm_viz.demos import open_demo
from lstm_viz.formats.sessionfile import load_session, timeline_layouts
from lstm_viz_app.panels.gates import GatesView
from lstm_viz_app.panels.states import StatesView
from lstm_viz_app.timeline import (
    HEATMAP_CAP,
    MIN_TRACK_HEIGHT,
    Timeline,
    TrackState,
    heatmap_min_height,
    track_kinds,
)
from lstm_viz_app.widgets import Steady

pytestmark = pytest.mark.gui


def _demo(name: str) -> Session:
    session = Session()
    open_demo(session, name)
    return session


def _plot_heights(timeline: Timeline) -> dict[str, float]:
    """Each expanded track's plot-area height in pixels, by kind."""
    return {t.kind: t.plot.getViewBox().height() for t in timeline.tracks()
            if t.plot is not None and t.graphics.isVisible()}


def _assert_legible(qtbot, timeline: Timeline, units: int) -> None:
    qtbot.waitUntil(lambda: all(h > 0 for h in _plot_heights(timeline).values()))
    heights = _plot_heights(timeline)
    for track in timeline.tracks():
        if track.kind not in heights:
            continue
        if hasattr(track, "map") and track.kind in "ifgoch":
            least = heatmap_min_height(units)
            assert least == min(max(2 * units, MIN_TRACK_HEIGHT), HEATMAP_CAP)
        else:
            least = MIN_TRACK_HEIGHT
        assert heights[track.kind] >= least - 1, (track.kind, heights[track.kind], least)


def test_a_heatmap_track_is_never_shorter_than_2_px_a_unit_or_60_px_at_1280x800(
        qtbot, make_window, wait_traced):
    w = make_window(_demo("char_python"), view="States")  # 128 units
    wait_traced(w)
    timeline = w.panels["States"].timeline
    qtbot.wait(50)
    assert w.session.config.hidden_size == 128
    _assert_legible(qtbot, timeline, 128)
    assert _plot_heights(timeline)["c"] >= 240  # 2 px a unit, up to the cap
    w.show_view("Gates")
    _assert_legible(qtbot, w.panels["Gates"].timeline, 128)


@pytest.mark.parametrize("demo", ["", "sine", "char_python"])
def test_the_input_tracks_axis_label_reads_in_full_at_1280x800(qtbot, make_window,
                                                                wait_traced, demo):
    # no demo: a random input of 4 features, drawn as lines
    w = make_window(_demo(demo) if demo else Session(), view="States")
    wait_traced(w)
    track = w.panels["States"].timeline.track("input")
    box = track.plot.getViewBox()
    qtbot.waitUntil(lambda: box.height() > 0)
    label = track.plot.getAxis("left").label
    text = label.toPlainText().strip()
    assert text
    placed = label.mapRectToScene(label.boundingRect())  # runs up along the axis
    rows = box.sceneBoundingRect()
    # the label (with its margins of a few pixels) is no taller than the plot beside it, and
    # the track's scene holds all of it
    assert placed.height() <= rows.height() + 4, (text, placed.height(), rows.height())
    assert placed.top() >= -1 and placed.bottom() <= track.graphics.height() + 1, text


def test_every_colour_bars_label_fits_along_its_bar_at_1280x800(qtbot, make_window,
                                                                 wait_traced):
    w = make_window(_demo("sine"), view="Influence")  # one input feature: 60 px tall rows
    wait_traced(w)
    view = w.views["Influence"]
    qtbot.waitUntil(lambda: view.result is not None, timeout=30000)
    qtbot.wait(100)
    bars = [(t.kind, t.bar) for t in view.timeline.tracks()
            if getattr(t, "bar", None) is not None and t.bar.isVisible()]
    assert {"grad_x", "grad_c", "grad_h"} <= {kind for kind, _ in bars}
    for kind, bar in bars:
        label = bar.getAxis("left").label
        text = label.toPlainText().strip()
        assert text, kind
        placed = label.mapRectToScene(label.boundingRect())
        ramp = bar.getViewBox().sceneBoundingRect()
        # the label (with its margins of a few pixels) runs no further than the bar
        assert placed.height() <= ramp.height() + 4, (kind, text, placed.height(),
                                                      ramp.height())


def test_tracks_keep_their_heights_after_an_ablation_and_the_timeline_scrolls(
        qtbot, make_window, wait_traced):
    w = make_window(_demo("sine"), view="Gates")
    wait_traced(w)
    before = _plot_heights(w.panels["Gates"].timeline)
    w.session.ablate(Ablation("h", 0, 0, 0, (0,), 0.0, start=10), rerun=False)
    w.ctx.ensure_traced(wait=False)
    wait_traced(w)
    qtbot.wait(50)
    after = _plot_heights(w.panels["Gates"].timeline)
    assert after == pytest.approx(before, abs=1)  # the what-if run takes no room
    for title in ("Gates", "States"):
        w.show_view(title)
        timeline = w.panels[title].timeline
        _assert_legible(qtbot, timeline, w.session.config.hidden_size)
        # more than fits: a scroll bar, not squeezed tracks
        bar = timeline.scroll_area.verticalScrollBar()
        qtbot.waitUntil(lambda bar=bar: bar.maximum() > 0)


def test_a_short_window_scrolls_instead_of_squeezing(qtbot, show_view):
    _, view = show_view(GatesView, Session(LSTMConfig(input_size=3, hidden_size=64)),
                        size=(900, 400))
    timeline = view.timeline
    qtbot.waitUntil(lambda: timeline.scroll_area.verticalScrollBar().maximum() > 0)
    _assert_legible(qtbot, timeline, 64)
    # the tracks together are taller than the room they are shown in
    assert timeline.stack.height() > timeline.scroll_area.viewport().height()


def _pixel(graphics, scene_pos: QPointF) -> QColor:
    image = graphics.grab().toImage()
    point = graphics.mapFromScene(scene_pos)
    ratio = image.devicePixelRatio()
    return image.pixelColor(int(point.x() * ratio), int(point.y() * ratio))


def _close(a: QColor, b: QColor, tolerance: int) -> bool:
    return max(abs(a.red() - b.red()), abs(a.green() - b.green()),
               abs(a.blue() - b.blue())) <= tolerance


@pytest.mark.parametrize("scale", ["fixed", "symmetric", "robust", "track"])
def test_each_heatmap_pixel_has_the_colour_its_colour_bar_gives_its_value(qtbot, show_view,
                                                                          scale):
    session = Session(LSTMConfig(input_size=3, hidden_size=6), InputSpec(seq_len=30))
    _, view = show_view(StatesView, session)
    timeline = view.timeline
    for kind in ("c", "g"):
        if timeline.track(kind) is None:
            timeline.add_track(kind, 0)  # at the top: on screen
    timeline.move_track("c", -10)
    for kind in ("c", "g"):
        frame = timeline.frame(kind)
        frame.set_scale(scale)
        track = frame.track
        qtbot.waitUntil(lambda t=track: t.plot.getViewBox().width() > 100)
        qtbot.wait(50)  # the colour bar is aligned with the rows once the layout settled
        hm, bar = track.map, track.bar
        lo, hi = bar.levels()
        assert tuple(hm.image.levels) == pytest.approx((lo, hi))  # drawn with the bar's levels
        data = hm.data  # (units, T): the window shows steps 0..29, one or more px each
        vb = hm.plot.getViewBox()
        bar_box = bar.getViewBox().sceneBoundingRect()
        checked = 0
        for unit in range(data.shape[0]):
            for t in (2, 11, 23):
                value = float(data[unit, t])
                frac = float(np.clip((value - lo) / (hi - lo), 0, 1))
                drawn = _pixel(track.graphics, vb.mapViewToScene(QPointF(t, unit)))
                # the colour the bar's colour map gives the value ...
                expected = bar.colorMap().map(frac, mode="qcolor")
                assert _close(drawn, expected, 4), (kind, scale, unit, t, value, drawn.name(),
                                                    expected.name())
                # ... and the colour the bar itself is drawn with at that value's height
                y = bar_box.bottom() - frac * bar_box.height()
                y = min(max(y, bar_box.top() + 1), bar_box.bottom() - 1)
                # (left of centre: the bar's tick marks reach in from its right edge)
                shown = _pixel(track.graphics, QPointF(bar_box.left() + 3, y))
                assert _close(drawn, shown, 24), (kind, scale, value, drawn.name(), shown.name(),
                                                  y)
                checked += 1
        assert checked == 18


def test_a_collapsed_track_is_one_line_that_sums_it_up(qtbot, show_view):
    ctx, view = show_view(StatesView, Session(LSTMConfig(input_size=3, hidden_size=8),
                                              InputSpec(seq_len=40)))
    frame = view.timeline.frame("c")
    expanded = frame.height()
    frame.collapse_button.click()
    qtbot.waitUntil(lambda: frame.height() < expanded)
    assert frame.collapsed and not frame.track.graphics.isVisible()
    assert frame.height() <= frame.header.sizeHint().height() + 2
    c = ctx.session.trace.c[0, 0, :, 0].numpy()
    text = frame.title_label.text()
    assert text.startswith("c: cell state") and "8 rows" in text
    assert f"{c.min():+.3g}" in text and f"{c.max():+.3g}" in text
    ctx.session.seek(5)  # the summary follows the cursor
    assert f"at t 5: mean {c[5].mean():+.3f}" in frame.title_label.text()
    frame.collapse_button.click()
    assert frame.track.graphics.isVisible() and "rows" not in frame.title_label.text()


def test_tracks_are_added_moved_resized_and_removed(qtbot, show_view):
    _, view = show_view(GatesView, Session(LSTMConfig(input_size=3, hidden_size=8)))
    timeline = view.timeline
    assert [t.kind for t in timeline.tracks()] == ["input", "prediction", "loss", "i", "f",
                                                   "g", "o"]
    timeline.add_track("c")
    timeline.move_track("c", -4)
    timeline.remove_track("loss")
    frame = timeline.frame("f")
    frame.set_plot_height(10)  # never under the minimum
    assert frame.plot_height() == MIN_TRACK_HEIGHT
    frame.set_plot_height(150)
    qtbot.waitUntil(lambda: frame.track.plot.getViewBox().height() >= 149)
    assert [t.kind for t in timeline.tracks()] == ["input", "prediction", "c", "i", "f", "g",
                                                   "o"]
    # drawn as it was added
    assert timeline.track("c").map.data.shape == (8, view.session.num_steps)
    # the Add track menu lists every kind (the what-if ones in submenus), the ones shown
    # greyed out
    timeline._fill_add_menu()

    def every_action(menu):
        for a in menu.actions():
            yield a
            if a.menu() is not None:
                yield from every_action(a.menu())

    actions = {a.data(): a for a in every_action(timeline.add_menu) if a.data()}
    assert set(actions) == set(track_kinds())
    assert not actions["c"].isEnabled() and actions["loss"].isEnabled()


def _custom(timeline: Timeline) -> None:
    timeline.remove_track("loss")
    timeline.add_track("h")
    timeline.move_track("h", -3)
    timeline.frame("f").set_plot_height(177)
    timeline.frame("input").set_collapsed(True)
    timeline.frame("g").set_scale("robust")


def test_the_users_tracks_and_heights_persist_in_the_session_file(
        qtbot, make_window, wait_traced, tmp_path):
    w = make_window(Session(LSTMConfig(input_size=3, hidden_size=8)), view="Gates")
    wait_traced(w)
    _custom(w.panels["Gates"].timeline)
    w.panels["States"].units_edit.setText("1, 4")
    w.panels["States"].units_edit.editingFinished.emit()
    saved = w.panels["Gates"].timeline.state()
    path = tmp_path / "s.json"
    assert w.documents.save(path)
    session, extras = load_session(path)
    layouts = timeline_layouts(extras.view)  # plain data, as the engine reads it
    assert [t["kind"] for t in layouts["Gates"]] == [s.kind for s in saved]
    other = make_window(Session(), view="States")
    assert [s.kind for s in other.panels["Gates"].timeline.state()] != [s.kind for s in saved]
    assert other.documents.use_session(path, session, extras)
    assert other.panels["Gates"].timeline.state() == saved
    f = other.panels["Gates"].timeline.frame("f")
    assert f.plot_height() == 177 and other.panels["Gates"].timeline.frame("input").collapsed
    assert other.panels["Gates"].timeline.track("g").scale == "robust"
    units = other.panels["States"].timeline.track("units")
    assert units.options() == {"units": "1, 4"}


def test_the_users_tracks_and_heights_persist_in_the_settings(qtbot, make_window, settings):
    w = make_window(Session(LSTMConfig(input_size=3, hidden_size=8)), view="Gates")
    _custom(w.panels["Gates"].timeline)
    saved = w.panels["Gates"].timeline.state()
    states_saved = w.panels["States"].timeline.state()
    assert w.save_settings()
    again = make_window(restore=True)
    assert again.panels["Gates"].timeline.state() == saved
    assert again.panels["States"].timeline.state() == states_saved


def test_a_bad_saved_layout_is_named_and_the_presets_stay(make_window, settings):
    settings.setValue("timelines", '{"Gates": [{"kind": "f", "height": "tall"}]}')
    w = make_window(restore=True)
    assert [t.kind for t in w.panels["Gates"].timeline.tracks()][-4:] == ["i", "f", "g", "o"]
    assert "height has the wrong type" in w.statusBar().currentMessage()


def test_track_state_round_trips_as_plain_data():
    state = TrackState("c", 120, True, "robust", {"a": 1})
    assert TrackState.from_dict(state.to_dict()) == state
    with pytest.raises(ValueError, match="kind"):
        TrackState.from_dict({"height": 3})


def _x_span(item) -> tuple[int, int]:
    """``item``'s left and right edge on the screen."""
    rect = item.sceneBoundingRect()
    view = item.scene().views()[0]
    return (view.mapToGlobal(view.mapFromScene(rect.topLeft())).x(),
            view.mapToGlobal(view.mapFromScene(rect.topRight())).x())


def test_every_track_the_overview_and_the_time_axis_share_their_left_and_right_edges(
        qtbot, show_view):
    _, view = show_view(GatesView, Session(LSTMConfig(input_size=3, hidden_size=6),
                                           InputSpec(seq_len=300)), size=(1000, 700))
    timeline = view.timeline
    timeline.add_track("units")
    qtbot.wait(50)
    edges = _x_span(timeline.axis_plot.getViewBox())
    assert edges[1] - edges[0] > 500
    assert _x_span(timeline.overview.plot.getViewBox()) == edges
    for track in timeline.tracks():
        if track.graphics.isVisible():  # no head here: no prediction or loss
            assert _x_span(track.plot.getViewBox()) == edges, track.kind
            assert track.plot.getViewBox().viewRange()[0] == pytest.approx([-0.5, 149.5])


def _every_kind(timeline: Timeline) -> None:
    for kind in track_kinds():
        if timeline.track(kind) is None:
            timeline.add_track(kind)


def test_past_a_sequences_end_every_time_track_is_hatched_and_says_why(qtbot, show_view):
    session = Session(LSTMConfig(input_size=3, hidden_size=6),
                      InputSpec(seq_len=10, batch_size=3, lengths=(10, 7, 5)))
    ctx, view = show_view(GatesView, session)
    _every_kind(view.timeline)
    ctx.select(batch=2)
    why = "sequence 2 ended at t = 4"
    for track in view.timeline.tracks():
        if not track.time_aligned or not track.available:
            continue  # the bars show one step; no head here: no prediction, loss or target
        if hasattr(track, "map"):  # heatmaps hatch their own rows
            assert track.map.ended.isVisible() and track.map.end == 5, track.kind
            assert track.map.ended_label.textItem.toPlainText() == why
        elif track.kind == "input":  # padding, not input
            strips = view.strips
            assert strips.padding.isVisible() and strips.padding.getRegion() == (4.5, 9.5)
        else:
            assert track.hatch.region.isVisible(), track.kind
            assert track.hatch.region.getRegion() == (4.5, 9.5)
            assert track.hatch.label.toPlainText() == why
    ctx.select(batch=0)  # runs to the last step: nothing hatched
    assert not any(t.hatch.region.isVisible() for t in view.timeline.tracks()
                   if hasattr(t, "hatch"))


def test_an_ablation_is_marked_in_every_time_track(qtbot, show_view, wait_traced):
    session = Session(LSTMConfig(input_size=3, hidden_size=6), InputSpec(seq_len=30))
    ctx, view = show_view(StatesView, session)
    _every_kind(view.timeline)
    session.ablate(Ablation("f", 0, 0, 0, (4,), 1.0, start=12), rerun=False)
    ctx.ensure_traced(wait=False)
    wait_traced(ctx)
    for track in view.timeline.tracks():
        if not track.time_aligned or not track.available:
            continue
        marks = track.marks.items
        assert marks, track.kind
        if getattr(track, "rows_are_units", False):  # a box around unit 4's row from 12 on
            (box,) = marks
            assert box.rect().getRect() == pytest.approx((11.5, 3.5, 18, 1))
        else:  # a band over the steps the ablation covers
            (band,) = marks
            assert band.getRegion() == pytest.approx((11.5, 29.5))
    ctx.select(unit=4)
    session.seek(15)
    assert "f clamped to 1" in view.equation.text()  # and in the equation
    session.clear_edits()
    wait_traced(ctx)
    assert not any(t.marks.items for t in view.timeline.tracks() if hasattr(t, "marks"))


def _rgb(image) -> np.ndarray:
    """A grab as an (height, width, 4) array of bytes."""
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(),
                                                              image.bytesPerLine())
    # a copy: the converted image, and the bytes the rows point into, go with this call
    return rows[:, : 4 * image.width()].reshape(image.height(), image.width(), 4).copy()


def _runs(columns: np.ndarray) -> list[tuple[int, int]]:
    """Runs of neighbouring column indices as (first, last)."""
    runs: list[tuple[int, int]] = []
    for c in columns.tolist():
        if runs and c == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], c)
        else:
            runs.append((c, c))
    return runs


def _column_of(timeline: Timeline, graphics, t: float) -> float:
    """The pixel column of step ``t`` in ``graphics``, from the shared time axis."""
    axis_view = timeline.axis_plot.getViewBox()
    x = timeline.axis_graphics.mapToGlobal(timeline.axis_graphics.mapFromScene(
        axis_view.mapViewToScene(QPointF(t, 0)))).x()
    return graphics.mapFromGlobal(QPoint(x, 0)).x()


def _settled(qtbot, tracks) -> dict[str, np.ndarray]:
    """Each track's grab once the layout has settled (two grabs in a row are the same)."""

    def grab() -> dict[str, np.ndarray]:
        return {track.kind: _rgb(track.graphics.grab().toImage()) for track in tracks}

    last = grab()
    for _ in range(100):
        qtbot.wait(30)
        now = grab()
        if all(now[k].shape == last[k].shape and (now[k] == last[k]).all() for k in now):
            return now
        last = now
    raise AssertionError("the tracks never stopped changing")


def test_a_step_moves_only_the_cursor_to_that_steps_column_in_every_track(qtbot, show_view):
    session = Session(LSTMConfig(input_size=3, hidden_size=12), InputSpec(seq_len=300))
    ctx, view = show_view(StatesView, session, size=(1280, 1400))
    timeline = view.timeline
    for kind in ("i", "f", "g", "o"):
        timeline.add_track(kind)
    qtbot.wait(100)
    tracks = [t for t in timeline.tracks()
              if t.time_aligned and t.plot is not None and t.graphics.isVisible()]
    assert {"input", "c", "h", "units", "i", "f", "g", "o"} <= {t.kind for t in tracks}
    steps = (37, 101)
    grabs = []
    for t in steps:
        session.seek(t)
        grabs.append(_settled(qtbot, tracks))
    assert timeline.overview.window == (0, 150)  # both steps in the window: it did not move
    for track in tracks:
        before, after = grabs[0][track.kind], grabs[1][track.kind]
        rect = track.plot.getViewBox().sceneBoundingRect()
        top, bottom = (int(track.graphics.mapFromScene(rect.topLeft()).y()) + 1,
                       int(track.graphics.mapFromScene(rect.bottomLeft()).y()) - 1)
        changed = np.flatnonzero((before[top:bottom] != after[top:bottom]).any(axis=(0, 2)))
        runs = _runs(changed)
        # the cursor left one column and came to another; nothing else was drawn again
        assert len(runs) == 2, (track.kind, runs)
        for (first, last), t in zip(runs, steps):
            assert last - first <= 3, (track.kind, first, last)
            expected = _column_of(timeline, track.graphics, t)
            assert abs((first + last) / 2 - expected) <= 1.5, (track.kind, t, first, last,
                                                               expected)
        # at the step, the cursor's vermillion (far more red than blue) but where a line
        # of the plot crosses it
        column = after[top:bottom, (runs[1][0] + runs[1][1]) // 2, :3].astype(int)
        assert (column[:, 2] > column[:, 0] + 60).mean() > 0.75, track.kind  # BGRA bytes


def _title_offset(timeline: Timeline) -> float:
    """How far the middle of the time axis's title is from the middle of the tracks' plot
    area, in pixels; positive: right of it."""
    axis = timeline.axis_plot
    title = axis.getAxis("bottom").label.sceneBoundingRect()
    rows = axis.getViewBox().sceneBoundingRect()  # the axis's scene: no rounding to pixels
    # ... which is where the tracks' plot areas are, beside their colour bars
    assert _x_span(axis.getViewBox()) == _x_span(timeline.track("c").plot.getViewBox())
    return title.center().x() - rows.center().x()


def test_the_time_axis_title_is_centred_under_the_tracks_plot_area_whatever_it_says(
        qtbot, show_view):
    session = Session(LSTMConfig(input_size=3, hidden_size=12), InputSpec(seq_len=3000))
    _, view = show_view(StatesView, session)
    timeline = view.timeline
    session.seek(64)  # the step label is written on the axis
    qtbot.wait(50)
    title = timeline.axis_plot.getAxis("bottom").label
    seen = set()

    def check(when: str) -> None:
        qtbot.wait(50)
        assert timeline.step_label.item.isVisible()
        seen.add(title.toPlainText())
        assert abs(_title_offset(timeline)) <= 0.5, (when, title.toPlainText())

    check("at 1280x800")
    timeline.overview.set_window(100, 1100)  # a longer title: up to 2 steps a pixel
    check("after the window widened")
    view.resize(1000, 800)
    check("after a resize to 1000 px")
    timeline.overview.set_window(500, 650)  # a shorter one
    check("after the window narrowed")
    view.resize(1280, 800)
    check("back at 1280 px")
    assert len(seen) >= 3


def test_the_step_is_written_once_on_the_time_axis_and_over_no_tracks_data(qtbot,
                                                                           show_view):
    session = Session(LSTMConfig(input_size=3, hidden_size=12), InputSpec(seq_len=300))
    _, view = show_view(GatesView, session)
    timeline = view.timeline
    session.seek(64)
    qtbot.wait(50)
    label = timeline.step_label.item
    assert label.isVisible() and label.toPlainText() == "t = 64"
    box = label.sceneBoundingRect()
    axis = timeline.axis_graphics
    centre = axis.mapToGlobal(axis.mapFromScene(box.center())).x()
    assert abs(centre - axis.mapToGlobal(axis.mapFromScene(
        timeline.axis_plot.getViewBox().mapViewToScene(QPointF(64, 0)))).x()) <= 1
    top_left = axis.mapToGlobal(axis.mapFromScene(box.topLeft()))
    on_screen = QRect(top_left, box.size().toSize())
    for track in timeline.tracks():
        graphics = track.graphics
        if not graphics.isVisible():
            continue
        for item in graphics.scene().items():  # no track writes the step itself
            if isinstance(item, pg.TextItem):
                assert not re.match(r"t ?= ?\d", item.toPlainText()), track.kind
        rows = track.plot.getViewBox().sceneBoundingRect()
        corner = graphics.mapToGlobal(graphics.mapFromScene(rows.topLeft()))
        assert not on_screen.intersects(QRect(corner, rows.size().toSize())), track.kind
    # a cursor left of the steps shown is written at the left end, pointing to it
    timeline.overview.set_window(100, 250)
    qtbot.wait(20)
    assert label.toPlainText() == "◂ t = 64"


def _inside_steady(widget) -> bool:
    """Whether ``widget`` is held by a Steady (text there may change: the layout stays in)."""
    while widget is not None:
        if isinstance(widget, Steady):
            return True
        widget = widget.parentWidget()
    return False


def test_a_step_lays_out_no_widget_outside_the_steps_own_text_again(qtbot, make_window,
                                                                    wait_traced):
    w = make_window(_demo("char_python"), view="States")  # the readout under the tabs shows
    wait_traced(w)
    qtbot.wait(50)
    requests: list[str] = []

    class Watch(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt override
            if event.type() == QEvent.Type.LayoutRequest and obj.isWidgetType() \
                    and not _inside_steady(obj):
                requests.append(f"{type(obj).__name__} {obj.objectName()}")
            return False

    watch = Watch()
    for _ in range(3):  # the window is laid out once the demo's first steps are drawn
        w.session.step()
        qtbot.wait(50)
    QApplication.instance().installEventFilter(watch)
    try:
        for _ in range(3):
            w.session.step()
            QApplication.processEvents()
    finally:
        QApplication.instance().removeEventFilter(watch)
    assert w.panels["States"].strips.readout.isVisible()
    assert requests == [], requests
