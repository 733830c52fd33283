"""``lstm-viz``: start the GUI, render a screenshot or export headless; other subcommands
(``shapes`` ...) go to the engine's command line, ``lstm_viz.cli``.

    lstm-viz [--config session.json] [--step T] [--model FILE [--allow-pickle]] [--demo NAME]
    lstm-viz --screenshot FILE [--config session.json] [--demo NAME] [--step T] [--view NAME]
             [--size WxH]
    lstm-viz export --config session.json --out DIR [--step T] [--format png,svg,pdf,csv,npz,py]
    lstm-viz shapes ...            (lstm_viz.cli)

Bad input prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from pathlib import Path

# Back torch's large CPU buffers with transparent huge pages (Linux; read once, when torch first
# allocates, so before torch is imported). A trace writes hundreds of MB of fresh memory, and
# its 4 KiB page faults otherwise cost a fifth of the trace time (benchmarks/bench_trace.py).
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

GUI_COMMANDS = ("export",)
EXPORT_FORMATS = ("png", "svg", "pdf", "csv", "npz", "py", "gif", "webp")
ANIMATIONS = ("gif", "webp")


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit 2 (argparse prints usage too)
        raise UsageError(message)


def _engine_cli():
    """``lstm_viz.cli`` if this build has it, else None."""
    try:
        return importlib.import_module("lstm_viz.cli")
    except ImportError as exc:
        if exc.name in ("lstm_viz.cli",):
            return None
        raise


def _add_window_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="session.json",
                   help="session JSON: LSTMConfig fields, seq_len, batch_size, input, seed")
    p.add_argument("--step", type=int, metavar="T", help="timestep to show")
    p.add_argument("--model", metavar="FILE", help="open a trained model (state dict or module)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow loading pickled modules from --model (only trusted files)")
    p.add_argument("--demo", metavar="NAME", help="open a demo that ships with lstm-viz"
                   " (a trained model and its sample input)")
    p.add_argument("--view", metavar="NAME", help="view to show first (Gates, States, Shapes,"
                   " Code, ...)")
    p.add_argument("--size", default="1280x800", metavar="WxH",
                   help="window size for --screenshot and export (default 1280x800)")


def build_parser() -> argparse.ArgumentParser:
    engine = _engine_cli()
    extra = ""
    if engine is not None and hasattr(engine, "build_parser"):
        sub = [a for a in engine.build_parser()._actions
               if isinstance(a, argparse._SubParsersAction)]
        names = [n for a in sub for n in a.choices]
        if names:
            extra = f" Engine commands: {', '.join(names)} (see lstm-viz NAME --help)."
    parser = _Parser(prog="lstm-viz",
                     description="See PyTorch's nn.LSTM gate by gate, step by step." + extra)
    _add_window_options(parser)
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="render the main window to a PNG without a screen and exit")
    subs = parser.add_subparsers(dest="command", parser_class=_Parser)
    exp = subs.add_parser("export", help="export views and data without a screen")
    _add_window_options(exp)
    exp.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    exp.add_argument("--format", default="png,svg,csv,npz",
                     help="comma-separated: png, svg, pdf, csv, npz, py, gif, webp (default:"
                          " png,svg,csv,npz; svg and pdf are figures of the plots; py is a"
                          " script that checks the numbers with torch alone, with its NPZ;"
                          " gif and webp animate --view, or the first view, over every step)")
    exp.add_argument("--scale", type=float, default=1.0, help="PNG resolution factor")
    return parser


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must look like 1280x800 (got {text!r})") from None
    if not (200 <= w <= 10000 and 200 <= h <= 10000):
        raise UsageError(f"--size must be between 200x200 and 10000x10000 (got {text})")
    return w, h


def _formats(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in EXPORT_FORMATS]
    if bad or not formats:
        raise UsageError(f"--format takes a comma-separated list of {', '.join(EXPORT_FORMATS)}"
                         f" (got {text!r})")
    return formats


def load_session_file(path: str, allow_pickle: bool = False):
    """The Session described by a session JSON file (a config dict, or a whole session saved
    with its model, ``*.lstmviz.json``) and the file's data; UsageError with a one-line reason.
    """
    from lstm_viz import Session
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"--config: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--config: cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--config: {path} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("format"), str) and \
            data["format"].startswith("lstm-viz session"):
        return _load_full_session(path, allow_pickle)
    try:
        session = Session.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--config: {path}: {exc}") from None
    return session, data


def _load_full_session(path: str, allow_pickle: bool):
    try:
        from lstm_viz.sessionfile import load_session
    except ImportError:
        raise UsageError(f"--config: {path} is a full session file; this build cannot read"
                         " it") from None
    try:
        session, extras = load_session(path, allow_pickle=allow_pickle)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--config: {path}: {str(exc).splitlines()[0]}") from None
    return session, {"selection": dict(extras.selection), "step": session.t,
                     "view": dict(extras.view)}


def _headless_window(args):
    """A traced MainWindow, offscreen, with settings in a throwaway file."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings

    from .entry import make_app
    from .file_menu import open_demo, open_model
    from .main import MainWindow
    app = make_app()
    session, data = load_session_file(args.config, args.allow_pickle) if args.config \
        else (None, {})
    settings = QSettings(str(Path(tempfile.mkdtemp(prefix="lstm-viz-")) / "settings.ini"),
                         QSettings.Format.IniFormat)
    if session is None:
        from lstm_viz import Session
        session = Session()
    window = MainWindow(session=session, settings=settings, restore=False, trace_now=False)
    if args.model:
        _check_model(args.model, args.allow_pickle)
        if not open_model(window, args.model, allow_pickle=args.allow_pickle):
            raise UsageError(f"--model: could not open {args.model}")
    if args.demo:
        if not open_demo(window, args.demo):
            raise UsageError(f"--demo: could not open {args.demo}")
    try:
        window.ctx.retrace_now()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _apply_selection(window, data.get("selection"))
    _seek(window, args.step if args.step is not None else data.get("step"))
    _show_view(window, args.view or (data.get("view") or {}).get("tab"))
    w, h = _size(args.size)
    window.resize(w, h)
    window.show()
    app.processEvents()
    window.fit_docks()
    for _ in range(3):
        app.processEvents()
    return app, window


