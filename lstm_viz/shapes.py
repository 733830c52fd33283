"""The shape calculus: every tensor of an nn.LSTM call, its shape, and what each dimension means."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from .config import LSTMConfig


@dataclass(frozen=True)
class Dim:
    """One dimension: its meaning (``"batch"``), its size, and how the size arises (``"2*20"``)."""

    name: str
    size: int
    formula: str = ""

    def __str__(self) -> str:
        if self.formula and self.formula != str(self.size):
            return f"{self.name}={self.formula}={self.size}"
        return f"{self.name}={self.size}"


class TensorShape(tuple):
    """A shape tuple that also knows what each dimension means (``.dims``) and a note."""

    dims: tuple[Dim, ...]
    note: str

    def __new__(cls, dims: Iterable[Dim], note: str = "") -> TensorShape:
        obj = super().__new__(cls, (d.size for d in dims))
        obj.dims = tuple(dims)
        obj.note = note
        return obj

    def describe(self) -> str:
        """E.g. ``(seq_len=10, batch=3, D*H_out=2*20)``."""
        return "(" + ", ".join(str(d) for d in self.dims) + ")"

    def __reduce__(self) -> tuple[type[TensorShape], tuple[tuple[Dim, ...], str]]:
        return (TensorShape, (self.dims, self.note))


def _dir_suffixes(cfg: LSTMConfig) -> list[str]:
    return ["", "_reverse"][: cfg.num_directions]


def parameter_shapes(cfg: LSTMConfig) -> OrderedDict[str, TensorShape]:
    """Every parameter under its torch name, in ``nn.LSTM``'s registration order."""
    H, P, D = cfg.hidden_size, cfg.proj_size, cfg.num_directions
    out: OrderedDict[str, TensorShape] = OrderedDict()
    for layer in range(cfg.num_layers):
        for sfx in _dir_suffixes(cfg):
            if layer == 0:
                in_dim = Dim("input_size", cfg.input_size)
            else:
                in_dim = Dim("D*H_out", D * cfg.h_out, f"{D}*{cfg.h_out}")
            rec = Dim("proj_size", P) if P else Dim("hidden_size", H)
            gates = Dim("4*hidden_size", 4 * H, f"4*{H}")
            name = f"_l{layer}{sfx}"
            direction = "reverse" if sfx else "forward"
            where = f"layer {layer}, {direction} direction"
            out["weight_ih" + name] = TensorShape(
                (gates, in_dim), f"{where}: input-to-hidden weights of gates i, f, g, o stacked")
            out["weight_hh" + name] = TensorShape(
                (gates, rec), f"{where}: hidden-to-hidden weights of gates i, f, g, o stacked")
            if cfg.bias:
                out["bias_ih" + name] = TensorShape((gates,), f"{where}: input-to-hidden bias")
                out["bias_hh" + name] = TensorShape((gates,), f"{where}: hidden-to-hidden bias")
            if P:
                out["weight_hr" + name] = TensorShape(
                    (Dim("proj_size", P), Dim("hidden_size", H)),
                    f"{where}: projection h_t = W_hr (o_t * tanh(c_t))")
    return out


def _batch_dims(cfg: LSTMConfig, batch_size: int | None, seq_len: int, last: Dim) -> tuple:
    seq = Dim("seq_len", seq_len)
    if batch_size is None:
        return (seq, last)
    batch = Dim("batch", batch_size)
    return (batch, seq, last) if cfg.batch_first else (seq, batch, last)


def tensor_shapes(cfg: LSTMConfig, batch_size: int | None, seq_len: int
                  ) -> OrderedDict[str, TensorShape]:
    """input, h_0, c_0, output, h_n, c_n for one call; ``batch_size=None`` means unbatched."""
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be an integer >= 1 or None (got {batch_size!r})")
    if not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be an integer >= 1 (got {seq_len!r})")
    D, H, L = cfg.num_directions, cfg.hidden_size, cfg.num_layers
    layers = Dim("D*num_layers", D * L, f"{D}*{L}")
    state_h = (layers, Dim("H_out", cfg.h_out)) if batch_size is None else \
        (layers, Dim("batch", batch_size), Dim("H_out", cfg.h_out))
    state_c = (layers, Dim("hidden_size", H)) if batch_size is None else \
        (layers, Dim("batch", batch_size), Dim("hidden_size", H))
    bf = " (batch_first puts batch first)" if cfg.batch_first and batch_size else ""
    never_bf = "; batch_first never changes it" if batch_size else ""
    proj = f"; proj_size={cfg.proj_size} shrinks H_out" if cfg.proj_size else ""
    out: OrderedDict[str, TensorShape] = OrderedDict()
    out["input"] = TensorShape(
        _batch_dims(cfg, batch_size, seq_len, Dim("input_size", cfg.input_size)),
        "the sequence fed in" + bf)
    out["h_0"] = TensorShape(state_h, "initial hidden state per layer and direction" + never_bf)
    out["c_0"] = TensorShape(state_c, "initial cell state; never projected" + never_bf)
    out["output"] = TensorShape(
        _batch_dims(cfg, batch_size, seq_len, Dim("D*H_out", D * cfg.h_out, f"{D}*{cfg.h_out}")),
        "h_t of the last layer at every step, directions concatenated" + bf + proj)
    out["h_n"] = TensorShape(state_h, "final hidden state of every layer and direction"
                             + never_bf + proj)
    out["c_n"] = TensorShape(state_c, "final cell state; never projected" + never_bf)
    return out


