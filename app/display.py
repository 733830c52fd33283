"""How every heatmap view draws the trace: the unit order and the colour scale, shared through
the AppContext (``ctx.display``), and the row of controls that sets them."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from lstm_viz.explain.ordering import ORDERS, unit_order

from .plots import SCALES

ORDER_NAMES = {"index": "index", "timescale": "timescale", "saturation": "saturation",
               "variance": "variance", "similarity": "similarity"}
SCALE_NAMES = {"fixed": "fixed", "unit": "per unit", "percentile": "percentile"}
SCALE_TIPS = {"fixed": "σ gates 0..1, tanh values −1..1, c symmetric around 0: a colour"
                       " means the same value everywhere",
              "unit": "each unit (row) stretched to its own range",
              "percentile": "1st to 99th percentile of the values shown"}
DEFAULT_WINDOW = 150


class DisplayOptions(QObject):
    """The unit order and colour scale every view uses; ``order(trace, layer, direction)`` is
    the permutation (row r shows unit ``order[r]``), computed once per trace and slice."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.unit_order = "index"
        self.scale = "fixed"
        self._cache: dict = {}
        self._cache_trace = None

    def set_unit_order(self, key: str) -> None:
        if key not in ORDERS:
            raise ValueError(f"unknown unit order {key!r}; choose one of {', '.join(ORDERS)}")
        if key != self.unit_order:
            self.unit_order = key
            self.changed.emit()

    def set_scale(self, mode: str) -> None:
        if mode not in SCALES:
            raise ValueError(f"unknown colour scale {mode!r}; choose one of {', '.join(SCALES)}")
        if mode != self.scale:
            self.scale = mode
            self.changed.emit()

    def order(self, trace, layer: int, direction: int) -> np.ndarray | None:
        """The permutation of the units of (layer, direction) in ``trace`` (None: index)."""
        if self.unit_order == "index":
            return None
        if trace is not self._cache_trace:
            self._cache, self._cache_trace = {}, trace
        key = (layer, direction, self.unit_order)
        if key not in self._cache:
            self._cache[key] = unit_order(trace, layer, direction, self.unit_order)
        return self._cache[key]

    def order_label(self) -> str:
        """The order in words, for a title: "by timescale" (the combo's tooltip says more)."""
        if self.unit_order == "index":
            return "index order"
        # a windowed trace holds a window: the statistics that order the rows are of its steps
        tr = self._cache_trace
        span = f" of steps {tr.start}–{tr.stop - 1}" if tr is not None and tr.windowed else ""
        return f"by {ORDER_NAMES[self.unit_order]}{span}"


class DisplayControls(QWidget):
    """Unit order, colour scale and detail-window width, for one view; the order and scale are
    the shared ``ctx.display``, so every view follows a change made in any of them."""

    def __init__(self, ctx, window_steps: QSpinBox | None = None, parent=None):
        super().__init__(parent)
        self.display: DisplayOptions = ctx.display
        self.order_box = QComboBox()
        self.order_box.setObjectName("unit_order")
        self.order_box.setToolTip("Order of the units (rows) in every view; the axis names the"
                                  " unit of each row")
        for key, name in ORDER_NAMES.items():
            self.order_box.addItem(name, key)
            self.order_box.setItemData(self.order_box.count() - 1, ORDERS[key],
                                       Qt.ItemDataRole.ToolTipRole)
        self.scale_box = QComboBox()
        self.scale_box.setObjectName("colour_scale")
        self.scale_box.setToolTip("Colour scale of the heatmaps; the colour bar says which")
        for key, name in SCALE_NAMES.items():
            self.scale_box.addItem(name, key)
            self.scale_box.setItemData(self.scale_box.count() - 1, SCALE_TIPS[key],
                                       Qt.ItemDataRole.ToolTipRole)
        self.window_box = QSpinBox()
        self.window_box.setObjectName("detail_window")
        self.window_box.setRange(2, 1_000_000)
        self.window_box.setValue(DEFAULT_WINDOW)
        self.window_box.setSuffix(" steps")
        self.window_box.setMaximumWidth(110)
        self.window_box.setToolTip("Width of the detail window (drag its edges in the overview)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        for label, box in (("order", self.order_box), ("colour", self.scale_box),
                           ("detail", self.window_box)):
            layout.addWidget(QLabel(label))
            layout.addWidget(box)
        # bound methods, not lambdas: Qt holds a lambda (and the self in it) for as long as
        # the combo lives, so a parentless row of controls would never be freed
        self.order_box.currentIndexChanged.connect(self._on_order_chosen)
        self.scale_box.currentIndexChanged.connect(self._on_scale_chosen)
        self.display.changed.connect(self._sync)

    def _on_order_chosen(self, k: int) -> None:
        self.display.set_unit_order(self.order_box.itemData(k))

    def _on_scale_chosen(self, k: int) -> None:
        self.display.set_scale(self.scale_box.itemData(k))

    def _sync(self) -> None:
        for box, value in ((self.order_box, self.display.unit_order),
                           (self.scale_box, self.display.scale)):
            k = box.findData(value)
            if k != box.currentIndex():
                box.blockSignals(True)
                box.setCurrentIndex(k)
                box.blockSignals(False)
