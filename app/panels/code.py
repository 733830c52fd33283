"""Code view: the PyTorch code for this LSTM and input, and the same as an explicit loop."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lstm_viz.codegen import build_code, cell_code, loop_code


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
    """Two copyable snippets that reproduce what the app shows."""

    title = "Code"
    area = "view"

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.setObjectName("CodeView")
        self.ctx = ctx
        self.session = ctx.session
        self.build = _CodeBox("nn.LSTM on this input")
        self.loop = _CodeBox("The same, as an explicit loop over timesteps")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.build)
        split.addWidget(self.loop)
        split.setSizes([300, 500])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.refresh()
        # the code depends on the config, weights' seed and input, never on the trace
        self.ctx.config_changed.connect(self.refresh)

    def refresh(self) -> None:
        self.build.text.setPlainText(build_code(self.session))
        # a model of nn.LSTMCells: its cell loop beside the equivalent nn.LSTM
        self.loop.text.setPlainText(cell_code(self.session) or loop_code(self.session))

    def code(self) -> str:
        """Both snippets as one runnable file."""
        return self.build.text.toPlainText() + "\n\n" + self.loop.text.toPlainText()
