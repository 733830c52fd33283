"""The File menu's actions: open a model, a demo, a text input or a session; save a session;
ask to save unsaved changes; and the model lock (a loaded model's config is read-only until
"Edit a copy").

Opening a model or a session is two steps: the load (``read_model``, ``read_session``: read,
parse, check and build, touching no Qt object) and its use (``use_model``, ``use_session``:
install into the window's session, on the GUI thread). The menu, Open recent, drag and drop and
the start-up run the load on a worker (``Opener``: progress dialog, Cancel, the newest open
wins); headless runs and scripts call the same functions without ``background``.

Each action takes the window and changes its session; the window's context re-traces when the
session says it changed. Dialogs are opened with ``open()`` (window-modal, not blocking) and
report back through their ``accepted`` signal. Every failure is shown as a message box and in
the status bar, and the session keeps what it had.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QProgressDialog
from torch import nn

from lstm_viz import Session
from lstm_viz import demos as demo_registry
from lstm_viz.io import (
    LoadedModel,
    LSTMCandidate,
    PickleConsentNeeded,
    load_into_session,
    load_model,
    model_source,
)
from lstm_viz.sessionfile import SessionExtras, load_session, save_session
from lstm_viz.textinput import text_input_spec, tokens_spec
from lstm_viz.validate import MAX_TEXT, check_regular_file

from .dialogs import DemoDialog, LSTMPickerDialog, UnsafePickleDialog
from .timeline.persist import layouts as timeline_layouts
from .timeline.persist import restore_layouts as restore_timeline_layouts
from .workers import LoadRunner

log = logging.getLogger(__name__)
MODEL_FILTER = "PyTorch models (*.pt *.pth *.ckpt *.bin *.ts *.jit);;All files (*)"
SESSION_FILTER = "lstm-viz sessions (*.lstmviz.json *.json);;All files (*)"
TEXT_FILTER = "Text (*.txt *.py *.md *.csv);;All files (*)"
VOCAB_FILTER = "Vocabulary (*.json *.txt);;All files (*)"


def add_file_actions(window, menu: QMenu) -> QAction:
    """New session, Open/Save session…, then the "Models" section (returned): Open model…,
    Open demo…, Open text input…; and the model lock that follows the session."""
    section = None
    for text, slot, shortcut in (
            ("New session", lambda: _ask_new_session(window), QKeySequence.StandardKey.New),
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


def _message(exc: BaseException) -> str:
    """What a user reads about a failed load: a ValueError's own words, else the error's kind
    and text (no traceback)."""
    if isinstance(exc, ValueError):
        return str(exc)
    log.error("loading failed", exc_info=exc)
    return f"{type(exc).__name__}: {exc}"


def _opened(window, path, kind: str) -> None:
    """Tell the window which file it now shows (title, modified mark, Open recent)."""
    note = getattr(window, "document_opened", None)
    if note is not None:
        note(path, kind)


# ----- loading off the GUI thread ----------------------------------------------------------------
class Opener(QObject):
    """Runs the loads of File > Open… on a worker, with a progress dialog and Cancel.

    ``start`` hands ``load()`` (read, parse, check and build: no Qt objects) to a
    ``LoadRunner``; on the GUI thread, ``use(result)`` installs what it made, or
    ``failed(exception)`` says why not. Only the newest load is used: Cancel, or a later open,
    drops the one running, which then installs nothing.
    """

    #: milliseconds before the progress dialog shows (a quick load does not flash one)
    SHOW_AFTER_MS = 300

    def __init__(self, window):
        super().__init__(window)
        self.setObjectName("opener")
        self._window = window
        self.runner = LoadRunner(self)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.progress: QProgressDialog | None = None
        self._then: tuple | None = None  # (use, failed, cancelled) of the running load
        self._ticket = 0  # the running load's
        self._label = ""

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def start(self, label: str, load, use, failed, cancelled=None) -> None:
        """Run ``load()`` on the worker; then ``use(result)`` or ``failed(exception)`` here;
        ``cancelled()`` if the user cancels it. A load already running is dropped."""
        self._close_progress()
        self._then = (use, failed, cancelled)
        self._label = label
        dialog = QProgressDialog(label, "Cancel", 0, 0, self._window)
        dialog.setObjectName("open_progress")
        dialog.setWindowTitle("Opening")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setMinimumDuration(self.SHOW_AFTER_MS)
        dialog.canceled.connect(self.cancel)
        self.progress = dialog
        QTimer.singleShot(self.SHOW_AFTER_MS, dialog, lambda: self._show(dialog))
        self._window.ctx.post(label)
        self._ticket = self.runner.start(load)

    def _show(self, dialog: QProgressDialog) -> None:
        if dialog is self.progress and self.runner.busy:
            dialog.show()

    def cancel(self) -> None:
        """Drop the running load (nothing it read is installed)."""
        if not self.runner.busy:
            return
        self.runner.cancel()
        self._close_progress()
        then, self._then = self._then, None
        self._window.ctx.post(f"Cancelled: {self._label.rstrip('…')}", 6000)
        if then is not None and then[2] is not None:
            then[2]()

    def _close_progress(self) -> None:
        dialog, self.progress = self.progress, None
        if dialog is not None:
            dialog.canceled.disconnect(self.cancel)
            dialog.close()
            dialog.deleteLater()

    def _on_finished(self, ticket: int, result) -> None:
        self._deliver(ticket, 0, result)

    def _on_failed(self, ticket: int, exc) -> None:
        self._deliver(ticket, 1, exc)

    def _deliver(self, ticket: int, outcome: int, value) -> None:
        """The newest load ended: close its progress and hand ``value`` to its callback for
        that ``outcome`` (0 finished, 1 failed); an older load's end is dropped."""
        if ticket == self._ticket:
            self._close_progress()
            then, self._then = self._then, None
            if then is not None:
                then[outcome](value)


