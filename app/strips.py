"""The input and the model's answer on the heatmaps' time axis.

The input strip shows x_t: up to four features as lines, more as a small heatmap, and the
characters or tokens of text input along its top edge. When the session has an output head,
the prediction strip shows what it predicts at every step against the target (the next input):
for a forecaster the forecast, the true next value and the error; for a text model the
probability of the true next token; the loss strip shows the per-step loss. The numbers come
from ``lstm_viz.predict``; this module only draws them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

from lstm_viz.predict import Predictions, predict, token_grid

from .overview import LEFT_AXIS_WIDTH
from .plots import CURSOR_PEN, DIVERGING, Heatmap, set_title

FEATURE_COLOURS = ["#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00"]
TARGET_PEN = pg.mkPen("#616161", width=2)
FORECAST_PEN = pg.mkPen("#d81b60", width=2)
ERROR_PEN = pg.mkPen("#ff8f00", width=1, style=Qt.PenStyle.DashLine)
PROB_PEN = pg.mkPen("#00897b", width=2)
LOSS_PEN = pg.mkPen("#c62828", width=1.5)
MAX_LINES = 4

_cache: dict = {}


def session_predictions(session) -> Predictions | None:
    """The head's predictions for the session's trace (computed once per trace and head)."""
    trace, head = session.trace, getattr(session, "head", None)
    if trace is None or head is None:
        return None
    key = (id(trace), id(head), id(session.input_spec))
    if _cache.get("key") != key:
        _cache.clear()
        try:
            _cache["value"] = predict(trace, head, session.input_spec)
        except ValueError:  # a head that does not read this LSTM's output: no strip
            _cache["value"] = None
        _cache["key"] = key
        _cache["trace"] = trace  # keeps id(trace) from being reused while cached
    return _cache["value"]


def _token_text(token: str) -> str:
    return {"\n": "↵", " ": "␣", "\t": "⇥"}.get(token, token)


class TokenAxis(pg.AxisItem):
    """A time axis that writes the token read at each step (those that fit)."""

    def __init__(self, orientation: str = "top", **kwargs):
        super().__init__(orientation, **kwargs)
        self.tokens: list[str] = []

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph override
        if not self.tokens:
            return []
        lo, hi = max(0, int(np.ceil(minVal))), min(len(self.tokens) - 1, int(maxVal))
        if hi < lo:
            return []
        step = max(1, int(np.ceil((hi - lo + 1) * 7 / max(size, 1))))  # about 7 px a token
        return [(float(step), [float(t) for t in range(lo - lo % step, hi + 1, step)
                               if t >= lo])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph override
        return [_token_text(self.tokens[int(v)]) if 0 <= int(v) < len(self.tokens) else ""
                for v in values]


def _strip_plot(graphics: pg.GraphicsLayoutWidget, row: int, height: int,
                axis_items: dict | None = None) -> pg.PlotItem:
    plot = graphics.addPlot(row=row, col=0, axisItems=axis_items or {})
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.getViewBox().setMouseEnabled(x=False, y=False)
    plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
    plot.hideAxis("bottom")
    plot.getAxis("left").setStyle(maxTickLevel=0, maxTextLevel=0)  # a short axis: few labels
    plot.setMaximumHeight(height)
    plot.setMinimumHeight(height)
    return plot


class TimeStrips:
    """Input, prediction and loss strips in rows ``row``.. of ``graphics``, sharing the time
    axis of ``link`` (the view's first heatmap)."""

    def __init__(self, ctx, graphics: pg.GraphicsLayoutWidget, row: int, link: pg.PlotItem):
        self.ctx = ctx
        self.session = ctx.session
        self.token_axis = TokenAxis("top")
        self.token_axis.setStyle(tickLength=0, tickFont=_mono_font())
        self.input_plot = _strip_plot(graphics, row, 64, {"top": self.token_axis})
        self.input_plot.setXLink(link)
        set_title(self.input_plot, "input x_t", size="8pt")
        self.input_map = Heatmap(self.input_plot, "x", "input x_t", y_label="feature")
        self.input_map.plot.getViewBox().setMouseEnabled(x=False, y=False)
        self.input_map.cursor.setMovable(False)
        self.input_bar = None
        self.input_lines = [self.input_plot.plot(pen=pg.mkPen(c, width=1.5))
                            for c in FEATURE_COLOURS]
        for line in self.input_lines:
            line.setClipToView(True)
            line.setDownsampling(auto=True, method="peak")  # min and max per pixel: no skipping
        self.pred_plot = _strip_plot(graphics, row + 1, 72)
        self.pred_plot.setXLink(link)
        self.loss_plot = _strip_plot(graphics, row + 2, 50)
        self.loss_plot.setXLink(link)
        set_title(self.loss_plot, "loss per step", size="8pt")
        self.target_line = self.pred_plot.plot(pen=TARGET_PEN, name="true next")
        self.forecast_line = self.pred_plot.plot(pen=FORECAST_PEN, name="forecast")
        self.error_line = self.pred_plot.plot(pen=ERROR_PEN, name="error")
        self.loss_line = self.loss_plot.plot(pen=LOSS_PEN)
        for line in (self.target_line, self.forecast_line, self.error_line, self.loss_line):
            line.setClipToView(True)
            line.setDownsampling(auto=True, method="peak")
        self.cursors = [pg.InfiniteLine(0, angle=90, pen=CURSOR_PEN)
                        for _ in (self.pred_plot, self.loss_plot)]
        self.cursors.append(self.input_map.cursor)
        for plot, cursor in zip((self.pred_plot, self.loss_plot), self.cursors):
            plot.addItem(cursor)
        self.readout = QLabel()
        self.readout.setObjectName("prediction_readout")
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        # text that changes every step must never re-layout the plots
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.readout.setFixedHeight(self.readout.fontMetrics().lineSpacing() + 6)
        self.predictions: Predictions | None = None
        self.tokens: list[str] = []
        self.start = 0  # the input position of the trace's first step (a windowed trace)
        self._tokens_key: tuple = ()
        self.show_predictions(False)

    @property
    def plots(self) -> list[pg.PlotItem]:
        return [self.input_plot, self.pred_plot, self.loss_plot]

    def show_predictions(self, on: bool) -> None:
        for plot in (self.pred_plot, self.loss_plot):
            plot.setVisible(on)
            plot.setMaximumHeight(72 if on and plot is self.pred_plot else 50 if on else 0)
            plot.setMinimumHeight(0 if not on else plot.maximumHeight())
        self.readout.setVisible(on)

    # ----- the trace --------------------------------------------------------------------
    def show_trace(self, trace) -> None:
        """Redraw the strips for the selected batch element of ``trace``."""
        b = self.ctx.batch
        x = trace.x[:, b].detach().cpu().numpy()  # (T, F): the window's steps when windowed
        T, F = x.shape
        self.start = trace.start
        total = self.session.num_steps
        t = trace.start + np.arange(T)  # the input positions held
        key = (id(self.session.input_spec), b, total)
        if key != self._tokens_key:  # the tokens change only with the input
            self._tokens_key = key
            try:
                grid = token_grid(self.session.input_spec)
            except ValueError:
                grid = None
            if grid is not None and grid[0].shape[0] == total:
                self.tokens = [grid[1][i] for i in grid[0][:, min(b, grid[0].shape[1] - 1)]]
            else:
                self.tokens = []
        self.token_axis.tokens = self.tokens
        self.input_plot.showAxis("top", bool(self.tokens))
        self.token_axis.picture = None
        self.token_axis.update()
        as_lines = F <= MAX_LINES and not self.tokens
        self.input_map.image.setVisible(not as_lines)
        for k, line in enumerate(self.input_lines):
            if as_lines and k < F:
                line.setData(t, x[:, k], connect="finite")
                line.show()
            else:
                line.hide()
        if as_lines:
            self.input_plot.invertY(False)
            self.input_plot.setLabel("left", "x_t" if F == 1 else f"x_t ({F} features)",
                                     **{"font-size": "8pt"})
            lo, hi = np.nanmin(x), np.nanmax(x)
            pad = 0.05 * (hi - lo if hi > lo else 1.0)
            self.input_plot.setLimits(yMin=None, yMax=None)
            self.input_plot.setYRange(lo - pad, hi + pad, padding=0)
            _few_ticks(self.input_plot, x[:, :F])
            set_title(self.input_plot, "input x_t" + (f": {F} features (lines)" if F > 1 else ""),
                                     size="8pt")
        else:
            self.input_plot.invertY(True)
            lim = float(np.nanmax(np.abs(x))) if np.isfinite(x).any() else 1.0
            self.input_map.image.setLookupTable(DIVERGING.getLookupTable(nPts=256))
            self.input_map.y_label = "feature"
            self.input_map.set_data(np.ascontiguousarray(x.T), levels=(-lim, lim),
                                    offset=trace.start, total=total)
            self.input_map.axis.setTicks([[(0, "0"), (F - 1, str(F - 1))], []])
            what = "embedding of the token read" if self.tokens else f"{F} features"
            set_title(self.input_plot, f"input x_t: {what} (colour ±{lim:.2g})", size="8pt")
        self.predictions = session_predictions(self.session)
        self._draw_predictions(t, b)

    def _draw_predictions(self, t: np.ndarray, b: int) -> None:
        p = self.predictions
        self.show_predictions(p is not None)
        if p is None:
            return
        head = self.session.head
        if p.kind == "forecast":
            self.target_line.setData(t, p.target[:, b, 0], connect="finite")
            self.forecast_line.setData(t, p.outputs[:, b, 0], connect="finite")
            self.error_line.setData(t, p.error[:, b, 0], connect="finite")
            for line in (self.target_line, self.forecast_line, self.error_line):
                line.show()
            extra = f" (feature 0 of {p.outputs.shape[2]})" if p.outputs.shape[2] > 1 else ""
            self.forecast_line.setPen(FORECAST_PEN)
            set_title(self.pred_plot,
                      f"<span style='color:#d81b60'>forecast of x<sub>t+1</sub></span> vs "
                      f"<span style='color:#616161'>true x<sub>t+1</sub></span>, "
                      f"<span style='color:#ff8f00'>error</span>{extra} · {_head_name(head)}",
                      size="8pt")
            self.pred_plot.enableAutoRange(axis="y")
            _few_ticks(self.pred_plot, np.concatenate([p.outputs[:, b, 0], p.target[:, b, 0],
                                                       p.error[:, b, 0]]))
            set_title(self.loss_plot, "squared error per step", size="8pt")
        elif p.kind == "next token":
            self.forecast_line.setData(t, p.p_target[:, b], connect="finite")
            self.forecast_line.setPen(PROB_PEN)
            self.forecast_line.show()
            self.target_line.hide()
            self.error_line.hide()
            self.pred_plot.setYRange(0, 1, padding=0.05)
            _few_ticks(self.pred_plot, p.p_target[:, b], fixed=(0.0, 0.5, 1.0))
            set_title(self.pred_plot, f"p(true next token): softmax of {_head_name(head)} over"
                                    f" {len(p.vocab)} tokens", size="8pt")
            set_title(self.loss_plot, "cross-entropy per step (nats)", size="8pt")
        else:
            self.forecast_line.setData(t, p.outputs[:, b, 0], connect="finite")
            self.forecast_line.setPen(FORECAST_PEN)
            self.forecast_line.show()
            self.target_line.hide()
            self.error_line.hide()
            set_title(self.pred_plot, f"{_head_name(head)}: output 0 of {p.outputs.shape[2]}"
                                    " (no target: it does not predict the next input)",
                                    size="8pt")
            self.pred_plot.enableAutoRange(axis="y")
            _few_ticks(self.pred_plot, p.outputs[:, b, 0])
        if p.loss is not None:
            self.loss_line.setData(t, p.loss[:, b], connect="finite")
            self.loss_plot.enableAutoRange(axis="y")
            _few_ticks(self.loss_plot, p.loss[:, b])
        else:
            self.loss_line.setData([], [])
            set_title(self.loss_plot, "no loss: no target", size="8pt")

    # ----- one step ---------------------------------------------------------------------
    def show_step(self, t: int) -> None:
        for cursor in self.cursors:
            cursor.setValue(t)
        p = self.predictions
        if p is None:
            return
        self.readout.setText(self.readout_html(t))

    def readout_html(self, t: int) -> str:
        """The prediction at step t in words (with the top 5 for a text model)."""
        p, b = self.predictions, self.ctx.batch
        read_t, t = t, t - self.start  # the predictions hold the trace's steps
        if p is None or not 0 <= t < p.outputs.shape[0]:
            return ""
        if p.kind == "next token":
            read = _token_text(self.tokens[read_t]) if read_t < len(self.tokens) else "?"
            top = ", ".join(f"{_esc(_token_text(tok))} {pr:.2f}" for tok, pr in p.top(t, b))
            if p.target[t, b] >= 0:
                true = _token_text(p.vocab[p.target[t, b]])
                head = (f"t={read_t}: read <b>{_esc(read)}</b>; true next <b>{_esc(true)}</b>"
                        f" p={p.p_target[t, b]:.3f}, loss {p.loss[t, b]:.2f} nats")
            else:
                head = f"t={read_t}: read <b>{_esc(read)}</b>; no next token (last step)"
            return f"{head} · top 5: {top}"
        y = p.outputs[t, b, 0]
        if p.kind == "forecast":
            if np.isfinite(p.target[t, b, 0]):
                return (f"t={read_t}: forecast x<sub>t+1</sub> = {y:+.3f}, true"
                        f" {p.target[t, b, 0]:+.3f}, error {p.error[t, b, 0]:+.3f}")
            return f"t={read_t}: forecast x<sub>t+1</sub> = {y:+.3f}; no true value (last step)"
        return f"t={read_t}: head output 0 = {y:+.3f}"


def _few_ticks(plot: pg.PlotItem, values: np.ndarray, fixed: tuple[float, ...] = ()) -> None:
    """Label a short strip's y axis at its ends (and 0) only, so the labels never collide."""
    finite = values[np.isfinite(values)]
    if fixed:
        ticks = fixed
    elif finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        # rounded towards zero, so that each label lies inside the range it names
        ticks = tuple(sorted({_toward_zero(lo) if lo < 0 else 0.0, 0.0 if hi <= 0 else
                              _toward_zero(hi)}))
    else:
        ticks = (0.0,)
    plot.getAxis("left").setTicks([[(v, f"{v:.3g}") for v in ticks], []])


def _toward_zero(v: float) -> float:
    """``v`` to two significant digits, rounded towards zero."""
    if v == 0 or not np.isfinite(v):
        return 0.0
    scale = 10.0 ** (np.floor(np.log10(abs(v))) - 1)
    return float(np.trunc(v / scale) * scale)


def _head_name(head) -> str:
    """"the head 'decoder' (Linear 128→65)"."""
    kind = "tied embedding" if head.tied else "Linear"
    return f"head '{head.key}' ({kind} {head.weight.shape[1]}→{head.out_features})"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mono_font():
    from PySide6.QtGui import QFont, QFontDatabase
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSize(8)
    return font if isinstance(font, QFont) else QFont()
