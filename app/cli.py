"""``lstm-viz``: one parser tree for the whole command line. Without a command it starts the
window (or renders it with ``--screenshot``); ``export`` writes views and data headless with
the same options; ``shapes`` and ``models`` are the engine's (``lstm_viz.cli``).

    lstm-viz [--config session.json] [--step T] [--model FILE [--lstm NAME] [--allow-pickle]]
             [--demo NAME] [--view NAME] [--memory-budget SIZE]
             [--screenshot FILE.png [--size WxH]]
    lstm-viz export --out DIR [the same options] [--format png,svg,pdf,csv,npz,py,gif,webp]
                    [--scale S] [--stream [--chunk-steps N]]
    lstm-viz shapes --input-size N --hidden-size N --seq-len T ...
    lstm-viz models FILE [--allow-pickle]
    lstm-viz --version | --install-desktop | -v/--verbose | --debug

``--help``, ``--version`` and ``shapes`` import neither torch nor Qt: this module imports
them only inside the functions that need them. Bad input prints one line on stderr and exits
with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

from lstm_viz import __version__
from lstm_viz import cli as engine_cli

EXPORT_FORMATS = ("png", "svg", "pdf", "csv", "npz", "py", "gif", "webp")
DEFAULT_EXPORT = "png,svg,csv,npz"
STREAM_FILE = "trace_stream.npz"
ANIMATIONS = ("gif", "webp")


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit 2 (argparse prints usage too)
        raise UsageError(message)


def _add_window_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="session.json",
                   help="session JSON: LSTMConfig fields, seq_len, batch_size, input, seed")
    p.add_argument("--step", type=int, metavar="T", help="timestep to show")
    p.add_argument("--model", metavar="FILE", help="open a trained model (state dict or module)")
    p.add_argument("--lstm", metavar="NAME",
                   help="which LSTM of a --model file with several (a name or prefix, as the"
                        " picker lists them)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow the --model file (that file only) to run the code pickled in it"
                        " (only trusted files)")
    p.add_argument("--demo", metavar="NAME", help="open a demo that ships with lstm-viz"
                   " (a trained model and its sample input)")
    p.add_argument("--view", metavar="NAME", help="view to show first (Gates, States, Shapes,"
                   " Code, ...)")
    p.add_argument("--size", default="1280x800", metavar="WxH",
                   help="window size for --screenshot and export (default 1280x800)")
    p.add_argument("--memory-budget", metavar="SIZE",
                   help="memory a trace may use (default 1GiB; e.g. 4GiB, 512MiB): an input"
                        " whose full trace needs more is traced in windows")


EXAMPLES = """examples:
  lstm-viz                                      open the window
  lstm-viz --demo char_python                   open a demo (char_python, sine)
  lstm-viz --model lstm.pt --view States        open your own trained model
  lstm-viz --screenshot window.png --demo sine  render the window without a screen
  lstm-viz export --demo sine --out figures --format png,csv
  lstm-viz export --config session.json --out figures --step 5
  lstm-viz shapes --input-size 3 --hidden-size 8 --seq-len 10 --batch 4
  lstm-viz models lstm.pt                       list the LSTMs of a model file (--lstm names)
  lstm-viz --install-desktop                    add lstm-viz to the desktop's app menu