def opener(window) -> Opener:
    """The window's Opener (made on first use)."""
    found = window.findChild(Opener, "opener")
    return found if found is not None else Opener(window)


def opening(window) -> bool:
    """True while a file is being read for ``window`` on the worker."""
    found = window.findChild(Opener, "opener")
    return found is not None and found.busy


def _load(window, label: str, load, use, failed, background: bool, done=None):
    """``use(load())``, or ``failed(exception)`` for a ValueError; with ``background`` the load
    runs on the worker (progress dialog, Cancel) and True is returned at once, else the value
    of ``use`` or ``failed``. ``done(False)`` when the user cancels."""
    if background:
        opener(window).start(label, load, use, failed,
                             cancelled=(lambda: done(False)) if done is not None else None)
        return True
    try:
        result = load()
    except ValueError as exc:
        return failed(exc)
    return use(result)


# ----- models ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelFile:
    """A model file as read off the GUI thread: what ``load_model`` found, and, once it is known
    which LSTM to use (``cand``), that LSTM built (``lstm``) with its ``source`` record."""

    loaded: LoadedModel
    cand: LSTMCandidate | None = None
    lstm: nn.LSTM | None = None
    source: dict | None = None


def read_model(path, *, allow_pickle: bool = False, lstm: str | None = None,
               dtype: torch.dtype = torch.float32, memory_budget: int | None = None
               ) -> ModelFile:
    """Read ``path`` (``load_model``, within ``memory_budget`` bytes) and build its LSTM (the
    one called ``lstm``, or its only one; none yet when it holds several and ``lstm`` is None).
    Touches no Qt object."""
    loaded = load_model(path, allow_pickle=allow_pickle, memory_budget=memory_budget)
    log.info("read %s: %s with %d LSTM(s)", path, loaded.kind, len(loaded.lstms))
    if lstm is None and len(loaded.lstms) != 1:
        return ModelFile(loaded)
    return build_model(loaded, loaded.pick(lstm), dtype)


