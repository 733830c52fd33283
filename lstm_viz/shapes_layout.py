"""Where the Shapes diagram's boxes, wires and labels go: ``shapes.diagram`` laid out on a plane.

input, h_0 and c_0 on the left and above, every layer and direction in columns, output, h_n
and c_n on the right and below. Text is given as styled spans so that a view only paints it;
how tall a text is comes from a ``Measure`` the view passes in (its own font metrics), or from
``estimate_height`` where there is no font.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .shapes import DIRECTION_NAMES, DiagramEdge, DiagramNode, ShapeDiagram, TensorShape

BOX_W, GAP_X, GAP_Y, BUS = 158.0, 126.0, 40.0, 30.0
COLUMN = BOX_W + GAP_X
LABEL_W = GAP_X - 24.0  # clear of the state lanes 6 px beside each column
MAX_LAYERS_DRAWN = 6
STATES_IN, STATES_OUT = ("h_0", "c_0"), ("h_n", "c_n")

# A span of text and its style: space-separated flags out of "b" (bold), "i" (italic),
# "states" (the states a layer starts from and ends in), "around" (what a model puts around
# the call: embedding, head), "current" (the mark of the box the views show), "warning".
Span = tuple[str, str]
TextRole = Literal["box", "label", "note"]


@dataclass(frozen=True)
class Text:
    """Lines of styled spans, set at one of three sizes (``role``)."""

    lines: tuple[tuple[Span, ...], ...]
    role: TextRole

    def plain(self) -> str:
        """The text without its styles, a line per line."""
        return "\n".join("".join(text for text, _ in line) for line in self.lines)


Measure = Callable[[Text, float], float]  # (text, width it wraps at) -> its height


def estimate_height(text: Text, width: float) -> float:
    """A font-free guess of ``text``'s height wrapped at ``width`` (about 9 pt text)."""
    px = 10.7 if text.role == "label" else 12.0
    per_line = max(int(width / (0.55 * px)), 1)
    lines = sum(max(-(-len("".join(t for t, _ in line)) // per_line), 1) for line in text.lines)
    return lines * px * 1.35 + 8.0


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle, y growing downwards."""

    x: float
    y: float
    width: float
    height: float

    @property
    def left(self) -> float:
        return self.x

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def top(self) -> float:
        return self.y

    @property
    def bottom(self) -> float:
        return self.y + self.height

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.width / 2, self.y + self.height / 2)

    def intersects(self, other: Rect) -> bool:
        """Whether the two overlap by more than a touching edge."""
        return (self.left < other.right and other.left < self.right
                and self.top < other.bottom and other.top < self.bottom)


Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    """A node drawn as a rounded box; its text starts 5 px right of and 3 px below its corner."""

    id: str
    node: DiagramNode
    rect: Rect
    text: Text
    changed: bool  # its tensor changed with the last config change
    current: bool  # the layer and direction the other views show

    @property
    def text_width(self) -> float:
        return self.rect.width - 10


@dataclass(frozen=True)
class Wire:
    """A polyline; ``role`` "state" (h/c to and from the buses), "bus" or "data"."""

    points: tuple[Point, ...]
    role: Literal["state", "bus", "data"]
    tip: str = ""
    arrow: bool = True
    width: float = 1.4


@dataclass(frozen=True)
class Label:
    """A text in a free lane between columns, its top-left corner at (x, y)."""

    x: float
    y: float
    width: float
    text: Text
    tip: str = ""


@dataclass(frozen=True)
class DiagramLayout:
    """Everything a view paints: boxes, wires, junction dots and labels, in scene units."""

    boxes: dict[str, Box]
    wires: tuple[Wire, ...]
    dots: tuple[Point, ...]  # where several sources meet before a layer (nn.LSTM's concat)
    labels: tuple[Label, ...]  # the edges' labels, then the layout note if there is one
    data_edges: tuple[tuple[str, str], ...]  # (source, target) of the data path as drawn


def drawn_layers(num_layers: int) -> list[int]:
    """The layers drawn: all, or the first few and the last one of a deep stack."""
    if num_layers <= MAX_LAYERS_DRAWN:
        return list(range(num_layers))
    return [*range(MAX_LAYERS_DRAWN - 1), num_layers - 1]


def shape_spans(shape: TensorShape, style: str = "") -> tuple[Span, ...]:
    """``(seq_len=10, batch=3, …)`` with the sizes in bold."""
    bold = (style + " b").strip()
    spans: list[Span] = [("(", style)]
    for i, d in enumerate(shape.dims):
        if i:
            spans.append((", ", style))
        spans += [(d.name, style), (f"={d.size}", bold)]
        if d.formula and d.formula != str(d.size):
            spans.append((f" = {d.formula}", style))
    spans.append((")", style))
    return tuple(spans)


def _sizes(shape: Iterable[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _short(edge: DiagramEdge) -> str:
    return edge.label.split(":")[0]


@dataclass
class _Lanes:
    """The wanted labels of each gap between columns: (y, text, tooltip)."""

    wanted: dict[int, list[tuple[float, str, str]]] = field(default_factory=dict)

    def want(self, gap: int, y: float, text: str, tip: str) -> None:
        lane = self.wanted.setdefault(gap, [])
        if not any(w[1] == text for w in lane):
            lane.append((y, text, tip))


class _Layout:
    """One layout being built: the boxes first, then the wires and labels between them."""

    def __init__(self, dg: ShapeDiagram, changed: Iterable[str], current: str,
                 measure: Measure) -> None:
        self.dg, self.changed, self.current, self.measure = dg, set(changed), current, measure
        self.boxes: dict[str, Box] = {}
        self.wires: list[Wire] = []
        self.dots: list[Point] = []
        self.data_edges: list[tuple[str, str]] = []
        self.lanes = _Lanes()
        self.layers = drawn_layers(dg.config.num_layers)
        self.directions = DIRECTION_NAMES[: dg.config.num_directions]

    # ----- boxes ---------------------------------------------------------------------------
    def box(self, nid: str, x: float, y: float, body: Sequence[tuple[Span, ...]],
            centred: bool = False) -> Rect:
        node = self.dg.nodes[nid]
        current = nid == self.current
        title: list[tuple[Span, ...]] = [((node.title, "b"),)]
        if current:
            title.append((("◀ shown in the views", "current"),))
        text = Text(tuple(title) + tuple(body), "box")
        height = self.measure(text, BOX_W - 10) + 6
        rect = Rect(x, y - height / 2 if centred else y, BOX_W, height)
        self.boxes[nid] = Box(nid, node, rect, text, nid in self.changed, current)
        return rect

    def state_box(self, nid: str, x: float, y: float) -> Rect:
        return self.box(nid, x, y, [shape_spans(self.dg.nodes[nid].shape)])

    def layer_body(self, nid: str, d: int) -> list[tuple[Span, ...]]:
        cfg = self.dg.config
        states_in = ", ".join(_short(e) for e in self.dg.edges_into(nid) if e.source in STATES_IN)
        states_out = ", ".join(_short(e) for e in self.dg.edges_from(nid)
                               if e.target in STATES_OUT)
        body: list[tuple[Span, ...]] = [
            (("reads t = T−1 … 0" if d else "reads t = 0 … T−1", ""),),
            (("h_t: ", ""), *shape_spans(self.dg.nodes[nid].shape)),
        ]
        if cfg.proj_size:
            body.append(((f"W_hr: {cfg.hidden_size} → {cfg.proj_size} (h has"
                          f" {cfg.proj_size} features)", ""),))
        body.append(((f"{states_in} → {states_out}", "states"),))
        return body

    def layer_columns(self, y0: float) -> float:
        """Every drawn layer's directions in a column; returns the lowest box's bottom."""
        rows_bottom = y0
        for j, k in enumerate(self.layers):
            y = y0
            for d, name in enumerate(self.directions):
                nid = f"layer{k}.{name}"
                rect = self.box(nid, COLUMN * (j + 1), y, self.layer_body(nid, d))
                y = rect.bottom + GAP_Y
                rows_bottom = max(rows_bottom, rect.bottom)
        return rows_bottom

    # ----- wires ---------------------------------------------------------------------------
    def wire(self, points: Sequence[Point], role: Literal["state", "bus", "data"],
             tip: str = "", arrow: bool = True, width: float = 1.4) -> None:
        self.wires.append(Wire(tuple(points), role, tip, arrow, width))

    def state_tips(self, nid: str) -> tuple[str, str]:
        tip_in = "; ".join(f"{e.label} {e.shape.describe()}" for e in self.dg.edges_into(nid)
                           if e.source in STATES_IN)
        tip_out = "; ".join(f"{e.label} {e.shape.describe()}" for e in self.dg.edges_from(nid)
                            if e.target in STATES_OUT)
        return tip_in, tip_out

    def state_wires(self, bus_top: float, bus_bottom: float) -> None:
        """h_0, c_0 down into the top bus and on into every box; every box down to the bottom
        bus and up into h_n, c_n. A forward box's way down passes beside the reverse box
        below it; a reverse box's way in passes beside the forward box above it."""
        b = self.boxes
        for nid in STATES_IN:
            x = b[nid].rect.centre[0]
            self.wire([(x, b[nid].rect.bottom), (x, bus_top)], "state", arrow=False)
        for nid in STATES_OUT:
            x = b[nid].rect.centre[0]
            self.wire([(x, bus_bottom), (x, b[nid].rect.top)], "state")
        xs_top, xs_bottom = [b["h_0"].rect.centre[0]], [b["c_n"].rect.centre[0]]
        bidirectional = len(self.directions) == 2
        for k in self.layers:
            for d, name in enumerate(self.directions):
                r = b[f"layer{k}.{name}"].rect
                tip_in, tip_out = self.state_tips(f"layer{k}.{name}")
                xa, xb = r.left + 22, r.right - 22
                if d == 0:
                    self.wire([(xa, bus_top), (xa, r.top)], "state", tip_in)
                    xs_top.append(xa)
                else:
                    xl, ya = r.left - 6, r.top - GAP_Y / 3
                    self.wire([(xl, bus_top), (xl, ya), (xa, ya), (xa, r.top)], "state", tip_in)
                    xs_top.append(xl)
                if d == 0 and bidirectional:
                    yb, xl = r.bottom + GAP_Y / 3, r.right + 6
                    self.wire([(xb, r.bottom), (xb, yb), (xl, yb), (xl, bus_bottom)], "state",
                              tip_out, arrow=False)
                    xs_bottom.append(xl)
                else:
                    self.wire([(xb, r.bottom), (xb, bus_bottom)], "state", tip_out, arrow=False)
                    xs_bottom.append(xb)
        for y, xs in ((bus_top, xs_top), (bus_bottom, xs_bottom)):
            self.wire([(min(xs), y), (max(xs), y)], "bus", arrow=False, width=2.2)

    def data_step(self, j: int, previous: list[str], mid: float) -> list[str]:
        """The wires into the j-th drawn layer: one junction where every box of the layer reads
        the same sources (nn.LSTM's concatenation), else a wire per edge."""
        k = self.layers[j]
        targets = [f"layer{k}.{n}" for n in self.directions]
        incoming = {t: [e for e in self.dg.edges_into(t) if e.source not in STATES_IN]
                    for t in targets}
        skipped = j > 0 and self.layers[j - 1] != k - 1
        sources = previous if skipped else list(dict.fromkeys(
            e.source for t in targets for e in incoming[t]))
        junction = (COLUMN * j + BOX_W + GAP_X * 0.25, mid)
        shared = skipped or all({e.source for e in incoming[t]} == set(sources)
                                for t in targets)
        if shared:
            self.joined(sources, targets, junction, {t: "" if skipped else "; ".join(
                e.label for e in incoming[t]) for t in targets})
        else:
            for t in targets:
                for e in incoming[t]:
                    self.data_edges.append((e.source, t))
                    self.wire([self.out_port(e.source), self.in_port(t)], "data", e.label)
        if skipped:
            hidden = self.dg.config.num_layers - len(self.layers)
            self.lanes.want(j, mid, f"… {hidden} more layer(s) not drawn …", "")
        else:
            for t in targets:
                for e in incoming[t]:
                    self.lanes.want(j, mid, e.label, e.shape.describe())
        return targets

    def joined(self, sources: list[str], targets: list[str], junction: Point,
               tips: Mapping[str, str]) -> None:
        self.data_edges += [(s, t) for t in targets for s in sources]
        for s in sources:
            self.wire([self.out_port(s), junction], "data", arrow=False)
        for t in targets:
            self.wire([junction, self.in_port(t)], "data", tips[t])
        if len(sources) > 1:
            self.dots.append(junction)

    def out_port(self, nid: str) -> Point:
        r = self.boxes[nid].rect
        return (r.right, r.centre[1])

    def in_port(self, nid: str) -> Point:
        r = self.boxes[nid].rect
        return (r.left, r.centre[1])

    def data_path(self, mid: float) -> None:
        """input → layer 0 → … → output, as the diagram's edges say."""
        previous = ["input"]
        for j in range(len(self.layers)):
            previous = self.data_step(j, previous, mid)
        out = self.boxes["output"].rect
        for edge in self.dg.edges_into("output"):
            sx, sy = self.out_port(edge.source)
            self.data_edges.append((edge.source, "output"))
            self.wire([(sx, sy), (out.left, out.centre[1] + (sy - mid) * 0.15)], "data",
                      edge.label)
            self.lanes.want(len(self.layers), sy, edge.label, edge.shape.describe())

    # ----- labels --------------------------------------------------------------------------
    def labels(self) -> list[Label]:
        """Each lane's labels, each as near its wanted y as the ones above it allow."""
        placed: list[Label] = []
        for gap, wanted in self.lanes.wanted.items():
            x, bottom = COLUMN * gap + BOX_W + 12, -1e9
            for y, words, tip in sorted(wanted, key=lambda w: w[0]):
                text = Text((((words, ""),),), "label")
                height = self.measure(text, LABEL_W)
                top = max(y - height / 2, bottom + 2)
                placed.append(Label(x, top, LABEL_W, text, tip))
                bottom = top + height
        return placed


def _around_spans(around: Mapping[str, TensorShape], lengths: Sequence[int] | None
                  ) -> tuple[list[tuple[Span, ...]], list[tuple[Span, ...]],
                             list[tuple[Span, ...]]]:
    """The lines written into the input box before and after its shape, and into the output
    box: the embedding, the packing and the head a model puts around the call."""
    before: list[tuple[Span, ...]] = []
    packed: list[tuple[Span, ...]] = []
    after: list[tuple[Span, ...]] = []
    if "embedding.weight" in around:
        before.append(((f"← Embedding{_sizes(around['embedding.weight'])} of tokens ",
                        "around"), *shape_spans(around["tokens"], "around")))
    if lengths and len(set(lengths)) > 1:
        packed.append(((f"packed: lengths {', '.join(str(n) for n in lengths)}", "i"),))
    if "packed input.data" in around:  # its data's size says the lengths
        packed = [(("PackedSequence: data ", "i"), *shape_spans(around["packed input.data"], "i"),
                   (", batch_sizes ", "i"),
                   *shape_spans(around["packed input.batch_sizes"], "i"))]
        after.append((("packed: data ", "i"), *shape_spans(around["packed output.data"], "i")))
    if "head.weight" in around:
        after.append(((f"→ head Linear{_sizes(tuple(around['head.weight'])[::-1])}: ",
                       "around"), *shape_spans(around["head output"], "around")))
    return before, packed, after


def layout_diagram(dg: ShapeDiagram, *, changed: Iterable[str] = (), current: str = "",
                   around: Mapping[str, TensorShape] | None = None,
                   lengths: Sequence[int] | None = None,
                   measure: Measure = estimate_height) -> DiagramLayout:
    """Lay out ``dg``: boxes whose tensor ``changed`` are flagged, the box ``current`` (a layer
    node id) is the one the views show. ``around``: ``model_shapes`` of the call, whose
    embedding, packing and head are written into the input and output boxes; ``lengths``: the
    batch's sequence lengths."""
    lay = _Layout(dg, changed, current, measure)
    h0 = lay.state_box("h_0", 0, 0)
    c0 = lay.state_box("c_0", COLUMN, 0)
    bus_top = max(h0.bottom, c0.bottom) + BUS / 2
    y0 = bus_top + BUS
    rows_bottom = lay.layer_columns(y0)
    mid = (y0 + rows_bottom) / 2
    x_out = COLUMN * (len(lay.layers) + 1)
    before, packed, after = _around_spans(around or {}, lengths)
    lay.box("input", 0, mid, [*before, shape_spans(dg.nodes["input"].shape), *packed],
            centred=True)
    lay.box("output", x_out, mid, [shape_spans(dg.nodes["output"].shape), *after],
            centred=True)
    bus_bottom = rows_bottom + BUS
    hn = lay.state_box("h_n", x_out - COLUMN, bus_bottom + BUS / 2)
    cn = lay.state_box("c_n", x_out, bus_bottom + BUS / 2)
    lay.state_wires(bus_top, bus_bottom)
    lay.data_path(mid)
    labels = lay.labels()
    if dg.layout_note:
        note = Text(((("caller vs kernel layout:", "b warning"),
                      (" " + dg.layout_note, "warning")),), "note")
        labels.append(Label(0, max(hn.bottom, cn.bottom) + 10,
                            max(x_out - COLUMN - 20, BOX_W), note))
    return DiagramLayout(lay.boxes, tuple(lay.wires), tuple(lay.dots), tuple(labels),
                         tuple(lay.data_edges))
