"""The model panel (nn.LSTM's arguments, device, seed) and the input panel (what is fed in).

Both build a candidate value from their fields, let the engine validate it, and either show the
engine's message next to the field it names (nothing runs) or hand it to the session; the
context re-traces when the session says it changed.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPalette, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from lstm_viz import LSTMConfig, devices, source_labels, unavailable_devices
from lstm_viz.inputs import text_vocabulary
from lstm_viz.text.textinput import spec_encoding, spec_tokenizer, spec_vocab, with_tokenizer
from lstm_viz.text.tokenize import KINDS, UnknownTokensWarning

from ..widgets import ERROR_STYLE, Field, bool_field, choice_field, float_field, int_field

_CONFIG_TOOLTIPS = {
    "input_size": "Features per timestep of the input (nn.LSTM input_size).",
    "hidden_size": "H: units per layer and direction; size of c and of every gate.",
    "num_layers": "Stacked LSTM layers; layer k>0 reads layer k-1's output.",
    "bidirectional": "Bidirectional runs a second LSTM from the end to the start;"
                     " output concatenates both directions.",
    "batch_first": "Input and output are (batch, seq, feature). h_0/c_0/h_n/c_n are NOT"
                   " affected.",
    "bias": "Adds bias_ih and bias_hh to every gate.",
    "dropout": "Dropout on the outputs of every layer except the last (training only).",
    "proj_size": "LSTMP: h_t = W_hr (o * tanh(c_t)) has proj_size features; c keeps"
                 " hidden_size. 0 = no projection.",
}


# How a config field differs from what its type gives (label, range, step, or choices).
_CONFIG_WIDGETS: dict[str, dict[str, Any]] = {
    "num_layers": {"hi": 64},
    "proj_size": {"lo": 0, "hi": 100_000},
    "bidirectional": {"label": "direction",
                      "choices": [("unidirectional", False), ("bidirectional", True)]},
    "dropout": {"step": 0.1},
}

_TEXT_TIPS = {"text": "Typed characters become one-hot vectors.",
              "tokens": "The text is split into the vocabulary's tokens; each token is a row of"
                        " the model's embedding (one-hot without one)."}
EMPTY_TEXT_HINT = "Type some text: each character becomes one timestep (a one-hot vector)."
_NEEDS_VOCABULARY = ("Text through a vocabulary needs a trained model's vocabulary: open one"
                     " with File > Open demo… or Open model…, or choose a vocabulary file with"
                     " File > Open text input….")


def config_fields() -> list[Field]:
    """One Field per LSTMConfig field, built from its type (int: spin box, float: decimal
    spin box, bool: check box) and _CONFIG_WIDGETS; a new nn.LSTM argument needs no GUI code.
    """
    out = []
    defaults = LSTMConfig(input_size=1, hidden_size=1)
    for f in dataclasses.fields(LSTMConfig):
        opts = _CONFIG_WIDGETS.get(f.name, {})
        tip = _CONFIG_TOOLTIPS.get(f.name, "")
        value = getattr(defaults, f.name)
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        if "choices" in opts:
            field = choice_field(f.name, opts["choices"], tip)
        elif kind == "bool":
            field = bool_field(f.name, f.name, value, tip)
        elif kind == "float":
            field = float_field(f.name, opts.get("lo", 0.0), opts.get("hi", 1.0), value,
                                opts.get("step", 0.1), tip)
        else:
            field = int_field(f.name, opts.get("lo", 1), opts.get("hi", 2_000_000_000), value,
                              tip)
        field.label = opts.get("label", "" if kind == "bool" else f.name)
        field.set_value(value)
        out.append(field)
    return out


def _show(field: Field, value) -> None:
    """Show ``value`` in ``field`` unless it already does (then the editor is not touched)."""
    if field.value() != value:
        field.set_value(value)


class ElidedLabel(QLabel):
    """A note of a few lines that never widens or lengthens its dock: each line is cut to the
    label's width with "…", at most ``max_lines`` are drawn, and the tooltip holds it all.
    ``text()`` is the whole note."""

    def __init__(self, max_lines: int = 2, parent=None):
        super().__init__(parent)
        self.max_lines = max_lines

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setToolTip(text if self.shown_lines() != self._lines() else "")
        self.updateGeometry()

    def _lines(self) -> list[str]:
        return self.text().split("\n") if self.text() else []

    def shown_lines(self) -> list[str]:
        """The lines as drawn now: at most ``max_lines``, each cut to the width."""
        metrics, width = self.fontMetrics(), max(1, self.contentsRect().width())
        lines = self._lines()
        shown = lines[: self.max_lines]
        if len(lines) > self.max_lines:  # what is left out is said to be there
            shown[-1] += " …"
        return [metrics.elidedText(line, Qt.TextElideMode.ElideRight, width)
                for line in shown]

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        lines = self._lines()[: self.max_lines]
        metrics = self.fontMetrics()
        width = max((metrics.horizontalAdvance(line) for line in lines), default=0)
        return QSize(min(width, 240), metrics.lineSpacing() * len(lines) + 2)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(40, self.sizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.setToolTip(self.text() if self.shown_lines() != self._lines() else "")

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        rect = self.contentsRect()
        step = self.fontMetrics().lineSpacing()
        for k, line in enumerate(self.shown_lines()):
            self.style().drawItemText(painter, rect.adjusted(0, k * step, 0, 0),
                                      Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                                      self.palette(), self.isEnabled(), line,
                                      QPalette.ColorRole.WindowText)
        painter.end()


def _field_for(message: str, names) -> str | None:
    """The field a ValueError message is about: engine messages start with the field name."""
    head = message.split(" ", 1)[0].strip(":,")
    return head if head in names else None


class _FormPanel(QScrollArea):
    """A scrollable form of Fields with a general message line at the bottom."""

    area = "left"

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.form.setVerticalSpacing(3)
        self.general = QLabel()
        self.general.setObjectName("general_message")
        self.general.setWordWrap(True)
        self.general.setStyleSheet(ERROR_STYLE)
        self.general.hide()
        outer = QVBoxLayout(body)
        outer.setContentsMargins(6, 4, 6, 4)
        outer.addLayout(self.form)
        self.extra = QVBoxLayout()
        outer.addLayout(self.extra)
        outer.addWidget(self.general)
        outer.addStretch(1)
        self.setWidget(body)
        self.fields: dict[str, Field] = {}
        self.last_edited = ""  # messages that name no field go next to the one just edited

    def add(self, label: str, field: Field) -> Field:
        self.fields[field.name] = field
        self.form.addRow(label, field)
        field.changed.connect(lambda name=field.name: self._edited(name))
        field.changed.connect(self.apply)
        if isinstance(field.editor, QLineEdit):
            field.editor.editingFinished.connect(lambda name=field.name: self._edited(name))
        return field

    def _edited(self, name: str) -> None:
        self.last_edited = name

    def clear_messages(self) -> None:
        for field in self.fields.values():
            field.set_error("")
        self.general.hide()

    def show_error(self, message: str) -> None:
        """Put ``message`` under the field it names, or at the bottom of the panel."""
        self.clear_messages()
        name = self.field_for(message)
        if name is None:
            self.general.setText(message)
            self.general.show()
        else:
            self.fields[name].set_error(message)

    def field_for(self, message: str) -> str | None:
        """The field a message is about: engine messages start with the field name; others
        (a memory budget, say) belong to the field the user just edited."""
        return _field_for(message, self.fields) or self.last_edited or None

    @property
    def errors(self) -> dict[str, str]:
        """Messages on screen, by field name (``""`` for the panel-wide one)."""
        out = {n: f.message.text() for n, f in self.fields.items() if not f.message.isHidden()}
        if not self.general.isHidden():
            out[""] = self.general.text()
        return out

    def apply(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class ModelPanel(_FormPanel):
    """nn.LSTM's constructor arguments, the device, and the seed of the weights."""

    title = "Model"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.setObjectName("ModelPanel")
        for field in config_fields():
            self.add(field.label, field)
        self.device = choice_field("device", [(d, d) for d in devices()],
                                   "Where the LSTM runs; every device torch can use here.")
        # the GPU backends that are not usable here stay in the list, greyed, with the reason
        box = self.device.editor
        assert isinstance(box, QComboBox)
        for kind, why in unavailable_devices().items():
            box.addItem(f"{kind} (not available)", None)
            index = box.count() - 1
            box.setItemData(index, f"{kind}: {why}", Qt.ItemDataRole.ToolTipRole)
            items = box.model()
            if isinstance(items, QStandardItemModel):  # a combo box's own model
                items.item(index).setEnabled(False)
        self.add("device", self.device)
        self.seed = int_field("seed", 0, 2**31 - 1, 0, "Seed of the initial weights.")
        self.form.addRow("seed", self.seed)
        self.seed.changed.connect(self._on_reinitialize)
        self.reinit = QPushButton("Re-initialize weights")
        self.reinit.setObjectName("reinitialize")
        self.reinit.setToolTip("Draw new weights from the seed (seed + 1 if unchanged).")
        self.reinit.clicked.connect(self._on_reinitialize_clicked)
        self.extra.addWidget(self.reinit)
        self.fields_from_session()
        self.ctx.config_changed.connect(self.fields_from_session)

    def fields_from_session(self) -> None:
        """Show the session's config; a field that already shows its value is left alone (the
        one the user just typed into keeps its cursor and selection)."""
        values = dict(self.session.config.to_dict(), device=str(self.session.device),
                      seed=self.session.seed)
        fields = dict(self.fields, seed=self.seed)
        for name, value in values.items():
            if name in fields:
                _show(fields[name], value)
        # the fields now show the session again, so an earlier refusal no longer applies
        self.clear_messages()

    def candidate(self) -> dict:
        return {name: f.value() for name, f in self.fields.items() if name != "device"}

    def apply(self) -> None:
        """Validate the fields with the engine; on success set the config."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                cfg = LSTMConfig(**self.candidate())
                if cfg != self.session.config:
                    # a loaded model's copy keeps its trained weights where they still fit
                    # (batch_first and dropout are not stored in a state dict); the session
                    # checks the memory budget before it changes anything
                    self.session.set_config(cfg, reinit=self.session.model_source is None)
                device = self.device.value()
                if device != str(self.session.device):
                    self.session.set_device(device)
            except (ValueError, RuntimeError) as exc:  # RuntimeError: torch could not allocate
                self.show_error(str(exc))
                return
        self.clear_messages()
        for w in caught:
            if issubclass(w.category, UserWarning) and "dropout" in str(w.message):
                self.fields["dropout"].set_error(str(w.message), warning=True)

    def _on_reinitialize_clicked(self) -> None:
        if self.seed.value() == self.session.seed:
            self.seed.set_value(self.session.seed + 1)
        self._on_reinitialize()

    def _on_reinitialize(self) -> None:
        try:
            self.session.reinitialize(seed=self.seed.value())
        except ValueError as exc:
            self.seed.set_error(str(exc))
            return
        self.seed.set_error("")


class InputPanel(_FormPanel):
    """The input: length, batch, source, per-sequence lengths (packed batches)."""

    title = "Input"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.setObjectName("InputPanel")
        self.add("seq_len", int_field("seq_len", 1, 2_000_000_000, 1, "T: timesteps per sequence."))
        self.add("batch_size", int_field("batch_size", 1, 2_000_000_000, 1,
                                         "B: sequences per batch."))
        self.add("source", choice_field("source", [(label, name) for name, label
                                                   in source_labels().items()],
                                        "What the input is made of."))
        self.add("input seed", int_field("seed", 0, 2**31 - 1, 0, "Seed of random inputs."))
        self.text = QLineEdit()
        self.text.setMinimumWidth(60)
        self.text.setPlaceholderText("text, one character per timestep")
        text_field = self.add("text", Field("text", self.text,
                                            "Typed characters become one-hot vectors."))
        self.text.editingFinished.connect(self.apply)
        # offered when the text has more distinct characters than the model's input_size
        self.fit_button = QPushButton()
        self.fit_button.setObjectName("fit_input_size")
        self.fit_button.hide()
        self.fit_button.clicked.connect(self._fit_input_size)
        text_field.rows.addWidget(self.fit_button)
        self._needed_input_size = 0
        path_row = QWidget()
        row = QHBoxLayout(path_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.path = QLineEdit()
        self.path.setMinimumWidth(60)
        self.path.setPlaceholderText(".npy or .csv file")
        self.path.editingFinished.connect(lambda: self._edited("path"))
        self.path.editingFinished.connect(self.apply)
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.setToolTip("Choose a .npy or .csv file of shape (seq_len, input_size) or"
                          " (seq_len, batch, input_size)")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.path_field = Field("path", path_row, "")
        self.fields["path"] = self.path_field
        self.form.addRow("file", self.path_field)
        self.lengths = QLineEdit()
        self.lengths.setMinimumWidth(60)
        self.lengths.setPlaceholderText("e.g. 20, 15, 9")
        self.lengths.setToolTip("Per-sequence lengths for a packed (variable-length) batch,"
                                " one per batch element, longest first not required.")
        self.lengths.editingFinished.connect(self.apply)
        self.add("lengths", Field("lengths", self.lengths))
        self._add_tokenizer()
        self.fields_from_session()
        self.ctx.config_changed.connect(self._on_config_changed)
        self.fields["source"].changed.connect(self._show_source_fields)

    def _on_config_changed(self) -> None:
        if self.errors:
            # an input was refused: the new model may accept it (e.g. a larger input_size
            # for typed text), so try it again instead of discarding what the user typed
            self.apply()
        else:
            self.fields_from_session()

    def field_for(self, message: str) -> str | None:
        name = _field_for(message, self.fields)
        if name is not None:
            return name
        if "lengths" in message:
            return "lengths"
        source = self.fields["source"].value()
        if source == "file":
            return "path"  # missing file, unreadable file, shape that does not fit
        if source in ("text", "tokens") and ("text" in message or "token" in message):
            return "text"
        return self.last_edited or None

    def _show_source_fields(self) -> None:
        source = self.fields["source"].value()
        for name in ("seq_len", "batch_size"):  # a file brings its own sizes
            self.fields[name].editor.setEnabled(source != "file")
        if source == "text":  # typed text: one timestep per character
            self.fields["seq_len"].editor.setEnabled(False)
        self.text.setToolTip(_TEXT_TIPS.get(source, ""))
        self.text.setPlaceholderText("text, split into the vocabulary's tokens"
                                     if source == "tokens" else
                                     "text, one character per timestep")
        for name, visible in (("text", source in ("text", "tokens")),
                              ("tokenizer", source == "tokens"),
                              ("path", source == "file")):
            field = self.fields[name]
            field.setVisible(visible)
            label = self.form.labelForField(field)
            if label is not None:
                label.setVisible(visible)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Input file", "",
                                              "Arrays (*.npy *.csv);;All files (*)")
        if path:
            self.path.setText(path)
            self.apply()

    def fields_from_session(self) -> None:
        """Show the session's input; what already shows its value is left alone (the field
        the user just typed into keeps its cursor and selection)."""
        spec = self.session.input_spec
        for name in ("seq_len", "batch_size", "source", "seed"):
            _show(self.fields[name], getattr(spec, name))
        lengths = spec.lengths
        for edit, text in ((self.text, spec.text or ""), (self.path, spec.path or ""),
                           (self.lengths, ", ".join(str(n) for n in lengths) if lengths else "")):
            if edit.text() != text:
                edit.setText(text)
        self._show_file_sizes()
        self._show_source_fields()
        self._show_tokenizer()

    # ----- the tokenizer of a tokens input -----------------------------------------------
    def _add_tokenizer(self) -> None:
        """A tokenizer choice (the vocabulary's own pick, or one of KINDS with a pattern for
        a regex) and a note: which tokenizer splits the text, and how many tokens are not in
        the vocabulary."""
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.tokenizer = QComboBox()
        self.tokenizer.setObjectName("tokenizer")
        self.tokenizer.addItem("from the vocabulary", "")
        for kind, tip in KINDS.items():
            self.tokenizer.addItem(kind, kind)
            self.tokenizer.setItemData(self.tokenizer.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.pattern = QLineEdit()
        self.pattern.setObjectName("tokenizer_pattern")
        self.pattern.setPlaceholderText(r"\w+|[^\w\s]")
        row.addWidget(self.tokenizer)
        row.addWidget(self.pattern, 1)
        # a long note (many unknown tokens) is cut to the dock's width; the tooltip has it all
        self.token_note = ElidedLabel(max_lines=2)
        self.token_note.setObjectName("token_note")
        column.addLayout(row)
        column.addWidget(self.token_note)
        self.add("tokenizer", Field("tokenizer", box, "How the text is split into the"
                                    " vocabulary's tokens"))
        self.tokenizer.activated.connect(self._on_tokenizer_chosen)
        self.pattern.editingFinished.connect(self._on_tokenizer_chosen)

    def _on_tokenizer_chosen(self) -> None:
        kind = self.tokenizer.currentData()
        self.pattern.setVisible(kind == "regex")
        if kind == "regex" and not self.pattern.text():
            return  # the pattern comes next
        choice = f"regex:{self.pattern.text()}" if kind == "regex" else kind or None
        try:
            spec = with_tokenizer(self.session.input_spec, choice)
            if spec != self.session.input_spec:
                with warnings.catch_warnings():  # the note below says it, visibly
                    warnings.simplefilter("ignore", UnknownTokensWarning)
                    self.session.set_input(spec)
        except ValueError as exc:
            self.fields["tokenizer"].set_error(str(exc))
            return
        self.fields["tokenizer"].set_error("")
        self._show_tokenizer()

    def _show_tokenizer(self) -> None:
        spec = self.session.input_spec
        if spec.source != "tokens":
            return
        chosen = str(spec.params.get("tokenizer") or "")
        kind = "regex" if chosen.startswith("regex:") else chosen
        self.tokenizer.setCurrentIndex(max(0, self.tokenizer.findData(kind)))
        if kind == "regex" and self.pattern.text() != chosen[len("regex:"):]:
            self.pattern.setText(chosen[len("regex:"):])
        self.pattern.setVisible(kind == "regex")
        try:
            tok, why = spec_tokenizer(spec)
            enc = spec_encoding(spec)
        except ValueError as exc:
            self.token_note.setText(str(exc))
            self.token_note.setStyleSheet(ERROR_STYLE)
            return
        # the count and the warning first: they are what a narrow dock shows
        note = f"{len(enc.tokens)} tokens, split into {tok.kind}"
        if enc.unknown:
            note += f"\n⚠ {enc.unknown_message()}"
        if why != "chosen":
            note += f"\n(the vocabulary's choice: {why})"
        self.token_note.setText(note)
        self.token_note.setStyleSheet("color: #a15c00;" if enc.unknown else "")

    def _show_file_sizes(self) -> None:
        """A file brings its own seq_len and batch: show those, not the spec's unused ones."""
        if self.session.input_spec.source == "file":
            T, B = self.session.input_tm.shape[:2]
            _show(self.fields["seq_len"], int(T))
            _show(self.fields["batch_size"], int(B))

    def candidate(self) -> dict:
        text = self.lengths.text().replace(";", ",").strip()
        if text:
            try:
                lengths = tuple(int(s) for s in text.replace(",", " ").split())
            except ValueError:
                raise ValueError(f"lengths must be whole numbers separated by commas"
                                 f" (got {text!r})") from None
        else:
            lengths = None
        return {"seq_len": self.fields["seq_len"].value(),
                "batch_size": self.fields["batch_size"].value(),
                "source": self.fields["source"].value(),
                "seed": self.fields["seed"].value(),
                "text": self.text.text(), "path": self.path.text().strip(),
                "lengths": lengths}

    def apply(self) -> None:
        """Validate with the engine; on success set the input."""
        self._offer_input_size(0)
        try:
            candidate = self.candidate()
            if candidate["source"] == "text":
                if not candidate["text"]:  # nothing typed yet: say what to do, keep the input
                    self.clear_messages()
                    self.fields["text"].set_error(EMPTY_TEXT_HINT, warning=True)
                    return
                # one timestep per character: the text is never repeated to fill seq_len
                candidate["seq_len"] = len(candidate["text"])
            # replace() keeps the spec's params (a tokens input's vocabulary and model path)
            spec = self.session.input_spec.replace(**candidate)
            if spec.source == "tokens" and not _has_vocabulary(spec):
                self._explain_tokens()
                return
            if spec != self.session.input_spec:
                with warnings.catch_warnings():  # unknown tokens: the tokenizer note says it
                    warnings.simplefilter("ignore", UnknownTokensWarning)
                    self.session.set_input(spec)
        except (ValueError, RuntimeError) as exc:  # RuntimeError: torch could not allocate
            self.show_error(str(exc))
            candidate = self.candidate()
            if candidate["source"] == "text" and candidate["text"]:
                needed = len(text_vocabulary(candidate["text"]))
                if needed > self.session.config.input_size:
                    self._offer_input_size(needed)
            return
        self.clear_messages()
        self._show_file_sizes()
        if self.session.input_spec.source == "text":
            _show(self.fields["seq_len"], self.session.input_spec.seq_len)

    def _offer_input_size(self, needed: int) -> None:
        """Show (``needed`` > 0) or hide the button that sets input_size to ``needed``."""
        self._needed_input_size = needed
        # a loaded model's input_size is its trained weights' own: only a fresh one may change
        offer = needed > 0 and self.session.model_source is None
        self.fit_button.setText(f"Set input_size to {needed}")
        self.fit_button.setToolTip(f"Make the model's input_size {needed}, one per distinct"
                                   " character of the text (new weights from the seed)")
        self.fit_button.setVisible(offer)

    def _fit_input_size(self) -> None:
        needed = self._needed_input_size
        try:
            self.session.set_config(self.session.config.replace(input_size=needed))
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self._offer_input_size(0)

    def _explain_tokens(self) -> None:
        """Tokens were chosen but there is no vocabulary: say why, keep the current input."""
        self.clear_messages()
        self.fields_from_session()
        self.fields["source"].set_error(_NEEDS_VOCABULARY, warning=True)


def _has_vocabulary(spec) -> bool:
    try:
        spec_vocab(spec)
    except ValueError:
        return False
    return True
