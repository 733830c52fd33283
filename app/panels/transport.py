"""Transport: first, back, play/pause, step, last, a timestep slider, play speed, and the layer,
direction and batch-element selectors every view follows. Stepping only indexes the trace."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QColor, QKeySequence, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QSlider,
    QSpinBox,
    QStyle,
    QStyleOptionSlider,
    QToolBar,
)
from superqt.utils import signals_blocked

from ..sessions import ended_text

END_MARK = QColor("#c62828")


class LengthSlider(QSlider):
    """A timestep slider with a mark where each sequence of a packed batch ends."""

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.lengths: list[int] = []
        self.selected = 0

    def set_lengths(self, lengths, num_steps: int, selected: int) -> None:
        """Mark the sequences shorter than ``num_steps`` (none when all are full length)."""
        lengths = [int(n) for n in lengths] if lengths is not None else []
        self.lengths = lengths if any(n < num_steps for n in lengths) else []
        self.selected = selected
        tip = "Timestep (Left/Right, Home/End)"
        if self.lengths:
            ends = "; ".join(f"sequence {b} ends at t = {n - 1}"
                             for b, n in enumerate(self.lengths))
            tip += f"\nRed marks: where each sequence ends ({ends})"
        self.setToolTip(tip)
        self.update()

    def marks(self) -> dict[int, list[int]]:
        """Last valid step -> the batch elements whose sequence ends there."""
        out: dict[int, list[int]] = {}
        for b, n in enumerate(self.lengths):
            out.setdefault(n - 1, []).append(b)
        return out

    def paintEvent(self, event):  # noqa: N802 - Qt override
        super().paintEvent(event)
        if not self.lengths:
            return
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderGroove, self)
        handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderHandle, self)
        span = groove.width() - handle.width()
        painter = QPainter(self)
        for last, batches in self.marks().items():
            x = groove.left() + handle.width() / 2 + QStyle.sliderPositionFromValue(
                self.minimum(), self.maximum(), last, span)
            width = 3 if self.selected in batches else 1.5
            painter.setPen(QPen(END_MARK, width))
            painter.drawLine(int(x), 1, int(x), self.height() - 2)
        painter.end()


class TransportBar(QToolBar):
    """A toolbar; its actions carry the Space/Left/Right/Home/End shortcuts for the window."""

    title = "Transport"

    def __init__(self, ctx, parent=None):
        super().__init__("Transport", parent)
        self.setObjectName("TransportBar")
        self.setMovable(False)
        self.ctx = ctx
        self.session = ctx.session
        style = self.style()
        icon = style.standardIcon
        SP = QStyle.StandardPixmap
        self.first_action = self._action("First", icon(SP.SP_MediaSkipBackward), "Home",
                                         self.session.first)
        self.back_action = self._action("Back", icon(SP.SP_MediaSeekBackward), "Left",
                                        self.session.back)
        self.play_action = self._action("Play", icon(SP.SP_MediaPlay), "Space",
                                        self.toggle_play)
        self.step_action = self._action("Step", icon(SP.SP_MediaSeekForward), "Right",
                                        self.session.step)
        self.last_action = self._action("Last", icon(SP.SP_MediaSkipForward), "End",
                                        self.session.last)
        self._play_icon, self._pause_icon = icon(SP.SP_MediaPlay), icon(SP.SP_MediaPause)
        self.slider = LengthSlider()
        self.slider.setObjectName("time_slider")
        self.slider.setMinimumWidth(160)
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.addWidget(self.slider)
        self.t_label = QLabel()
        self.t_label.setObjectName("t_label")
        self._t_fixed = False
        self.addWidget(self.t_label)
        self.speed = QSpinBox()
        self.speed.setRange(1, 120)
        self.speed.setValue(8)
        self.speed.setSuffix(" steps/s")
        self.speed.setToolTip("Play speed")
        self.speed.valueChanged.connect(self._on_speed)
        self.addWidget(self.speed)
        self.addSeparator()
        self.layer = self._selector("layer", QComboBox(), "Layer every view shows")
        self.direction = self._selector("direction", QComboBox(),
                                        "Direction every view shows (bidirectional LSTMs)")
        self.batch = self._selector("batch", QSpinBox(), "Batch element every view shows")
        self.layer.currentIndexChanged.connect(lambda i: i >= 0 and ctx.select(layer=i))
        self.direction.currentIndexChanged.connect(
            lambda i: i >= 0 and ctx.select(direction=i))
        self.batch.valueChanged.connect(lambda b: ctx.select(batch=b))
        self.busy = QLabel()
        self.busy.setObjectName("busy_label")
        self.addWidget(self.busy)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._on_tick)
        self._on_speed(self.speed.value())
        self.ctx.step_changed.connect(self._on_step_changed)
        self.ctx.trace_changed.connect(self._on_trace_changed)
        self.ctx.config_changed.connect(self._on_trace_changed)
        ctx.selection_changed.connect(self._sync_selectors)
        self._on_trace_changed()

    def _action(self, text: str, icon, key: str, slot) -> QAction:
        action = QAction(icon, text, self)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setToolTip(f"{text} ({key})")
        action.triggered.connect(lambda *_: slot())
        self.addAction(action)
        return action

    def _selector(self, label: str, widget, tip: str):
        widget.setObjectName(f"select_{label}")
        widget.setToolTip(tip)
        widget.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        caption = QLabel(f" {label} ")
        self.addWidget(caption)
        self.addWidget(widget)
        return widget

    # ----- playing ----------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle_play(self) -> None:
        if self.playing:
            self.timer.stop()
        else:
            if self.session.t >= self.session.num_steps - 1:
                self.session.first()
            self.timer.start()
        self._show_play_state()

    def _show_play_state(self) -> None:
        self.play_action.setIcon(self._pause_icon if self.playing else self._play_icon)
        self.play_action.setText("Pause" if self.playing else "Play")

    def _on_tick(self) -> None:
        if self.session.t >= self.session.num_steps - 1:
            self.timer.stop()
            self._show_play_state()
            return
        self.session.step()

    def _on_speed(self, value: int) -> None:
        self.timer.setInterval(max(1, int(1000 / value)))

    # ----- following the session ----------------------------------------------------------
    def _on_slider(self, value: int) -> None:
        if value != self.session.t:
            self.session.seek(value)

    def _on_step_changed(self, *args) -> None:
        t, n = self.session.t, self.session.num_steps
        with signals_blocked(self.slider):
            self.slider.setValue(t)
        trace = self.session.trace
        ended = ended_text(trace.lengths if trace is not None else None, self.ctx.batch, t)
        last = max(n - 1, 0)
        label = self.t_label
        # a label's new text lays out and repaints the whole window unless its size is fixed:
        # fitted to the widest step of each new trace, grown (never shrunk) for longer text
        if not self._t_fixed:
            self._t_fixed = True
            label.setText(f" t = {last} / {last} ")
            label.setFixedSize(max(label.sizeHint().width(), 96), label.sizeHint().height())
        label.setText(f" t = {t} / {last} " + (f"({ended}) " if ended else ""))
        if label.sizeHint().width() > label.maximumWidth():
            label.setFixedWidth(label.sizeHint().width())

    def _on_trace_changed(self, *args) -> None:
        n = self.session.num_steps
        self._t_fixed = False
        with signals_blocked(self.slider):
            self.slider.setRange(0, max(n - 1, 0))
        self._sync_selectors()
        self._on_step_changed()

    def _mark_lengths(self) -> None:
        trace = self.session.trace
        lengths = trace.lengths.tolist() if trace is not None else None
        self.slider.set_lengths(lengths, self.session.num_steps, self.ctx.batch)

    def _sync_selectors(self) -> None:
        cfg = self.session.config
        ctx = self.ctx
        for widget in (self.layer, self.direction, self.batch):
            widget.blockSignals(True)
        if self.layer.count() != cfg.num_layers:
            self.layer.clear()
            self.layer.addItems([str(k) for k in range(cfg.num_layers)])
        names = ["forward", "reverse"][: cfg.num_directions]
        if [self.direction.itemText(k) for k in range(self.direction.count())] != names:
            self.direction.clear()
            self.direction.addItems(names)
        self.direction.setEnabled(cfg.bidirectional)
        self.layer.setEnabled(cfg.num_layers > 1)
        self.batch.setRange(0, int(self.session.input_tm.shape[1]) - 1)
        self.layer.setCurrentIndex(ctx.layer)
        self.direction.setCurrentIndex(ctx.direction)
        self.batch.setValue(ctx.batch)
        for widget in (self.layer, self.direction, self.batch):
            widget.blockSignals(False)
        self._mark_lengths()
        self._on_step_changed()

    def set_busy(self, busy: bool) -> None:
        self.busy.setText(" tracing… " if busy else "")


