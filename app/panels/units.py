"""Units view: a sortable table of per-unit statistics over the whole input, linked to the focus
unit of every plot, and LSTMVis-style pattern search (similar units, matching places)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lstm_viz.explain.analysis import SAT_HIGH, SAT_LOW, find_pattern, similar_units, unit_stats
from lstm_viz.text.textinput import spec_tokens

from ..ablation_menu import attach_table_ablation_menu
from ..plots import CURSOR_PEN
from .base import TraceView

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
TOOLTIPS = {
    "unit": "Unit index (row of weight_ih / weight_hh within each gate block)",
    "tau": "Memory timescale of c: -1 / ln(mean f), the steps after which c keeps"
                   " 1/e of a value if f stayed at its mean",
}
for _g, _name in zip("ifgo", ("input", "forget", "candidate", "output"), strict=True):
    TOOLTIPS[f"{_g} mean"] = f"Mean of the {_name} gate {_g} over every valid step"
    TOOLTIPS[f"{_g} sat"] = (f"Fraction of steps where {_g} is saturated: "
                             + (f"|g| > {SAT_HIGH}" if _g == "g" else
                                f"below {SAT_LOW} or above {SAT_HIGH}"))


class UnitTableModel(QAbstractTableModel):
    """Rows = units, columns = ``UnitStats.columns()``; sorts by the numbers, not the text."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.names: list[str] = []
        self.columns: list[np.ndarray] = []

    def set_columns(self, columns: dict[str, np.ndarray]) -> None:
        self.beginResetModel()
        self.names = list(columns)
        self.columns = [np.asarray(v) for v in columns.values()]
        self.endResetModel()

    def rowCount(self, parent=None) -> int:  # noqa: N802 - Qt override
        if (parent is not None and parent.isValid()) or not self.columns:
            return 0
        return len(self.columns[0])

    def columnCount(self, parent=None) -> int:  # noqa: N802 - Qt override
        return 0 if (parent is not None and parent.isValid()) else len(self.names)

    def value(self, row: int, column: str) -> float:
        return float(self.columns[self.names.index(column)][row])

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        name = self.names[index.column()]
        v = float(self.columns[index.column()][index.row()])
        if role == Qt.ItemDataRole.DisplayRole:
            if name == "unit":
                return str(int(v))
            if name.endswith("sat"):
                return f"{100 * v:.0f}%"
            if not np.isfinite(v):
                return "∞" if v > 0 else "—"
            return f"{v:.1f}" if name.startswith("tau") else f"{v:+.3f}" \
                if name.startswith(("c ", "h ")) else f"{v:.3f}"
        if role == SORT_ROLE:
            return v if np.isfinite(v) else (1e300 if v > 0 else -1e300)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.BackgroundRole and name.endswith("sat"):
            alpha = int(200 * min(max(v, 0.0), 1.0))
            return QBrush(QColor(255, 143, 0, alpha))
        if role == Qt.ItemDataRole.BackgroundRole and name == "f mean":
            return QBrush(QColor(67, 160, 71, int(160 * min(max(v, 0.0), 1.0))))
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal or section >= len(self.names):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.names[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return TOOLTIPS.get(self.names[section], self.names[section])
        return None


class UnitsView(TraceView):
    """Per-unit statistics table + pattern search for the selected layer and direction."""

    title = "Units"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.stats = None
        self.caption.setObjectName("units_caption")
        # statistics table
        self.model = UnitTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setObjectName("unit_table")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # Qt's default is descending
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setMinimumSectionSize(40)
        self.table.setMinimumHeight(160)
        self.table.selectionModel().currentRowChanged.connect(self._on_row_changed)
        attach_table_ablation_menu(self, self.table, self.unit_in_row)
        # pattern search
        search = QGroupBox("Pattern search: select a unit and a span of timesteps")
        search.setObjectName("pattern_search")
        self.kind_box = QComboBox()
        self.kind_box.setObjectName("search_kind")
        self.kind_box.addItem("h", "h")
        self.kind_box.addItem("c", "c")
        self.kind_box.currentIndexChanged.connect(self._redraw_plot)
        self.start_box = QSpinBox()
        self.start_box.setObjectName("span_start")
        self.stop_box = QSpinBox()
        self.stop_box.setObjectName("span_stop")
        self.start_box.setToolTip("First timestep of the span")
        self.stop_box.setToolTip("Last timestep of the span (included)")
        for box in (self.start_box, self.stop_box):
            box.valueChanged.connect(self._on_span_edited)
        self.k_box = QSpinBox()
        self.k_box.setRange(1, 50)
        self.k_box.setValue(8)
        self.k_box.setToolTip("How many results to list")
        self.search_button = QPushButton("Search")
        self.search_button.setObjectName("search_button")
        self.search_button.setToolTip("List the units most correlated with the focus unit over"
                                      " the span, and the places where the same units repeat"
                                      " the pattern")
        self.search_button.clicked.connect(self.search)
        self.cursor_span = QPushButton("Span ends at cursor")
        self.cursor_span.setToolTip("Make the span the 10 steps up to the current timestep")
        self.cursor_span.clicked.connect(self._span_to_cursor)
        row = QHBoxLayout()
        for w in (QLabel("state"), self.kind_box, QLabel("steps"), self.start_box, QLabel("to"),
                  self.stop_box, self.cursor_span, QLabel("results"), self.k_box):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.search_button)
        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setObjectName("search_plot")
        self.plot_widget.setMinimumHeight(150)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "t")
        self.plot.getViewBox().setMouseEnabled(x=True, y=False)
        self.others = [self.plot.plot(pen=pg.mkPen(c, width=1)) for c in
                       ("#90a4ae", "#b0bec5", "#cfd8dc")]
        self.curve = self.plot.plot(pen=pg.mkPen("#1565c0", width=2), connect="finite")
        self.region = pg.LinearRegionItem(values=(0, 5), brush=pg.mkBrush(21, 101, 192, 50))
        self.region.setZValue(5)
        self.region.sigRegionChangeFinished.connect(self._on_region_moved)
        self.plot.addItem(self.region)
        self.match_regions: list[pg.LinearRegionItem] = []
        self.t_line = pg.InfiniteLine(0, angle=90, pen=CURSOR_PEN)  # the current step
        self.plot.addItem(self.t_line)
        self.similar_table = self._result_table(["unit", "r over span"], "similar_units")
        self.similar_table.itemSelectionChanged.connect(self._on_similar_clicked)
        self.match_table = self._result_table(["batch", "steps", "distance", "text"],
                                              "pattern_matches")
        self.match_table.itemSelectionChanged.connect(self._on_match_clicked)
        self.search_status = QLabel("Choose a span and press Search.")
        self.search_status.setObjectName("search_status")
        self.search_status.setWordWrap(True)
        results = QSplitter(Qt.Orientation.Horizontal)
        results.addWidget(self._titled(self.similar_table, "Most similar units over the span"))
        results.addWidget(self._titled(self.match_table,
                                       "Other places where these units repeat the pattern"))
        results.setStretchFactor(0, 1)
        results.setStretchFactor(1, 2)
        sl = QVBoxLayout(search)
        sl.setContentsMargins(4, 4, 4, 4)
        sl.addLayout(row)
        sl.addWidget(self.plot_widget, 1)
        sl.addWidget(self.search_status)
        sl.addWidget(results, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(search)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([330, 470])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.caption)
        layout.addWidget(split, 1)
        self.similar: list = []
        self.matches: list = []
        self.listen()

    @staticmethod
    def _result_table(headers: list[str], name: str) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        table.setObjectName(name)
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(20)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    @staticmethod
    def _titled(widget: QWidget, title: str) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        lay.addWidget(QLabel(title))
        lay.addWidget(widget)
        return box

    # ----- statistics -----------------------------------------------------------------------
    def show_trace(self, trace) -> None:
        ctx = self.ctx
        try:
            self.stats = unit_stats(trace, ctx.layer, ctx.direction)
        except ValueError as exc:
            self.caption.setText(f"No statistics: {exc}")
            return
        header = self.table.horizontalHeader()
        column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        self.model.set_columns(self.stats.columns())
        if 0 <= column < self.model.columnCount():
            self.proxy.sort(column, order)
        # input positions: a windowed trace holds steps [start, stop) of a longer input
        lo, hi = trace.start, trace.stop
        for box in (self.start_box, self.stop_box):
            box.blockSignals(True)
            box.setRange(lo, hi - 1)
            box.blockSignals(False)
        if self.stop_box.value() <= self.start_box.value():
            t = self.session.t
            self._set_span(max(lo, min(hi - 2, t - 9)), min(hi - 1, max(lo + 1, t)))
        over = f"over all {self.stats.steps} valid (step, sequence) pairs"
        if trace.windowed:
            # never a window's numbers as if they were the whole input's
            over = (f"<span style='color:#c62828'><b>over steps {lo}–{hi - 1} only</b> (of"
                    f" {self.session.num_steps}: the trace is windowed; search and statistics"
                    f" see the traced window)</span>, {self.stats.steps} valid (step, sequence)"
                    " pairs")
        self.caption.setText(
            f"<b>Units</b>: {ctx.selection_text()}; statistics {over}."
            f" Saturated: a sigmoid gate below {SAT_LOW} or above"
            f" {SAT_HIGH}, g beyond ±{SAT_HIGH}. Click a row to focus that unit in every view;"
            " click a header to sort.")
        self._select_row(ctx.unit)
        self._redraw_plot()

    def _select_row(self, unit: int) -> None:
        for r in range(self.proxy.rowCount()):
            index = self.proxy.index(r, 0)
            if int(self.proxy.data(index, SORT_ROLE)) == unit:
                if self.table.currentIndex().row() != r:
                    self.table.blockSignals(True)
                    self.table.selectRow(r)
                    self.table.blockSignals(False)
                    self.table.scrollTo(index)
                return

    def _on_row_changed(self, current, previous) -> None:
        if not current.isValid():
            return
        unit = int(self.proxy.data(self.proxy.index(current.row(), 0), SORT_ROLE))
        if unit != self.ctx.unit:
            self.ctx.select(unit=unit)

    def unit_in_row(self, row: int) -> int:
        return int(self.proxy.data(self.proxy.index(row, 0), SORT_ROLE))

    # ----- pattern search -------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.kind_box.currentData()

    def span(self) -> tuple[int, int]:
        """The selected span as [start, stop) (the stop box shows the last step, included)."""
        return self.start_box.value(), self.stop_box.value() + 1

    def _set_span(self, start: int, last: int) -> None:
        for box, v in ((self.start_box, start), (self.stop_box, last)):
            box.blockSignals(True)
            box.setValue(v)
            box.blockSignals(False)
        self.region.blockSignals(True)
        self.region.setRegion((start - 0.5, last + 0.5))
        self.region.blockSignals(False)

    def set_span(self, start: int, stop: int) -> None:
        """Select steps [start, stop)."""
        self._set_span(start, stop - 1)

    def _span_to_cursor(self) -> None:
        t = self.session.t
        self._set_span(max(0, t - 9), max(t, 1))

    def _on_span_edited(self) -> None:
        start, last = self.start_box.value(), self.stop_box.value()
        self._set_span(start, max(last, start))

    def _on_region_moved(self) -> None:
        lo, hi = self.region.getRegion()
        self._set_span(max(0, int(round(lo + 0.5))), max(0, int(round(hi - 0.5))))

    def _acts(self) -> np.ndarray | None:
        trace = self.session.trace
        if trace is None or not self.ctx.fits(trace):
            return None
        return getattr(trace, self.kind)[self.ctx.layer, self.ctx.direction] \
            .detach().cpu().numpy()

    def _redraw_plot(self, *args) -> None:
        acts = self._acts()
        if acts is None:
            return
        unit, b = self.ctx.unit, min(self.ctx.batch, acts.shape[1] - 1)
        if unit >= acts.shape[2]:
            self.curve.setData([], [])
            return
        start = self._first_step()
        t = start + np.arange(acts.shape[0])  # input positions
        self.curve.setData(t, acts[:, b, unit])
        for k, item in enumerate(self.others):
            if k < len(self.similar) and self.similar[k].unit < acts.shape[2]:
                item.setData(t, acts[:, b, self.similar[k].unit])
            else:
                item.setData([], [])
        for item in self.match_regions:
            self.plot.removeItem(item)
        self.match_regions = []
        for m in self.matches:
            if m.batch == b:
                item = pg.LinearRegionItem((start + m.start - 0.5, start + m.stop - 0.5),
                                           movable=False,
                                           brush=pg.mkBrush(255, 143, 0, 60),
                                           pen=pg.mkPen(255, 143, 0, 120))
                self.plot.addItem(item)
                self.match_regions.append(item)
        self.plot.setTitle(f"{self.kind}[{unit}] (blue), similar units (grey), span (blue band),"
                           " matches (orange)", size="9pt")
        self.t_line.setValue(self.session.t)

    def search(self) -> None:
        """Run both searches for the focus unit over the selected span and list the results."""
        acts = self._acts()
        if acts is None:
            return
        offset = self._first_step()  # acts hold the trace's steps
        start, stop = (v - offset for v in self.span())
        unit, b, k = self.ctx.unit, self.ctx.batch, self.k_box.value()
        try:
            self.similar = similar_units(acts, unit, start, stop, batch=b, k=k)
            units = [unit] + [m.unit for m in self.similar[:2] if m.score > 0.5]
            self.matches = find_pattern(acts, units, start, stop, batch=b, k=k)
        except ValueError as exc:
            self.similar, self.matches = [], []
            self.search_status.setText(f"Cannot search: {exc}")
            self._fill_results([])
            self._redraw_plot()
            return
        self._fill_results(units)
        self._redraw_plot()

    def _fill_results(self, units: list[int]) -> None:
        self.similar_table.setRowCount(len(self.similar))
        for r, m in enumerate(self.similar):
            self.similar_table.setItem(r, 0, QTableWidgetItem(str(m.unit)))
            self.similar_table.setItem(r, 1, QTableWidgetItem(f"{m.score:+.3f}"))
        tokens = self._tokens()
        offset = self._first_step()  # matches count from the trace's first step
        self.match_table.setRowCount(len(self.matches))
        for r, m in enumerate(self.matches):
            excerpt = ""
            a, e = offset + m.start, offset + m.stop
            if tokens is not None and m.batch < len(tokens):
                excerpt = "".join(tokens[m.batch][a:e]).replace("\n", "↵")
            for c, text in enumerate((str(m.batch), f"{a}–{e - 1}",
                                      f"{m.distance:.3f}", excerpt)):
                self.match_table.setItem(r, c, QTableWidgetItem(text))
        if units:
            start, stop = self.span()
            self.search_status.setText(
                f"{self.kind} of units {', '.join(map(str, units))} over steps {start}–{stop - 1}"
                f" compared with every other window of {stop - start} steps (root mean square"
                " difference). Click a row to go there.")

    def _tokens(self):
        try:
            return spec_tokens(self.session.input_spec)
        except ValueError:
            return None

    def _on_similar_clicked(self) -> None:
        rows = self.similar_table.selectionModel().selectedRows()
        if rows and rows[0].row() < len(self.similar):
            self.ctx.select(unit=self.similar[rows[0].row()].unit)

    def _on_match_clicked(self) -> None:
        rows = self.match_table.selectionModel().selectedRows()
        if rows and rows[0].row() < len(self.matches):
            m = self.matches[rows[0].row()]
            self.ctx.select(batch=m.batch)
            self.session.seek(self._first_step() + m.start)

    def _first_step(self) -> int:
        """The input position of the first step the trace on show holds (0 without one)."""
        trace = self.session.trace
        return 0 if trace is None else trace.start

    def show_step(self, t: int) -> None:
        self.t_line.setValue(t)
