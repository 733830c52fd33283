"""The window's documents: new, open and save; Open recent; the question about unsaved changes;
consent to run a model file's code; and the model lock (a loaded model's config is read-only
until "Edit a copy").

Opening a model or a session is two steps: the load (``read_model``, ``read_session``: read,
parse, check and build, touching no Qt object) and its use (``use_model``, ``use_session``:
install into the window's session, on the GUI thread). The menu, Open recent, drag and drop and
the start-up run the load on a worker (``Opener``: progress dialog, Cancel, the newest open
wins); headless runs and scripts call the same methods without ``background``.

Each action changes the window's session; the window's context re-traces when the session says
it changed. Dialogs are opened with ``open()`` (window-modal, not blocking) and report back
through their ``accepted`` signal. Every failure is shown as a message box and in the status
bar, and the session keeps what it had.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QAbstractButton, QFileDialog, QMenu, QMessageBox
from torch import nn

from lstm_viz import Session
from lstm_viz import demos as demo_registry
from lstm_viz.formats.loader import (
    LoadedModel,
    LSTMCandidate,
    PickleConsentNeeded,
    load_into_session,
    load_model,
    model_source,
)
from lstm_viz.formats.sessionfile import SessionExtras, load_session, save_session
from lstm_viz.text.textinput import text_input_spec, tokens_spec
from lstm_viz.validate import MAX_TEXT, check_regular_file

from ..dialogs import DemoDialog, LSTMPickerDialog, UnsafePickleDialog
from ..panels.model_info import ModelInfoPanel
from ..panels.units import UnitsView
from ..timeline.persist import layouts as timeline_layouts
from ..timeline.persist import restore_layouts as restore_timeline_layouts
from . import recent
from .consent import PickleConsent
from .opener import Opener

if TYPE_CHECKING:
    from ..main import MainWindow

log = logging.getLogger(__name__)
MODEL_FILTER = "PyTorch models (*.pt *.pth *.ckpt *.bin *.ts *.jit);;All files (*)"
SESSION_FILTER = "lstm-viz sessions (*.lstmviz.json *.json);;All files (*)"
TEXT_FILTER = "Text (*.txt *.py *.md *.csv);;All files (*)"
VOCAB_FILTER = "Vocabulary (*.json *.txt);;All files (*)"

#: ``done(ok)``: whether what was asked for is in use now
Done = Callable[[bool], object]


def _message(exc: BaseException) -> str:
    """What a user reads about a failed load: a ValueError's own words, else the error's kind
    and text (no traceback)."""
    if isinstance(exc, ValueError):
        return str(exc)
    log.error("loading failed", exc_info=exc)
    return f"{type(exc).__name__}: {exc}"


# ----- reading files (no Qt objects: these run on the worker) ------------------------------------
@dataclass(frozen=True)
class ModelFile:
    """A model file as read off the GUI thread: what ``load_model`` found, and, once it is known
    which LSTM to use (``cand``), that LSTM built (``lstm``) with its ``source`` record."""

    loaded: LoadedModel
    cand: LSTMCandidate | None = None
    lstm: nn.LSTM | None = None
    source: dict | None = None


def read_model(path: str | Path, *, allow_pickle: bool = False, lstm: str | None = None,
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


def read_session(path: str | Path, trusted_models: Collection[str | Path] = (),
                 memory_budget: int | None = None) -> tuple[Session, SessionExtras]:
    """Read, check and build the session saved in ``path`` (weights, input, edits), untraced,
    within ``memory_budget`` bytes: the window traces it once it is in use. Touches no Qt
    object."""
    try:
        return load_session(path, trusted_models=trusted_models, trace=False,
                            memory_budget=memory_budget)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


class DocumentsController(QObject):
    """What File > New, Open…, Open recent and Save do to the window's session, with the
    questions they ask (unsaved changes, which LSTM, whether a file may run its code)."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.setObjectName("documents")
        self.session = window.session
        self.ctx = window.ctx
        #: the model files the user agreed, in this run, to unpickle
        self.consent = PickleConsent()
        self.opener = Opener(window, self._post)
        self.recent_menu = QMenu("Open &recent", window)
        self.recent_menu.setObjectName("recent_menu")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        self.fill_recent_menu()
        info = window.panels.get(ModelInfoPanel.title)
        if isinstance(info, ModelInfoPanel):
            info.edit_copy_requested.connect(self.edit_a_copy)
        self.ctx.config_changed.connect(self._unlock_without_model)

    @property
    def _window(self) -> MainWindow:
        # the window is the parent, not an attribute: no reference cycle keeps a closed
        # window's Python object alive
        return cast("MainWindow", self.parent())

    def _post(self, text: str, timeout_ms: int = 4000) -> None:
        self._window.messages.post(text, timeout_ms)

    @property
    def opening(self) -> bool:
        """True while a file is being read on the worker."""
        return self.opener.busy

    # ----- messages ------------------------------------------------------------------------
    def show_error(self, title: str, text: str) -> QMessageBox:
        """A non-blocking warning box plus the same text in the status bar."""
        self._post(f"{title}: {text}", 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                          self._window)
        box.setObjectName("error_box")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()
        return box

    def _load(self, label: str, load: Callable[[], Any], use: Callable[[Any], bool],
              failed: Callable[[BaseException], bool], background: bool,
              done: Done | None = None) -> bool:
        """``use(load())``, or ``failed(exception)`` for a ValueError; with ``background`` the
        load runs on the worker (progress dialog, Cancel) and True is returned at once, else
        the value of ``use`` or ``failed``. ``done(False)`` when the user cancels."""
        if background:
            self.opener.start(label, load, use, failed,
                              cancelled=(lambda: done(False)) if done is not None else None)
            return True
        try:
            result = load()
        except ValueError as exc:
            return failed(exc)
        return use(result)

    # ----- models --------------------------------------------------------------------------
    def open_model(self, path: str | Path, *, allow_pickle: bool = False,
                   lstm: str | None = None, background: bool = False,
                   done: Done | None = None) -> bool:
        """Open ``path`` into the session (``lstm-viz --model FILE``, File > Open model).

        Returns False when the file cannot be used (the message is shown, the model
        unchanged). A file whose LSTM can only be read by running its code asks first, unless
        ``allow_pickle`` (the user's ``--allow-pickle`` for this file) or the user agreed to
        this file earlier in this run; a file with several LSTMs asks which one (unless
        ``lstm`` names it). Those questions are answered asynchronously; True is returned.

        With ``background`` the file is read on a worker behind a progress dialog with Cancel,
        and True is returned at once; ``done(ok)`` then says whether the model was installed
        (False: it failed, was cancelled or a question was declined).
        """
        path = Path(path)
        if allow_pickle and path.is_file():
            self.consent.agree(path)
        consented = self.consent.covers(path)
        dtype, budget = self.session.dtype, self.session.memory_budget
        finish = done or (lambda ok: None)

        def again() -> bool:
            return self.open_model(path, lstm=lstm, background=background, done=done)

        def failed(exc: BaseException) -> bool:
            if isinstance(exc, PickleConsentNeeded):
                self.ask_pickle_consent(path, again, declined=lambda: finish(False))
                return True
            self.show_error("Could not open model", _message(exc))
            finish(False)
            return False

        return self._load(f"Opening {path.name}…",
                          lambda: read_model(path, allow_pickle=consented, lstm=lstm,
                                             dtype=dtype, memory_budget=budget),
                          lambda model: self.use_model(model, background=background,
                                                       done=done),
                          failed, background, done)

    def use_model(self, model: ModelFile, *, background: bool = False,
                  done: Done | None = None) -> bool:
        """Install a read model file into the session; one that holds several LSTMs asks
        which one first (and builds it, on the worker with ``background``)."""
        finish = done or (lambda ok: None)
        if model.cand is not None:
            ok = self.install_model(model.loaded, model.cand, lstm=model.lstm,
                                    source=model.source)
            finish(ok)
            return ok
        loaded, dtype = model.loaded, self.session.dtype
        picker = LSTMPickerDialog(loaded, self._window)

        def failed(exc: BaseException) -> bool:
            self.show_error("Could not use this LSTM", _message(exc))
            finish(False)
            return False

        picker.accepted.connect(lambda: self._load(
            f"Building {picker.chosen.name}…",
            lambda: build_model(loaded, picker.chosen, dtype),
            lambda built: self.use_model(built, done=done), failed, background, done))
        picker.rejected.connect(lambda: finish(False))
        picker.open()
        return True

    def ask_pickle_consent(self, path: str | os.PathLike[str], then: Callable[[], object],
                           declined: Callable[[], object] | None = None
                           ) -> UnsafePickleDialog:
        """Ask whether the model file ``path`` may run its code; on "Load anyway" the consent
        covers that file (as it is now) for the rest of the run, and ``then()`` is called
        (else ``declined()``, if given)."""
        dialog = UnsafePickleDialog(Path(path), self._window)

        def agreed() -> None:
            try:
                self.consent.agree(Path(path))
            except OSError as exc:
                self.show_error("Could not open model", f"cannot read {path}: {exc}")
                if declined is not None:
                    declined()
                return
            then()

        dialog.accepted.connect(agreed)
        if declined is not None:
            dialog.rejected.connect(declined)
        dialog.open()
        return dialog

    def install_model(self, loaded: LoadedModel, cand: LSTMCandidate, *,
                      lstm: nn.LSTM | None = None, source: dict | None = None) -> bool:
        """Make the session use ``cand`` (``lstm`` and ``source``: built already, e.g. on the
        worker); the model panel becomes read-only."""
        session = self.session
        try:
            spec = None
            if (cand.embedding is not None and loaded.vocab
                    and session.input_spec.source == "text"):
                # typed text goes through the model's own vocabulary and embedding
                spec = tokens_spec(session.input_spec.text, vocab=loaded.vocab,
                                   model_path=str(loaded.path), lstm=cand.name)
            note = load_into_session(session, loaded, cand, input_spec=spec, lstm=lstm,
                                     source=source)
        except ValueError as exc:
            self.show_error("Could not use this LSTM", str(exc))
            return False
        self.set_model_locked(True)
        self._window.document_opened(loaded.path, "model")
        warned = "".join(f". Warning: {w}" for w in loaded.warnings)
        self._post(f"Opened {loaded.path.name}: {cand.describe()}"
                   + (f". Note: {note}" if note else "") + warned, 20000 if warned else 10000)
        return True

    def open_demo(self, name: str) -> bool:
        """Load demo ``name`` (model, sample input) and show its preferred view."""
        try:
            demo, loaded, cand = demo_registry.open_demo(self.session, name)
        except ValueError as exc:
            self.show_error("Could not open demo", str(exc))
            return False
        self.set_model_locked(True)
        self._window.document_opened(None, "demo")
        if demo.select:
            self.ctx.select_from(demo.select)
        if demo.view:
            self._window.show_view(demo.view)
        self._post(f"Demo: {demo.title}. {demo.description}", 10000)
        return True

    # ----- inputs --------------------------------------------------------------------------
    def open_text_input(self, text_path: str | Path, vocab_path: str | Path = "") -> bool:
        """Feed the text file ``text_path`` to the model (``text_input_spec``); show the Text
        tab.

        The model's file is read again for its vocabulary and embedding, without running its
        code unless the user agreed to that file in this run (else the unsafe-pickle question
        first)."""
        source = self.session.model_source or {}
        model_path = source.get("path") if isinstance(source, dict) else None
        model_path = str(model_path) if model_path else None
        try:
            # a regular file of bounded size: a FIFO or a device would hang the window
            path = check_regular_file(text_path, "text file", max_bytes=4 * MAX_TEXT)
            text = path.read_text(encoding="utf-8").replace("\t", "    ")
            spec = text_input_spec(source, text, str(vocab_path or ""),
                                   allow_pickle=model_path is not None
                                   and self.consent.covers(model_path))
            self.session.set_input(spec)
        except PickleConsentNeeded as exc:
            asked = exc.path or model_path
            if asked is None:  # no file to ask about: say why, as for any other failure
                self.show_error("Could not use this text", str(exc))
            else:
                self.ask_pickle_consent(asked,
                                        lambda: self.open_text_input(text_path, vocab_path))
            return False
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self.show_error("Could not use this text", str(exc))
            return False
        self._window.show_view("Text")
        self._window.document_opened(text_path, "text")
        return True

    def open_array_input(self, path: str | Path) -> bool:
        """Use the .npy or .csv file ``path`` as the input (the Input panel's "File" source)."""
        spec = dataclasses.replace(self.session.input_spec, source="file", path=str(path))
        try:
            self.session.set_input(spec)
        except (OSError, ValueError) as exc:
            self.show_error("Could not use this input", str(exc))
            return False
        self._window.document_opened(path, "array")
        self._post(f"Input from {Path(path).name}", 6000)
        return True

    # ----- sessions ------------------------------------------------------------------------
    def save(self, path: str | Path) -> bool:
        """Save the whole session (weights, input, step, edits, selection, current view)."""
        tabs = self._window.tabs
        view = {"tab": tabs.tabText(tabs.currentIndex()),
                "timelines": timeline_layouts(self._window.panels)}
        try:
            save_session(path, self.session, selection=self._selection(), view=view)
        except (OSError, ValueError) as exc:
            self.show_error("Could not save session", str(exc))
            return False
        self._window.document_opened(path, "session")
        self._post(f"Saved session {path}", 6000)
        return True

    def save_as(self) -> bool:
        """Save the session to a file the user chooses; False if it was not saved."""
        path, _ = QFileDialog.getSaveFileName(self._window, "Save session",
                                              "session.lstmviz.json", SESSION_FILTER)
        return bool(path) and self.save(path)

    def _selection(self) -> dict:
        ctx = self.ctx
        sel: dict[str, Any] = {k: int(getattr(ctx, k))
                               for k in ("layer", "direction", "batch", "unit")}
        units = self._window.panels.get(UnitsView.title)
        if isinstance(units, UnitsView):
            sel["span"] = list(units.span())
            sel["span_kind"] = units.kind
        return sel

    def open_session(self, path: str | Path, *, background: bool = False,
                     done: Done | None = None) -> bool:
        """Replace the session state by the one saved in ``path`` (a whole session, or a plain
        ``Session.to_dict()`` JSON whose weights follow from its seed).

        The new session is read and checked on its own first; the window's session changes
        only once it is known good. A model file the session names is unpickled only with the
        user's consent to that file (asked here, as File > Open model asks). With
        ``background`` the file is read on a worker behind a progress dialog with Cancel (True
        is returned at once, and ``done(ok)`` says whether it was installed)."""
        path = Path(path)
        trusted = self.consent.files()
        budget = self.session.memory_budget
        finish = done or (lambda ok: None)

        def failed(exc: BaseException) -> bool:
            if isinstance(exc, PickleConsentNeeded) and exc.path is not None:
                self.ask_pickle_consent(
                    exc.path, lambda: self.open_session(path, background=background, done=done),
                    declined=lambda: finish(False))
                return False
            self.show_error("Could not open session", _message(exc))
            finish(False)
            return False

        def use(result: tuple[Session, SessionExtras]) -> bool:
            ok = self.use_session(path, *result)
            finish(ok)
            return ok

        return self._load(f"Opening {path.name}…",
                          lambda: read_session(path, trusted, budget), use, failed,
                          background, done)

    def use_session(self, path: str | Path, loaded: Session, extras: SessionExtras) -> bool:
        """Make the window's session the one read from ``path``: model, input, edits, step,
        selection and view. It is traced once (and once more with its what-if edits, so that
        the "before edit" comparison has the original run)."""
        session, ctx = self.session, self.ctx
        try:
            # model and input change together (or neither)
            session.load_module(loaded.lstm, source=loaded.model_source or None,
                                input_spec=loaded.input_spec, head=loaded.head,
                                head_choices=loaded.head_choices,
                                pairing_notes=loaded.pairing_notes)
            if extras.weights_from == "seed":  # so that the session remembers the seed too
                session.reinitialize(loaded.seed)
        except ValueError as exc:
            self.show_error("Could not open session", str(exc))
            return False
        # First the run as saved, then (if the session has what-if edits) the edited run, so
        # that the "before edit" comparison has the original; then the step.
        ctx.when_traced((lambda: self._replay_edits(loaded)) if loaded.edits
                        else lambda: session.seek(loaded.t))
        self.set_model_locked(bool(session.model_source))
        self._restore_selection(extras.selection)
        if "timelines" in extras.view:
            problem = restore_timeline_layouts(self._window.panels, extras.view["timelines"])
            if problem:
                self._post(problem, 10000)
        if extras.view.get("tab"):
            self._window.show_view(str(extras.view["tab"]))
        self._window.document_opened(path, "session")
        self._post(f"Opened session {path} (weights from {extras.weights_from})", 6000)
        return True

    def _replay_edits(self, loaded: Session) -> None:
        """Apply a read session's what-if edits to the window's session, then go to its step
        once the edited run is traced."""
        session = self.session
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
            self.show_error("Could not apply the session's what-if edits", str(exc))
        self.ctx.when_traced(lambda: session.seek(loaded.t))

    def _restore_selection(self, sel: dict) -> None:
        self.ctx.select_from(sel)
        units = self._window.panels.get(UnitsView.title)
        span = sel.get("span")
        if isinstance(units, UnitsView) and isinstance(span, list) and len(span) == 2:
            units.set_span(int(span[0]), int(span[1]))

    def new_session(self) -> bool:
        """Start over as a first start would: the default config and input, weights drawn
        from seed 0, no what-if edits and no file (the window's settings, view and device are
        kept)."""
        fresh = Session()
        session = self.session
        try:
            session.clear_edits()  # asked about already: no "edits cleared" note for them
            session.load_module(fresh.lstm, source=None, input_spec=fresh.input_spec)
            session.reinitialize(fresh.seed)
        except ValueError as exc:  # the default session fits any budget; said, not raised
            self.show_error("Could not start a new session", str(exc))
            return False
        self.set_model_locked(False)
        self._window.document = None
        self._window.mark_clean()
        self._post("New session: the default LSTM, weights drawn from seed 0", 6000)
        return True

    # ----- unsaved changes -----------------------------------------------------------------
    def ask_to_save(self, then: Callable[[], object], *, before: str = "closing",
                    only_edits: bool = False) -> QMessageBox | None:
        """Run ``then()`` now when the session has no unsaved changes (the title's modified
        mark; with ``only_edits``, no what-if edits either, which are what a new input drops),
        or when the window does not ask (``confirm_unsaved`` False: headless and test
        windows). Otherwise ask Save / Discard / Cancel in a window-modal box: Save writes the
        session (to the session file it came from, else to one the user chooses) and then runs
        ``then()``, Discard runs it, Cancel (or closing the box) runs nothing. Returns the box,
        if one was opened."""
        window = self._window
        if only_edits and not self.session.edits:
            then()
            return None
        if not window.isWindowModified() or not window.confirm_unsaved:
            then()
            return None
        asking = window.findChild(QMessageBox, "unsaved_box")
        if asking is not None and asking.isVisible():  # a second click on close: one question
            return asking
        buttons = QMessageBox.StandardButton
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                          "The session has changes that are not saved. Save them before"
                          f" {before}?", buttons.Save | buttons.Discard | buttons.Cancel, window)
        box.setObjectName("unsaved_box")
        box.setInformativeText("Discard loses the what-if edits and settings changed since the"
                               " session was opened or saved.")
        box.setDefaultButton(buttons.Save)
        box.setEscapeButton(buttons.Cancel)

        def answered(button: QAbstractButton) -> None:
            choice = box.standardButton(button)
            if choice == buttons.Discard or (choice == buttons.Save and self._save_before()):
                then()

        box.buttonClicked.connect(answered)
        box.finished.connect(box.deleteLater)
        box.open()
        return box

    def _save_before(self) -> bool:
        """Save the session to its own file, or one the user chooses; False if it was not
        saved."""
        path = self._window.document
        if path is None or path.suffix.lower() != ".json":
            return self.save_as()
        return self.save(path)

    # ----- the read-only model panel ------------------------------------------------------
    def set_model_locked(self, locked: bool) -> None:
        """While a loaded model is shown, its config is read-only until "Edit a copy"."""
        panel = self._window.panels.get("Model")
        if panel is not None:
            panel.setEnabled(not locked)
            panel.setToolTip("The loaded model's config is read-only: use \"Edit a copy\" in"
                             " the Loaded model panel to change it." if locked else "")

    def _unlock_without_model(self) -> None:
        if self.session.model_source is None:
            self.set_model_locked(False)

    def edit_a_copy(self) -> None:
        self.set_model_locked(False)
        dock = self._window.docks.get("Model")
        if dock is not None:
            dock.show()
            dock.raise_()
        self._post("Editing a copy: the model file is not changed. batch_first and dropout"
                   " keep the trained weights; a change of sizes draws new ones from the"
                   " seed.", 8000)

    # ----- opening by file name: drag and drop, Open recent --------------------------------
    def open_path(self, path: str | Path, *, background: bool = True,
                  done: Done | None = None) -> bool:
        """Open ``path`` as the File menu would, chosen by its suffix; False (and a message)
        when lstm-viz does not open such a file. A model or session is read on the worker
        (``background``), after the question about unsaved changes; an input is used after
        the question about the what-if edits it would drop, if any; ``done(ok)`` follows once
        it is in use (or not; not at all when the question is cancelled)."""
        try:
            kind = recent.kind_of(path)
        except ValueError as exc:
            self.show_error("Cannot open this file", str(exc))
            return False
        finish = done or (lambda ok: None)
        if kind in ("model", "session"):
            opener = self.open_model if kind == "model" else self.open_session
            self.ask_to_save(lambda: opener(path, background=background, done=done),
                             before=f"opening another {kind}")
            return True
        use = self.open_text_input if kind == "text" else self.open_array_input
        # a new input drops the what-if edits, which were made for the one before
        self.ask_to_save(lambda: finish(use(path)), before="opening another input",
                         only_edits=True)
        return True

    def open_paths(self, paths: Iterable[str]) -> None:
        """Open several files (a drop): a model or session first, then, once it is in use, the
        inputs, so that they feed the new model."""
        order = {"model": 0, "session": 1, "array": 2, "text": 3}
        pending = sorted(paths, key=lambda p: order[recent.kind_of(p)])

        def next_one(ok: bool = True) -> None:
            if pending:
                self.open_path(pending.pop(0), done=next_one)

        next_one()

    def fill_recent_menu(self) -> None:
        """The recent files as actions (a missing file greyed out, its tooltip says why), then
        "Clear list"."""
        menu, settings = self.recent_menu, self._window.settings
        menu.clear()
        paths = recent.recent_files(settings)
        for k, path in enumerate(paths):
            exists = Path(path).is_file()
            prefix = f"&{k + 1} " if k < 9 else ""
            action = menu.addAction(prefix + Path(path).name + ("" if exists else " (missing)"))
            action.setObjectName("recent_file")
            action.setData(path)
            action.setStatusTip(path)
            action.setToolTip(path if exists else f"{path} no longer exists")
            action.setEnabled(exists)
            action.triggered.connect(lambda *_, p=path: self.open_recent(p))
        if not paths:
            empty = menu.addAction("No recent files")
            empty.setEnabled(False)
        menu.addSeparator()
        clear = menu.addAction("Clear list")
        clear.setObjectName("action_clear_recent")
        clear.setEnabled(bool(paths))
        clear.triggered.connect(lambda *_: recent.set_recent_files(settings, []))

    def remember(self, path: str | Path) -> None:
        """Put ``path`` at the top of Open recent."""
        recent.remember(self._window.settings, path)
        self.fill_recent_menu()

    def open_recent(self, path: str) -> bool:
        """Open a file from the recent list; a file that is gone is taken off it, with a
        message."""
        if not Path(path).is_file():
            recent.forget(self._window.settings, path)
            self.show_error("File not found", f"{path} no longer exists; it was removed from"
                            " the recent files.")
            return False
        return self.open_path(path)

    # ----- what the menu entries ask -------------------------------------------------------
    def ask_open_model(self) -> None:
        self.ask_to_save(self._choose_model, before="opening another model")

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Open model", "", MODEL_FILTER)
        if path:
            self.open_model(path, background=True)

    def ask_open_demo(self) -> None:
        self.ask_to_save(self._choose_demo, before="opening a demo")

    def _choose_demo(self) -> None:
        try:
            demos = demo_registry.list_demos()
        except ValueError as exc:
            self.show_error("No demos", str(exc))
            return
        dialog = DemoDialog(demos, self._window)
        dialog.accepted.connect(lambda: dialog.chosen and self.open_demo(dialog.chosen.name))
        dialog.open()

    def ask_open_text(self) -> None:
        self.ask_to_save(self._choose_text, before="opening another input", only_edits=True)

    def _choose_text(self) -> None:
        window = self._window
        path, _ = QFileDialog.getOpenFileName(window, "Open text input", "", TEXT_FILTER)
        if not path:
            return
        vocab = ""
        src = self.session.model_source or {}
        if src.get("embedding") and not src.get("has_vocab", True):
            vocab, _ = QFileDialog.getOpenFileName(window, "Vocabulary of the model", "",
                                                   VOCAB_FILTER)
        self.open_text_input(path, vocab)

    def ask_new_session(self) -> None:
        self.ask_to_save(self.new_session, before="starting a new session")

    def ask_open_session(self) -> None:
        self.ask_to_save(self._choose_session, before="opening another session")

    def _choose_session(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Open session", "", SESSION_FILTER)
        if path:
            self.open_session(path, background=True)