def _check_model(path: str, allow_pickle: bool) -> None:
    """UsageError with the loader's own message (what was found, what was expected) when
    ``path`` is not a model lstm-viz can open."""
    from lstm_viz.io import load_model
    try:
        load_model(path, allow_pickle=allow_pickle)
    except ValueError as exc:
        raise UsageError(f"--model: {' '.join(str(exc).split())}") from None


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
    n = window.session.num_steps
    if not 0 <= int(step) < n:
        raise UsageError(f"--step must be in [0, {n - 1}] for this input (got {step})")
    window.session.seek(int(step))


def _show_view(window, name) -> None:
    if not name:
        return
    titles = {t.lower(): t for t in window.views}
    if name.lower() not in titles:
        raise UsageError(f"--view must be one of {', '.join(window.views)} (got {name!r})")
    window.show_view(titles[name.lower()])


def _screenshot(args) -> int:
    app, window = _headless_window(args)
    path = Path(args.screenshot)
    if path.suffix.lower() != ".png":
        raise UsageError(f"--screenshot writes a PNG; give a .png file name (got {path})")
    if not window.grab().save(str(path), "PNG"):
        raise UsageError(f"--screenshot: could not write {path}")
    print(path)
    window.close()
    return 0


def _export(args) -> int:
    formats = _formats(args.format)
    if not args.config:
        raise UsageError("export needs --config session.json")
    if not 0.1 <= args.scale <= 8:
        raise UsageError(f"--scale must be between 0.1 and 8 (got {args.scale})")
    app, window = _headless_window(args)
    from .export import export_animation, export_views
    try:
        written = export_views(window, args.out, [f for f in formats if f not in ANIMATIONS],
                               scale=args.scale)
        for fmt in (f for f in ANIMATIONS if f in formats):
            _show_view(window, args.view or next(iter(window.views)))
            written.append(export_animation(window, Path(args.out) / f"steps.{fmt}"))
    except OSError as exc:
        raise UsageError(f"--out: {exc}") from None
    for path in written:
        print(path)
    window.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and not argv[0].startswith("-") and argv[0] not in GUI_COMMANDS:
            engine = _engine_cli()
            if engine is None:
                raise UsageError(f"unknown command {argv[0]!r}; commands: "
                                 f"{', '.join(GUI_COMMANDS)}")
            return int(engine.main(argv) or 0)
        args = build_parser().parse_args(argv)
        _check_demo(args.demo)
        if args.command == "export":
            return _export(args)
        if args.screenshot:
            return _screenshot(args)
        return _gui(args)
    except UsageError as exc:
        print(f"lstm-viz: error: {exc}", file=sys.stderr)
        return 2


def _gui(args) -> int:
    if args.model:
        _check_model(args.model, args.allow_pickle)
    _check_display()
    from .entry import run
    session = None
    data = {}
    if args.config:
        session, data = load_session_file(args.config, args.allow_pickle)
    step = args.step if args.step is not None else data.get("step")
    view = args.view or (data.get("view") or {}).get("tab")
    return run({"session": session, "step": step, "model": args.model, "view": view,
                "allow_pickle": args.allow_pickle, "selection": data.get("selection"),
                "demo": args.demo})


if __name__ == "__main__":
    sys.exit(main())