`lstm-viz COMMAND --help` describes a command's options.
"""


def _add_logging_options(p: argparse.ArgumentParser, top: bool) -> None:
    # after a command they must not reset what was given before it, hence SUPPRESS there
    default = False if top else argparse.SUPPRESS
    off = "" if top else " (default: off)"  # SUPPRESS has no default for --help to show
    p.add_argument("-v", "--verbose", action="store_true", default=default,
                   help="log what happens: files loaded, traces (method, sizes, timings),"
                        " worker jobs" + off)
    p.add_argument("--debug", action="store_true", default=default,
                   help="log everything, --verbose and more" + off)


def build_parser() -> argparse.ArgumentParser:
    """The ``lstm-viz`` parser: the window's options and the ``export`` and ``shapes``
    commands."""
    parser = _Parser(prog="lstm-viz", formatter_class=engine_cli.HelpFormatter,
                     description="See PyTorch's nn.LSTM gate by gate, step by step. Without a"
                                 " command, opens the window.", epilog=EXAMPLES)
    parser.add_argument("--version", action="version", version=f"lstm-viz {__version__}",
                        help="print lstm-viz's version and exit")
    _add_window_options(parser)
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="render the main window to a PNG without a screen and exit")
    parser.add_argument("--install-desktop", action="store_true",
                        help="add lstm-viz and its icon to the desktop's application menu"
                             " (~/.local/share) and exit")
    _add_logging_options(parser, top=True)
    parser.set_defaults(func=_start)
    subs = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND",
                                 parser_class=_Parser)
    exp = subs.add_parser("export", help="export views and data without a screen",
                          formatter_class=engine_cli.HelpFormatter,
                          description="Open what the window would open (the same options),"
                                      " then write its views and data into --out.",
                          epilog="examples:\n"
                                 "  lstm-viz export --demo sine --out figures\n"
                                 "  lstm-viz export --config session.json --out figures"
                                 " --step 5 --format png,gif --view States\n"
                                 "  lstm-viz export --config long.json --out data --stream\n")
    _add_window_options(exp)
    exp.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    exp.add_argument("--format", default=None,
                     help="comma-separated: png, svg, pdf, csv, npz, py, gif, webp (default:"
                          f" {DEFAULT_EXPORT}, or none with --stream; svg and pdf are figures"
                          " of the plots; py is a script that checks the numbers with torch"
                          " alone, with its NPZ; gif and webp animate --view, or the first"
                          " view, over every step; a long input traced in windows writes its"
                          " window and the overview)")
    exp.add_argument("--scale", type=float, default=1.0, help="PNG resolution factor")
    exp.add_argument("--stream", action="store_true",
                     help=f"also write every step of the trace, however long, to DIR/{STREAM_FILE}"
                          " chunk by chunk in bounded memory (NPZ with a manifest.json; read it"
                          " with lstm_viz.formats.export.read_stream)")
    exp.add_argument("--chunk-steps", type=int, metavar="N",
                     help="steps per chunk of --stream (default: the window a long input is"
                          " traced in, 1024)")
    _add_logging_options(exp, top=False)
    exp.set_defaults(func=_export)
    engine_cli.add_commands(subs)
    for name, command in subs.choices.items():
        if name != "export":
            _add_logging_options(command, top=False)
    return parser


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must look like 1280x800 (got {text!r})") from None
    if not (200 <= w <= 10000 and 200 <= h <= 10000):
        raise UsageError(f"--size must be between 200x200 and 10000x10000 (got {text})")
    return w, h


def _budget(args) -> int | None:
    """--memory-budget in bytes (None: the default); UsageError naming what to write."""
    if args.memory_budget is None:
        return None
    from lstm_viz.tracing.budget import parse_size
    try:
        return parse_size(args.memory_budget)
    except ValueError as exc:
        raise UsageError(f"--memory-budget: {exc}") from None


def _formats(text: str, allow_none: bool = False) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in EXPORT_FORMATS]
    if bad or not (formats or allow_none):
        raise UsageError(f"--format takes a comma-separated list of {', '.join(EXPORT_FORMATS)}"
                         f" (got {text!r})")
    return formats


def load_session_file(path: str, trusted_models=(), memory_budget: int | None = None):
    """The Session described by a session JSON file (a config dict, or a whole session saved
    with its model, ``*.lstmviz.json``) and the file's data; UsageError with a one-line reason.

    The file is read only if it is a regular file of bounded size (never a FIFO or a device).
    Relative paths in it are read from the file's folder. A model the session names is
    unpickled only if it is one of ``trusted_models``; ``memory_budget`` (bytes) is the user's.
    """
    from lstm_viz import Session
    from lstm_viz.formats.sessionfile import resolve_paths
    from lstm_viz.validate import read_json_file
    try:
        data = read_json_file(path, "session file")
    except ValueError as exc:
        raise UsageError(f"--config: {_one_line(exc)}") from None
    if isinstance(data, dict) and isinstance(data.get("format"), str) and \
            data["format"].startswith("lstm-viz session"):
        return _load_full_session(path, trusted_models, memory_budget)
    try:
        # any JSON value: from_dict says what is wrong with one that is not a session
        session = Session.from_dict(resolve_paths(data, Path(path).resolve().parent),  # type: ignore[arg-type]
                                    memory_budget=memory_budget)
    except (ValueError, TypeError, OSError) as exc:
        raise UsageError(f"--config: {_about(path, exc)}") from None
    return session, data


def _one_line(exc: BaseException) -> str:
    """An error's message in one line; for a file the system refused, its reason and the
    file's name (a very long name shortened)."""
    from lstm_viz.validate import shown_path
    if isinstance(exc, OSError) and exc.strerror:
        name = f": {shown_path(exc.filename)}" if exc.filename is not None else ""
        return f"{exc.strerror}{name}"
    return " ".join(str(exc).split()) or type(exc).__name__


