"""The right-click menu that zeroes or clamps a unit: what-if ablations from any view.

``attach_ablation_menu`` puts it on the heatmaps of a pyqtgraph scene (States, Gates, the
Influence view's original run), ``attach_table_ablation_menu`` on a table of units (Units).
The chosen ablation is recorded in the session; the context re-traces on its worker.
"""

from __future__ import annotations

from typing import cast

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QMenu,
    QSpinBox,
)

from lstm_viz import Ablation
from lstm_viz.tracing.edits import StateKind

from .plots import Heatmap

KINDS = ("c", "h", "i", "f", "g", "o")
GATE_CLAMPS = {"i": (0.0, 1.0), "f": (0.0, 1.0), "g": (-1.0, 0.0, 1.0), "o": (0.0, 1.0)}


class AblationDialog(QDialog):
    """Zero or clamp one quantity of one unit over a span of steps."""

    def __init__(self, ctx, unit: int, t: int, kind: str = "h", parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Ablate unit {unit}")
        self.ctx, self.unit = ctx, unit
        T = ctx.session.num_steps
        self.kind = QComboBox()
        for k in KINDS:
            self.kind.addItem(k, k)
        self.kind.setCurrentIndex(self.kind.findData(kind))
        self.value = QDoubleSpinBox()
        self.value.setRange(-1.0, 1.0)
        self.value.setDecimals(3)
        self.value.setSingleStep(0.1)
        self.start = QSpinBox()
        self.start.setRange(0, T - 1)
        self.start.setValue(t)
        self.stop = QSpinBox()
        self.stop.setRange(1, T)
        self.stop.setValue(T)
        self.stop.setToolTip("The first step after the span (the number of steps: to the end)")
        form = QFormLayout(self)
        form.addRow("quantity", self.kind)
        form.addRow("value", self.value)
        form.addRow("from t", self.start)
        form.addRow("to t (excluded)", self.stop)
        self.message = QLabel()
        self.message.setStyleSheet("color: #c62828;")
        form.addRow(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._apply)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def ablation(self) -> Ablation:
        stop = self.stop.value()
        ctx = self.ctx
        return Ablation(self.kind.currentData(), ctx.layer, ctx.direction, ctx.batch,
                        (self.unit,), self.value.value(), self.start.value(),
                        None if stop >= self.ctx.session.num_steps else stop)

    def _apply(self) -> None:
        try:
            apply_ablation(self.ctx, self.ablation())
        except ValueError as exc:
            self.message.setText(str(exc))
            return
        self.accept()


def apply_ablation(ctx, ablation: Ablation) -> None:
    """Record ``ablation`` in the session; the context re-traces on its worker."""
    ctx.session.ablate(ablation, rerun=False)
    ctx.messages.post(f"what-if: {ablation.describe()}")


def ablation_menu(ctx, unit: int, t: int, parent=None, gate: str | None = None) -> QMenu:
    """The right-click menu for one unit at step t of the selected layer and direction; for a
    ``gate`` row (Gates view) that gate's clamps come first."""
    menu = QMenu(parent)
    menu.setObjectName("ablation_menu")
    menu.setTitle(f"Ablate unit {unit}")
    cfg = ctx.session.config

    def add(text: str, kind: str, value: float) -> None:
        action = menu.addAction(text)
        action.setData((kind, value))
        action.triggered.connect(lambda: _try(ctx, Ablation(
            cast(StateKind, kind), ctx.layer, ctx.direction, ctx.batch, (unit,), value, start=t)))

    if gate in GATE_CLAMPS:
        for value in GATE_CLAMPS[gate]:
            add(f"Clamp {gate}[{unit}] to {value:g} from t={t}", gate, value)
        menu.addSeparator()
    if unit < cfg.h_out:
        add(f"Zero h[{unit}] from t={t}", "h", 0.0)
    add(f"Zero c[{unit}] from t={t}", "c", 0.0)
    add(f"Clamp f[{unit}] to 0 from t={t} (forget)", "f", 0.0)
    add(f"Clamp f[{unit}] to 1 from t={t} (remember)", "f", 1.0)
    add(f"Clamp i[{unit}] to 0 from t={t} (write nothing)", "i", 0.0)
    add(f"Clamp o[{unit}] to 0 from t={t} (hide c)", "o", 0.0)
    add(f"Clamp g[{unit}] to 0 from t={t}", "g", 0.0)
    menu.addSeparator()
    span = menu.addAction("Over a span…")
    span.triggered.connect(lambda: AblationDialog(ctx, unit, t, gate or "h", parent).exec())
    return menu


def _try(ctx, ablation: Ablation) -> None:
    try:
        apply_ablation(ctx, ablation)
    except ValueError as exc:
        ctx.messages.post(str(exc), 8000)


def attach_ablation_menu(view, graphics: pg.GraphicsLayoutWidget,
                         maps: dict[str, Heatmap]) -> None:
    """Right-click a unit x time heatmap cell in ``graphics`` -> the ablation menu."""

    def clicked(event) -> None:
        if event.button() != Qt.MouseButton.RightButton:
            return
        for name, heatmap in maps.items():
            hit = heatmap.lookup(event.scenePos())
            if hit is not None:
                unit, t, _ = hit
                event.accept()
                view.ablation_menu = ablation_menu(view.ctx, unit, t, view, gate=name)
                view.ablation_menu.popup(event.screenPos().toPoint())
                return

    graphics.scene().sigMouseClicked.connect(clicked)


def attach_table_ablation_menu(view, table, unit_in_row) -> None:
    """Right-click a row of a unit table -> the ablation menu for its unit at the cursor."""
    table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def requested(pos) -> None:
        index = table.indexAt(pos)
        if index.isValid():
            view.ablation_menu = ablation_menu(view.ctx, unit_in_row(index.row()),
                                               view.session.t, view)
            view.ablation_menu.popup(table.viewport().mapToGlobal(pos))

    table.customContextMenuRequested.connect(requested)