def build_model(loaded: LoadedModel, cand: LSTMCandidate, dtype: torch.dtype) -> ModelFile:
    """``cand`` built as an ``nn.LSTM`` of ``dtype``, with the record of where it came from
    (which hashes the file). Touches no Qt object."""
    return ModelFile(loaded, cand, cand.build(dtype=dtype), model_source(loaded, cand))


def open_model(window, path, *, allow_pickle: bool = False, lstm: str | None = None,
               background: bool = False, done=None) -> bool:
    """Open ``path`` into the window's session (``lstm-viz --model FILE``, File > Open model).

    Returns False when the file cannot be used (the message is shown, the model unchanged). A
    file whose LSTM can only be read by running its code asks first, unless ``allow_pickle``
    (the user's ``--allow-pickle`` for this file) or the user agreed to this file earlier in
    this run; a file with several LSTMs asks which one (unless ``lstm`` names it). Those
    questions are answered asynchronously; True is returned.

    With ``background`` the file is read on a worker behind a progress dialog with Cancel, and
    True is returned at once; ``done(ok)`` then says whether the model was installed (False:
    it failed, was cancelled or a question was declined).
    """
    path = Path(path)
    ctx = window.ctx
    if allow_pickle and path.is_file():
        ctx.consent_to_pickle(path)
    consented = ctx.pickle_consented(path)
    dtype = window.session.dtype
    finish = done or (lambda ok: None)

    def again() -> bool:
        return open_model(window, path, lstm=lstm, background=background, done=done)

    def failed(exc: BaseException) -> bool:
        if isinstance(exc, PickleConsentNeeded):
            ask_pickle_consent(window, path, again, declined=lambda: finish(False))
            return True
        show_error(window, "Could not open model", _message(exc))
        finish(False)
        return False

    return _load(window, f"Opening {path.name}…",
                 lambda: read_model(path, allow_pickle=consented, lstm=lstm, dtype=dtype,
                                    memory_budget=window.session.memory_budget),
                 lambda model: use_model(window, model, background=background, done=done),
                 failed, background, done)


def use_model(window, model: ModelFile, *, background: bool = False, done=None) -> bool:
    """Install a read model file into the window's session; one that holds several LSTMs asks
    which one first (and builds it, on the worker with ``background``)."""
    finish = done or (lambda ok: None)
    if model.cand is not None:
        ok = install_model(window, model.loaded, model.cand, lstm=model.lstm,
                           source=model.source)
        finish(ok)
        return ok
    loaded, dtype = model.loaded, window.session.dtype
    picker = LSTMPickerDialog(loaded, window)

    def failed(exc: BaseException) -> bool:
        show_error(window, "Could not use this LSTM", _message(exc))
        finish(False)
        return False

    picker.accepted.connect(lambda: _load(
        window, f"Building {picker.chosen.name}…",
        lambda: build_model(loaded, picker.chosen, dtype),
        lambda built: use_model(window, built, done=done), failed, background, done))
    picker.rejected.connect(lambda: finish(False))
    picker.open()
    return True


def ask_pickle_consent(window, path, then, declined=None) -> UnsafePickleDialog:
    """Ask whether the model file ``path`` may run its code; on "Load anyway" the consent
    covers that file (as it is now) for the rest of the run, and ``then()`` is called (else
    ``declined()``, if given)."""
    dialog = UnsafePickleDialog(Path(path), window)

    def agreed() -> None:
        try:
            window.ctx.consent_to_pickle(path)
        except OSError as exc:
            show_error(window, "Could not open model", f"cannot read {path}: {exc}")
            if declined is not None:
                declined()
            return
        then()

    dialog.accepted.connect(agreed)
    if declined is not None:
        dialog.rejected.connect(declined)
    dialog.open()
    return dialog


