"""What File > Export… does: the views as figures (PNG, SVG, PDF) with their captions, the
data behind them, animations of stepping and the whole trace streamed, for the menu (with
progress and Cancel) and for ``lstm-viz export`` (headless, written before returning). The
writers themselves are in ``app/figure_writers.py`` (figures) and ``app/export.py`` (the
rest)."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QEventLoop, QObject, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QProgressDialog, QWidget

from lstm_viz.codegen import lstm_args
from lstm_viz.formats.export import export_data

from ..export import (
    ALL_FORMATS,
    DATA_FORMATS,
    IMAGE_FORMATS,
    STREAM_FILE,
    AnimationExport,
    ExportDialog,
    ExportJob,
    StreamExport,
    save_screenshot,
    settle,
    view_figure,
)
from ..figure import Figure
from ..figure_writers import figure_image, png_size, save_figure, write_png
from ..panels.code import CodeView
from ..timeline.figure import TimelineFigure

if TYPE_CHECKING:
    from ..main import MainWindow


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")


def _written(files: list[Path | Future[Path]]) -> list[Path]:
    """The paths written, once the worker has written every PNG; the window goes on painting
    meanwhile (user input waits: nothing may change the session under an export)."""
    pending = [f for f in files if isinstance(f, Future)]
    while not all(f.done() for f in pending):
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents, 20)
        wait(pending, timeout=0.02)
    return [f.result() if isinstance(f, Future) else f for f in files]


class ExportController(QObject):
    """The window's exports: what is written, where, and how the user hears how it ended."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.setObjectName("exports")
        self.session = window.session
        self.ctx = window.ctx
        #: the export running behind a progress dialog (kept alive while it runs)
        self.job: ExportJob | None = None

    @property
    def window(self) -> MainWindow:
        # the window is the parent, not an attribute: no reference cycle keeps a closed
        # window's Python object alive
        return cast("MainWindow", self.parent())

    def post(self, text: str, timeout_ms: int = 4000) -> None:
        self.window.messages.post(text, timeout_ms)

    # ----- the views --------------------------------------------------------------------
    def current_title(self) -> str:
        tabs = self.window.tabs
        return tabs.tabText(tabs.currentIndex())

    def view(self, title: str) -> QWidget:
        """The central view called ``title``."""
        return self.window.views[title]

    def show_view(self, title: str) -> None:
        self.window.show_view(title)

    def caption_text(self, title: str) -> str:
        """What a figure shows, in one paragraph: view, config, selection, step, edits."""
        session, ctx = self.session, self.ctx
        parts = [f"lstm-viz, {title}", f"nn.LSTM({', '.join(lstm_args(session))})"]
        trace = session.trace
        if trace is not None:
            lengths = [int(n) for n in trace.lengths]
            parts.append(f"{ctx.selection_text()} (of {trace.batch_size}"
                         + (f"; lengths {lengths}" if len(set(lengths)) > 1 else "") + ")")
            parts.append(f"t = {session.t} of 0..{trace.num_steps - 1}")
        edits = session.edits
        if edits:
            n = len(edits.ablations)
            parts.append(f"with {len(edits.inputs)} input and {len(edits.states)} state what-if"
                         f" edits and {n} ablation{'s' * (n != 1)}")
        return "; ".join(parts)

    def figure(self, title: str) -> Figure | TimelineFigure:
        """The view ``title`` as a figure with its caption (the view is shown first): a
        timeline's tracks when it shows one (``app/timeline/figure.py``)."""
        self.show_view(title)
        settle()
        return view_figure(self.view(title), self.caption_text(title))

    def _ensure_traced(self) -> None:
        """The trace on screen is of the session as it is now (exports never show a stale
        one), and the views have drawn it."""
        self.ctx.ensure_traced()
        settle()

    # ----- figures and data -------------------------------------------------------------
    def export_views(self, out_dir: str | Path, formats: Iterable[str] = ALL_FORMATS, *,
                     titles: list[str] | None = None, scale: float = 1.0,
                     include_window: bool = True) -> list[Path]:
        """Write the chosen views (default: all that have something to show) and the data
        behind them into ``out_dir``; returns the paths written."""
        chosen = {f.lower() for f in formats}
        unknown = chosen - set(ALL_FORMATS) - {"json"}
        if unknown:
            raise ValueError(f"unknown export format(s): {', '.join(sorted(unknown))};"
                             f" choose from {', '.join(ALL_FORMATS)}")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self._ensure_traced()
        tabs = self.window.tabs
        current = tabs.currentIndex()
        written: list[Path] = []
        if chosen & set(IMAGE_FORMATS):
            with ThreadPoolExecutor(1, thread_name_prefix="lstm-viz png") as encoder:
                files: list[Path | Future[Path]] = []
                for title in titles or list(self.window.views):
                    files += self._export_figure(title, out, chosen, scale, encoder,
                                                 only_with_content=titles is None)
                written += _written(files)
        tabs.setCurrentIndex(current)
        settle()
        if include_window and "png" in chosen:
            written.append(save_screenshot(self.window, out / "window.png", scale))
        data = chosen & set(DATA_FORMATS)
        if data:
            ctx = self.ctx
            # the script computes the gradients the Code view shows
            code = self.window.views.get(CodeView.title)
            written += export_data(self.session, out, data, layer=ctx.layer,
                                   direction=ctx.direction, batch=ctx.batch,
                                   target=code.target() if isinstance(code, CodeView) else None)
        return written

    def _export_figure(self, title: str, out: Path, formats: set[str], scale: float,
                       encoder: ThreadPoolExecutor, *, only_with_content: bool
                       ) -> list[Path | Future[Path]]:
        """The view ``title`` in the image ``formats``; nothing when ``only_with_content`` and
        it has nothing to show ("everything" means every view with something to show). The
        PNG is the figure the SVG and PDF hold, painted at ``scale`` (not a screen grab):
        painted here, where Qt paints scenes, then encoded and written by ``encoder``."""
        fig = self.figure(title)
        if only_with_content and (self.session.trace is None or not fig.has_content()):
            return []
        name = _slug(title)
        files: list[Path | Future[Path]] = []
        for fmt in (f for f in IMAGE_FORMATS if f in formats):
            path = out / f"{name}.{fmt}"
            if fmt == "png":
                png_size(fig, scale)  # a scale too large for Qt is refused before painting
                files.append(encoder.submit(write_png, figure_image(fig, scale), path))
            else:
                files.append(save_figure(fig, path, fmt, title))
        return files

    def open_dialog(self, everything: bool, formats: tuple[str, ...] | None = None) -> None:
        """File > Export current view / everything / code: folder, formats and resolution."""
        ExportDialog(self, everything, formats=formats).exec()

    def open_code_dialog(self) -> None:
        """File > Export code: the check script and its data."""
        self.open_dialog(False, formats=("py",))

    # ----- animations -------------------------------------------------------------------
    def export_animation(self, path: str | Path, *, max_frames: int = 120, fps: float = 8.0,
                         scale: float = 1.0) -> Path:
        """An animated GIF or WebP of the current view stepping through the sequence, written
        before returning (headless export; the menu's export shows a progress dialog)."""
        self._ensure_traced()
        job = AnimationExport(self, path, max_frames=max_frames, fps=fps, scale=scale)
        result: dict = {}
        job.finished.connect(lambda p: result.setdefault("path", p))
        job.failed.connect(lambda m: result.setdefault("error", m))
        job.start()
        job.wait()
        if "error" in result:
            raise OSError(result["error"])
        if "path" not in result:
            raise OSError(f"{path} was not written")
        return result["path"]

    def export_gif(self, path: str | Path, *, max_frames: int = 120, fps: float = 8.0,
                   scale: float = 1.0) -> Path:
        """An animated GIF of the current view stepping through the sequence."""
        return self.export_animation(path, max_frames=max_frames, fps=fps, scale=scale)

    def start_animation_export(self, path: str | Path) -> AnimationExport:
        """Export an animation with a progress dialog and a Cancel button; the window keeps
        painting and answering while it runs. Reports in the status bar when done."""
        job = AnimationExport(self, path)
        self._with_progress(job, "Export animation", Path(path))
        return job

    def ask_animation_path(self) -> None:
        """File > Export animation: choose a .gif or .webp file, then export with progress."""
        path, _ = QFileDialog.getSaveFileName(self.window, "Export animation", "steps.gif",
                                              "GIF (*.gif);;WebP, lossless (*.webp)")
        if path:
            try:
                self.start_animation_export(path)
            except ValueError as exc:
                self.post(f"Export failed: {exc}", 10000)

    # ----- the whole trace, streamed ----------------------------------------------------
    def start_stream_export(self, path: str | Path, *,
                            chunk_steps: int | None = None) -> StreamExport:
        """Stream the whole trace to ``path`` with a progress dialog and a Cancel button; the
        window keeps answering while it runs. Raises ValueError (nothing started) when there
        is nothing to stream or the chunks would not fit the memory budget."""
        self._ensure_traced()
        job = StreamExport(self.session, path, chunk_steps=chunk_steps, parent=self)
        self._with_progress(job, "Export full trace, streamed", Path(path))
        return job

    def ask_stream_path(self) -> None:
        """File > Export full trace, streamed: choose an .npz file, then write it with
        progress."""
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Export full trace, streamed (NPZ chunks)", STREAM_FILE,
            "NPZ archive (*.npz)")
        if path:
            try:
                self.start_stream_export(path)
            except ValueError as exc:
                self.post(f"Export failed: {exc}", 10000)

    def _with_progress(self, job: ExportJob, title: str, path: Path) -> None:
        """Run ``job`` behind a progress dialog with a Cancel button; the status bar says how
        it ended."""
        dialog = QProgressDialog(f"Writing {path.name}…", "Cancel", 0, job.total, self.window)
        dialog.setWindowTitle(title)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        job.progress.connect(lambda done, total: dialog.setValue(done))
        dialog.canceled.connect(job.cancel)
        job.dialog = dialog
        self.job = job

        def end(message: str) -> None:
            dialog.canceled.disconnect(job.cancel)
            dialog.close()
            self.post(message, 8000)
            job.deleteLater()

        job.finished.connect(lambda p: end(f"Wrote {p}"))
        job.failed.connect(lambda m: end(f"Export failed: {m}"))
        job.cancelled.connect(lambda: end(f"Export cancelled: {path.name} was not written"))
        dialog.show()
        job.start()