def model_shapes(cfg: LSTMConfig, batch_size: int | None, seq_len: int, *,
                 vocab_size: int | None = None, head_out: int | None = None,
                 lengths: Iterable[int] | None = None) -> OrderedDict[str, TensorShape]:
    """The call's tensors (``tensor_shapes``) with what a model puts around it, in data order.

    ``vocab_size``: token ids go through ``nn.Embedding(vocab_size, input_size)`` first
    (``tokens``, ``embedding.weight``). ``head_out``: ``nn.Linear(D*H_out, head_out)`` reads
    output at every step (``head.weight``, ``head output``). ``lengths`` of a batch whose
    sequences differ in length: the call runs on ``pack_padded_sequence(input, lengths)``
    (``packed input.data``, ``packed input.batch_sizes``, ``packed output.data``)."""
    call = tensor_shapes(cfg, batch_size, seq_len)
    D, H_out = cfg.num_directions, cfg.h_out
    out: OrderedDict[str, TensorShape] = OrderedDict()
    if vocab_size is not None:
        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size must be an integer >= 1 (got {vocab_size!r})")
        seq = Dim("seq_len", seq_len)
        ids = (seq,) if batch_size is None else \
            (Dim("batch", batch_size), seq) if cfg.batch_first else (seq, Dim("batch", batch_size))
        out["tokens"] = TensorShape(ids, "token ids (integers below num_embeddings)")
        out["embedding.weight"] = TensorShape(
            (Dim("num_embeddings", vocab_size), Dim("embedding_dim", cfg.input_size)),
            "nn.Embedding: row k is token k's input vector; tokens → input")
    out["input"] = call["input"]
    packed = None if lengths is None else [int(n) for n in lengths]
    if packed is not None and batch_size is not None and len(set(packed)) > 1:
        if len(packed) != batch_size or not all(1 <= n <= seq_len for n in packed):
            raise ValueError(f"lengths must give each of the {batch_size} sequences a length in"
                             f" 1..{seq_len} (got {packed})")
        total = Dim("sum(lengths)", sum(packed), "+".join(str(n) for n in packed))
        out["packed input.data"] = TensorShape(
            (total, Dim("input_size", cfg.input_size)),
            "pack_padded_sequence(input, lengths): only the valid steps, step by step")
        out["packed input.batch_sizes"] = TensorShape(
            (Dim("max(lengths)", max(packed)),),
            "how many sequences are still running at each step (on the CPU, int64)")
    out["h_0"], out["c_0"], out["output"] = call["h_0"], call["c_0"], call["output"]
    if "packed input.data" in out:
        out["packed output.data"] = TensorShape(
            (out["packed input.data"].dims[0], Dim("D*H_out", D * H_out, f"{D}*{H_out}")),
            "output as nn.LSTM returns it for packed input; pad_packed_sequence gives the"
            " padded output back, zeros past each sequence's end")
    out["h_n"], out["c_n"] = call["h_n"], call["c_n"]
    if head_out is not None:
        if not isinstance(head_out, int) or head_out < 1:
            raise ValueError(f"head_out must be an integer >= 1 (got {head_out!r})")
        features = Dim("D*H_out", D * H_out, f"{D}*{H_out}")
        out["head.weight"] = TensorShape(
            (Dim("out_features", head_out), features),
            "nn.Linear on output at every step (logits for a text model)")
        out["head output"] = TensorShape(
            _batch_dims(cfg, batch_size, seq_len, Dim("out_features", head_out)),
            "head(output): one prediction per step")
    return out


def all_shapes(cfg: LSTMConfig, batch_size: int | None, seq_len: int
           ) -> OrderedDict[str, TensorShape]:
    """Every tensor of ``lstm(input, (h_0, c_0))``: the six call tensors, then every parameter."""
    out = tensor_shapes(cfg, batch_size, seq_len)
    out.update(parameter_shapes(cfg))
    return out


