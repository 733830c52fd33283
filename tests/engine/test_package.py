"""The engine package: what ``import lstm_viz`` costs, its public names, and its import graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import lstm_viz

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=120)


def test_config_and_shapes_work_without_importing_torch():
    res = _run("import sys\n"
               "import lstm_viz, lstm_viz.config, lstm_viz.shapes\n"
               "cfg = lstm_viz.config.LSTMConfig(3, 8, num_layers=2, bidirectional=True)\n"
               "table = lstm_viz.shapes.all_shapes(cfg, 4, 10)\n"
               "print(table['output'].describe(), lstm_viz.parameter_count(cfg))\n"
               "print('torch' in sys.modules)\n")
    assert res.returncode == 0, res.stderr
    shape_line, torch_loaded = res.stdout.splitlines()
    assert shape_line.startswith("(seq_len=10, batch=4, D*H_out=2*8=16)")
    assert torch_loaded == "False"


def test_the_first_engine_name_that_needs_torch_imports_it():
    res = _run("import sys, lstm_viz\n"
               "before = 'torch' in sys.modules\n"
               "lstm_viz.trace\n"
               "print(before, 'torch' in sys.modules)\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "True"]


def test_every_public_name_imports_and_functions_are_not_shadowed_by_modules():
    import importlib
    import pkgutil

    for m in pkgutil.iter_modules(lstm_viz.__path__):  # every submodule loaded: none may
        if m.name != "__main__":                         # replace a public name
            importlib.import_module(f"lstm_viz.{m.name}")
    for name in lstm_viz.__all__:
        value = getattr(lstm_viz, name)
        assert not isinstance(value, type(lstm_viz)), f"lstm_viz.{name} is a module"
    from lstm_viz.tracing import trace
    from lstm_viz.tracing.verification import verify
    assert lstm_viz.trace is trace and lstm_viz.verify is verify
    with pytest.raises(AttributeError, match="no attribute 'shapes_of'"):
        lstm_viz.shapes_of  # noqa: B018


def test_version_is_the_installed_distributions_or_the_source_trees():
    from importlib.metadata import PackageNotFoundError, version

    try:
        expected = version("lstm-viz")
    except PackageNotFoundError:
        expected = "0+unknown"
    assert lstm_viz.__version__ == expected


def test_tokens_source_is_usable_through_the_top_level_names_alone():
    """A fresh interpreter that imports only ``lstm_viz`` can make a "tokens" input."""
    res = _run("from lstm_viz import InputSpec, make_input\n"
               "spec = InputSpec(source='tokens', text='abba', seq_len=4, batch_size=1,"
               " params={'vocab': ['a', 'b']})\n"
               "x = make_input(spec, 2)\n"
               "print(tuple(x.shape), x[:, 0].argmax(-1).tolist())\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "(4, 1, 2) [0, 1, 1, 0]"


def test_the_engine_has_no_import_cycles_even_through_function_level_imports():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("lstm_viz", cache_dir=None)
    modules = sorted(graph.modules)
    cycles = []
    for a in modules:
        for b in modules:
            if a < b and graph.find_shortest_chain(importer=a, imported=b) \
                    and graph.find_shortest_chain(importer=b, imported=a):
                cycles.append((a, b))
    assert cycles == []


def test_the_shapes_command_runs_without_importing_torch():
    res = _run("import sys\n"
               "from lstm_viz.cli import main\n"
               "code = main(['shapes', '--input-size', '3', '--hidden-size', '4',"
               " '--seq-len', '5', '--json'])\n"
               "print('torch' in sys.modules, code, file=sys.stderr)\n")
    assert res.returncode == 0, res.stderr
    assert res.stderr.split() == ["False", "0"]
    assert '"output"' in res.stdout


def test_no_function_of_the_engine_or_the_gui_is_graded_e_or_f_by_radon():
    """Cyclomatic complexity above 30 (radon's grades E and F) marks a function too branchy to
    change safely: split it along its seams."""
    from radon import complexity as radon

    too_complex = []
    for path in sorted([*(ROOT / "lstm_viz").rglob("*.py"), *(ROOT / "app").rglob("*.py")]):
        for block in radon.cc_visit(path.read_text(encoding="utf-8")):
            if radon.cc_rank(block.complexity) in ("E", "F"):
                too_complex.append(f"{path.relative_to(ROOT)}:{block.lineno} {block.fullname}"
                                   f" ({block.complexity})")
    assert not too_complex, "radon grades these E or F: " + "; ".join(too_complex)