def install_model(window, loaded: LoadedModel, cand: LSTMCandidate, *,
                  lstm: nn.LSTM | None = None, source: dict | None = None) -> bool:
    """Make the session use ``cand`` (``lstm`` and ``source``: built already, e.g. on the
    worker); the model panel becomes read-only."""
    session = window.session
    try:
        spec = None
        if cand.embedding is not None and loaded.vocab and session.input_spec.source == "text":
            # typed text goes through the model's own vocabulary and embedding
            spec = tokens_spec(session.input_spec.text, vocab=loaded.vocab,
                               model_path=str(loaded.path), lstm=cand.name)
        note = load_into_session(session, loaded, cand, input_spec=spec, lstm=lstm,
                                 source=source)
    except ValueError as exc:
        show_error(window, "Could not use this LSTM", str(exc))
        return False
    set_model_locked(window, True)
    _opened(window, loaded.path, "model")
    warned = "".join(f". Warning: {w}" for w in loaded.warnings)
    window.ctx.post(f"Opened {loaded.path.name}: {cand.describe()}"
                    + (f". Note: {note}" if note else "") + warned, 20000 if warned else 10000)
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
    view = {"tab": window.tabs.tabText(window.tabs.currentIndex()),
            "timelines": timeline_layouts(window.panels)}
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


def read_session(path, trusted_models=(), memory_budget: int | None = None
                 ) -> tuple[Session, SessionExtras]:
    """Read, check and build the session saved in ``path`` (weights, input, edits), untraced,
    within ``memory_budget`` bytes: the window traces it once it is in use. Touches no Qt
    object."""
    try:
        return load_session(path, trusted_models=trusted_models, trace=False,
                            memory_budget=memory_budget)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


def open_session(window, path, *, background: bool = False, done=None) -> bool:
    """Replace the window's session state by the one saved in ``path`` (a whole session, or
    a plain ``Session.to_dict()`` JSON whose weights follow from its seed).

    The new session is read and checked on its own first; the window's session changes only
    once it is known good. A model file the session names is unpickled only with the user's
    consent to that file (asked here, as File > Open model asks). With ``background`` the file
    is read on a worker behind a progress dialog with Cancel (True is returned at once, and
    ``done(ok)`` says whether it was installed)."""
    path = Path(path)
    trusted = window.ctx.consented_models()
    finish = done or (lambda ok: None)

    def failed(exc: BaseException) -> bool:
        if isinstance(exc, PickleConsentNeeded) and exc.path is not None:
            ask_pickle_consent(window, exc.path,
                               lambda: open_session(window, path, background=background,
                                                    done=done),
                               declined=lambda: finish(False))
            return False
        show_error(window, "Could not open session", _message(exc))
        finish(False)
        return False

    def use(result) -> bool:
        ok = use_session(window, path, *result)
        finish(ok)
        return ok

    return _load(window, f"Opening {path.name}…", lambda: read_session(path, trusted,
                                                         window.session.memory_budget), use,
                 failed, background, done)


def use_session(window, path, loaded: Session, extras: SessionExtras) -> bool:
    """Make the window's session the one read from ``path``: model, input, edits, step,
    selection and view. It is traced once (and once more with its what-if edits, so that the
    "before edit" comparison has the original run)."""
    session, ctx = window.session, window.ctx
    try:
        # model and input change together (or neither)
        session.load_module(loaded.lstm, source=loaded.model_source or None,
                            input_spec=loaded.input_spec, head=loaded.head,
                            head_choices=loaded.head_choices,
                            pairing_notes=loaded.pairing_notes)
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
            for a in loaded.edits.ablations:
                session.ablate(a, rerun=False)
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
    if "timelines" in extras.view:
        problem = restore_timeline_layouts(window.panels, extras.view["timelines"])
        if problem:
            ctx.post(problem, 10000)
    if extras.view.get("tab"):
        window.show_view(str(extras.view["tab"]))
    _opened(window, path, "session")
    ctx.post(f"Opened session {path} (weights from {extras.weights_from})", 6000)
    return True