def _about(path, exc: BaseException) -> str:
    """``path: message`` in one line, without the file's name twice."""
    from lstm_viz.validate import shown_path
    message = _one_line(exc)
    return message if message.startswith(Path(path).name) else \
        f"{shown_path(path)}: {message}"


def _load_full_session(path: str, trusted_models, memory_budget: int | None = None):
    from lstm_viz.formats.loader import PickleConsentNeeded
    from lstm_viz.formats.sessionfile import load_session
    try:
        session, extras = load_session(path, trusted_models=trusted_models,
                                       memory_budget=memory_budget)
    except PickleConsentNeeded as exc:
        raise UsageError(f"--config: {_one_line(exc)}; --allow-pickle covers only the --model"
                         " file: if you trust it, open that model with"
                         f" --model {exc.path} --allow-pickle") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--config: {_about(path, exc)}") from None
    return session, {"selection": dict(extras.selection), "step": session.t,
                     "view": dict(extras.view)}


def _trusted_models(args) -> list[str]:
    """The model files the user allowed to run their code: the --model file with
    --allow-pickle, nothing else (not a model a --config session names)."""
    return [args.model] if args.model and args.allow_pickle else []


def _headless_window(args, settings_dir: str):
    """A traced MainWindow, offscreen, with settings in a file inside ``settings_dir`` (a
    temporary folder the caller removes)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings

    from .entry import make_app
    from .main import MainWindow
    if args.model:
        _check_model(args.model, args.allow_pickle, args.lstm, memory_budget=_budget(args))
    app = make_app()
    session, data = load_session_file(args.config, _trusted_models(args), _budget(args)) \
        if args.config else (None, {})
    settings = QSettings(str(Path(settings_dir) / "settings.ini"), QSettings.Format.IniFormat)
    if session is None:
        from lstm_viz import Session
        session = Session()
    window = MainWindow(session=session, settings=settings, restore=False, trace_now=False,
                        memory_budget=_budget(args))
    try:
        if args.model and not window.documents.open_model(
                args.model, allow_pickle=args.allow_pickle, lstm=args.lstm):
            raise UsageError(f"--model: could not open {args.model}")
        if args.demo:
            if not window.documents.open_demo(args.demo):
                raise UsageError(f"--demo: could not open {args.demo}")
        _traced(window)
        _apply_selection(window, data.get("selection"))
        _seek(window, args.step if args.step is not None else data.get("step"))
        _traced(window)  # a windowed trace: the window around the step
        timelines = (data.get("view") or {}).get("timelines")
        if timelines:  # the session's own tracks
            from .timeline.persist import restore_layouts
            restore_layouts(window.panels, timelines)
        _show_view(window, args.view or (data.get("view") or {}).get("tab"))
        w, h = _size(args.size)
        window.resize(w, h)
        window.show()
        app.processEvents()
        window.fit_docks()
        for _ in range(3):
            app.processEvents()
    except BaseException:
        _close(window)
        raise
    return app, window


def _traced(window) -> None:
    """The window's session traced as it is now; UsageError with the engine's message when it
    cannot be."""
    try:
        window.ctx.ensure_traced()
    except ValueError as exc:
        raise UsageError(_one_line(exc)) from None


def _close(window) -> None:
    """Close a headless window so that nothing writes its settings after the run, and delete
    it (its workers finished) while the application still exists: Qt objects left for the
    interpreter's exit may be torn down after the application they need."""
    from PySide6.QtCore import QCoreApplication, QEvent

    window.close()
    window.settings.sync()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()


def _check_model(path: str, allow_pickle: bool, lstm: str | None = None,
                 headless: bool = True, memory_budget: int | None = None) -> None:
    """UsageError with the loader's own message (what was found, what was expected) when
    ``path`` is not a model lstm-viz can open within ``memory_budget`` bytes, when ``lstm``
    names none of its LSTMs, or, for a ``headless`` run (no picker to ask), when it holds
    several and ``lstm`` is not given (then the message lists them). What the loader warns
    about is printed on stderr."""
    from lstm_viz.formats.loader import first_few, load_model
    try:
        loaded = load_model(path, allow_pickle=allow_pickle, memory_budget=memory_budget)
    except (ValueError, OSError) as exc:
        raise UsageError(f"--model: {_one_line(exc)}") from None
    for warning in loaded.warnings:
        print(f"lstm-viz: warning: {' '.join(warning.split())}", file=sys.stderr)
    if headless and lstm is None and len(loaded.lstms) > 1:
        names = first_few((c.name for c in loaded.lstms), path)
        raise UsageError(f"--model: {loaded.path.name} holds {len(loaded.lstms)} LSTMs ({names});"
                         " choose one with --lstm NAME")
    if lstm is not None:
        try:
            loaded.pick(lstm)
        except ValueError as exc:
            raise UsageError(f"--lstm: {_one_line(exc)}") from None


