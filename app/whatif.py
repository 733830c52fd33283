"""What-if box: set c or h of the focus unit, or one input feature, at the current step to a
value of your own, and re-run the LSTM from there (``Session.edit_state`` / ``edit_input``).

The edit is recorded without tracing and the run goes through the context's worker like any
config change; the engine's ValueError is shown under the box."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from lstm_viz import InputEdit, StateEdit

from .context import DIRECTIONS
from .widgets import ERROR_STYLE

#: (label, kind): what the box can set
KINDS = [("c (cell)", "c"), ("h (hidden)", "h"), ("x (input)", "x")]


def edit_text(edit: InputEdit | StateEdit) -> str:
    """One line for an edit as the session records it (state or input)."""
    if isinstance(edit, InputEdit):
        return f"x[{edit.feature}] = {edit.value:+.4g} at t {edit.t}, batch {edit.batch}"
    return (f"{edit.kind}[{edit.unit}] = {edit.value:+.4g} at t {edit.t}, layer {edit.layer}"
            f" {DIRECTIONS[edit.direction]}, batch {edit.batch}")


class WhatIfBox(QGroupBox):
    """Set one value at the current t, layer, direction and batch element; list the edits."""

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.setObjectName("whatif")
        self.ctx = ctx
        self.session = ctx.session
        self._feature = 0  # the input feature last chosen (c and h follow the focus unit)
        self.kind = QComboBox()
        self.kind.setObjectName("whatif_kind")
        for label, kind in KINDS:
            self.kind.addItem(label, kind)
        self.kind.setToolTip("What to set at this step: the focus unit's c or h (the change"
                             " flows forward and into the layers above), or one input feature")
        self.index_label = QLabel("unit")
        self.index = QSpinBox()
        self.index.setObjectName("whatif_index")
        self.value = QDoubleSpinBox()
        self.value.setObjectName("whatif_value")
        self.value.setRange(-1000.0, 1000.0)
        self.value.setDecimals(4)
        self.value.setSingleStep(0.1)
        self.value.setToolTip("The new value (prefilled with the current one)")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("whatif_apply")
        self.apply_button.setToolTip("Record the edit and re-run the LSTM with every edit")
        self.clear_button = QPushButton("Clear edits")
        self.clear_button.setObjectName("whatif_clear")
        self.clear_button.setToolTip("Drop every edit and return to the original run")
        self.message = QLabel()
        self.message.setObjectName("whatif_message")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.hide()
        self.edit_list = QListWidget()
        self.edit_list.setObjectName("whatif_edits")
        self.edit_list.setFixedHeight(self.fontMetrics().lineSpacing() * 3 + 8)
        row = QHBoxLayout()
        row.addWidget(self.kind)
        row.addWidget(self.index_label)
        row.addWidget(self.index)
        row.addWidget(QLabel("="))
        row.addWidget(self.value, 1)
        row.addWidget(self.apply_button)
        edits_row = QHBoxLayout()
        edits_row.addWidget(self.edit_list, 1)
        edits_row.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addLayout(edits_row)
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        self.index.valueChanged.connect(self._on_index_changed)
        self.apply_button.clicked.connect(self.apply)
        self.value.lineEdit().returnPressed.connect(self.apply)
        self.clear_button.clicked.connect(self.clear)
        self.ctx.step_changed.connect(self._on_step_changed)
        self.ctx.trace_changed.connect(self.refresh)
        self.ctx.config_changed.connect(self._refresh_edits)  # a new config drops edits
        self.ctx.edits_changed.connect(self._refresh_edits)
        ctx.selection_changed.connect(self.refresh)
        # an error is about the edit tried here and now: moving on makes it stale
        for signal in (ctx.step_changed, ctx.selection_changed, ctx.config_changed,
                       ctx.trace_changed):
            signal.connect(self._clear_error)
        self.refresh()
        self._refresh_edits()

    @property
    def current_kind(self) -> str:
        return self.kind.currentData()

    # ----- user actions -----------------------------------------------------------------
    def apply(self) -> None:
        """Record the edit; the context re-traces with every edit on the worker."""
        ctx, value = self.ctx, float(self.value.value())
        try:
            if self.current_kind == "x":
                self.session.edit_input(self.session.t, ctx.batch, self.index.value(), value,
                                        rerun=False)
            else:
                self.session.edit_state(self.current_kind, self.session.t, ctx.layer,
                                        ctx.direction, ctx.batch, self.index.value(), value,
                                        rerun=False)
        except ValueError as exc:
            self.set_error(str(exc))
            return
        self.set_error("")

    def clear(self) -> None:
        """Drop every edit; the original run comes back at once (or is traced again)."""
        self.session.clear_edits()
        self.set_error("")

    def _clear_error(self, *args) -> None:
        self.set_error("")

    def set_error(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # ----- showing the session ----------------------------------------------------------
    def refresh(self, *args) -> None:
        """Ranges from the config, the focus unit, and the current value."""
        cfg, kind = self.session.config, self.current_kind
        self.index.blockSignals(True)
        if kind == "x":
            self.index_label.setText("feature")
            self.index.setRange(0, cfg.input_size - 1)
            self.index.setValue(min(self._feature, cfg.input_size - 1))
        else:
            # the focus unit's range, also for h with proj_size: the engine says why not
            self.index_label.setText("unit")
            self.index.setRange(0, cfg.hidden_size - 1)
            self.index.setValue(self.ctx.unit)
        self.index.blockSignals(False)
        self._on_step_changed()

    def _on_step_changed(self, *args) -> None:
        ctx = self.ctx
        direction = f" {DIRECTIONS[ctx.direction]}" if self.session.config.bidirectional else ""
        self.setTitle(f"What-if at t = {self.session.t} (layer {ctx.layer}{direction},"
                      f" batch {ctx.batch})")
        value = self.current_value()
        if value is not None and np.isfinite(value):
            self.value.setValue(value)

    def current_value(self) -> float | None:
        """The value now at the box's position in the trace on screen (None if there is none)."""
        trace, ctx, t = self.session.trace, self.ctx, self.session.t
        if trace is None or not ctx.fits(trace) or not trace.start <= t < trace.stop:
            return None
        i, t = self.index.value(), t - trace.start  # a windowed trace holds [start, stop)
        if self.current_kind == "x":
            block = trace.x[t, ctx.batch]
        else:
            block = getattr(trace, self.current_kind)[ctx.layer, ctx.direction, t, ctx.batch]
        return float(block[i]) if i < block.shape[0] else None

    def _on_kind_changed(self, *args) -> None:
        self.set_error("")
        self.refresh()

    def _on_index_changed(self, value: int) -> None:
        if self.current_kind == "x":
            self._feature = value
            self._on_step_changed()
        else:
            self.ctx.select(unit=value)  # c and h are the focus unit's: every view follows

    def _refresh_edits(self, *args) -> None:
        edits = self.session.edits
        self.edit_list.clear()
        self.edit_list.addItems([edit_text(e) for e in [*edits.states, *edits.inputs]]
                                + [f"ablation: {a.describe()}" for a in edits.ablations])
        for row in range(self.edit_list.count()):  # a long line is cut: the tooltip has it all
            item = self.edit_list.item(row)
            item.setToolTip(item.text())
        if not edits:
            self.edit_list.addItem("No edits: the run is nn.LSTM's own.")
        self.edit_list.setEnabled(bool(edits))
        self.clear_button.setEnabled(bool(edits))
