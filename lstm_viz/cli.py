"""The engine's command line: ``lstm-viz shapes ...``. ``add_commands`` puts the engine's
subcommands into a parser tree (app/cli.py's, whose ``lstm-viz`` holds them all);
``python -m lstm_viz`` runs them alone, without Qt.

Bad input: one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from .config import LSTMConfig
from .shapes import all_shapes, parameter_count, shape_facts, tensor_shapes
from .validate import MAX_NUM_LAYERS, Int


class UsageError(Exception):
    """Bad command-line input; printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), not the whole usage."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(f"{self.prog}: {message} (see --help)")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks and ends every option's help with its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (not action.option_strings or action.required or "default" in text
                or action.default is argparse.SUPPRESS):
            return text
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            default = "on" if action.default else "off"
        elif action.default is None:
            default = "none"
        else:
            default = "%(default)s"
        return f"{text} (default: {default})"


def _add_config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("nn.LSTM arguments")
    g.add_argument("--input-size", type=int, required=True, help="features per timestep")
    g.add_argument("--hidden-size", type=int, required=True, help="units in h and c")
    g.add_argument("--num-layers", type=int, default=1, help="stacked LSTM layers")
    g.add_argument("--no-bias", action="store_true", help="bias=False: no b_ih, b_hh")
    g.add_argument("--batch-first", action="store_true",
                   help="batch_first=True: input and output are (batch, seq, feature)")
    g.add_argument("--dropout", type=float, default=0.0,
                   help="dropout between layers (training only)")
    g.add_argument("--bidirectional", action="store_true",
                   help="a reverse direction too (D = 2)")
    g.add_argument("--proj-size", type=int, default=0,
                   help="project h to this size (0: no projection)")


def config_from_args(args: argparse.Namespace) -> LSTMConfig:
    # Refused before anything is listed: the shape table has a row per layer and direction.
    if args.num_layers > MAX_NUM_LAYERS:
        Int(1, MAX_NUM_LAYERS).check(args.num_layers, "--num-layers")
    return LSTMConfig(input_size=args.input_size, hidden_size=args.hidden_size,
                      num_layers=args.num_layers, bias=not args.no_bias,
                      batch_first=args.batch_first, dropout=args.dropout,
                      bidirectional=args.bidirectional, proj_size=args.proj_size)


SHAPES_EXAMPLES = """examples:
  lstm-viz shapes --input-size 3 --hidden-size 8 --seq-len 10 --batch 4
  lstm-viz shapes --input-size 10 --hidden-size 20 --num-layers 2 --bidirectional \\
                  --proj-size 5 --seq-len 7 --unbatched --json
"""


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the engine's subcommands (``shapes``) to the subparsers ``sub`` of a parser tree."""
    p = sub.add_parser("shapes", help="print the shape of every tensor of an nn.LSTM call",
                       description="Print input, h_0, c_0, output, h_n, c_n and every"
                                   " parameter's shape, with what each dimension means.",
                       epilog=SHAPES_EXAMPLES, formatter_class=HelpFormatter)
    _add_config_args(p)
    p.add_argument("--seq-len", type=int, required=True, help="timesteps in the input")
    grp = p.add_mutually_exclusive_group()
    grp.add_argument("--batch", type=int, default=1, help="batch size")
    grp.add_argument("--unbatched", action="store_true", help="2-D input (seq_len, input_size)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_shapes)


def build_parser(prog: str = "lstm-viz") -> argparse.ArgumentParser:
    """The engine's commands alone (``python -m lstm_viz``); ``lstm-viz`` has them too."""
    parser = Parser(prog=prog, description="See inside PyTorch's nn.LSTM.",
                    formatter_class=HelpFormatter)
    add_commands(parser.add_subparsers(dest="command", title="commands", metavar="COMMAND",
                                       parser_class=Parser))
    return parser


def _call_line(cfg: LSTMConfig) -> str:
    d = LSTMConfig(cfg.input_size, cfg.hidden_size).to_dict()
    args = [f"{cfg.input_size}", f"{cfg.hidden_size}"]
    args += [f"{k}={v!r}" for k, v in cfg.to_dict().items()
             if k not in ("input_size", "hidden_size") and v != d[k]]
    return f"nn.LSTM({', '.join(args)})"


def cmd_shapes(args: argparse.Namespace) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = config_from_args(args)
    batch = None if args.unbatched else args.batch
    table = all_shapes(cfg, batch, args.seq_len)
    facts = shape_facts(cfg)
    n_params = parameter_count(cfg)
    if args.json:
        print(json.dumps({
            "config": cfg.to_dict(), "seq_len": args.seq_len, "batch_size": batch,
            "tensors": {name: {"shape": list(s), "dims": [
                {"name": d.name, "size": d.size, "formula": d.formula} for d in s.dims],
                "note": s.note} for name, s in table.items()},
            "parameter_count": n_params, "facts": facts,
            "warnings": [str(w.message) for w in caught]}, indent=2))
        return 0
    for w in caught:
        print(f"lstm-viz: warning: {w.message}", file=sys.stderr)
    calls = tensor_shapes(cfg, batch, args.seq_len)
    rows = [(name, str(tuple(s)), s.describe(), s.note) for name, s in table.items()]
    w_name = max(len(r[0]) for r in rows)
    w_shape = max(len(r[1]) for r in rows)
    w_dims = max(len(r[2]) for r in rows)
    print(_call_line(cfg) + (f"  on input batch={batch}" if batch else "  on unbatched input")
          + f", seq_len={args.seq_len}")
    print()
    for i, (name, shape, dims, note) in enumerate(rows):
        if i == len(calls):
            print()
            print("parameters")
        print(f"  {name:<{w_name}}  {shape:<{w_shape}}  {dims:<{w_dims}}  {note}")
    print(f"\n  total parameters: {n_params:,}")
    print()
    for fact in facts:
        print(f"* {fact}")
    return 0


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    parser = parser or build_parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except (UsageError, ValueError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        prefix = "" if isinstance(exc, UsageError) else f"{parser.prog}: error: "
        print(prefix + msg, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
