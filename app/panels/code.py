"""Code view: the standalone script that rebuilds this session with torch alone and checks the
app's numbers (nn.LSTM and the explicit loop over timesteps); File > Export > Code writes it with
the NPZ it reads."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lstm_viz.codegen import DATA_FILE, build_code, cell_code


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
                              " loop")
        self.note = QLabel(f"File > Export > Code writes this script with {DATA_FILE} (the"
                           " weights, the input and the recorded numbers) beside it; it exits"
                           " non-zero if either computation differs from the app.")
        self.note.setObjectName("code_note")
        self.loop = _CodeBox("This model steps nn.LSTMCell: its loop and the equivalent nn.LSTM")
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.note)
        layout.addWidget(self.build, 1)
        layout.addWidget(self.loop, 1)
        self.refresh()
        # the script depends on the config, weights, input and edits, never on the trace
        self.ctx.config_changed.connect(self.refresh)
        self.ctx.edits_changed.connect(self.refresh)

    def refresh(self) -> None:
        self.build.text.setPlainText(build_code(self.session))
        # a model of nn.LSTMCells: its cell loop beside the equivalent nn.LSTM
        cells = cell_code(self.session)
        self.loop.text.setPlainText(cells)
        self.loop.setVisible(bool(cells))

    def code(self) -> str:
        """The script on show."""
        return self.build.text.toPlainText()
