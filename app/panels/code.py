"""Code view: the standalone script that rebuilds this session with torch alone and checks the
app's numbers (nn.LSTM and the explicit loop over timesteps), then takes the gradients of the
focus unit's h or c at the cursor through time in plain torch; File > Export > Code writes it
with the NPZ it reads."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lstm_viz.codegen import DATA_FILE, build_code, cell_code, focus_target

STATE_TARGETS = (("h of the focus unit", "h"), ("c of the focus unit", "c"))
HEAD_TARGETS = (("the head's prediction (top output)", "prediction"),
                ("the head's loss", "loss"))


class _CodeBox(QWidget):
    def __init__(self, heading: str, parent=None):
        super().__init__(parent)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSize(max(font.pointSize(), 10))
        self.text.setFont(font)
        self.copy = QPushButton("Copy")
        self.copy.setToolTip("Copy this code to the clipboard")
        self.copy.clicked.connect(self._copy)
        head = QHBoxLayout()
        title = QLabel(f"<b>{heading}</b>")
        head.addWidget(title, 1)
        head.addWidget(self.copy)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(head)
        layout.addWidget(self.text)

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())


class CodeView(QWidget):
    """The script that reproduces what the app shows, ready to copy or export."""

    title = "Code"
    area = "view"

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.setObjectName("CodeView")
        self.ctx = ctx
        self.session = ctx.session
        self.build = _CodeBox("Check this session with torch alone: nn.LSTM and the explicit"
                              " loop, then gradients through time")
        self.note = QLabel(f"File > Export > Code writes this script with {DATA_FILE} (the"
                           " weights, the input and the recorded numbers) beside it; it exits"
                           " non-zero if either computation differs from the app. Its last"
                           " part takes the gradients of the value chosen here, at the cursor"
                           " (∂/∂x, ∂/∂h, ∂/∂c per step and ∏f); 'python lstm_check.py"
                           " gradients.npz' saves them.")
        self.note.setObjectName("code_note")
        self.gradient_state = QComboBox()
        self.gradient_state.setObjectName("code_gradient_state")
        for label, state in STATE_TARGETS:
            self.gradient_state.addItem(label, state)
        self.gradient_state.setToolTip("The value whose gradients the script takes, at the"
                                       " cursor, for the selected layer, direction and batch"
                                       " element")
        self.loop = _CodeBox("This model steps nn.LSTMCell: its loop and the equivalent nn.LSTM")
        self.note.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(self.note, 1)
        head.addWidget(QLabel("gradients of"))
        head.addWidget(self.gradient_state)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.build, 1)
        layout.addWidget(self.loop, 1)
        self._shown_target = None
        self._target_stale = False
        self.refresh()
        # the script depends on the config, weights, input and edits, never on the trace; its
        # gradient target on the selection and the cursor
        self.ctx.config_changed.connect(self.refresh)
        self.ctx.edits_changed.connect(self.refresh)
        self.ctx.selection_changed.connect(self._on_target_moved)
        self.ctx.step_changed.connect(self._on_target_moved)
        self.gradient_state.currentIndexChanged.connect(self._on_target_moved)

    def target(self):
        """The gradient target of the script: the focus unit at the cursor."""
        ctx = self.ctx
        return focus_target(self.session, str(self.gradient_state.currentData()), ctx.layer,
                            ctx.direction, ctx.unit, ctx.batch)

    def _offer_head_targets(self) -> None:
        """Offer the head's prediction and loss as targets while the script can use them."""
        session = self.session
        offered = [state for label, state in HEAD_TARGETS if session.head is not None
                   and focus_target(session, state, 0, 0, 0, 0).state == state]
        combo = self.gradient_state
        if [combo.itemData(k) for k in range(len(STATE_TARGETS), combo.count())] == offered:
            return
        combo.blockSignals(True)
        current = combo.currentData()
        while combo.count() > len(STATE_TARGETS):
            combo.removeItem(combo.count() - 1)
        for label, state in HEAD_TARGETS:
            if state in offered:
                combo.addItem(label, state)
        index = combo.findData(current)
        combo.setCurrentIndex(index if index >= 0 else 0)
        combo.blockSignals(False)

    def refresh(self) -> None:
        self._offer_head_targets()
        target = self.target()
        self._shown_target, self._target_stale = target, False
        self.build.text.setPlainText(build_code(self.session, target=target))
        # a model of nn.LSTMCells: its cell loop beside the equivalent nn.LSTM
        cells = cell_code(self.session)
        self.loop.text.setPlainText(cells)
        self.loop.setVisible(bool(cells))

    def _on_target_moved(self, *args) -> None:
        """Rewrite the script when its target moved (at once while on screen, else when shown)."""
        if self.target() == self._shown_target:
            return
        if self.isVisible():
            self.refresh()
        else:
            self._target_stale = True

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._target_stale:
            self.refresh()

    def code(self) -> str:
        """The script on show."""
        return self.build.text.toPlainText()