# ----- unsaved changes ---------------------------------------------------------------------------
def ask_to_save(window, then, *, before: str = "closing", only_edits: bool = False
                ) -> QMessageBox | None:
    """Run ``then()`` now when the session has no unsaved changes (the title's modified mark;
    with ``only_edits``, no what-if edits either, which are what a new input drops), or when
    the window does not ask (``confirm_unsaved`` False: headless and test windows).
    Otherwise ask Save / Discard / Cancel in a window-modal box: Save writes the session (to the
    session file it came from, else to one the user chooses) and then runs ``then()``, Discard
    runs it, Cancel (or closing the box) runs nothing. Returns the box, if one was opened."""
    if only_edits and not window.session.edits:
        then()
        return None
    if not window.isWindowModified() or not getattr(window, "confirm_unsaved", False):
        then()
        return None
    asking = window.findChild(QMessageBox, "unsaved_box")
    if asking is not None and asking.isVisible():  # a second click on close: one question
        return asking
    buttons = QMessageBox.StandardButton
    box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                      f"The session has changes that are not saved. Save them before {before}?",
                      buttons.Save | buttons.Discard | buttons.Cancel, window)
    box.setObjectName("unsaved_box")
    box.setInformativeText("Discard loses the what-if edits and settings changed since the"
                           " session was opened or saved.")
    box.setDefaultButton(buttons.Save)
    box.setEscapeButton(buttons.Cancel)

    def answered(button) -> None:
        choice = box.standardButton(button)
        if choice == buttons.Discard or (choice == buttons.Save and _save_before(window)):
            then()

    box.buttonClicked.connect(answered)
    box.finished.connect(box.deleteLater)
    box.open()
    return box


def _save_before(window) -> bool:
    """Save the session to its own file, or one the user chooses; False if it was not saved."""
    path = window.document if getattr(window, "document", None) is not None else None
    if path is None or path.suffix.lower() != ".json":
        chosen, _ = QFileDialog.getSaveFileName(window, "Save session", "session.lstmviz.json",
                                                SESSION_FILTER)
        if not chosen:
            return False
        path = chosen
    return save_session_file(window, path)


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
    ask_to_save(window, lambda: _choose_model(window), before="opening another model")


def _choose_model(window) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Open model", "", MODEL_FILTER)
    if path:
        open_model(window, path, background=True)


def _ask_open_demo(window) -> None:
    ask_to_save(window, lambda: _choose_demo(window), before="opening a demo")


def _choose_demo(window) -> None:
    try:
        demos = demo_registry.list_demos()
    except ValueError as exc:
        show_error(window, "No demos", str(exc))
        return
    dialog = DemoDialog(demos, window)
    dialog.accepted.connect(lambda: dialog.chosen and open_demo(window, dialog.chosen.name))
    dialog.open()


def _ask_open_text(window) -> None:
    ask_to_save(window, lambda: _choose_text(window), before="opening another input",
                only_edits=True)


def _choose_text(window) -> None:
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


def _ask_new_session(window) -> None:
    ask_to_save(window, lambda: new_session(window), before="starting a new session")


def new_session(window) -> bool:
    """Start over as a first start would: the default config and input, weights drawn from
    seed 0, no what-if edits and no file (the window's settings, view and device are kept)."""
    fresh = Session()
    session = window.session
    try:
        session.clear_edits()  # asked about already: no "edits cleared" note for them
        session.load_module(fresh.lstm, source=None, input_spec=fresh.input_spec)
        session.reinitialize(fresh.seed)
    except ValueError as exc:  # the default session fits any budget; said, not raised
        show_error(window, "Could not start a new session", str(exc))
        return False
    set_model_locked(window, False)
    window.document = None
    window.mark_clean()
    window.ctx.post("New session: the default LSTM, weights drawn from seed 0", 6000)
    return True


def _ask_open_session(window) -> None:
    ask_to_save(window, lambda: _choose_session(window), before="opening another session")


def _choose_session(window) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Open session", "", SESSION_FILTER)
    if path:
        open_session(window, path, background=True)