def _check_demo(name: str | None) -> None:
    """UsageError listing the demos when ``name`` is not one that ships and can open."""
    if name is None:
        return
    from lstm_viz.demos import list_demos
    try:
        demos = {d.name: d for d in list_demos()}
    except ValueError as exc:
        raise UsageError(f"--demo: {exc}") from None
    if name not in demos:
        raise UsageError(f"--demo must be one of {', '.join(demos)} (got {name!r})")
    if not demos[name].available():
        raise UsageError(f"--demo: the {name} demo's model {demos[name].model.name} is missing;"
                         " run `make demos` to train it")


def _check_display() -> None:
    """UsageError instead of Qt's abort when Linux has no screen to open the window on."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UsageError("no display found (DISPLAY and WAYLAND_DISPLAY are unset); without a"
                         " screen, render with --screenshot FILE.png or write files with"
                         " `lstm-viz export --config session.json --out DIR`")
    from . import syscheck

    if syscheck.uses_xcb():
        missing = syscheck.missing_libraries()
        if missing:
            raise UsageError(syscheck.missing_message(missing))


def _apply_selection(window, selection) -> None:
    if isinstance(selection, dict):
        window.ctx.select_from(selection)


def _seek(window, step) -> None:
    if step is None:
        return
    from .entry import check_step
    try:
        window.session.seek(check_step(window, step))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _show_view(window, name) -> None:
    if not name:
        return
    from .entry import check_view
    try:
        window.show_view(check_view(window, name))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _png_bytes(window) -> bytes:
    """The window rendered as PNG data."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    ok = window.grab().save(buffer, "PNG")
    buffer.close()
    if not ok:
        raise UsageError("--screenshot: the window could not be rendered as a PNG")
    return bytes(data.data())


def _screenshot(args) -> int:
    from lstm_viz.formats.atomic import write_bytes
    path = Path(args.screenshot)
    if path.suffix.lower() != ".png":
        raise UsageError(f"--screenshot writes a PNG; give a .png file name (got {path})")
    with tempfile.TemporaryDirectory(prefix="lstm-viz-") as settings_dir:
        app, window = _headless_window(args, settings_dir)
        try:
            write_bytes(path, _png_bytes(window))
        except OSError as exc:
            raise UsageError(f"--screenshot: {_one_line(exc)}") from None
        finally:
            _close(window)
    print(path)
    return 0


def _export(args) -> int:
    formats = _formats(args.format if args.format is not None else
                       "" if args.stream else DEFAULT_EXPORT, allow_none=args.stream)
    if not 0.1 <= args.scale <= 8:
        raise UsageError(f"--scale must be between 0.1 and 8 (got {args.scale})")
    if args.chunk_steps is not None and not args.stream:
        raise UsageError("--chunk-steps sets the chunks of --stream; add --stream")
    if args.chunk_steps is not None and args.chunk_steps < 1:
        raise UsageError(f"--chunk-steps must be a positive number of steps (got"
                         f" {args.chunk_steps})")
    if not (formats or args.model or args.demo):  # the stream alone needs no window
        for path in [_stream(_plain_session(args), args)]:
            print(path)
        return 0
    for path in _export_with_window(args, formats):
        print(path)
    return 0


def _export_with_window(args, formats: list[str]) -> list[Path]:
    """Write the views, animations and (with --stream) the trace of a headless window."""
    with tempfile.TemporaryDirectory(prefix="lstm-viz-") as settings_dir:
        app, window = _headless_window(args, settings_dir)
        exports = window.exports
        try:
            stills = [f for f in formats if f not in ANIMATIONS]
            written = exports.export_views(args.out, stills, scale=args.scale) \
                if formats else []
            for fmt in (f for f in ANIMATIONS if f in formats):
                _show_view(window, args.view or next(iter(window.views)))
                written.append(exports.export_animation(Path(args.out) / f"steps.{fmt}"))
            if args.stream:
                written.append(_stream(window.session, args))
        except OSError as exc:
            raise UsageError(f"--out: {_one_line(exc)}") from None
        finally:
            _close(window)
    return written