def parameter_count(cfg: LSTMConfig) -> int:
    """Total number of learnable scalars (``sum(p.numel() for p in lstm.parameters())``)."""
    H, P, D = cfg.hidden_size, cfg.proj_size, cfg.num_directions
    total = 0
    for layer in range(cfg.num_layers):
        # weight_ih, weight_hh, the two biases, weight_hr: for each direction
        per_direction = 4 * H * (cfg.layer_input_size(layer) + (P or H))
        per_direction += 8 * H if cfg.bias else 0
        per_direction += P * H
        total += D * per_direction
    return total


def shape_facts(cfg: LSTMConfig) -> list[str]:
    """The facts people get wrong, phrased for this config."""
    D = cfg.num_directions
    facts = [
        "batch_first changes input and output only; h_0, c_0, h_n, c_n are always "
        "(D*num_layers, batch, ...).",
    ]
    if cfg.bidirectional:
        facts.append(
            f"bidirectional doubles output's last dimension (D*H_out = {D}*{cfg.h_out}) and h_n's"
            f" first (D*num_layers = {D}*{cfg.num_layers}); output[..., :H_out] is the forward"
            " direction, output[..., H_out:] the reverse one, whose final state is at t=0.")
    else:
        facts.append("bidirectional=True would double output's last dimension and h_n's first.")
    if cfg.proj_size:
        facts.append(
            f"proj_size={cfg.proj_size} shrinks h and output to {cfg.proj_size} features, but c"
            f" keeps hidden_size={cfg.hidden_size}.")
    else:
        facts.append("proj_size > 0 would shrink h and output (not c) to proj_size features.")
    if not cfg.bidirectional:
        facts.append("For full-length sequences output[-1] (output[:, -1] with batch_first)"
                     " equals h_n[-1].")
    return facts


@dataclass(frozen=True)
class DiagramNode:
    """A box of the diagram: a tensor of the call or one layer and direction of the kernel."""

    id: str
    kind: str  # "tensor" (input, output), "state" (h_0, c_0, h_n, c_n) or "layer"
    title: str
    shape: TensorShape
    explanation: str
    layer: int | None = None
    direction: int | None = None


@dataclass(frozen=True)
class DiagramEdge:
    """What flows from ``source`` to ``target``: its shape and a label saying what it is.

    ``layout`` is ``"caller"`` for the caller's own tensors (input, output, the states) and
    ``"kernel"`` for what passes between layers inside nn.LSTM (always time-major)."""

    source: str
    target: str
    shape: TensorShape
    label: str
    layout: str
    group: str = ""  # edges of one group carry the same tensor (drawn with one label)


@dataclass(frozen=True)
class ShapeDiagram:
    """nn.LSTM unrolled over layers and directions as nn.LSTM wires them."""

    config: LSTMConfig
    batch_size: int | None
    seq_len: int
    nodes: dict[str, DiagramNode]
    edges: tuple[DiagramEdge, ...]
    layout_note: str  # where the caller's layout differs from the kernel's ('' if nowhere)

    def edges_into(self, node_id: str) -> list[DiagramEdge]:
        """The edges that end at ``node_id``, in order."""
        return [e for e in self.edges if e.target == node_id]

    def edges_from(self, node_id: str) -> list[DiagramEdge]:
        """The edges that start at ``node_id``, in order."""
        return [e for e in self.edges if e.source == node_id]


DIRECTION_NAMES = ("forward", "reverse")


def layer_node_id(layer: int, direction: int) -> str:
    """``layer{k}.forward`` / ``layer{k}.reverse``."""
    return f"layer{layer}.{DIRECTION_NAMES[direction]}"


