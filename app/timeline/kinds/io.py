"""What goes in and what comes out: the input x_t (values as lines, embeddings as a heatmap,
tokens as text along its top), the head's prediction, the target it is scored against, and
the loss per step. The numbers come from ``lstm_viz.explain.predict`` through the shared strips."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF

from ...plots import CURSOR_PEN, DIVERGING
from ...strips import TARGET_PEN, TokenAxis, _mono_font, _token_text
from ..bases import EditMarks, EndHatch, draw_strips, selection_end, shared_strips
from ..registry import register
from ..track import Track, heatmap_min_height, plain, reserve_bar_column


class StripTrack(Track):
    """A track that shows one of the shared strips' plots."""

    group = "Input and output"
    plot_name = ""

    def __init__(self, ctx: Any, host: Any = None) -> None:
        super().__init__(ctx, host)
        self.strips = shared_strips(self)
        plot = getattr(self.strips, self.plot_name)
        if plot.scene() is not None:  # a track of this kind shown before: take its plot over
            owner = plot.scene().views()[0] if plot.scene().views() else None
            if owner is not None and hasattr(owner, "removeItem"):
                owner.removeItem(plot)
        self.graphics.addItem(plot, row=0, col=0)
        self.plot = plot
        self.title_in_header(plot)
        if self.kind != "input":  # the input track puts its colour bar there
            reserve_bar_column(self.graphics)
        self.marks = EditMarks(plot, rows=False)

    def close(self) -> None:
        plot = self.plot
        if plot is not None and plot.scene() is self.graphics.scene():
            self.graphics.removeItem(plot)  # the strips keep it for the next track

    def show_trace(self, trace: Any) -> None:
        draw_strips(self, trace)
        self.marks.show(self)

    def show_step(self, t: int) -> None:
        # the strips are shared: moved once a step, whichever of their tracks asks first
        key = (t, getattr(self.strips, "drawn_key", None))
        if getattr(self.strips, "shown_step", None) != key:
            self.strips.show_step(t)
            self.strips.shown_step = key


@register
class InputTrack(StripTrack):
    """x_t: up to four features as lines, more (or an embedding) as a heatmap with its colour
    bar; the characters or tokens read along the top."""

    kind = "input"
    label = "input x_t"
    plot_name = "input_plot"

    def __init__(self, ctx: Any, host: Any = None) -> None:
        super().__init__(ctx, host)
        self.bar = pg.ColorBarItem(values=(-1, 1), colorMap=DIVERGING, interactive=False,
                                   width=12)
        reserve_bar_column(self.graphics, 0, self.bar)
        self.strips.input_map.attach_bar(self.bar, "x")

    def colour_bar(self) -> pg.ColorBarItem | None:
        return self.bar if self.strips.input_map.image.isVisible() else None

    def show_trace(self, trace: Any) -> None:
        super().show_trace(trace)
        self.bar.setVisible(self.strips.input_map.image.isVisible())

    def min_height(self) -> int:
        if self.strips.input_map.image.isVisible():
            return min(heatmap_min_height(self.strips.input_map.data.shape[0]), 120)
        return super().min_height()

    def chrome_height(self) -> int:
        tokens = 22 if self.strips.tokens else 0
        return super().chrome_height() + tokens

    def summary(self) -> str:
        x = self.strips.input_map.data
        t = self.session.t
        token = self.strips.tokens[t] if t < len(self.strips.tokens) else ""
        now = f"; at t {t}: read {_token_text(token)!r}" if token else ""
        return f"{plain(self.title())} · {x.shape[0]} features{now}"

    def hover_text(self, scene_pos: QPointF) -> str:
        if self.strips.input_map.image.isVisible():
            return self.strips.input_map.reading("x", scene_pos)
        return ""

    def heatmaps(self) -> dict[str, Any]:
        return {}


