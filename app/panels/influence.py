"""Influence view: why a unit holds what it holds, and what changes when a unit is switched off.

Two timelines of tracks (the Influence and What-if presets), on the pages the view always had:

*Gradients*: pick the target (the focus unit's h or c at the cursor, or the head's prediction
or loss) and see ∂target/∂x over time and input features, ∂target/∂c and ∂target/∂h over
time and units for the selected layer and direction, and their per-step norms on a log scale
next to the forget-gate product ∏f of the focus unit: where the memory fades, and where it
does not. The gradients are computed by ``lstm_viz.influence`` on a worker thread of the
timeline's own ``GradientSource``; they are of the LSTM as it is, on the input with its input
edits.

*Difference*: after a what-if run (an ablation, a clamp or a state edit), the chosen quantity
(a gate, c, h, or the head's prediction or loss) in the run before the edit, in the edited
run, and edited minus before, with the ablated units outlined in every track; the detail
window moves to where the change is. Ablations come from the right-click menu of
app/ablation_menu.py (States, Gates, Units, and the runs here).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lstm_viz.explain.gradients import reach

from ..figure_writers import painted
from ..plots import Heatmap
from ..timeline import Timeline, TrackState, preset
from ..timeline.compare import Compared, compared_runs
from ..timeline.figure import TimelineFigure, timeline_figure
from ..timeline.gradient_track import GradientTrack
from ..timeline.gradients import (
    GradientSource,
    InfluenceRequest,
    influence_arrays,
    save_influence_csv,
    save_influence_npz,
)
from ..timeline.kinds.grad_norms import GradNormsTrack
from ..workers import WriteRunner
from .base import TraceView

__all__ = ["InfluenceView"]

QUANTITIES = ("i", "f", "g", "o", "c", "h")
HEAD_QUANTITIES = ("prediction", "loss")
#: the parts of the gradient map, and the tracks that draw them
GRADIENT_TRACKS = {"dx": "grad_x", "dc": "grad_c", "dh": "grad_h"}
FORMATS = ("PNG", "SVG", "PDF", "CSV", "NPZ")


class InfluenceView(TraceView):
    """Gradients of the focus unit at the cursor through time, and what-if differences."""

    title = "Influence"

    def __init__(self, ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.gradients = Timeline(ctx, preset("Influence"))
        self.gradients.setObjectName("influence_timeline")
        self.source: GradientSource = self.gradients.shared(
            "gradients", lambda: GradientSource(ctx, self.gradients))
        self.source.changed.connect(self._on_source_changed)
        self._framed: tuple | None = None
        #: a trace or step arrived while the view was hidden: drawn when it is shown
        self._behind = False
        self.target = QComboBox()
        self.target.setObjectName("influence_target")
        self.target.setToolTip("The value whose gradients are shown")
        self.target.currentIndexChanged.connect(self._on_target_chosen)
        self._offer_targets()
        self.status = QLabel()
        self.status.setObjectName("influence_status")
        self.status.setWordWrap(True)
        self.export_buttons: dict[str, QPushButton] = {}
        #: what the export buttons write: encoded and written off the GUI thread, in turn
        self.writes = WriteRunner(self)
        self.writes.written.connect(self._on_written)
        self.writes.failed.connect(self._on_write_failed)
        controls = QHBoxLayout()
        controls.addWidget(self.caption, 1)
        controls.addWidget(QLabel("target"))
        controls.addWidget(self.target)
        for fmt in FORMATS:
            button = QPushButton(fmt)
            button.setObjectName(f"influence_export_{fmt.lower()}")
            button.setToolTip(f"Save the tracks shown as {fmt}" if fmt in ("PNG", "SVG", "PDF")
                              else f"Save the gradients as {fmt}")
            button.clicked.connect(lambda _=False, f=fmt: self._export_clicked(f))
            controls.addWidget(button)
            self.export_buttons[fmt] = button
        # differences
        self.whatif = Timeline(ctx, preset("What-if"))
        self.whatif.setObjectName("whatif_timeline")
        self.diff_quantity = QComboBox()
        self.diff_quantity.setObjectName("difference_quantity")
        self.diff_quantity.setToolTip("The quantity whose runs before and after the edit, and"
                                      " their difference, are shown")
        self._offer_quantities()
        self.diff_quantity.currentIndexChanged.connect(self._on_quantity_chosen)
        self.diff_caption = QLabel()
        self.diff_caption.setObjectName("difference_caption")
        self.diff_caption.setWordWrap(True)
        self.clear_button = QPushButton("Clear edits")
        self.clear_button.setToolTip("Drop every what-if edit and return to the original run")
        self.clear_button.clicked.connect(self.session.clear_edits)
        diff_page = QWidget()
        dl = QVBoxLayout(diff_page)
        dl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("quantity"))
        row.addWidget(self.diff_quantity)
        row.addWidget(self.diff_caption, 1)
        row.addWidget(self.clear_button)
        dl.addLayout(row)
        dl.addWidget(self.whatif, 1)
        self.pages = QTabWidget()
        self.pages.setObjectName("influence_pages")
        self.pages.addTab(self.gradients, "Gradients")
        self.pages.addTab(diff_page, "Difference")
        self.gradients.hover.setText("Hover a cell to read its gradient.")
        self.whatif.hover.setText("Right-click a unit in States, Units or a run here to ablate"
                                  " it; hover a cell to read it.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self.pages, 1)
        self.ctx.edits_changed.connect(self._show_difference)
        self.listen()

    # ----- what the tests and the exports read ------------------------------------------
    @property
    def timeline(self) -> Timeline:
        """The timeline of the page on show."""
        return self.whatif if self.pages.currentIndex() == 1 else self.gradients

    @property
    def timelines(self) -> dict[str, Timeline]:
        """Both pages' timelines, by page (what a session and the settings keep)."""
        return {"Gradients": self.gradients, "Difference": self.whatif}

    @property
    def result(self) -> Any:
        """The gradient map on screen (an lstm_viz Influence), or None."""
        return self.source.result

    @property
    def forget(self) -> np.ndarray | None:
        return self.source.forget

    @property
    def runner(self) -> Any:
        return self.source.runner

    @property
    def _latest(self) -> InfluenceRequest | None:
        return self.source._latest

    def _gradient_tracks(self) -> dict[str, GradientTrack]:
        """The gradient heatmap tracks shown, by part ("dx", "dc", "dh")."""
        return {part: t for part, kind in GRADIENT_TRACKS.items()
                if isinstance(t := self.gradients.track(kind), GradientTrack)}

    @property
    def maps(self) -> dict[str, Heatmap]:
        """The gradient heatmaps shown, by part ("dx", "dc", "dh")."""
        return {part: t.map for part, t in self._gradient_tracks().items()}

    @property
    def bars(self) -> dict[str, pg.ColorBarItem]:
        return {part: t.bar for part, t in self._gradient_tracks().items()}

    @property
    def norm_lines(self) -> dict[str, pg.PlotDataItem]:
        track = self.gradients.track("grad_norms")
        return track.lines if isinstance(track, GradNormsTrack) else {}

    def graphics_of(self, kind: str) -> pg.GraphicsLayoutWidget:
        """The scene of the track of ``kind`` on either page."""
        track = self.gradients.track(kind) or self.whatif.track(kind)
        if track is None:
            raise ValueError(f"no {kind!r} track is shown")
        return track.graphics

    def _compared(self, mode: str) -> Compared | None:
        for track in self.whatif.tracks():
            if isinstance(track, Compared) and track.mode == mode:
                return track
        return None

    @property
    def orig_map(self) -> Heatmap:
        """The heatmap of the run before the edit (of the quantity chosen)."""
        track = self._compared("before")
        if track is None:
            raise ValueError("no 'before the edit' track is shown")
        return track.map

    @property
    def edit_map(self) -> Heatmap:
        """The heatmap of edited minus before (of the quantity chosen)."""
        track = self._compared("diff")
        if track is None:
            raise ValueError("no difference track is shown")
        return track.map

    @property
    def orig_bar(self) -> pg.ColorBarItem:
        track = self._compared("before")
        assert track is not None
        return track.bar

    @property
    def diff_bar(self) -> pg.ColorBarItem:
        track = self._compared("diff")
        assert track is not None
        return track.bar

    # ----- targets and quantities -------------------------------------------------------
    @property
    def state(self) -> str:
        return str(self.target.currentData())

    def _offer_targets(self) -> None:
        """The targets the model has (prediction and loss while it has a head)."""
        offered = self.source.targets()
        if [self.target.itemData(k) for k in range(self.target.count())] == \
                [s for _, s in offered]:
            return
        self.target.blockSignals(True)
        current = self.source.state
        self.target.clear()
        for label, state in offered:
            self.target.addItem(label, state)
        index = self.target.findData(current)
        self.target.setCurrentIndex(max(index, 0))
        self.target.blockSignals(False)
        if index < 0:
            self._on_target_chosen()

    def _on_target_chosen(self, *args: object) -> None:
        state = self.target.currentData()
        if state is not None:
            self.source.set_state(str(state))

    def _offer_quantities(self) -> None:
        """Every gate and state, and the head's prediction and loss while there is a head."""
        offered = list(QUANTITIES)
        if self.session.head is not None:
            offered += list(HEAD_QUANTITIES)
        combo = self.diff_quantity
        if [combo.itemData(k) for k in range(combo.count())] == offered:
            return
        current = combo.currentData() or self.shown_quantity() or "c"
        combo.blockSignals(True)
        combo.clear()
        for q in offered:
            combo.addItem(q, q)
        index = combo.findData(current)
        combo.setCurrentIndex(index if index >= 0 else offered.index("c"))
        combo.blockSignals(False)
        if index < 0:
            self._on_quantity_chosen()

    def shown_quantity(self) -> str | None:
        """The quantity of the first before / after / difference track (None: none shown)."""
        track = next((t for t in self.whatif.tracks() if isinstance(t, Compared)), None)
        return None if track is None else track.base_kind

    def _on_quantity_chosen(self, *args: object) -> None:
        """The before, after and difference tracks of the shown quantity follow the choice."""
        new, old = str(self.diff_quantity.currentData()), self.shown_quantity()
        if old is None or new == old:
            return
        states = []
        for state in self.whatif.state():
            mode, _, base = state.kind.partition(":")
            if base == old and mode in ("before", "after", "diff"):
                state = TrackState(f"{mode}:{new}", state.height, state.collapsed, "")
            states.append(state)
        self.whatif.set_tracks(states)
        self._show_difference()

    # ----- drawing ----------------------------------------------------------------------
    def show_trace(self, trace: Any) -> None:
        if not self.isVisible():  # a hidden tab costs nothing: drawn when shown
            self._behind = True
            return
        self._behind = False
        self._offer_targets()
        self._offer_quantities()
        shown = self.shown_quantity()  # the tracks a session restored say which quantity
        if shown is not None and shown != self.diff_quantity.currentData():
            index = self.diff_quantity.findData(shown)
            if index >= 0:
                self.diff_quantity.blockSignals(True)
                self.diff_quantity.setCurrentIndex(index)
                self.diff_quantity.blockSignals(False)
        self.caption.setText(f"<b>Influence</b>: {self.ctx.selection_text()}")
        self.gradients.show_trace(trace)
        self._show_difference()
        self.show_step(self.session.t)

    def show_step(self, t: int) -> None:
        if self._behind or not self.isVisible():
            self._behind = True
            return
        self.gradients.show_step(t)
        self.whatif.show_step(t)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._behind:
            self.refresh()

    def recompute(self, *args: object) -> None:
        """Ask for the gradients of the current target (only while they are on screen)."""
        self.source.recompute()

    def _on_source_changed(self) -> None:
        self.status.setText(self.source.status)
        inf = self.source.result
        if inf is None:
            return
        key = (id(inf), self.ctx.layer, self.ctx.direction)
        if key != self._framed:  # a new map: show the steps the target depends on
            self._framed = key
            a = influence_arrays(inf, self.ctx.layer, self.ctx.direction)
            lo, hi = reach([a["x_norm"], a["c_norm"]], inf.t)
            pad = max(5, (hi - lo) // 10)
            self.gradients.overview.set_window(lo - pad, hi + pad + 1)

    def difference_block(self, quantity: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(before (rows, T), edited minus before (rows, T)) of ``quantity`` for the
        selection, or None when no what-if run is on screen."""
        trace = self.session.trace
        if trace is None or not self.ctx.fits(trace) or compared_runs(self.session) is None:
            return None
        track = self._compared("diff")
        if track is None or track.base_kind != quantity or track.pair is None:
            return None
        before, after = track.pair
        return np.ascontiguousarray(before.T), np.ascontiguousarray((after - before).T)

    def _show_difference(self, *args: object) -> None:
        """The what-if tracks, the caption that names the edits, and a detail window that
        holds where the change begins."""
        if not self.isVisible():
            self._behind = True
            return
        trace = self.session.trace
        if trace is None or not self.ctx.fits(trace):
            return
        self.whatif.show_trace(trace)
        edits = self.session.edits
        if compared_runs(self.session) is None:
            self.diff_caption.setText("No what-if run: right-click a unit in States or Units"
                                      " (or in a run here) to zero or clamp it.")
            return
        described = [a.describe() for a in edits.ablations]
        n_other = len(edits.states) + len(edits.inputs)
        if n_other:
            described.append(f"{n_other} other what-if edit{'s' * (n_other != 1)}")
        diff = self._compared("diff")
        where = "" if diff is None else f" · {diff.change_text()}"
        self.diff_caption.setText("; ".join(described) + where)
        if diff is not None and diff.span is not None:
            self._frame_change(diff.span[0])

    def _frame_change(self, first: int) -> None:
        """Show where the change begins, and the cursor (the window follows the cursor)."""
        overview, t = self.whatif.overview, self.session.t
        t0, t1 = overview.window
        if t0 <= first < t1 and t0 <= t < t1:
            return
        width = t1 - t0
        lo, hi = min(t, first), max(t, first)
        pad = max(2, width // 10)
        if hi - lo + 2 * pad <= width:
            overview.set_window(lo - pad, lo - pad + width)
        else:  # both do not fit the window as it is: widen it
            overview.set_window(lo - pad, hi + pad + 1)

    # ----- exports ----------------------------------------------------------------------
    def figure(self, caption: str = "") -> TimelineFigure:
        """The page on show as a figure: its tracks, the status line as its title."""
        inf = self.source.result  # what the tracks draw, also while a newer map is on its way
        title = self.diff_caption.text() if self.timeline is self.whatif else \
            self.source.describe(inf) if inf is not None else self.status.text()
        return timeline_figure(self.timeline, title, caption)

    def _export_clicked(self, fmt: str) -> None:
        if fmt in ("CSV", "NPZ") and self.result is None:
            self.status.setText("Nothing to export yet: the gradients are still being computed.")
            return
        ext = fmt.lower()
        path, _ = QFileDialog.getSaveFileName(self, f"Save the influence view as {fmt}",
                                              f"influence.{ext}", f"{fmt} (*.{ext})")
        if path:
            self.start_export(path, fmt)

    def start_export(self, path: str | Path, fmt: str | None = None,
                     scale: float = 1.0) -> None:
        """Write the page on show (PNG, SVG, PDF) or the gradients (CSV, NPZ) to ``path``
        while the window goes on: the figure is painted now, on the GUI thread, where Qt
        paints scenes; it is encoded and written on ``writes``' thread. The status bar says
        when the file is written, or why not."""
        path = Path(path)
        try:
            write = self._writer(path, fmt, scale)
        except (OSError, ValueError) as exc:
            self._on_write_failed(path, exc)
            return
        self.ctx.messages.post(f"Saving {path.name}…", 10000)
        self.writes.submit(path, write)

    def _on_written(self, path: Path, result: Any) -> None:
        self.ctx.messages.post(f"Wrote {path}", 8000)

    def _on_write_failed(self, path: Path, exc: BaseException) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
            str(exc) or type(exc).__name__
        text = reason if str(path) in reason else f"could not save {path}: {reason}"
        self.status.setText(text)
        self.ctx.messages.post(f"Export failed: {text}", 15000)

    def export(self, path: str | Path, fmt: str | None = None, scale: float = 1.0) -> Path:
        """Write the page on show (PNG, SVG, PDF) or the gradients (CSV, NPZ) to ``path``,
        before returning."""
        return self._writer(Path(path), fmt, scale)()

    def _writer(self, path: Path, fmt: str | None, scale: float) -> Callable[[], Path]:
        """What the page on show (PNG, SVG, PDF) or the gradients (CSV, NPZ) are now, and the
        function that writes them to ``path``: safe on a worker thread."""
        fmt = (fmt or path.suffix.lstrip(".")).upper()
        if fmt in ("PNG", "SVG", "PDF"):
            write = painted(self.figure(), fmt, "lstm-viz influence", scale)
            return lambda: write(path)
        if fmt not in ("CSV", "NPZ"):
            raise ValueError(f"format must be one of {', '.join(FORMATS)} (got {fmt!r})")
        if self.result is None:
            raise OSError("no gradients computed yet")
        args = (path, self.result, self.ctx.layer, self.ctx.direction, self.forget)
        save = save_influence_csv if fmt == "CSV" else save_influence_npz
        return lambda: save(*args)
