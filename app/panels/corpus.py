"""Corpus view: a corpus store (``lstm-viz corpus trace``) and what its units do across it.

Units are ranked by a statistic over the whole corpus; the chosen unit's top contexts are shown
coloured by its value, as the Text view colours text; LSTMVis's match query lists the spans
where chosen units are on and others off. A click on a context or a span opens that document
in the stepping views at that position (traced again, and checked against the store). Stores
are read and queried off the GUI thread.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..workers import LoadRunner

COLOURS = pg.colormap.get("CET-D1A")  # blue (negative) - white (0) - red (positive)
CONTEXT = 20  # tokens each side of a top position
TOP_K = 12


def _units(text: str) -> list[int]:
    try:
        return [int(u) for u in text.replace(" ", "").split(",") if u]
    except ValueError:
        raise ValueError(f"units must be numbers separated by commas (got {text!r})") from None


def _ranking(store, state: str, suffix: str) -> tuple[str, np.ndarray]:
    """What ranks the units, and its value per unit: the spread over the corpus from the
    statistics when they were computed, else the range each unit spans (from the summaries)."""
    root = store.root
    if f"stats/std/{state}/{suffix}" in root:
        return "std over the corpus", np.asarray(root[f"stats/std/{state}/{suffix}"][:])
    lo = np.asarray(root[f"summary/min/{state}/{suffix}"][:]).min(0)
    hi = np.asarray(root[f"summary/max/{state}/{suffix}"][:]).max(0)
    return "range over the corpus (max - min)", hi - lo


class CorpusView(QWidget):
    """A corpus store: units ranked, a unit's top contexts, and match queries."""

    title = "Corpus"
    area = "view"

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.setObjectName("CorpusView")
        self.ctx = ctx
        self.session = ctx.session
        self.store = None
        self.runner = LoadRunner(self)
        self.runner.finished.connect(self._job_done)
        self.runner.failed.connect(self._job_failed)
        self._pending = None  # what the running job's result is for

        self.open_button = QPushButton("Open corpus store…")
        self.open_button.setObjectName("open_store")
        self.open_button.clicked.connect(self._choose_store)
        self.summary = QLabel("No corpus store open. Make one with lstm-viz corpus trace, then"
                              " open it here (File > Open corpus store).")
        self.summary.setWordWrap(True)
        self.summary.setObjectName("corpus_summary")
        self.state_box = QComboBox()
        self.state_box.addItems(["h", "c"])
        self.layer_box = QComboBox()
        self.state_box.currentIndexChanged.connect(self._rank)
        self.layer_box.currentIndexChanged.connect(self._rank)
        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(QLabel("state"))
        top.addWidget(self.state_box)
        top.addWidget(QLabel("layer"))
        top.addWidget(self.layer_box)
        top.addStretch(1)

        self.units = QTableWidget(0, 2)
        self.units.setObjectName("unit_ranking")
        self.units.setHorizontalHeaderLabels(["unit", "spread"])
        self.units.verticalHeader().setVisible(False)
        self.units.horizontalHeader().setStretchLastSection(True)
        self.units.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.units.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.units.itemSelectionChanged.connect(self._unit_chosen)
        self.rank_note = QLabel()
        self.rank_note.setWordWrap(True)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.rank_note)
        left_layout.addWidget(self.units)

        self.sign_box = QComboBox()
        self.sign_box.addItems(["largest", "most negative"])
        self.sign_box.currentIndexChanged.connect(self._unit_chosen)
        self.contexts = QListWidget()
        self.contexts.setObjectName("top_contexts")
        self.contexts.itemActivated.connect(self._open_result)
        self.contexts.itemClicked.connect(self._open_result)
        self.on_edit, self.off_edit = QLineEdit(), QLineEdit()
        self.on_edit.setPlaceholderText("on units, e.g. 37,12")
        self.off_edit.setPlaceholderText("off units (optional)")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(-100.0, 100.0)
        self.threshold.setDecimals(3)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(0.5)
        self.min_len = QSpinBox()
        self.min_len.setRange(1, 100000)
        self.min_len.setValue(3)
        self.match_button = QPushButton("Match")
        self.match_button.setObjectName("run_match")
        self.match_button.clicked.connect(self._match)
        self.matches = QListWidget()
        self.matches.setObjectName("match_results")
        self.matches.itemActivated.connect(self._open_result)
        self.matches.itemClicked.connect(self._open_result)
        query = QHBoxLayout()
        for widget in (QLabel("on"), self.on_edit, QLabel("off"), self.off_edit,
                       QLabel("threshold"), self.threshold, QLabel("min length"),
                       self.min_len, self.match_button):
            query.addWidget(widget)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.contexts_title = QLabel("Top contexts")
        head.addWidget(self.contexts_title)
        head.addStretch(1)
        head.addWidget(self.sign_box)
        right_layout.addLayout(head)
        right_layout.addWidget(self.contexts, 3)
        right_layout.addWidget(QLabel("Match: spans where every on unit is above the threshold"
                                      " and every off unit at or below it"))
        right_layout.addLayout(query)
        right_layout.addWidget(self.matches, 2)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)

    # ----- the store ---------------------------------------------------------------------
    def _choose_store(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open corpus store (a .zarr folder)")
        if path:
            self.open_store(path)

    def open_store(self, path) -> None:
        """Read the store at ``path`` off the GUI thread, then show it."""
        from lstm_viz import corpus

        path = Path(path)
        self.summary.setText(f"Reading {path.name}…")
        self._run(("store", path), lambda: corpus.open(path))

    def _run(self, what, work) -> None:
        self._pending = what
        self.runner.start(work)

    def _job_done(self, _ticket: int, result) -> None:
        kind = self._pending[0] if self._pending else ""
        if kind == "store":
            self._show_store(result)
        elif kind == "top":
            self._show_contexts(*result)
        elif kind == "match":
            self._show_matches(result)

    def _job_failed(self, _ticket: int, error) -> None:
        message = str(error) or type(error).__name__
        if self._pending and self._pending[0] == "store":
            self.summary.setText(f"Could not open the store: {html.escape(message)}")
        self.ctx.messages.post(message, 8000)

    def _show_store(self, store) -> None:
        self.store = store
        attrs, cfg = store.attrs, store.config
        model = Path(attrs.get("model_path") or "?").name
        self.summary.setText(
            f"<b>{store.path.name}</b>: {attrs.get('n_docs')} documents, {store.n_tokens:,}"
            f" tokens, traced with {html.escape(str(attrs.get('lstm') or model))} of"
            f" {html.escape(model)} (hidden {cfg.hidden_size}, {cfg.num_layers} layer(s),"
            f" {attrs.get('dtype')})" + ("" if store.complete else
                                        " — <b>incomplete</b>: run the trace again to finish"))
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        for k in range(cfg.num_layers):
            for d in range(cfg.num_directions):
                self.layer_box.addItem(f"{k}" + (" reverse" if d else ""), (k, d))
        self.layer_box.blockSignals(False)
        self._rank()

    def _where(self) -> tuple[str, int, str, str]:
        state = self.state_box.currentText()
        layer, direction = self.layer_box.currentData() or (0, 0)
        suffix = f"l{layer}" + ("_reverse" if direction else "")
        return state, layer, "reverse" if direction else "forward", suffix

    def _rank(self, *args) -> None:
        store = self.store
        if store is None or not store.complete:
            self.units.setRowCount(0)
            return
        state, _, _, suffix = self._where()
        what, values = _ranking(store, state, suffix)
        self.rank_note.setText(f"Units ranked by their {what}.")
        self.units.setHorizontalHeaderLabels(["unit", what.split(" ")[0]])
        order = np.argsort(-values, kind="stable")
        self.units.setRowCount(len(order))
        for row, unit in enumerate(order):
            self.units.setItem(row, 0, QTableWidgetItem(str(int(unit))))
            self.units.setItem(row, 1, QTableWidgetItem(f"{values[unit]:.4f}"))
        if len(order):
            self.units.selectRow(0)

    # ----- queries -----------------------------------------------------------------------
    def _unit(self) -> int | None:
        row = self.units.currentRow()
        item = self.units.item(row, 0) if row >= 0 else None
        return int(item.text()) if item is not None else None

    def _unit_chosen(self, *args) -> None:
        store, unit = self.store, self._unit()
        if store is None or unit is None:
            return
        state, layer, direction, suffix = self._where()
        sign = "pos" if self.sign_box.currentIndex() == 0 else "neg"

        def work():
            records = store.top(unit, layer=layer, direction=direction, state=state, k=TOP_K,
                                sign=sign, context=CONTEXT)
            data = store.root[f"{state}/{suffix}"]
            coloured = []
            for r in records:
                d = r["doc"]
                lo = max(int(store.doc_start[d]), r["position"] - CONTEXT)
                hi = min(int(store.doc_start[d + 1]), r["position"] + CONTEXT + 1)
                values = np.asarray(data[lo:hi, unit], dtype=np.float32)
                coloured.append((r, lo, [store.text(p, p + 1) for p in range(lo, hi)], values))
            return unit, state, coloured

        self.contexts_title.setText(f"Top contexts of {state}[{unit}]…")
        self._run(("top",), work)

    def _show_contexts(self, unit: int, state: str, coloured: list) -> None:
        self.contexts.clear()
        self.contexts_title.setText(f"Top contexts of {state}[{unit}]: each token coloured by"
                                    f" {state}[{unit}] (blue negative, red positive)")
        scale = 1.0 if state == "h" else max(1e-6, max(
            (float(np.abs(v).max()) for *_, v in coloured), default=1.0))
        for record, lo, tokens, values in coloured:
            label = QLabel(self._coloured_html(tokens, values, record["position"] - lo, scale))
            label.setTextFormat(Qt.TextFormat.RichText)
            item = QListWidgetItem(f"doc {record['doc']}, position {record['position']}:"
                                   f" {record['value']:+.3f}")
            item.setData(Qt.ItemDataRole.UserRole, (record["doc"], record["position"]))
            self.contexts.addItem(item)
            holder = QListWidgetItem()
            holder.setData(Qt.ItemDataRole.UserRole, (record["doc"], record["position"]))
            self.contexts.addItem(holder)
            self.contexts.setItemWidget(holder, label)
            holder.setSizeHint(label.sizeHint())

    @staticmethod
    def _coloured_html(tokens: list[str], values: np.ndarray, focus: int, scale: float) -> str:
        spans = []
        for i, (token, value) in enumerate(zip(tokens, values)):
            x = 0.5 + 0.5 * float(np.clip(value / scale, -1.0, 1.0))
            colour = COLOURS.map(x, mode="qcolor").name()
            text = html.escape(token.replace("\n", "⏎").replace(" ", "·"))
            weight = "font-weight:bold;text-decoration:underline;" if i == focus else ""
            spans.append(f"<span style='background:{colour};color:black;{weight}'>{text}</span>")
        return "<span style='font-family:monospace'>" + "".join(spans) + "</span>"

    def _match(self) -> None:
        store = self.store
        if store is None:
            self.ctx.messages.post("Open a corpus store first", 6000)
            return
        try:
            on, off = _units(self.on_edit.text()), _units(self.off_edit.text())
        except ValueError as exc:
            self.ctx.messages.post(str(exc), 8000)
            return
        state, layer, direction, _ = self._where()
        threshold, min_len = self.threshold.value(), self.min_len.value()
        self.matches.clear()
        self.matches.addItem("Searching…")
        self._run(("match",), lambda: store.match(on, off, threshold=threshold,
                                                  min_len=min_len, layer=layer,
                                                  direction=direction, state=state, limit=200))

    def _show_matches(self, records: list[dict]) -> None:
        self.matches.clear()
        if not records:
            self.matches.addItem("No span matches.")
            return
        for r in records:
            text = r["text"].replace("\n", "⏎")
            item = QListWidgetItem(f"doc {r['doc']}, {r['start']}..{r['stop']}  score"
                                   f" {r['score']:+.3f}  {text[:120]}")
            item.setData(Qt.ItemDataRole.UserRole, (r["doc"], r["start"]))
            self.matches.addItem(item)

    # ----- into the stepping views -------------------------------------------------------
    def _open_result(self, item: QListWidgetItem) -> None:
        where = item.data(Qt.ItemDataRole.UserRole)
        if where is None or self.store is None:
            return
        self.open_document(*where)

    def open_document(self, doc: int, position: int) -> bool:
        """Trace document ``doc`` of the store in the session and go to corpus ``position``;
        False (with a message) when the session's model is not the store's."""
        from lstm_viz.text.textinput import tokens_spec

        store, session = self.store, self.session
        if store is None:
            self.ctx.messages.post("Open a corpus store first", 6000)
            return False
        source = session.model_source or {}
        attrs = store.attrs
        if source.get("sha256") != attrs.get("model_sha256") or \
                (source.get("lstm") or "") != (attrs.get("lstm") or ""):
            self.ctx.messages.post(
                f"This store was traced with {attrs.get('lstm') or 'the LSTM'} of"
                f" {attrs.get('model_path')}: open that model (File > Open model) to step"
                " through its documents", 10000)
            return False
        if store.vocab is None:
            self.ctx.messages.post("This store holds array inputs: open the array file as the"
                                   " input to step through it", 10000)
            return False
        start, stop = int(store.doc_start[doc]), int(store.doc_start[doc + 1])
        ids = store.token_ids(start, stop)
        text = store.text(start, stop)
        try:
            spec = tokens_spec(text, vocab=store.vocab, model_path=source.get("path", ""),
                               lstm=source.get("lstm", ""), seq_len=len(ids),
                               tokenizer=attrs.get("tokenizer") or None)
            session.set_input(spec)
        except ValueError as exc:
            self.ctx.messages.post(f"Could not open document {doc}: {exc}", 10000)
            return False
        state, layer, direction, suffix = self._where()
        stored = np.asarray(store.root[f"h/{suffix}"][start:stop], dtype=np.float32)

        def check() -> None:
            session.seek(position - start)
            trace = session.trace
            if trace is None or trace.windowed:
                return
            d = 1 if direction == "reverse" else 0
            traced = trace.h[layer, d, :, 0].float().numpy()
            gap = float(np.nanmax(np.abs(traced - stored))) if len(stored) else 0.0
            tolerance = 1e-2 if attrs.get("dtype") == "float16" else 1e-5
            verdict = "equals the store" if gap <= tolerance else "DIFFERS from the store"
            self.ctx.messages.post(
                f"Document {doc} traced again: {verdict} (max |Δh| {gap:.1e})", 10000)

        self.ctx.when_traced(check)
        return True