def _plain_session(args):
    """The --config session (or the default one), traced, without a window."""
    from lstm_viz import Session
    budget = _budget(args)
    session = load_session_file(args.config, _trusted_models(args), budget)[0] \
        if args.config else Session(memory_budget=budget)
    session.memory_budget = budget
    try:
        session.retrace()
    except ValueError as exc:
        raise UsageError(_one_line(exc)) from None
    return session


def _stream(session, args) -> Path:
    """Write DIR/trace_stream.npz, reporting progress on stderr when it is a terminal."""
    from lstm_viz.formats.export import save_stream

    def progress(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rlstm-viz: streamed {done}/{total} steps", end=end, file=sys.stderr,
              flush=True)

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        return save_stream(session, out / STREAM_FILE, chunk_steps=args.chunk_steps,
                           progress=progress if sys.stderr.isatty() else None)
    except ValueError as exc:
        raise UsageError(f"--stream: {_one_line(exc)}") from None
    except OSError as exc:
        raise UsageError(f"--out: {_one_line(exc)}") from None


def _start(args) -> int:
    """No command: install the desktop entry, render a screenshot, or open the window."""
    if args.install_desktop:
        from .desktop import install_desktop
        try:
            for path in install_desktop():
                print(path)
        except OSError as exc:
            raise UsageError(f"--install-desktop: {exc}") from None
        return 0
    if args.screenshot:
        return _screenshot(args)
    return _gui(args)


def _check_binding() -> None:
    """UsageError before any window when the installed Qt binding is one that crashes."""
    from . import syscheck

    problem = syscheck.binding_problem()
    if problem:
        raise UsageError(problem)


def configure_logging(args: argparse.Namespace) -> None:
    """--verbose: INFO records of lstm-viz on stderr; --debug: DEBUG of every library."""
    debug, verbose = getattr(args, "debug", False), getattr(args, "verbose", False)
    if not (debug or verbose):
        return
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
                        format="%(relativeCreated)7.0f ms %(levelname)-7s %(name)s: %(message)s")
    for name in ("lstm_viz", "lstm_viz_app"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.INFO)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line, ``lstm-viz: warning: ...`` (not Python's file:line and source
    line)."""
    text = " ".join(str(message).split())
    try:
        print(f"lstm-viz: warning: {text}", file=file or sys.stderr)
    except (OSError, ValueError):  # stderr closed: a warning is not worth a crash
        pass


@contextlib.contextmanager
def _one_line_warnings():
    """Warnings shown by ``_show_warning`` while the command runs (restored afterwards)."""
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        yield
    finally:
        warnings.showwarning = shown


def _check_paths(args) -> None:
    """UsageError, before torch or Qt is imported, when --config is not a regular file of
    bounded size (a FIFO or /dev/zero would hang the read) or cannot be reached at all, or
    when --memory-budget is not a size."""
    _budget(args)
    if getattr(args, "config", None):
        from lstm_viz.validate import check_regular_file
        try:
            check_regular_file(args.config, "session file")
        except ValueError as exc:
            raise UsageError(f"--config: {_one_line(exc)}") from None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    with _one_line_warnings():
        try:
            args = build_parser().parse_args(argv)
            configure_logging(args)
            if args.func.__module__ == engine_cli.__name__:  # shapes, models, corpus: no Qt
                try:
                    return int(args.func(args) or 0)
                except (ValueError, OSError) as exc:
                    raise UsageError(str(exc).splitlines()[0] if str(exc) else
                                     type(exc).__name__) from None
            _check_paths(args)
            if not args.install_desktop:
                _check_binding()
            _check_demo(args.demo)
            return args.func(args)
        except UsageError as exc:
            print(f"lstm-viz: error: {exc}", file=sys.stderr)
            return 2


def _gui(args) -> int:
    budget = _budget(args)
    if args.model:  # several LSTMs and no --lstm: the window's picker asks
        _check_model(args.model, args.allow_pickle, args.lstm, headless=False,
                     memory_budget=budget)
    _check_display()
    from .entry import run
    session = None
    data = {}
    if args.config:
        session, data = load_session_file(args.config, _trusted_models(args), budget)
    step = args.step if args.step is not None else data.get("step")
    view = args.view or (data.get("view") or {}).get("tab")
    try:
        return run({"session": session, "step": step, "model": args.model, "view": view,
                    "allow_pickle": args.allow_pickle, "lstm": args.lstm,
                    "selection": data.get("selection"), "demo": args.demo,
                    "memory_budget": budget})
    except ValueError as exc:
        raise UsageError(_one_line(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
