"""Text view: the input's characters (or tokens) coloured by one unit's h or c, LSTMVis/Karpathy
style, with the current timestep marked; click a character to move there."""

from __future__ import annotations

import bisect

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QTextEdit,
    QToolTip,
    QVBoxLayout,
)

from lstm_viz.text.textinput import spec_tokens

from ..sessions import ended_text
from .base import TraceView

COLOURS = pg.colormap.get("CET-D1A")  # blue (negative) - white (0) - red (positive)
KINDS = [("h (hidden state)", "h"), ("c (cell state)", "c"), ("i (input gate)", "i"),
         ("f (forget gate)", "f"), ("g (candidate)", "g"), ("o (output gate)", "o")]


def display(token: str, char_level: bool) -> str:
    """How a token is drawn: newlines as a return mark (then a line break), tabs as arrows."""
    if token == "\n":
        return "↵\n"
    if token == "\t":
        return "→   "
    if token == "\x00":
        return "?"
    return token if char_level else token + " "


def _ink(background: QColor) -> QColor:
    """Black text on light backgrounds, white on dark ones."""
    return QColor("#ffffff") if background.lightness() < 110 else QColor("#000000")


class _TextArea(QTextEdit):
    """A read-only text area that reports the character index under the mouse."""

    def __init__(self, owner: TextView):
        super().__init__()
        self.owner = owner
        self.setReadOnly(True)
        self.setUndoRedoEnabled(False)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setLineWrapMode(QTextEdit.LineWrapMode.NoWrap)

    def mousePressEvent(self, event):  # noqa: N802 - Qt override
        t = self.owner.step_at(self.cursorForPosition(event.position().toPoint()).position())
        if t is not None:
            self.owner.session.seek(t)
        event.accept()

    def mouseMoveEvent(self, event):  # noqa: N802 - Qt override
        pos = event.position().toPoint()
        text = self.owner.hover_text(self.cursorForPosition(pos).position())
        if text:
            QToolTip.showText(self.viewport().mapToGlobal(pos), text, self)
        super().mouseMoveEvent(event)


