"""LSTMConfig: nn.LSTM's constructor arguments, validated once, with messages a user can act on."""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .validate import field_name

if TYPE_CHECKING:  # torch is imported only by the methods that build or read modules
    import torch
    from torch import nn

_LSTM_KEY = re.compile(r"^(?P<prefix>.*?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)"
                       r"_l(?P<layer>\d+)(?P<reverse>_reverse)?$")


def reject_unknown_fields(data: Mapping[str, Any], allowed: Iterable[str], what: str,
                          list_allowed: bool = True) -> None:
    """ValueError naming the keys of ``data`` not in ``allowed`` (``what``: "LSTM config")."""
    unknown = sorted(field_name(k) for k in set(data) - set(allowed))
    if unknown:
        hint = f"; allowed: {', '.join(sorted(allowed))}" if list_allowed else ""
        raise ValueError(f"unknown {what} field(s): {', '.join(unknown)}{hint}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class LSTMConfig:
    """The arguments of ``torch.nn.LSTM``, with torch's defaults, validated on construction."""

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0

    def __post_init__(self) -> None:
        for name in ("input_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if not _is_int(value):
                raise ValueError(f"{name} must be an integer >= 1 (got {value!r})")
            if value < 1:
                raise ValueError(f"{name} must be an integer >= 1 (got {value})")
        for name in ("bias", "batch_first", "bidirectional"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False (got {value!r})")
        if not _is_int(self.proj_size):
            raise ValueError(
                f"proj_size must be an integer in [0, hidden_size - 1 = {self.hidden_size - 1}]"
                f" (got {self.proj_size!r})")
        if self.proj_size < 0:
            raise ValueError(
                f"proj_size must be >= 0 (got {self.proj_size}); use 0 for no projection")
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size must be smaller than hidden_size (got proj_size={self.proj_size}"
                f" >= hidden_size={self.hidden_size}); allowed: 0 to {self.hidden_size - 1}")
        dropout = self.dropout
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)):
            raise ValueError(f"dropout must be a number in [0, 1] (got {dropout!r})")
        if not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"dropout must be in [0, 1] (got {dropout})")
        object.__setattr__(self, "dropout", float(dropout))
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero"
                f" dropout expects num_layers greater than 1, but got dropout={self.dropout}"
                f" and num_layers={self.num_layers}", UserWarning, stacklevel=3)

    # ----- derived sizes -------------------------------------------------------------
    @property
    def num_directions(self) -> int:
        """D: 2 for a bidirectional LSTM, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def h_out(self) -> int:
        """H_out: proj_size if > 0, else hidden_size; the size of h and of output per direction."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    def layer_input_size(self, layer: int) -> int:
        """Features each direction of ``layer`` reads: input_size, then D * H_out."""
        return self.input_size if layer == 0 else self.num_directions * self.h_out

    def replace(self, **changes: Any) -> LSTMConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> LSTMConfig:
        """Build from a mapping; unknown keys are a ValueError naming them."""
        from .validate import check_config_dict
        check_config_dict(data)
        missing = [n for n in ("input_size", "hidden_size") if n not in data]
        if missing:
            raise ValueError(f"LSTM config is missing {', '.join(missing)}")
        return cls(**dict(data))

    # ----- torch ---------------------------------------------------------------------
    def build(self, device: torch.device | str | None = None,
              dtype: torch.dtype | None = None) -> nn.LSTM:
        """The ``nn.LSTM`` with these arguments, on ``device`` with ``dtype``."""
        from torch import nn

        with warnings.catch_warnings():
            # We already warned (once, on construction) about dropout with one layer.
            warnings.simplefilter("ignore", UserWarning)
            return nn.LSTM(self.input_size, self.hidden_size, num_layers=self.num_layers,
                           bias=self.bias, batch_first=self.batch_first, dropout=self.dropout,
                           bidirectional=self.bidirectional, proj_size=self.proj_size,
                           device=device, dtype=dtype)

    @classmethod
    def from_module(cls, module: nn.Module) -> LSTMConfig:
        """The config of an ``nn.LSTM`` (or of the single nn.LSTM inside ``module``)."""
        from torch import nn

        if not isinstance(module, nn.LSTM):
            found = [(name, m) for name, m in module.named_modules() if isinstance(m, nn.LSTM)]
            if len(found) != 1:
                names = ", ".join(n or "<root>" for n, _ in found) or "none"
                raise ValueError(f"expected exactly one nn.LSTM in {type(module).__name__},"
                                 f" found {len(found)}: {names}")
            module = found[0][1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return cls(input_size=module.input_size, hidden_size=module.hidden_size,
                       num_layers=module.num_layers, bias=bool(module.bias),
                       batch_first=bool(module.batch_first), dropout=float(module.dropout),
                       bidirectional=bool(module.bidirectional),
                       proj_size=int(getattr(module, "proj_size", 0)))

    @classmethod
    def from_state_dict(cls, state_dict: Mapping, prefix: str | None = None) -> LSTMConfig:
        """Infer the config from an LSTM's parameters in ``state_dict``.

        ``prefix`` picks one LSTM in a larger model (``"encoder.rnn."``); without it the state
        dict must hold exactly one. batch_first and dropout are not stored in weights, so they
        keep torch's defaults (False, 0.0).
        """
        groups = find_lstm_prefixes(state_dict)
        if prefix is None:
            if len(groups) != 1:
                listing = "; ".join(f"{p or '<root>'} ({len(k)} tensors)"
                                    for p, k in groups.items()) or "no LSTM parameter keys"
                raise ValueError(
                    f"expected one LSTM in the state dict, found {len(groups)}: {listing}."
                    + (" Pass prefix= to choose one." if groups else
                       " LSTM keys look like 'weight_ih_l0', 'weight_hh_l0', ..."))
            prefix = next(iter(groups))
        if prefix not in groups:
            listing = ", ".join(p or "<root>" for p in groups) or "none"
            raise ValueError(f"no LSTM with prefix {prefix!r} in the state dict;"
                             f" LSTMs found: {listing}")
        return _infer_config(state_dict, prefix, groups[prefix])


def find_lstm_prefixes(state_dict: Mapping) -> dict[str, list[str]]:
    """Map each prefix under which LSTM parameter keys occur to its keys, in order found."""
    groups: dict[str, list[str]] = {}
    for key in state_dict:
        m = _LSTM_KEY.match(str(key))
        if m:
            groups.setdefault(m.group("prefix"), []).append(str(key))
    return groups


def _shape(state_dict: Mapping, key: str) -> tuple[int, ...]:
    value = state_dict[key]
    return tuple(getattr(value, "shape", ()))


def _infer_config(state_dict: Mapping, prefix: str, keys: list[str]) -> LSTMConfig:
    where = prefix or "<root>"
    parsed = {}
    for key in keys:
        m = _LSTM_KEY.match(key)
        assert m is not None  # find_lstm_prefixes groups only keys that match
        parsed[(m.group("kind"), int(m.group("layer")), bool(m.group("reverse")))] = key
    layers = sorted({layer for _, layer, _ in parsed})
    num_layers = len(layers)
    if layers != list(range(num_layers)):
        raise ValueError(f"LSTM {where}: layer indices {layers} are not 0..{num_layers - 1}")
    bidirectional = any(rev for _, _, rev in parsed)
    bias = any(kind.startswith("bias") for kind, _, _ in parsed)
    has_proj = any(kind == "weight_hr" for kind, _, _ in parsed)
    first = f"{prefix}weight_ih_l0"
    if first not in state_dict or len(_shape(state_dict, first)) != 2:
        raise ValueError(f"LSTM {where}: {first} missing or not a matrix")
    four_h, input_size = _shape(state_dict, first)
    if four_h % 4:
        raise ValueError(f"LSTM {where}: {first} has {four_h} rows, not a multiple of 4"
                         " (expected 4*hidden_size)")
    hidden = four_h // 4
    proj = _shape(state_dict, f"{prefix}weight_hr_l0")[0] if has_proj else 0
    if has_proj and proj == 0:
        raise ValueError(f"LSTM {where}: weight_hr_l0 missing or empty")
    try:
        cfg = LSTMConfig(input_size=int(input_size), hidden_size=hidden, num_layers=num_layers,
                         bias=bias, bidirectional=bidirectional, proj_size=int(proj))
    except ValueError as exc:
        raise ValueError(f"LSTM {where}: inferred sizes are not a valid LSTM: {exc}") from None
    # Every expected tensor must be there with the expected shape, and nothing else: the
    # shapes nn.LSTM itself gives these arguments (built on the meta device: no memory).
    expected = {f"{prefix}{name}": tuple(param.shape)
                for name, param in cfg.build(device="meta").named_parameters()}
    problems = []
    for key, shape in expected.items():
        if key not in state_dict:
            problems.append(f"{key} missing (expected shape {shape})")
        elif _shape(state_dict, key) != shape:
            problems.append(f"{key} has shape {_shape(state_dict, key)}, expected {shape}")
    for key in keys:
        if key not in expected:
            problems.append(f"{key} unexpected for {cfg}")
    if problems:
        raise ValueError(f"LSTM {where}: inconsistent parameters: " + "; ".join(problems))
    return cfg


def lstm_state_dict(state_dict: Mapping, prefix: str) -> dict[str, torch.Tensor]:
    """The parameters of the LSTM at ``prefix``, under nn.LSTM's own names."""
    out = {}
    for key, value in state_dict.items():
        m = _LSTM_KEY.match(str(key))
        if m and m.group("prefix") == prefix:
            out[str(key)[len(prefix):]] = value
    return out
