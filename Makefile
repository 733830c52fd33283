# lstm-viz: `make run` starts the app, `make test` runs every test; both set up .venv on first use.
# `make docs` builds the documentation site into site/.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed

.PHONY: run test lint docs bench demos wheel install-desktop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q "setuptools>=77"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m lstm_viz_app.syscheck --apt-if-root
	$(BIN)/lstm-viz

test: $(STAMP)
	$(BIN)/ruff check lstm_viz app tests benchmarks resources docs
	$(BIN)/mypy
	PYTHONPATH=. $(BIN)/lint-imports
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check lstm_viz app tests benchmarks resources docs

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[docs]"
	touch $(DOCS_STAMP)

# the site in site/; --strict: a broken link, a missing page or an API docstring MkDocs
# cannot read fails the build
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --clean

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_trace.py
	$(BIN)/python benchmarks/bench_cli.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/bench_gui.py

demos: $(STAMP)
	$(BIN)/python resources/models/train_char_python.py
	$(BIN)/python resources/models/train_sine.py

# the wheel pip would install, in dist/
wheel: $(STAMP)
	$(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w dist .

# lstm-viz in the desktop's application menu, with its icon (~/.local/share)
install-desktop: $(STAMP)
	$(BIN)/lstm-viz --install-desktop

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist site
