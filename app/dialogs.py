"""File > Open model…, Open demo…, Open/Save session… (with weights): the dialogs and the glue.

Importing this module adds its menu entries to ``app.main.FILE_MENU_EXTENSIONS``. Dialogs are
opened with ``open()`` (window-modal, not blocking), so the app and the tests keep running; each
reports back through its ``accepted`` signal. Every failure is shown as a message box and in the
status bar, and the session keeps the model it had.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QVBoxLayout,
)

from lstm_viz import demos as demo_registry
from lstm_viz import textinput
from lstm_viz.inputs import InputSpec
from lstm_viz.io import LoadedModel, LSTMCandidate, load_into_session, load_model
from lstm_viz.sessionfile import load_session, save_session

from .panels.model_info import ConfigView

MODEL_FILTER = "PyTorch models (*.pt *.pth *.ckpt *.bin *.ts *.jit);;All files (*)"
SESSION_FILTER = "lstm-viz sessions (*.lstmviz.json *.json);;All files (*)"
UNSAFE_TEXT = (
    "<b>{name} contains a pickled Python object, not only tensors.</b><br><br>"
    "Loading it runs Python code stored in the file (torch.load with weights_only=False)."
    " A file from an untrusted source can do anything your user account can: read or delete"
    " files, install programs, send data away.<br><br>"
    "Continue only if you made this file yourself or trust where it came from. The safe"
    " alternative: in the code that trained it, save <code>model.state_dict()</code>"
    " instead of the model.")


# ----- messages ----------------------------------------------------------------------------------
def show_error(window, title: str, text: str) -> QMessageBox:
    """A non-blocking warning box plus the same text in the status bar."""
    window.ctx.post(f"{title}: {text}", 15000)
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                      window)
    box.setObjectName("error_box")
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.open()
    window.last_message_box = box
    return box


# ----- dialogs -----------------------------------------------------------------------------------
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


# ----- actions -----------------------------------------------------------------------------------
def open_model_file(window, path, *, allow_pickle: bool = False, lstm: str | None = None) -> bool:
    """Open ``path`` into the window's session (``lstm-viz --model FILE``, File > Open model).

    Returns False when the file cannot be used (the message is shown, the model unchanged). A
    pickled file without ``allow_pickle`` asks first; a file with several LSTMs asks which one
    (unless ``lstm`` names it). Those questions are answered asynchronously; True is returned.
    """
    path = Path(path)
    try:
        loaded = load_model(path, allow_pickle=allow_pickle)
    except ValueError as exc:
        if not allow_pickle and "pickled Python object" in str(exc):
            dialog = UnsafePickleDialog(path, window)
            dialog.accepted.connect(
                lambda: open_model_file(window, path, allow_pickle=True, lstm=lstm))
            dialog.open()
            window.last_message_box = dialog
            return True
        show_error(window, "Could not open model", str(exc))
        return False
    if lstm is not None:
        try:
            return install_model(window, loaded, loaded.pick(lstm))
        except ValueError as exc:
            show_error(window, "Could not open model", str(exc))
            return False
    if len(loaded.lstms) == 1:
        return install_model(window, loaded, loaded.lstms[0])
    picker = LSTMPickerDialog(loaded, window)
    picker.accepted.connect(lambda: install_model(window, loaded, picker.chosen))
    picker.open()
    window.last_picker = picker
    return True


def install_model(window, loaded: LoadedModel, cand: LSTMCandidate) -> bool:
    """Make the session use ``cand`` and retrace; the model panel becomes read-only."""
    session = window.session
    try:
        spec = None
        if cand.embedding is not None and loaded.vocab and session.input_spec.source == "text":
            # typed text goes through the model's own vocabulary and embedding
            spec = textinput.tokens_spec(session.input_spec.text, vocab=loaded.vocab,
                                         model_path=str(loaded.path), lstm=cand.name)
        note = load_into_session(session, loaded, cand, input_spec=spec)
    except ValueError as exc:
        show_error(window, "Could not use this LSTM", str(exc))
        return False
    _set_model_locked(window, True)
    window.ctx.retrace()
    window.ctx.post(f"Opened {loaded.path.name}: {cand.describe()}"
                    + (f". Note: {note}" if note else ""), 10000)
    return True


def open_demo(window, name: str) -> bool:
    """Load demo ``name`` (model, sample input) and show its preferred view."""
    try:
        demo, loaded, cand = demo_registry.open_demo(window.session, name)
    except ValueError as exc:
        show_error(window, "Could not open demo", str(exc))
        return False
    _set_model_locked(window, True)
    window.ctx.retrace()
    if demo.select:
        window.ctx.select(**{k: int(v) for k, v in demo.select.items()
                             if k in ("layer", "direction", "batch", "unit")})
    if demo.view and hasattr(window, "show_view"):
        window.show_view(demo.view)
    window.ctx.post(f"Demo: {demo.title}. {demo.description}", 10000)
    return True


def open_demo_dialog(window) -> None:
    try:
        demos = demo_registry.list_demos()
    except ValueError as exc:
        show_error(window, "No demos", str(exc))
        return
    dialog = DemoDialog(demos, window)
    dialog.accepted.connect(lambda: dialog.chosen and open_demo(window, dialog.chosen.name))
    dialog.open()
    window.last_demo_dialog = dialog


def open_model_dialog(window) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Open model", "", MODEL_FILTER)
    if path:
        open_model_file(window, path)


def text_input_spec(session, text: str, vocab_path: str = ""):
    """The InputSpec for ``text`` that fits the session's model.

    Tokens through the loaded checkpoint's embedding and vocabulary when it has them (or with
    the vocabulary file ``vocab_path``); otherwise one-hot characters.
    """
    src = session.model_source if isinstance(session.model_source, dict) else {}
    vocab, model_path = None, ""
    if src.get("path") and Path(src["path"]).is_file():
        loaded = load_model(src["path"], allow_pickle=src.get("kind") == "pickle")
        cand = loaded.pick(src.get("lstm") or None)
        vocab = loaded.vocab
        if cand.embedding is not None:
            model_path = src["path"]
    if vocab_path:
        vocab = textinput.read_vocab(vocab_path)
    if vocab is not None or model_path:
        if vocab is None:
            raise ValueError("the model has an embedding matrix but its file has no vocabulary:"
                             " choose a vocabulary file (JSON {token: index} or one token per"
                             " line)")
        return textinput.tokens_spec(text, vocab=vocab, model_path=model_path,
                                     lstm=src.get("lstm", ""))
    return InputSpec(source="text", text=text, seq_len=max(1, min(len(text), 2000)),
                     batch_size=1)


def open_text_input(window, text_path, vocab_path: str = "") -> bool:
    """Feed the text file ``text_path`` to the model (``text_input_spec``); show the Text tab."""
    try:
        text = Path(text_path).read_text(encoding="utf-8").replace("\t", "    ")
        spec = text_input_spec(window.session, text, str(vocab_path or ""))
        window.session.set_input(spec)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        show_error(window, "Could not use this text", str(exc))
        return False
    window.ctx.retrace()
    if hasattr(window, "show_view"):
        window.show_view("Text")
    return True


def open_text_dialog(window) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Open text input", "",
                                          "Text (*.txt *.py *.md *.csv);;All files (*)")
    if not path:
        return
    vocab = ""
    src = window.session.model_source or {}
    if src.get("embedding") and not src.get("has_vocab", True):
        vocab, _ = QFileDialog.getOpenFileName(window, "Vocabulary of the model", "",
                                               "Vocabulary (*.json *.txt);;All files (*)")
    open_text_input(window, path, vocab)


def _selection(window) -> dict:
    ctx = window.ctx
    sel = {k: int(getattr(ctx, k)) for k in ("layer", "direction", "batch", "unit")}
    units = window.panels.get("Units") if hasattr(window, "panels") else None
    if units is not None and hasattr(units, "span"):
        sel["span"] = list(units.span())
        sel["span_kind"] = units.kind
    return sel


def save_session_file(window, path) -> bool:
    """Save the whole session (weights, input, step, edits, selection, current view)."""
    view = {}
    if hasattr(window, "tabs"):
        view["tab"] = window.tabs.tabText(window.tabs.currentIndex())
    try:
        save_session(path, window.session, selection=_selection(window), view=view)
    except (OSError, ValueError) as exc:
        show_error(window, "Could not save session", str(exc))
        return False
    window.ctx.post(f"Saved session {path}", 6000)
    return True


def open_session_file(window, path, *, allow_pickle: bool = False) -> bool:
    """Replace the window's session state by the one saved in ``path`` (a whole session, or
    a plain ``Session.to_dict()`` JSON whose weights follow from its seed)."""
    try:
        loaded, extras = load_session(path, allow_pickle=allow_pickle)
    except (OSError, ValueError) as exc:
        show_error(window, "Could not open session", str(exc))
        return False
    session = window.session
    try:
        # model and input change together (or neither)
        session.load_module(loaded.lstm, source=loaded.model_source or None,
                            input_spec=loaded.input_spec)
        if extras.weights_from == "seed":  # so that the session remembers the seed too
            session.reinitialize(loaded.seed)
    except ValueError as exc:
        show_error(window, "Could not open session", str(exc))
        return False

    # Traced on the worker: first the run as saved, then (if the session has what-if edits)
    # the edited run, so that the "before edit" comparison has the original; then the step.
    def apply_edits() -> None:
        try:
            for e in loaded.edits.inputs:
                session.edit_input(e.t, e.batch, e.feature, e.value, rerun=False)
            for s in loaded.edits.states:
                session.edit_state(s.kind, s.t, s.layer, s.direction, s.batch, s.unit, s.value,
                                   rerun=False)
        except ValueError as exc:
            session.clear_edits()
            show_error(window, "Could not apply the session's what-if edits", str(exc))
        window.ctx.retrace(then=lambda: session.seek(loaded.t))

    if loaded.edits:
        window.ctx.retrace(then=apply_edits)
    else:
        window.ctx.retrace(then=lambda: session.seek(loaded.t))
    _set_model_locked(window, bool(session.model_source))
    sel = extras.selection
    window.ctx.select(**{k: int(v) for k, v in sel.items()
                         if k in ("layer", "direction", "batch", "unit")})
    units = window.panels.get("Units") if hasattr(window, "panels") else None
    if units is not None and isinstance(sel.get("span"), list) and len(sel["span"]) == 2:
        units.set_span(int(sel["span"][0]), int(sel["span"][1]))
    if extras.view.get("tab") and hasattr(window, "show_view"):
        window.show_view(str(extras.view["tab"]))
    window.ctx.post(f"Opened session {path} (weights from {extras.weights_from})", 6000)
    return True


def save_session_dialog(window) -> None:
    path, _ = QFileDialog.getSaveFileName(window, "Save session",
                                          "session.lstmviz.json", SESSION_FILTER)
    if path:
        save_session_file(window, path)


def open_session_dialog(window) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Open session", "", SESSION_FILTER)
    if path:
        open_session_file(window, path)


# ----- the read-only model panel ----------------------------------------------------------------
def _set_model_locked(window, locked: bool) -> None:
    """While a loaded model is shown, its config is read-only until "Edit a copy"."""
    panel = getattr(window, "panels", {}).get("Model")
    if panel is not None:
        panel.setEnabled(not locked)
        panel.setToolTip("The loaded model's config is read-only: use \"Edit a copy\" in the"
                         " Loaded model panel to change it." if locked else "")
    window.model_locked = locked


def _on_edit_copy(window) -> None:
    _set_model_locked(window, False)
    dock = getattr(window, "docks", {}).get("Model")
    if dock is not None:
        dock.show()
        dock.raise_()
    window.ctx.post("Editing a copy: the model file is not changed. batch_first and dropout"
                    " keep the trained weights; a change of sizes draws new ones from the seed.",
                    8000)


def register(window, menu) -> None:
    """Add Open model…, Open demo… and Open text input… to the File menu (File > Open/Save
    session… are the window's own entries and call open_session_dialog/save_session_dialog)."""
    for text, slot, shortcut in (
            ("Open model…", lambda: open_model_dialog(window), "Ctrl+M"),
            ("Open demo…", lambda: open_demo_dialog(window), "Ctrl+D"),
            ("Open text input…", lambda: open_text_dialog(window), None)):
        action = menu.addAction(text)
        action.setObjectName("action_" + text.split("…")[0].lower().replace(" ", "_"))
        if shortcut:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda *_, s=slot: s())
    info = getattr(window, "panels", {}).get("Loaded model")
    if info is not None and hasattr(info, "edit_copy_requested"):
        info.edit_copy_requested.connect(lambda: _on_edit_copy(window))
    window.session.config_changed.connect(
        lambda: window.session.model_source is None and _set_model_locked(window, False))
    window.model_locked = False


def _install() -> None:
    from . import main
    if register not in main.FILE_MENU_EXTENSIONS:
        main.FILE_MENU_EXTENSIONS.append(register)


_install()
