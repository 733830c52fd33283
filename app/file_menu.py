"""The File menu's actions: open a model, a demo, a text input or a session; save a session;
and the model lock (a loaded model's config is read-only until "Edit a copy").

Each action takes the window and changes its session; the window's context re-traces when the
session says it changed. Dialogs are opened with ``open()`` (window-modal, not blocking) and
report back through their ``accepted`` signal. Every failure is shown as a message box and in
the status bar, and the session keeps what it had.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from lstm_viz import demos as demo_registry
from lstm_viz.io import (
    LoadedModel,
    LSTMCandidate,
    PickleConsentNeeded,
    load_into_session,
    load_model,
)
from lstm_viz.sessionfile import load_session, save_session
from lstm_viz.textinput import text_input_spec, tokens_spec
from lstm_viz.validate import MAX_TEXT, check_regular_file

from .dialogs import DemoDialog, LSTMPickerDialog, UnsafePickleDialog

log = logging.getLogger(__name__)
MODEL_FILTER = "PyTorch models (*.pt *.pth *.ckpt *.bin *.ts *.jit);;All files (*)"
SESSION_FILTER = "lstm-viz sessions (*.lstmviz.json *.json);;All files (*)"
TEXT_FILTER = "Text (*.txt *.py *.md *.csv);;All files (*)"
VOCAB_FILTER = "Vocabulary (*.json *.txt);;All files (*)"


def add_file_actions(window, menu: QMenu) -> QAction:
    """Open/Save session…, then the "Models" section (returned): Open model…, Open demo…,
    Open text input…; and the model lock that follows the session."""
    section = None
    for text, slot, shortcut in (
            ("Open session…", lambda: _ask_open_session(window), QKeySequence.StandardKey.Open),
            ("Save session…", lambda: _ask_save_session(window), QKeySequence.StandardKey.Save),
            (None, None, None),
            ("Open model…", lambda: _ask_open_model(window), "Ctrl+M"),
            ("Open demo…", lambda: _ask_open_demo(window), "Ctrl+D"),
            ("Open text input…", lambda: _ask_open_text(window), None)):
        if text is None:
            menu.addSeparator()
            section = menu.addSection("Models")
            continue
        action = menu.addAction(text)
        action.setObjectName("action_" + text.split("…")[0].lower().replace(" ", "_"))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda *_, s=slot: s())
    info = window.panels.get("Loaded model")
    if info is not None:
        info.edit_copy_requested.connect(lambda: _edit_a_copy(window))
    window.ctx.config_changed.connect(
        lambda: window.session.model_source is None and set_model_locked(window, False))
    return section


# ----- messages ----------------------------------------------------------------------------------
def show_error(window, title: str, text: str) -> QMessageBox:
    """A non-blocking warning box plus the same text in the status bar."""
    window.ctx.post(f"{title}: {text}", 15000)
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                      window)
    box.setObjectName("error_box")
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.open()
    return box


def _opened(window, path, kind: str) -> None:
    """Tell the window which file it now shows (title, modified mark, Open recent)."""
    note = getattr(window, "document_opened", None)
    if note is not None:
        note(path, kind)


# ----- models ------------------------------------------------------------------------------------
def open_model(window, path, *, allow_pickle: bool = False, lstm: str | None = None) -> bool:
    """Open ``path`` into the window's session (``lstm-viz --model FILE``, File > Open model).

    Returns False when the file cannot be used (the message is shown, the model unchanged). A
    file whose LSTM can only be read by running its code asks first, unless ``allow_pickle``
    (the user's ``--allow-pickle`` for this file) or the user agreed to this file earlier in
    this run; a file with several LSTMs asks which one (unless ``lstm`` names it). Those
    questions are answered asynchronously; True is returned.
    """
    path = Path(path)
    ctx = window.ctx
    if allow_pickle and path.is_file():
        ctx.consent_to_pickle(path)
    try:
        loaded = load_model(path, allow_pickle=ctx.pickle_consented(path))
    except PickleConsentNeeded:
        ask_pickle_consent(window, path, lambda: open_model(window, path, lstm=lstm))
        return True
    except ValueError as exc:
        show_error(window, "Could not open model", str(exc))
        return False
    log.info("opened %s: %s with %d LSTM(s)", path, loaded.kind, len(loaded.lstms))
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
    return True


def ask_pickle_consent(window, path, then) -> UnsafePickleDialog:
    """Ask whether the model file ``path`` may run its code; on "Load anyway" the consent
    covers that file (as it is now) for the rest of the run, and ``then()`` is called."""
    dialog = UnsafePickleDialog(Path(path), window)

    def agreed() -> None:
        try:
            window.ctx.consent_to_pickle(path)
        except OSError as exc:
            show_error(window, "Could not open model", f"cannot read {path}: {exc}")
            return
        then()

    dialog.accepted.connect(agreed)
    dialog.open()
    return dialog


def install_model(window, loaded: LoadedModel, cand: LSTMCandidate) -> bool:
    """Make the session use ``cand``; the model panel becomes read-only."""
    session = window.session
    try:
        spec = None
        if cand.embedding is not None and loaded.vocab and session.input_spec.source == "text":
            # typed text goes through the model's own vocabulary and embedding
            spec = tokens_spec(session.input_spec.text, vocab=loaded.vocab,
                               model_path=str(loaded.path), lstm=cand.name)
        note = load_into_session(session, loaded, cand, input_spec=spec)
    except ValueError as exc:
        show_error(window, "Could not use this LSTM", str(exc))
        return False
    set_model_locked(window, True)
    _opened(window, loaded.path, "model")
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
    set_model_locked(window, True)
    _opened(window, None, "demo")
    if demo.select:
        window.ctx.select_from(demo.select)
    if demo.view:
        window.show_view(demo.view)
    window.ctx.post(f"Demo: {demo.title}. {demo.description}", 10000)
    return True


# ----- text input --------------------------------------------------------------------------------
def open_text_input(window, text_path, vocab_path: str = "") -> bool:
    """Feed the text file ``text_path`` to the model (``text_input_spec``); show the Text tab.

    The model's file is read again for its vocabulary and embedding, without running its code
    unless the user agreed to that file in this run (else the unsafe-pickle question first)."""
    source = window.session.model_source or {}
    model_path = source.get("path") if isinstance(source, dict) else None
    try:
        # a regular file of bounded size: a FIFO or a device would hang the window
        path = check_regular_file(text_path, "text file", max_bytes=4 * MAX_TEXT)
        text = path.read_text(encoding="utf-8").replace("\t", "    ")
        spec = text_input_spec(source, text, str(vocab_path or ""),
                               allow_pickle=bool(model_path)
                               and window.ctx.pickle_consented(model_path))
        window.session.set_input(spec)
    except PickleConsentNeeded as exc:
        ask_pickle_consent(window, exc.path or model_path,
                           lambda: open_text_input(window, text_path, vocab_path))
        return False
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        show_error(window, "Could not use this text", str(exc))
        return False
    window.show_view("Text")
    _opened(window, text_path, "text")
    return True


# ----- sessions ----------------------------------------------------------------------------------
def save_session_file(window, path) -> bool:
    """Save the whole session (weights, input, step, edits, selection, current view)."""
    view = {"tab": window.tabs.tabText(window.tabs.currentIndex())}
    try:
        save_session(path, window.session, selection=_selection(window), view=view)
    except (OSError, ValueError) as exc:
        show_error(window, "Could not save session", str(exc))
        return False
    _opened(window, path, "session")
    window.ctx.post(f"Saved session {path}", 6000)
    return True


def _selection(window) -> dict:
    ctx = window.ctx
    sel = {k: int(getattr(ctx, k)) for k in ("layer", "direction", "batch", "unit")}
    units = window.panels.get("Units")
    if units is not None:
        sel["span"] = list(units.span())
        sel["span_kind"] = units.kind
    return sel


def open_session(window, path) -> bool:
    """Replace the window's session state by the one saved in ``path`` (a whole session, or
    a plain ``Session.to_dict()`` JSON whose weights follow from its seed).

    The new session is read, checked and traced on its own first; the window's session changes
    only once it is known good. A model file the session names is unpickled only with the
    user's consent to that file (asked here, as File > Open model asks)."""
    try:
        loaded, extras = load_session(path, trusted_models=window.ctx.consented_models())
    except PickleConsentNeeded as exc:
        if exc.path is None:
            show_error(window, "Could not open session", str(exc))
            return False
        ask_pickle_consent(window, exc.path, lambda: open_session(window, path))
        return False
    except (OSError, ValueError) as exc:
        show_error(window, "Could not open session", str(exc))
        return False
    session, ctx = window.session, window.ctx
    try:
        # model and input change together (or neither)
        session.load_module(loaded.lstm, source=loaded.model_source or None,
                            input_spec=loaded.input_spec)
        if extras.weights_from == "seed":  # so that the session remembers the seed too
            session.reinitialize(loaded.seed)
    except ValueError as exc:
        show_error(window, "Could not open session", str(exc))
        return False

    # First the run as saved, then (if the session has what-if edits) the edited run, so that
    # the "before edit" comparison has the original; then the step.
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
        ctx.when_traced(lambda: session.seek(loaded.t))

    ctx.when_traced(apply_edits if loaded.edits else lambda: session.seek(loaded.t))
    set_model_locked(window, bool(session.model_source))
    sel = extras.selection
    ctx.select_from(sel)
    units = window.panels.get("Units")
    if units is not None and isinstance(sel.get("span"), list) and len(sel["span"]) == 2:
        units.set_span(int(sel["span"][0]), int(sel["span"][1]))
    if extras.view.get("tab"):
        window.show_view(str(extras.view["tab"]))
    _opened(window, path, "session")
    ctx.post(f"Opened session {path} (weights from {extras.weights_from})", 6000)
    return True


