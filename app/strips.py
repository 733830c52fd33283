# mypy: disable-error-code="union-attr,index"
# (optional parts of the predictions and the trace are read only where they exist)
"""The input and the model's answer on the heatmaps' time axis.

The input strip shows x_t: up to four features as lines, more as a small heatmap, and the
characters or tokens of text input along its top edge. When the session has an output head,
the prediction strip shows what it predicts at every step against the target (the next input):
for a forecaster the forecast, the true next value and the error; for a text model the
probability of the true next token; the loss strip shows the per-step loss. While a what-if
edit or ablation is active, both strips draw the run before the edits (dashed grey) under the
edited run (solid), and the readout gives both. The numbers come from ``lstm_viz.explain.predict``;
this module only draws them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QLabel, QSizePolicy

from lstm_viz.explain.predict import Predictions, predict, token_grid

from . import theme
from .overview import LEFT_AXIS_WIDTH
from .plots import CURSOR_PEN, DIVERGING, Heatmap, PlotNote, set_title
from .sessions import sequence_end
from .widgets import Steady

FEATURE_COLOURS = ["#7e57c2", "#228833", "#aa3377", "#44aa99"]  # none with a meaning (theme)
TARGET_PEN = pg.mkPen("#616161", width=2)
# one meaning per colour (see theme): forecast blue, error and loss orange, cursor vermillion
FORECAST_PEN = pg.mkPen(theme.FORECAST, width=2)
ERROR_PEN = pg.mkPen(theme.ERROR, width=1.5, style=Qt.PenStyle.DashLine)
PROB_PEN = pg.mkPen(theme.FORECAST, width=2)
LOSS_PEN = pg.mkPen(theme.ERROR, width=1.5)
ORIGINAL_PEN = pg.mkPen("#8a8a8a", width=2, style=Qt.PenStyle.DashLine)
ORIGINAL_COLOUR = "#8a8a8a"
# the true next value beside two runs: thin green, so grey means "original"
TRUTH_PEN = pg.mkPen(theme.TRUTH, width=1)
MAX_LINES = 4

# (trace, head, input spec) -> predictions, for the trace on show and the run before the edits
_cache: dict = {}


def trace_predictions(session, trace) -> Predictions | None:
    """The head's predictions for ``trace`` of ``session`` (computed once per trace and head;
    the two latest are kept: the edited run and the original)."""
    head = getattr(session, "head", None)
    if trace is None or head is None:
        return None
    key = (id(trace), id(head), id(session.input_spec))
    if key not in _cache:
        try:
            value = predict(trace, head, session.input_spec)
        except ValueError:  # a head that does not read this LSTM's output: no strip
            value = None
        while len(_cache) >= 2:
            del _cache[next(iter(_cache))]
        _cache[key] = (value, trace)  # the trace keeps its id from being reused while cached
    return _cache[key][0]


def session_predictions(session) -> Predictions | None:
    """The head's predictions for the session's trace."""
    return trace_predictions(session, session.trace)


def original_predictions(session) -> Predictions | None:
    """The head's predictions for the run before the what-if edits, while edits are active
    (None otherwise, or when that run does not cover the same steps)."""
    trace, original = session.trace, getattr(session, "original", None)
    if trace is None or original is None or not trace.meta.get("edited") \
            or original.x.shape != trace.x.shape or original.start != trace.start:
        return None
    return trace_predictions(session, original)


def _main_curve(p: Predictions, b: int) -> np.ndarray:
    """The curve the prediction strip draws solid: the forecast of feature 0, the probability
    of the true next token, or output 0."""
    return p.p_target[:, b] if p.kind == "next token" else p.outputs[:, b, 0]


def _token_text(token: str) -> str:
    return {"\n": "↵", " ": "␣", "\t": "⇥"}.get(token, token)


class TokenAxis(pg.AxisItem):
    """A time axis that writes the token read at each step (those that fit)."""

    def __init__(self, orientation: str = "top", **kwargs):
        super().__init__(orientation, **kwargs)
        self.tokens: list[str] = []

    def label_step(self, minVal, maxVal, size) -> int:  # noqa: N803 - as tickValues'
        """Label every ``n``th step of ``[minVal, maxVal]`` on an axis ``size`` px long (0: no
        token in view): the smallest n that leaves a token about 7 px."""
        lo, hi = max(0, int(np.ceil(minVal))), min(len(self.tokens) - 1, int(maxVal))
        if not self.tokens or hi < lo:
            return 0
        return max(1, int(np.ceil((hi - lo + 1) * 7 / max(size, 1))))

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph override
        step = self.label_step(minVal, maxVal, size)
        if not step:
            return []
        lo, hi = max(0, int(np.ceil(minVal))), min(len(self.tokens) - 1, int(maxVal))
        return [(float(step), [float(t) for t in range(lo - lo % step, hi + 1, step)
                               if t >= lo])]

    def skipping_note(self, step: int) -> str:
        """What the labels leave out, in words ("every 3rd character labelled"; '' for all)."""
        if step <= 1:
            return ""
        what = "character" if all(len(tok) == 1 for tok in self.tokens) else "token"
        return f"every {_ordinal(step)} {what} labelled"

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph override
        return [_token_text(self.tokens[int(v)]) if 0 <= int(v) < len(self.tokens) else ""
                for v in values]


def _ordinal(n: int) -> str:
    """2 -> "2nd", 3 -> "3rd", 11 -> "11th", 22 -> "22nd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _strip_plot(graphics: pg.GraphicsLayoutWidget | None, row: int, height: int,
                axis_items: dict | None = None) -> pg.PlotItem:
    """A strip's plot at ``row`` of ``graphics``, ``height`` px tall; without ``graphics``, a
    plot of its own for a timeline track to place (the track sizes it)."""
    if graphics is None:
        plot = pg.PlotItem(axisItems=axis_items or {})
    else:
        plot = graphics.addPlot(row=row, col=0, axisItems=axis_items or {})
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.getViewBox().setMouseEnabled(x=False, y=False)
    plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
    plot.hideAxis("bottom")
    plot.getAxis("left").setStyle(maxTickLevel=0, maxTextLevel=0)  # a short axis: few labels
    if graphics is not None:
        plot.setMaximumHeight(height)
        plot.setMinimumHeight(height)
    return plot


