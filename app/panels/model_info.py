"""Loaded-model panel: where the weights came from and the inferred config, read-only, with an
"Edit a copy" action that unlocks the model panel."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from lstm_viz.config import LSTMConfig

CONFIG_FIELDS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                 "bidirectional", "proj_size")


class ConfigView(QWidget):
    """An LSTMConfig shown read-only, one row per nn.LSTM argument, plus optional notes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.values: dict[str, QLabel] = {}
        for name in CONFIG_FIELDS:
            label = QLabel()
            label.setObjectName(f"ro_{name}")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            self.values[name] = label
            self.form.addRow(name, label)

    def set_config(self, cfg: LSTMConfig | None, notes: dict[str, str] | None = None) -> None:
        notes = notes or {}
        for name, label in self.values.items():
            if cfg is None:
                label.setText("—")
                continue
            text = str(getattr(cfg, name))
            if name in notes:
                text += f"  <span style='color:#757575'>({notes[name]})</span>"
            label.setText(text)


class ModelInfoPanel(QScrollArea):
    """Where the session's weights came from; the config is shown read-only."""

    title = "Loaded model"
    area = "left"
    #: the user asked to edit a copy of the loaded model's config
    edit_copy_requested = Signal()

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.setObjectName("ModelInfoPanel")
        self.ctx = ctx
        self.session = ctx.session
        self.source = QLabel()
        self.source.setObjectName("model_source")
        self.source.setWordWrap(True)
        self.source.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.config_view = ConfigView()
        self.head_choice = self._choice(
            "head_choice", self._head_chosen,
            "The Linear layer that reads this LSTM's output: the prediction strip and the"
            " influence of a prediction use it. Paired only where the file shows that nothing"
            " sits between them; pick another here if you know it reads the LSTM.")
        self.pairing = QLabel()
        self.pairing.setObjectName("pairing_notes")
        self.pairing.setWordWrap(True)
        self.pairing.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.embedding_choice = self._choice(
            "embedding_choice", self._embedding_chosen,
            "The embedding matrix that turns token indices into this LSTM's input, for text"
            " typed in the Text view. Paired only where the file shows that it feeds the LSTM;"
            " pick another here if you know it does.")
        self.pairing_form = QWidget()
        self.pairing_form.setObjectName("pairing_form")
        head_row = QFormLayout(self.pairing_form)
        head_row.setContentsMargins(0, 0, 0, 0)
        head_row.addRow("embedding", self.embedding_choice)
        head_row.addRow("output head", self.head_choice)
        self.edit_copy = QPushButton("Edit a copy")
        self.edit_copy.setObjectName("edit_copy")
        self.edit_copy.setToolTip("Unlock the Model panel to change the config of this copy."
                                  " The file on disk is never changed.")
        self.edit_copy.clicked.connect(self.edit_copy_requested)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumHeight(120)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.source)
        layout.addWidget(self.config_view)
        layout.addWidget(self.pairing_form)
        layout.addWidget(self.pairing)
        layout.addWidget(self.edit_copy)
        layout.addStretch(1)
        self.setWidget(content)
        self.ctx.config_changed.connect(self.refresh)
        self.refresh()

    @staticmethod
    def _choice(name: str, chosen, tip: str) -> QComboBox:
        """A box to pair the LSTM with one of the file's layers by hand."""
        box = QComboBox()
        box.setObjectName(name)
        box.setToolTip(tip)
        box.activated.connect(chosen)
        return box

    def refresh(self, *args) -> None:
        src = self.session.model_source
        if not isinstance(src, dict) or not src.get("path"):
            self.source.setText(f"No model file: the weights are drawn from seed"
                                f" {self.session.seed}. Open one with File > Open model or"
                                " File > Open demo.")
            self.config_view.setVisible(False)
            self.edit_copy.setVisible(False)
            self.pairing_form.setVisible(False)
            self.pairing.setVisible(False)
            return
        meta = src.get("metadata") or {}
        lines = [f"<b>{Path(src['path']).name}</b> ({src.get('kind', 'file')})",
                 f"LSTM: <code>{src.get('lstm') or '<root>'}</code>"]
        if meta.get("description"):
            lines.append(str(meta["description"]))
        train = meta.get("train")
        if not isinstance(train, dict):
            train = {}
        losses = [f"{k.replace('_', ' ')} {v}" for k, v in train.items()
                  if "loss" in k or "mse" in k]
        if losses:
            lines.append("training: " + ", ".join(losses))
        if src.get("embedding"):
            lines.append(f"embedding: {src['embedding']}")
        self.source.setText("<br>".join(lines))
        recorded = src.get("recorded") or ()
        notes = {"batch_first": "from the file" if "batch_first" in recorded
                 else "not stored in a state dict",
                 "dropout": "from the file" if "dropout" in recorded
                 else "not stored in weights"}
        self.config_view.set_config(self.session.config, notes)
        self.config_view.setVisible(True)
        self.edit_copy.setVisible(True)
        self.pairing_form.setVisible(True)
        self._show_embedding()
        self._show_head()

    def _show_embedding(self) -> None:
        src = self.session.model_source or {}
        options = [k for k in src.get("embedding_options") or () if isinstance(k, str)]
        combo = self.embedding_choice
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("none", None)
        for key in options:
            combo.addItem(key, key)
        current = src.get("embedding_key")
        combo.setCurrentIndex(max(0, combo.findData(current)) if current else 0)
        combo.setEnabled(bool(options))
        combo.blockSignals(False)
        combo.setVisible(True)

    def _embedding_chosen(self, index: int) -> None:
        session = self.session
        key = self.embedding_choice.itemData(index)
        src = dict(session.model_source or {})
        if key == src.get("embedding_key"):
            return
        src["embedding_key"] = key
        src.pop("embedding", None)
        if key:
            src["embedding"] = key
        spec, old = session.input_spec, session.model_source
        session.model_source = src
        if spec.source == "tokens" and spec.params.get("model_path") == src.get("path"):
            # the text goes through this model's embedding: through the chosen one now
            params = {k: v for k, v in spec.params.items() if k != "embedding_key"}
            if key:
                params["embedding_key"] = key
            else:
                params.pop("model_path", None)
            try:
                session.set_input(spec.replace(params=params))
            except ValueError as exc:
                session.model_source = old
                self.refresh()
                self.ctx.messages.post(f"Could not use that embedding: {exc}", 8000)
                return
        self.refresh()
        self.ctx.messages.post(f"Embedding: {key}" if key else "No embedding paired", 6000)

    def _show_head(self) -> None:
        session = self.session
        choices = list(session.head_choices)
        self.head_choice.blockSignals(True)
        self.head_choice.clear()
        self.head_choice.addItem("none", None)
        for name in choices:
            head = session.head_choices[name]
            self.head_choice.addItem(f"{name or '<root>'} ({head.out_features} outputs)", name)
        current = session.head.key if session.head is not None else None
        self.head_choice.setCurrentIndex(max(0, self.head_choice.findData(current))
                                         if current is not None else 0)
        self.head_choice.setEnabled(bool(choices))
        self.head_choice.blockSignals(False)
        self.head_choice.setVisible(True)
        chosen_embedding = (session.model_source or {}).get("embedding_key")
        notes = [n for n in session.pairing_notes
                 if not (n.startswith("no embedding paired") and chosen_embedding)
                 and not (n.startswith("no output head paired") and session.head is not None)]
        if session.head is not None:
            notes.insert(0, f"output head: {session.head.key or '<root>'}"
                         + (" (the embedding, tied)" if session.head.tied else ""))
        elif not choices:
            notes.insert(0, "no output head: the file has no Linear layer that reads vectors"
                            " of the LSTM's output size")
        self.pairing.setText("<br>".join(f"<span style='color:#757575'>{html.escape(n)}</span>"
                                         for n in notes))
        self.pairing.setVisible(bool(notes))

    def _head_chosen(self, index: int) -> None:
        name = self.head_choice.itemData(index)
        current = self.session.head.key if self.session.head is not None else None
        if name == current:
            return
        try:
            self.session.set_head(name)
        except ValueError as exc:
            self.ctx.messages.post(str(exc), 8000)
            return
        self.ctx.messages.post(f"Output head: {name or '<root>'}" if name is not None
                               else "No output head: predictions are not shown", 6000)