class TextView(TraceView):
    """The text of a text input, each character's background the chosen unit's value there."""

    title = "Text"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.kind_box = QComboBox()
        self.kind_box.setObjectName("text_kind")
        for label, kind in KINDS:
            self.kind_box.addItem(label, kind)
        self.kind_box.setToolTip("What colours the text: h or c of the unit, or one of its gates")
        self.kind_box.currentIndexChanged.connect(self.refresh)
        self.unit_box = QSpinBox()
        self.unit_box.setObjectName("text_unit")
        self.unit_box.setToolTip("The unit whose value colours each character (the focus unit)")
        self.unit_box.valueChanged.connect(lambda u: self.ctx.select(unit=u))
        self.caption.setObjectName("text_caption")
        self.legend = QLabel()
        self.legend.setObjectName("text_legend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(QLabel("colour by"))
        top.addWidget(self.kind_box)
        top.addWidget(QLabel("unit"))
        top.addWidget(self.unit_box)
        self.text = _TextArea(self)
        self.text.setObjectName("text_area")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSize(11)
        self.text.setFont(font)
        self.status = QLabel()
        self.status.setObjectName("text_status")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        layout.addLayout(top)
        layout.addWidget(self.legend)
        layout.addWidget(self.text, 1)
        self.empty = QLabel()
        self.empty.setObjectName("text_empty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #616161; font-size: 12pt; padding: 40px;")
        self.empty.hide()
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.status)
        self.tokens: list[str] = []
        self.values = np.zeros(0)
        self.starts: list[int] = []  # document position of each token
        self.widths: list[int] = []
        self.limit = 1.0
        self.lengths = None  # the trace's per-sequence lengths (None: every sequence is full)
        self.start = 0  # the input position of the first token shown (a windowed trace)
        self._marked: int | None = None
        self.listen()

    @property
    def kind(self) -> str:
        return self.kind_box.currentData()

    def set_kind(self, kind: str) -> None:
        self.kind_box.setCurrentIndex(self.kind_box.findData(kind))

    # ----- data ---------------------------------------------------------------------------
    def _series(self) -> np.ndarray | None:
        """The chosen quantity of the focus unit over time for the selected slice, (T,)."""
        trace = self.session.trace
        if trace is None:
            return None
        ctx, kind = self.ctx, self.kind
        if kind in ("h", "c"):
            block = getattr(trace, kind)[ctx.layer, ctx.direction, :, ctx.batch]
        else:
            block = trace.gates[ctx.layer, ctx.direction, :, ctx.batch, "ifgo".index(kind)]
        if ctx.unit >= block.shape[-1]:
            return None
        return block[:, ctx.unit].detach().cpu().numpy().astype(float)

    def show_no_trace(self) -> None:
        self.show_trace(None)

    def show_trace(self, trace) -> None:
        """Rebuild the coloured text (trace, unit, kind or selection changed)."""
        cfg = self.session.config
        self.unit_box.blockSignals(True)
        self.unit_box.setRange(0, cfg.hidden_size - 1)
        self.unit_box.setValue(min(self.ctx.unit, cfg.hidden_size - 1))
        self.unit_box.blockSignals(False)
        spec = self.session.input_spec
        try:
            rows = spec_tokens(spec)
        except ValueError:
            rows = None
        series = self._series()
        self._marked = None
        if rows is None or series is None:
            self.tokens, self.values, self.starts, self.widths = [], np.zeros(0), [], []
            self.text.setPlainText("")
            self.caption.setText("<b>Text</b>")
            self.legend.setText("")
            if rows is None:
                message = (f"The text view shows text input; the current input is"
                           f" '{spec.source}'. Choose a text input (File > Open text input) or"
                           " open the Python demo (File > Open demo).")
            else:
                message = ("No trace yet, or this unit has no h value (proj_size <"
                           " hidden_size): choose c or a gate.")
            self.status.setText(message)
            self.empty.setText(message)
            self.text.hide()
            self.empty.show()
            return
        self.empty.hide()
        self.text.show()
        batch = min(self.ctx.batch, len(rows) - 1)
        # a windowed trace holds steps [start, stop): the text of those steps
        self.start = start = trace.start
        tokens = rows[batch][start:start + len(series)]
        self.tokens, self.values = tokens, series[: len(tokens)]
        self.lengths = trace.lengths
        finite = self.values[np.isfinite(self.values)]
        if self.kind in "ifo":
            self.limit = 1.0
        else:
            self.limit = max(float(np.abs(finite).max()) if finite.size else 1.0, 1e-6)
        self._fill_document(char_level=all(len(t) == 1 for t in tokens))
        span = "over the input" if not trace.windowed else \
            (f"over steps {start}–{start + len(tokens) - 1} of {self.session.num_steps}"
             " (windowed trace: the steps traced in full)")
        self.caption.setText(f"<b>Text</b>: {self.kind}[{self.ctx.unit}] {span};"
                             f" {self.ctx.selection_text()}")
        self.legend.setText(self._legend_html())
        self.status.setText("Click a character to move there; hover to read its value.")
        self.show_step(self.session.t)

    def _colour(self, value: float) -> QColor:
        if not np.isfinite(value):
            return QColor("#e0e0e0")
        if self.kind in "ifo":  # sigmoid gates: 0 -> blue, 0.5 -> white, 1 -> red
            x = float(np.clip(value, 0.0, 1.0))
        else:
            x = float(np.clip(0.5 + 0.5 * value / self.limit, 0.0, 1.0))
        return COLOURS.map(x, mode="qcolor")

    def _brush(self, value: float) -> QBrush:
        """A character's background: its colour, or dotted grey where nothing was computed."""
        if not np.isfinite(value):
            return QBrush(QColor("#9e9e9e"), Qt.BrushStyle.Dense6Pattern)
        return QBrush(self._colour(value))

    def ended(self, t: int) -> str:
        """'sequence 2 ended at t = 4' when step ``t`` is past the selected sequence's end."""
        return ended_text(self.lengths, self.ctx.batch, t)

    def _fill_document(self, char_level: bool) -> None:
        doc_cursor = QTextCursor(self.text.document())
        self.text.setUpdatesEnabled(False)
        self.text.clear()
        self.starts, self.widths = [], []
        fmt = QTextCharFormat()
        pos = 0
        for token, value in zip(self.tokens, self.values, strict=True):
            shown = display(token, char_level)
            colour = self._colour(value)
            fmt.setBackground(self._brush(value))
            fmt.setForeground(_ink(colour))
            glyphs = shown.rstrip("\n") if shown.endswith("\n") else shown
            self.starts.append(pos)
            self.widths.append(len(glyphs))
            doc_cursor.insertText(glyphs, fmt)
            pos += len(glyphs)
            if shown.endswith("\n"):
                doc_cursor.insertText("\n", QTextCharFormat())
                pos += 1
        self.text.setUpdatesEnabled(True)

    def _legend_html(self) -> str:
        if self.kind in "ifo":
            lo, mid, hi = "0", "0.5", "1"
        else:
            lo, mid, hi = f"−{self.limit:.2f}", "0", f"+{self.limit:.2f}"
        why = self.ended(self.session.num_steps - 1)  # the last step is past the end, or none is
        grey = f"; dotted grey: {why}, nothing is computed after it" if why else ""
        cells = "".join(
            f"<td style='background:{COLOURS.map(x, mode='qcolor').name()}'>&nbsp;&nbsp;"
            f"&nbsp;</td>" for x in np.linspace(0, 1, 11))
        return (f"<table cellspacing=0><tr><td>{lo}&nbsp;</td>{cells}<td>&nbsp;{hi}"
                f" (white = {mid}{grey})</td></tr></table>")

    # ----- the cursor -----------------------------------------------------------------------
    def _mark(self, index: int, on: bool) -> None:
        if not 0 <= index < len(self.starts):
            return
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(self.starts[index])
        cursor.setPosition(self.starts[index] + max(1, self.widths[index]),
                           QTextCursor.MoveMode.KeepAnchor)
        # The current character is drawn inverted: its value colour on black, so the cursor
        # stands out while the colour still reads.
        colour = self._colour(self.values[index])
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold if on else QFont.Weight.Normal)
        fmt.setBackground(QBrush(QColor("#000000")) if on else self._brush(self.values[index]))
        fmt.setForeground(colour if on else _ink(colour))
        cursor.mergeCharFormat(fmt)

    def show_step(self, t: int) -> None:
        """Move the marked character to the current timestep (only two characters change)."""
        if self._marked is not None:
            self._mark(self._marked, False)
        self._marked = None
        k = t - self.start
        if 0 <= k < len(self.starts):
            self._mark(k, True)
            self._marked = k
            view_cursor = QTextCursor(self.text.document())
            view_cursor.setPosition(self.starts[k])
            self.text.setTextCursor(view_cursor)
            self.text.ensureCursorVisible()
            self.status.setText(self._reading(t, "{:+.3f}"))
        elif self.starts:
            self.status.setText(f"t = {t}: tracing the steps around t…")

    # ----- positions ------------------------------------------------------------------------
    def step_at(self, position: int) -> int | None:
        """The timestep whose token covers document ``position`` (None outside the text)."""
        if not self.starts:
            return None
        k = bisect.bisect_right(self.starts, position) - 1
        if k < 0 or position >= self.starts[k] + max(1, self.widths[k]):
            return None
        return self.start + k

    def hover_text(self, position: int) -> str:
        t = self.step_at(position)
        if t is None:
            return ""
        return self._reading(t, "{:+.4f}")

    def _reading(self, t: int, number: str) -> str:
        """What step ``t`` holds: its token and value, or why it has none."""
        k = t - self.start
        value = self.values[k]
        head = f"t = {t}: {self.tokens[k]!r}, {self.kind}[{self.ctx.unit}]"
        if np.isfinite(value):
            return f"{head} = {number.format(value)}"
        why = self.ended(t)
        return f"{head}: blank: {why}" if why else f"{head} = — (past this sequence's length)"