def diagram(cfg: LSTMConfig, batch_size: int | None, seq_len: int) -> ShapeDiagram:
    """Nodes and edges of ``nn.LSTM(**cfg)(input, (h_0, c_0))`` with every edge's shape.

    Layer k+1 of each direction reads both directions of layer k concatenated (D*H_out
    features); h_0/c_0 give each layer and direction its slice ``[k*D + d]``; h_n/c_n gather
    each one's final step; output concatenates the last layer's directions."""
    ts = tensor_shapes(cfg, batch_size, seq_len)
    L, D, H, H_out, P = (cfg.num_layers, cfg.num_directions, cfg.hidden_size, cfg.h_out,
                         cfg.proj_size)
    batched = batch_size is not None
    bf = cfg.batch_first and batched
    nodes: dict[str, DiagramNode] = {}
    edges: list[DiagramEdge] = []
    where = "batch_first: (batch, seq_len, …)" if bf else "(seq_len, batch, …)" \
        if batched else "unbatched: (seq_len, …)"
    nodes["input"] = DiagramNode("input", "tensor", "input", ts["input"],
                                 f"the sequence fed in, caller's layout {where}")
    nodes["h_0"] = DiagramNode("h_0", "state", "h_0", ts["h_0"],
                               "initial hidden state, one slice per layer and direction"
                               " (zeros when not given)")
    nodes["c_0"] = DiagramNode("c_0", "state", "c_0", ts["c_0"],
                               "initial cell state, one slice per layer and direction"
                               " (never projected)")

    def seq(last: Dim, caller: bool) -> TensorShape:
        if caller:
            return TensorShape(_batch_dims(cfg, batch_size, seq_len, last))
        t = Dim("seq_len", seq_len)
        dims = (t, Dim("batch", batch_size), last) if batch_size is not None else (t, last)
        return TensorShape(dims, "time-major inside the kernel")

    def state_slice(last: Dim) -> TensorShape:
        return TensorShape((Dim("batch", batch_size), last) if batch_size is not None
                           else (last,))

    h_dim = Dim("proj_size", P) if P else Dim("hidden_size", H)
    concat = Dim("D*H_out", D * H_out, f"{D}*{H_out}")
    dropout = (f"; dropout p={cfg.dropout:g} on it (training only)"
               if cfg.dropout > 0 and L > 1 else "")
    for k in range(L):
        for d in range(D):
            nid = layer_node_id(k, d)
            idx = k * D + d
            reads = "t = T−1 … 0" if d else "t = 0 … T−1"
            proj = (f"; h_t = W_hr (o_t ⊙ tanh c_t): hidden_size {H} → proj_size {P}"
                    if P else "")
            nodes[nid] = DiagramNode(
                nid, "layer", f"layer {k} · {DIRECTION_NAMES[d]}", seq(h_dim, caller=False),
                f"reads {reads}; gates i, f, g, o: 4*hidden_size = {4 * H}; weight_ih"
                f" ({4 * H}, {cfg.layer_input_size(k)}); c_t has {H} units{proj};"
                f" starts from h_0[{idx}], c_0[{idx}], ends in h_n[{idx}], c_n[{idx}]",
                layer=k, direction=d)
            if k == 0:
                label = ("input in the caller's layout " + where
                         + ("; the kernel reads it time-major (seq_len, batch, …)"
                            if bf else ""))
                edges.append(DiagramEdge("input", nid, ts["input"], label, "caller", "input"))
            else:
                label = (f"layer {k - 1}'s forward and reverse h_t concatenated (D*H_out ="
                         f" {D}*{H_out}), time-major" if D == 2 else
                         f"layer {k - 1}'s h_t, time-major") + dropout
                for s in range(D):
                    edges.append(DiagramEdge(layer_node_id(k - 1, s), nid,
                                             seq(concat, caller=False), label, "kernel",
                                             f"layer{k}"))
            edges.append(DiagramEdge("h_0", nid, state_slice(Dim("H_out", H_out)),
                                     f"h_0[{idx}]", "caller", "h_0"))
            edges.append(DiagramEdge("c_0", nid, state_slice(Dim("hidden_size", H)),
                                     f"c_0[{idx}]", "caller", "c_0"))
    nodes["output"] = DiagramNode(
        "output", "tensor", "output", ts["output"],
        "the last layer's h_t at every step" + (", forward and reverse concatenated"
                                                if D == 2 else "")
        + f", caller's layout {where}" + (f"; proj_size {P} features per direction" if P
                                           else ""))
    end = "each sequence's last valid step" + ("; reverse: t = 0" if D == 2 else "")
    nodes["h_n"] = DiagramNode("h_n", "state", "h_n", ts["h_n"],
                               f"final hidden state of every layer and direction ({end})")
    nodes["c_n"] = DiagramNode("c_n", "state", "c_n", ts["c_n"],
                               f"final cell state of every layer and direction ({end})")
    for d in range(D):
        nid = layer_node_id(L - 1, d)
        lo, hi = d * H_out, (d + 1) * H_out
        edges.append(DiagramEdge(nid, "output", seq(Dim("H_out", H_out), caller=True),
                                 f"output[..., {lo}:{hi}] ({DIRECTION_NAMES[d]})"
                                 + (" in the caller's layout " + where if bf else ""),
                                 "caller", f"output{d}"))
    for k in range(L):
        for d in range(D):
            nid, idx = layer_node_id(k, d), k * D + d
            step = "t = 0" if d else "t = T−1"
            edges.append(DiagramEdge(nid, "h_n", state_slice(Dim("H_out", H_out)),
                                     f"h_n[{idx}]: h at {step}", "caller", "h_n"))
            edges.append(DiagramEdge(nid, "c_n", state_slice(Dim("hidden_size", H)),
                                     f"c_n[{idx}]: c at {step}", "caller", "c_n"))
    note = ("batch_first: input and output are (batch, seq_len, …) for you; between layers the"
            " kernel runs time-major (seq_len, batch, …); h_0, c_0, h_n, c_n are"
            " (D*num_layers, batch, …) either way") if bf else ""
    return ShapeDiagram(cfg, batch_size, seq_len, nodes, tuple(edges), note)