class TimeStrips:
    """Input, prediction and loss strips in rows ``row``.. of ``graphics``, sharing the time
    axis of ``link`` (the view's first heatmap); without ``graphics``, three plots of their own
    that timeline tracks place, each in its own row."""

    def __init__(self, ctx, graphics: pg.GraphicsLayoutWidget | None = None, row: int = 0,
                 link: pg.PlotItem | None = None):
        self.ctx = ctx
        self.fixed_heights = graphics is not None
        self.session = ctx.session
        self.token_axis = TokenAxis("top")
        self.token_axis.setStyle(tickLength=0, tickFont=_mono_font())
        self.input_plot = _strip_plot(graphics, row, 64, {"top": self.token_axis})
        if link is not None:
            self.input_plot.setXLink(link)
        set_title(self.input_plot, "input x_t", size="8pt")
        self.input_map = Heatmap(self.input_plot, "x", "input x_t", y_label="feature")
        self.input_map.title_size = "8pt"
        self.input_map.plot.getViewBox().setMouseEnabled(x=False, y=False)
        self.input_map.cursor.setMovable(False)
        self.input_bar = None
        self.input_title = "input x_t"  # without the note on which tokens are labelled
        self.token_note = ""
        self.input_plot.getViewBox().sigRangeChanged.connect(self._update_token_note)
        self.input_plot.getViewBox().sigResized.connect(self._update_token_note)
        self.input_lines = [self.input_plot.plot(pen=pg.mkPen(c, width=1.5))
                            for c in FEATURE_COLOURS]
        for line in self.input_lines:
            line.setClipToView(True)
            line.setDownsampling(auto=True, method="peak")  # min and max per pixel: no skipping
        # a packed batch's steps past the selected sequence's end hold padding, not input:
        # hatched and labelled over the lines (the heatmap hatches its own rows)
        self.padding = pg.LinearRegionItem((0, 0), movable=False, pen=pg.mkPen(None),
                                           brush=QBrush(theme.muted(), Qt.BrushStyle.BDiagPattern))
        self.padding.setZValue(5)
        self.padding.hide()
        self.input_plot.addItem(self.padding)
        self.padding_label = pg.TextItem("", color=theme.foreground(), fill=theme.legend_brush(),
                                         anchor=(0, 0))
        self.padding_label.setZValue(6)
        self.padding_label.hide()
        self.input_plot.addItem(self.padding_label)
        self.input_end: int | None = None  # the selected sequence's length when it is shorter
        self.pred_plot = _strip_plot(graphics, row + 1, 72)
        self.loss_plot = _strip_plot(graphics, row + 2, 50)
        if link is not None:
            self.pred_plot.setXLink(link)
            self.loss_plot.setXLink(link)
        set_title(self.loss_plot, "loss per step", size="8pt")
        self.loss_note = PlotNote(self.loss_plot, axes=("left",))
        self.target_line = self.pred_plot.plot(pen=TARGET_PEN, name="true next")
        # the run before the what-if edits, under the edited one
        self.original_line = self.pred_plot.plot(pen=ORIGINAL_PEN, name="original")
        self.forecast_line = self.pred_plot.plot(pen=FORECAST_PEN, name="forecast")
        self.error_line = self.pred_plot.plot(pen=ERROR_PEN, name="error")
        self.original_loss_line = self.loss_plot.plot(pen=ORIGINAL_PEN, name="original")
        self.loss_line = self.loss_plot.plot(pen=LOSS_PEN)
        for line in (self.target_line, self.forecast_line, self.error_line, self.loss_line,
                     self.original_line, self.original_loss_line):
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
        #: where a view puts the readout: its new text at every step stays inside
        self.readout_area = Steady(self.readout)
        self.readout_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.readout_area.setFixedHeight(self.readout.height())
        self.readout_area.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.predictions: Predictions | None = None
        self.original: Predictions | None = None  # the run before the edits, while edited
        self.tokens: list[str] = []
        self.start = 0  # the input position of the trace's first step (a windowed trace)
        self._tokens_key: tuple = ()
        self.show_predictions(False)

    @property
    def plots(self) -> list[pg.PlotItem]:
        return [self.input_plot, self.pred_plot, self.loss_plot]

    def show_predictions(self, on: bool) -> None:
        """Show the prediction and loss strips: as tall with two runs as with one, so that a
        what-if edit or ablation takes no room from the heatmaps under them."""
        self.has_predictions = on
        self.readout_area.setVisible(on)
        if not self.fixed_heights:  # timeline tracks: each says there is nothing to draw
            return
        heights = {self.pred_plot: 72, self.loss_plot: 50}
        for plot, height in heights.items():
            plot.setVisible(on)
            plot.setMaximumHeight(height if on else 0)
            plot.setMinimumHeight(height if on else 0)

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
        end, why = sequence_end(trace.lengths, b, total)
        self.input_end = end if end is not None and end < total else None
        if self.input_end is not None:  # padding, not input: drawn as such below
            x = x.copy()
            x[t >= self.input_end] = np.nan
        padding = f"padding: {why}" if self.input_end is not None else ""
        as_lines = F <= MAX_LINES and not self.tokens
        self.input_map.image.setVisible(not as_lines)
        self.padding.setVisible(as_lines and self.input_end is not None)
        self.padding_label.setVisible(as_lines and self.input_end is not None)
        if self.input_end is not None:
            self.padding.setRegion((self.input_end - 0.5, total - 0.5))
            self.padding_label.setText(padding)
        for k, line in enumerate(self.input_lines):
            if as_lines and k < F:
                line.setData(t, x[:, k], connect="finite")
                line.show()
            else:
                line.hide()
        if as_lines:
            self.input_plot.invertY(False)
            # the title says how many features: the label runs up a plot 60 px tall
            self.input_plot.setLabel("left", "x_t", **{"font-size": "8pt"})
            lo, hi = np.nanmin(x), np.nanmax(x)
            pad = 0.05 * (hi - lo if hi > lo else 1.0)
            self.input_plot.setLimits(yMin=None, yMax=None)
            self.input_plot.setYRange(lo - pad, hi + pad, padding=0)
            self.padding_label.setPos(float(self.input_end or 0) - 0.5, hi + pad)
            _few_ticks(self.input_plot, x[:, :F])
            self._set_input_title("input x_t" + (f": {F} features (lines)" if F > 1 else ""))
        else:
            self.input_plot.invertY(True)
            lim = float(np.nanmax(np.abs(x))) if np.isfinite(x).any() else 1.0
            self.input_map.image.setLookupTable(DIVERGING.getLookupTable(nPts=256))
            self.input_map.y_label = "feature"
            self.input_map.set_data(np.ascontiguousarray(x.T), levels=(-lim, lim),
                                    offset=trace.start, total=total)
            self.input_map.set_end(self.input_end, padding, label=True)
            self.input_map.axis.setTicks([[(0, "0"), (F - 1, str(F - 1))], []])
            what = "embedding of the token read" if self.tokens else f"{F} features"
            self._set_input_title(f"input x_t: {what} (colour ±{lim:.2g})")
        self.predictions = session_predictions(self.session)
        self.original = original_predictions(self.session) if self.predictions else None
        self._draw_predictions(t, b)

    def _set_input_title(self, text: str) -> None:
        self.input_title = text
        self.token_note = ""
        self._update_token_note(force=True)

    def _update_token_note(self, *args, force: bool = False) -> None:
        """Say in the input strip's title when the tokens along its top skip some: not every
        step's token fits the strip's width."""
        vb = self.input_plot.getViewBox()
        (x0, x1), _ = vb.viewRange()
        note = self.token_axis.skipping_note(self.token_axis.label_step(x0, x1, vb.width())) \
            if self.token_axis.tokens else ""
        if note == self.token_note and not force:
            return
        self.token_note = note
        title = self.input_title + (f" · {note}" if note else "")
        self.input_map.title = title  # the heatmap keeps it when it fits its title again
        set_title(self.input_plot, title, size="8pt")

    def _draw_predictions(self, t: np.ndarray, b: int) -> None:
        p, orig = self.predictions, self.original
        self.show_predictions(p is not None)
        if p is None:
            return
        head = self.session.head
        main = _main_curve(p, b)
        self.forecast_line.setData(t, main, connect="finite")
        self.forecast_line.show()
        shown = [main]
        if orig is not None:
            self.original_line.setData(t, _main_curve(orig, b), connect="finite")
            self.original_line.show()
            shown.append(_main_curve(orig, b))
        else:
            self.original_line.setData([], [])
            self.original_line.hide()
        both = "" if orig is None else _both_runs(
            FORECAST_PEN.color().name() if p.kind != "next token" else PROB_PEN.color().name())
        loss_both = "" if orig is None else ": " + _both_runs(LOSS_PEN.color().name())
        if p.kind == "forecast":
            self.target_line.setData(t, p.target[:, b, 0], connect="finite")
            self.target_line.setPen(TARGET_PEN if orig is None else TRUTH_PEN)
            self.error_line.setData(t, p.error[:, b, 0], connect="finite")
            self.target_line.show()
            # comparing two runs, the error of one would only crowd the strip
            self.error_line.setVisible(orig is None)
            shown.append(p.target[:, b, 0])
            if orig is None:
                shown.append(p.error[:, b, 0])
            extra = f" (feature 0 of {p.outputs.shape[2]})" if p.outputs.shape[2] > 1 else ""
            self.forecast_line.setPen(FORECAST_PEN)
            if orig is None:
                title = (f"<span style='color:{theme.FORECAST}'>forecast of x<sub>t+1</sub>"
                         f"</span> vs <span style='color:#616161'>true x<sub>t+1</sub></span>, "
                         f"<span style='color:{theme.ERROR}'>error</span>{extra} · "
                         f"{_head_name(head)}")
            else:
                title = (f"forecast of x<sub>t+1</sub>{extra}: {both} vs"
                         f" <span style='color:{theme.TRUTH}'>true x<sub>t+1</sub>"
                         "</span>")
            set_title(self.pred_plot, title, size="8pt")
            self.pred_plot.enableAutoRange(axis="y")
            _few_ticks(self.pred_plot, np.concatenate(shown))
            set_title(self.loss_plot, "squared error per step" + loss_both, size="8pt")
        elif p.kind == "next token":
            self.forecast_line.setPen(PROB_PEN)
            self.target_line.hide()
            self.error_line.hide()
            self.pred_plot.setYRange(0, 1, padding=0.05)
            _few_ticks(self.pred_plot, main, fixed=(0.0, 0.5, 1.0))
            what = f"softmax of {_head_name(head)} over {len(p.vocab)} tokens"
            set_title(self.pred_plot, "p(true next token): " + (both or what), size="8pt")
            set_title(self.loss_plot, "cross-entropy per step (nats)" + loss_both, size="8pt")
        else:
            self.forecast_line.setPen(FORECAST_PEN)
            self.target_line.hide()
            self.error_line.hide()
            set_title(self.pred_plot, f"{_head_name(head)}: output 0 of {p.outputs.shape[2]}"
                                    + (f", {both}" if both else
                                       " (no target: it does not predict the next input)"),
                                    size="8pt")
            self.pred_plot.enableAutoRange(axis="y")
            _few_ticks(self.pred_plot, np.concatenate(shown))
        self.loss_note.set("" if p.loss is not None else
                           "no loss: this head does not predict the next input")
        if p.loss is not None:
            self.loss_line.setData(t, p.loss[:, b], connect="finite")
            losses = [p.loss[:, b]]
            if orig is not None and orig.loss is not None:
                self.original_loss_line.setData(t, orig.loss[:, b], connect="finite")
                self.original_loss_line.show()
                losses.append(orig.loss[:, b])
            else:
                self.original_loss_line.setData([], [])
                self.original_loss_line.hide()
            self.loss_plot.enableAutoRange(axis="y")
            _few_ticks(self.loss_plot, np.concatenate(losses))
        else:
            self.loss_line.setData([], [])
            self.original_loss_line.setData([], [])
            self.original_loss_line.hide()
            set_title(self.loss_plot, "loss per step", size="8pt")

    # ----- one step ---------------------------------------------------------------------
    def show_step(self, t: int) -> None:
        for cursor in self.cursors:
            cursor.setValue(t)
        p = self.predictions
        if p is None:
            return
        self.readout.setText(self.readout_html(t))

    def readout_html(self, t: int) -> str:
        """The prediction at step t in words (with the top 5 for a text model), and the
        original run's beside it while a what-if edit is active."""
        p, b, orig = self.predictions, self.ctx.batch, self.original
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
                if orig is not None:
                    head += (f" (original p={orig.p_target[t, b]:.3f}, loss"
                             f" {orig.loss[t, b]:.2f})")
            else:
                head = f"t={read_t}: read <b>{_esc(read)}</b>; no next token (last step)"
            return f"{head} · top 5: {top}"
        y = p.outputs[t, b, 0]
        was = "" if orig is None else f" (original {orig.outputs[t, b, 0]:+.3f})"
        if p.kind == "forecast":
            if np.isfinite(p.target[t, b, 0]):
                return (f"t={read_t}: forecast x<sub>t+1</sub> = {y:+.3f}{was}, true"
                        f" {p.target[t, b, 0]:+.3f}, error {p.error[t, b, 0]:+.3f}")
            return (f"t={read_t}: forecast x<sub>t+1</sub> = {y:+.3f}{was}; no true value"
                    " (last step)")
        return f"t={read_t}: head output 0 = {y:+.3f}{was}"


def _both_runs(colour: str) -> str:
    """The label of a strip that draws both runs: dashed grey original, solid edited."""
    return (f"<span style='color:{ORIGINAL_COLOUR}'>original (dashed)</span> vs"
            f" <span style='color:{colour}'>edited (solid)</span>")


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