class PredictionBase(StripTrack):
    """A strip that only a model with an output head fills."""

    def __init__(self, ctx: Any, host: Any = None) -> None:
        super().__init__(ctx, host)
        assert self.plot is not None
        self.hatch = EndHatch(self.plot)

    def show_trace(self, trace: Any) -> None:
        super().show_trace(trace)
        self.available = bool(self.strips.has_predictions)
        assert self.plot is not None
        self.plot.setVisible(self.available)
        end, why = selection_end(self, trace)
        self.hatch.set_end(end, why, self.session.num_steps)

    def summary(self) -> str:
        if not self.available:
            return f"{self.label}: the model has no output head, so nothing to show"
        return plain(self.strips.readout_html(self.session.t)) or plain(self.title())


@register
class PredictionTrack(PredictionBase):
    """What the head predicts at every step (forecast, or p(true next token))."""

    kind = "prediction"
    label = "prediction"
    plot_name = "pred_plot"


@register
class LossTrack(PredictionBase):
    """The loss per step of the head's prediction against the target."""

    kind = "loss"
    label = "loss per step"
    plot_name = "loss_plot"

    def summary(self) -> str:
        p = self.strips.predictions
        if p is None or p.loss is None:
            return f"{self.label}: the model's head does not predict the next input: no loss"
        loss = p.loss[:, self.ctx.batch]
        t = self.session.t - self.strips.start
        now = f"; at t {self.session.t}: {loss[t]:.3f}" if 0 <= t < len(loss) else ""
        return f"{plain(self.title())} · mean {np.nanmean(loss):.3f}{now}"


@register
class TargetTrack(Track):
    """What the head is scored against: the true next value, or the true next token as text."""

    kind = "target"
    label = "target (true next)"
    group = "Input and output"

    def __init__(self, ctx: Any, host: Any = None) -> None:
        super().__init__(ctx, host)
        self.token_axis = TokenAxis("top")
        self.token_axis.setStyle(tickLength=0, tickFont=_mono_font())
        plot = self.add_plot(axis_items={"top": self.token_axis})
        plot.getAxis("left").setStyle(maxTickLevel=0, maxTextLevel=0)
        self.line = plot.plot(pen=TARGET_PEN)
        self.line.setClipToView(True)
        self.line.setDownsampling(auto=True, method="peak")
        self.cursor = pg.InfiniteLine(0, angle=90, pen=CURSOR_PEN)
        plot.addItem(self.cursor)
        self.hatch = EndHatch(plot)
        self.marks = EditMarks(plot, rows=False)
        self._title = self.label

    def chrome_height(self) -> int:
        return super().chrome_height() + (22 if self.token_axis.tokens else 0)

    def show_trace(self, trace: Any) -> None:
        strips = draw_strips(self, trace)
        p = strips.predictions
        plot = self.plot
        assert plot is not None
        self.available = p is not None and p.kind in ("forecast", "next token")
        self.marks.show(self)
        if not self.available or p is None:
            self.line.setData([], [])
            self.token_axis.tokens = []
            return
        b = self.ctx.batch
        t = trace.start + np.arange(p.outputs.shape[0])
        if p.kind == "forecast":
            self.token_axis.tokens = []
            plot.showAxis("top", False)
            self.line.setData(t, p.target[:, b, 0], connect="finite")
            self._title = "target: the true next value x_{t+1} (feature 0)"
        else:
            # the true next token above each step; no line
            self.line.setData([], [])
            tokens = list(strips.tokens[1:]) + [""]
            self.token_axis.tokens = [tok if tok else "" for tok in tokens]
            plot.showAxis("top", True)
            self.token_axis.picture = None
            self.token_axis.update()
            self._title = "target: the true next token (text along the top)"
        plot.setTitle(self._title, size="8pt")
        end, why = selection_end(self, trace)
        self.hatch.set_end(end, why, self.session.num_steps)

    def show_step(self, t: int) -> None:
        self.cursor.setValue(t)

    def summary(self) -> str:
        if not self.available:
            return f"{self.label}: the model's head does not predict the next input"
        return self._title
