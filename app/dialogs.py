"""The dialogs of the File menu: choose one of several LSTMs in a file, confirm loading a
pickled model, choose a demo. Widgets only; the documents controller
(``app/controllers/documents.py``) opens them and acts on the answer."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QVBoxLayout,
)

from lstm_viz.formats.loader import LoadedModel, LSTMCandidate

from .panels.model_info import ConfigView

UNSAFE_TEXT = (
    "<b>{name} contains a pickled Python object, not only tensors.</b><br><br>"
    "Loading it runs Python code stored in the file (torch.load with weights_only=False)."
    " A file from an untrusted source can do anything your user account can: read or delete"
    " files, install programs, send data away.<br><br>"
    "Continue only if you made this file yourself or trust where it came from. The safe"
    " alternative: in the code that trained it, save <code>model.state_dict()</code>"
    " instead of the model.")


class LSTMPickerDialog(QDialog):
    """Choose one of several LSTMs in a file; the highlighted one's config is shown read-only."""

    def __init__(self, loaded: LoadedModel, parent=None):
        super().__init__(parent)
        self.setObjectName("lstm_picker")
        self.setWindowTitle("Choose an LSTM")
        self.loaded = loaded
        intro = QLabel(f"{loaded.path.name} holds {len(loaded.lstms)} LSTMs. Which one should"
                       " lstm-viz show?")
        intro.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("lstm_list")
        for cand in loaded.lstms:
            item = QListWidgetItem(cand.describe())
            item.setToolTip(cand.describe())
            self.list.addItem(item)
        self.config_view = ConfigView()
        self.list.currentRowChanged.connect(self._on_row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.list.itemDoubleClicked.connect(lambda *_: self.accept())
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addWidget(QLabel("Inferred config (read-only; batch_first and dropout are not"
                                " stored in weights):"))
        layout.addWidget(self.config_view)
        layout.addWidget(buttons)
        self.list.setCurrentRow(0)
        self.resize(560, 420)

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.loaded.lstms):
            cand = self.loaded.lstms[row]
            self.config_view.set_config(cand.config)

    @property
    def chosen(self) -> LSTMCandidate:
        return self.loaded.lstms[max(0, self.list.currentRow())]


class UnsafePickleDialog(QMessageBox):
    """Explains why loading a pickled model is unsafe; "Load anyway" accepts."""

    def __init__(self, path: Path, parent=None):
        super().__init__(QMessageBox.Icon.Warning, "Unsafe model file",
                         UNSAFE_TEXT.format(name=path.name), QMessageBox.StandardButton.NoButton,
                         parent)
        self.setObjectName("unsafe_pickle")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.load_button = self.addButton("Load anyway (unsafe)",
                                          QMessageBox.ButtonRole.AcceptRole)
        self.cancel_button = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.cancel_button)


class DemoDialog(QDialog):
    """The demos that ship, each with its one-line description."""

    def __init__(self, demos: list, parent=None):
        super().__init__(parent)
        self.setObjectName("demo_dialog")
        self.setWindowTitle("Open demo")
        self.demos = demos
        self.list = QListWidget()
        self.list.setObjectName("demo_list")
        self.list.setWordWrap(True)
        for demo in demos:
            status = "" if demo.available() else "\n(model missing: run `make demos`)"
            item = QListWidgetItem(f"{demo.title}\n{demo.description}{status}")
            item.setToolTip(demo.description)
            if not demo.available():
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.list.addItem(item)
        self.list.setSpacing(4)
        self.list.itemDoubleClicked.connect(lambda *_: self.accept())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Trained models that ship with lstm-viz, each with a sample"
                                " input:"))
        layout.addWidget(self.list, 1)
        layout.addWidget(buttons)
        self.list.setCurrentRow(0)
        self.resize(620, 300)

    @property
    def chosen(self):
        row = self.list.currentRow()
        return self.demos[row] if 0 <= row < len(self.demos) else None