# ----- the read-only model panel ----------------------------------------------------------------
def set_model_locked(window, locked: bool) -> None:
    """While a loaded model is shown, its config is read-only until "Edit a copy"."""
    panel = window.panels.get("Model")
    if panel is not None:
        panel.setEnabled(not locked)
        panel.setToolTip("The loaded model's config is read-only: use \"Edit a copy\" in the"
                         " Loaded model panel to change it." if locked else "")


def _edit_a_copy(window) -> None:
    set_model_locked(window, False)
    dock = window.docks.get("Model")
    if dock is not None:
        dock.show()
        dock.raise_()
    window.ctx.post("Editing a copy: the model file is not changed. batch_first and dropout"
                    " keep the trained weights; a change of sizes draws new ones from the seed.",
                    8000)


# ----- what the menu entries ask ------------------------------------------------------------------
def _ask_open_model(window) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Open model", "", MODEL_FILTER)
    if path:
        open_model(window, path)


def _ask_open_demo(window) -> None:
    try:
        demos = demo_registry.list_demos()
    except ValueError as exc:
        show_error(window, "No demos", str(exc))
        return
    dialog = DemoDialog(demos, window)
    dialog.accepted.connect(lambda: dialog.chosen and open_demo(window, dialog.chosen.name))
    dialog.open()


def _ask_open_text(window) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Open text input", "", TEXT_FILTER)
    if not path:
        return
    vocab = ""
    src = window.session.model_source or {}
    if src.get("embedding") and not src.get("has_vocab", True):
        vocab, _ = QFileDialog.getOpenFileName(window, "Vocabulary of the model", "",
                                               VOCAB_FILTER)
    open_text_input(window, path, vocab)


def _ask_save_session(window) -> None:
    path, _ = QFileDialog.getSaveFileName(window, "Save session", "session.lstmviz.json",
                                          SESSION_FILTER)
    if path:
        save_session_file(window, path)


def _ask_open_session(window) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Open session", "", SESSION_FILTER)
    if path:
        open_session(window, path)
