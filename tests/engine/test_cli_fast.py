"""The answers ``lstm-viz`` gives without opening anything: --help, --version and shapes run
as the real command (a subprocess) and import neither torch nor Qt."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lstm_viz

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "PySide6", "shiboken6", "pyqtgraph", "superqt", "numpy")
SHAPES = ["shapes", "--input-size", "3", "--hidden-size", "8", "--seq-len", "10", "--batch", "4"]


def _lstm_viz(*argv: str, importtime: bool = False) -> subprocess.CompletedProcess:
    """``lstm-viz ARGV`` as a new process (``python -m lstm_viz_app``, what the script runs)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-m", "lstm_viz_app", *argv], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def _imported(stderr: str) -> set[str]:
    """Top-level packages named in ``-X importtime``'s report."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize("argv", [["--help"], ["--version"], SHAPES, SHAPES + ["--json"],
                                  ["shapes", "--help"], ["export", "--help"],
                                  ["models", "--help"]],
                         ids=["help", "version", "shapes", "shapes-json", "shapes-help",
                              "export-help", "models-help"])
def test_quick_answers_import_neither_torch_nor_qt(argv):
    res = _lstm_viz(*argv, importtime=True)
    assert res.returncode == 0, res.stderr[-2000:]
    imported = _imported(res.stderr)
    assert "lstm_viz_app" in imported  # the report is read right
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_version_is_the_installed_distributions():
    res = _lstm_viz("--version")
    assert res.returncode == 0
    assert res.stdout.strip() == f"lstm-viz {lstm_viz.__version__}"


def test_help_lists_the_commands_with_examples():
    out = _lstm_viz("--help").stdout
    commands = out[out.index("commands:"):out.index("examples:")]
    assert "export" in commands and "shapes" in commands
    examples = out[out.index("examples:"):]
    for line in ("lstm-viz export --demo sine", "lstm-viz shapes --input-size",
                 "lstm-viz --demo char_python", "lstm-viz --screenshot"):
        assert line in examples


def _parsers() -> dict[str, argparse.ArgumentParser]:
    from lstm_viz_app.cli import build_parser
    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {"lstm-viz": top, **sub.choices}


def test_every_option_has_help_text_that_shows_its_default():
    for name, parser in _parsers().items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or action.dest in ("help", "version"):
                continue
            assert action.help, f"{name} {action.option_strings[0]} has no help text"
            if not action.required:
                text = formatter._get_help_string(action) % {"default": action.default}
                assert "default" in text, f"{name} {action.option_strings[0]}: {text}"


def test_export_accepts_every_option_the_window_start_accepts():
    parsers = _parsers()
    only_top = {"-h", "--help", "--version", "--screenshot", "--install-desktop"}
    start = {s for a in parsers["lstm-viz"]._actions for s in a.option_strings} - only_top
    export = {s for a in parsers["export"]._actions for s in a.option_strings}
    assert "--demo" in start
    assert start <= export, sorted(start - export)


def test_usage_errors_are_one_line_with_status_2():
    res = _lstm_viz("shapes", "--input-size", "3", "--hidden-size", "4", "--seq-len", "5",
                    "--proj-size", "4")
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("lstm-viz: error: proj_size")
    res = _lstm_viz("nonesuch")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "shapes" in res.stderr


def test_verbose_switches_on_lstm_viz_logging_only():
    import logging

    from lstm_viz_app.cli import build_parser, configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        for argv, level in ((["--verbose"], logging.INFO), (["shapes", "--debug"] + SHAPES[1:],
                                                             logging.DEBUG)):
            configure_logging(build_parser().parse_args(argv))
            assert logging.getLogger("lstm_viz.tracing").getEffectiveLevel() == level
            assert logging.getLogger("lstm_viz_app.workers").getEffectiveLevel() == level
            root.handlers[:] = saved[0]
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        for name in ("lstm_viz", "lstm_viz_app"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_a_shapes_warning_is_one_line_like_every_lstm_viz_warning():
    res = _lstm_viz(*SHAPES, "--dropout", "0.5")
    assert res.returncode == 0
    assert res.stderr.splitlines() == [
        "lstm-viz: warning: dropout option adds dropout after all but last recurrent layer, so"
        " non-zero dropout expects num_layers greater than 1, but got dropout=0.5 and"
        " num_layers=1"]
