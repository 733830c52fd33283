"""The engine's command line: ``lstm-viz shapes ...`` and ``lstm-viz models FILE``.
``add_commands`` puts the engine's subcommands into a parser tree (app/cli.py's, whose
``lstm-viz`` holds them all); ``python -m lstm_viz`` runs them alone, without Qt.

Bad input: one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import NoReturn

from .config import LSTMConfig
from .shapes import all_shapes, parameter_count, shape_facts, tensor_shapes
from .validate import MAX_NUM_LAYERS, Int


class UsageError(Exception):
    """Bad command-line input; printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), not the whole usage."""

    def error(self, message: str) -> NoReturn:  # noqa: D401 - argparse API
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


MODELS_EXAMPLES = """examples:
  lstm-viz models lstm.pt
  lstm-viz models model.onnx | grep decoder
"""


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the engine's subcommands (``shapes``, ``models``) to the subparsers ``sub`` of a
    parser tree."""
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
    p = sub.add_parser("models", help="list every LSTM a model file holds, one per line",
                       description="Print each LSTM of a model file (the names --lstm takes)"
                                   " with the nn.LSTM call that rebuilds it, one per line, then"
                                   " each LSTM that cannot be used and why. The file is read"
                                   " without running code from it.",
                       epilog=MODELS_EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("file", metavar="FILE", help="a torch.save, TorchScript, safetensors or"
                                                " ONNX model file")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow FILE to run the code pickled in it (only trusted files)")
    p.set_defaults(func=cmd_models)
    _add_corpus_commands(sub)


CORPUS_EXAMPLES = """examples:
  lstm-viz corpus trace --demo char_python --text a.py b.py --out code.zarr
  lstm-viz corpus trace --model lm.pt --text book.txt --doc-sep $'\\n\\n' --out book.zarr \\
                        --scheduler tcp://10.0.0.5:8786
  lstm-viz corpus stats code.zarr
  lstm-viz corpus top code.zarr --unit 37 --sign neg --k 5 --json
  lstm-viz corpus match code.zarr --on 37 --threshold 0.5 --min-len 3 --json
"""


def _units(text: str) -> list[int]:
    try:
        return [int(u) for u in text.split(",") if u.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected unit numbers like 3,17,40 (got {text!r})"
                                         ) from None


def _add_corpus_commands(sub: argparse._SubParsersAction) -> None:
    corpus = sub.add_parser("corpus", help="trace a whole corpus into a store and query it",
                            description="Trace every document of a corpus into a chunked Zarr"
                                        " store, then ask what each unit does across it"
                                        " (needs pip install lstm-viz[corpus]).",
                            epilog=CORPUS_EXAMPLES, formatter_class=HelpFormatter)
    cs = corpus.add_subparsers(dest="corpus_command", title="corpus commands",
                               metavar="COMMAND", parser_class=Parser)
    p = cs.add_parser("trace", help="trace documents into a store (resumes an interrupted run)",
                      formatter_class=HelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="FILE", help="the model file (read without running"
                                                     " code from it)")
    src.add_argument("--demo", metavar="NAME", help="a demo that ships with lstm-viz")
    p.add_argument("--lstm", metavar="NAME", help="which LSTM of the file (lstm-viz models"
                                                  " FILE lists them)")
    docs = p.add_mutually_exclusive_group(required=True)
    docs.add_argument("--text", nargs="+", metavar="FILE", help="UTF-8 text files, read"
                                                                " through the model's vocabulary")
    docs.add_argument("--array", nargs="+", metavar="FILE",
                      help=".npy (T, input_size) or (documents, T, input_size), or .csv files")
    p.add_argument("--out", required=True, metavar="STORE", help="the Zarr store to write")
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16",
                   help="how states are stored")
    p.add_argument("--doc-sep", metavar="SEP", help="split each text file into documents at SEP")
    p.add_argument("--tokenizer", help="characters, words or regex:PATTERN (default: what the"
                                       " vocabulary suggests)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler, e.g."
                                                          " tcp://host:8786 (default: threads"
                                                          " here)")
    p.add_argument("--workers", type=int, default=1, help="batches traced at once here")
    p.add_argument("--batch-tokens", type=int, default=1 << 15,
                   help="padded tokens per traced batch (fewer where the memory budget needs)")
    p.add_argument("--memory-budget", metavar="SIZE", help="memory the trace may take beside"
                                                           " the model and the documents, e.g."
                                                           " 4GiB (default 1GiB)")
    p.add_argument("--method", default="auto", help="how each batch is traced (lstm_viz.trace's"
                                                    " method: the same numbers, a speed choice)")
    p.set_defaults(func=cmd_corpus_trace)
    p = cs.add_parser("stats", help="per-unit statistics over the store, written into it",
                      formatter_class=HelpFormatter)
    p.add_argument("store", metavar="STORE")
    p.add_argument("--k", type=int, default=50, help="top positions kept per unit")
    p.set_defaults(func=cmd_corpus_stats)
    for name, help_text in (("top", "the positions where a unit is largest or most negative"),
                            ("match", "spans where chosen units are on and others off")):
        p = cs.add_parser(name, help=help_text, formatter_class=HelpFormatter)
        p.add_argument("store", metavar="STORE")
        if name == "top":
            p.add_argument("--unit", type=int, required=True, help="the unit")
            p.add_argument("--k", type=int, default=10, help="how many positions")
            p.add_argument("--sign", choices=("pos", "neg"), default="pos",
                           help="largest (pos) or most negative (neg) values")
            p.add_argument("--context", type=int, default=10, help="tokens shown each side")
        else:
            p.add_argument("--on", type=_units, required=True, metavar="U1,U2,...",
                           help="units that must be above the threshold")
            p.add_argument("--off", type=_units, default=[], metavar="U3,...",
                           help="units that must be at or below it")
            p.add_argument("--threshold", type=float, default=0.0, help="the threshold")
            p.add_argument("--min-len", type=int, default=1, help="shortest span, in tokens")
            p.add_argument("--limit", type=int, default=100, help="most spans listed")
        p.add_argument("--layer", type=int, default=0, help="the layer")
        p.add_argument("--direction", choices=("forward", "reverse"), default="forward",
                       help="the direction")
        p.add_argument("--state", choices=("h", "c"), default="h", help="h or c")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=cmd_corpus_top if name == "top" else cmd_corpus_match)


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


def _line(text: str) -> str:
    """``text`` on one line (a name stored in a file may hold line breaks)."""
    return " ".join(str(text).split())


def cmd_models(args: argparse.Namespace) -> int:
    from .formats.loader import UnusableLSTMs, load_model, nonfinite_weights

    try:
        loaded = load_model(args.file, allow_pickle=args.allow_pickle)
    except UnusableLSTMs as exc:
        for problem in exc.problems:
            print(f"skipped: {_line(problem)}")
        raise ValueError(_line(str(exc))) from None
    except OSError as exc:
        raise ValueError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    for cand in loaded.lstms:
        bad = nonfinite_weights(cand)
        print(_line(cand.describe()) + (f" [{bad}]" if bad else ""))
    for problem in loaded.skipped:
        print(f"skipped: {_line(problem)}")
    for warning in loaded.warnings:
        print(f"lstm-viz: warning: {_line(warning)}", file=sys.stderr)
    return 0


def cmd_corpus_trace(args: argparse.Namespace) -> int:
    import time

    from . import corpus

    model = corpus.model_from_demo(args.demo) if args.demo else \
        corpus.model_from_file(args.model, args.lstm)
    if args.text:
        if not model.vocab:
            raise ValueError("the model file has no vocabulary: text cannot be read through"
                             " it (use --array with inputs, or a checkpoint with its vocab)")
        docs = corpus.text_documents(args.text, model.vocab, tokenizer=args.tokenizer,
                                     doc_sep=args.doc_sep)
    else:
        docs = corpus.array_documents(args.array, model.lstm.input_size)
    from .tracing.budget import parse_size

    budget = parse_size(args.memory_budget) if args.memory_budget else None
    started = time.perf_counter()
    show = corpus.progress_line(started) if sys.stderr.isatty() else None
    try:
        store = corpus.trace_corpus(model, docs, args.out, dtype=args.dtype,
                                    batch_tokens=args.batch_tokens, scheduler=args.scheduler,
                                    workers=args.workers, memory_budget=budget,
                                    method=args.method, progress=show)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {corpus.stopped_at(args.out)}", file=sys.stderr)
        return 130
    n = store.n_tokens
    elapsed = time.perf_counter() - started
    print(f"{args.out}: {len(docs)} documents, {n} tokens, {elapsed:.1f} s"
          f" ({n / max(elapsed, 1e-9):,.0f} tokens/s)")
    return 0


def cmd_corpus_stats(args: argparse.Namespace) -> int:
    from . import corpus

    corpus.compute_stats(args.store, k=args.k)
    print(f"{args.store}: statistics written")
    return 0


def _print_records(records: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(records, indent=1))
        return
    for r in records:
        where = f"{r['start']}..{r['stop']}" if "start" in r else str(r["position"])
        value = r.get("value", r.get("score"))
        text = r.get("context", r.get("text", ""))
        print(f"doc {r['doc']}  {where}  {value:+.4f}  {text!r}")


def cmd_corpus_top(args: argparse.Namespace) -> int:
    from . import corpus

    records = corpus.open(args.store).top(args.unit, layer=args.layer,
                                          direction=args.direction, state=args.state, k=args.k,
                                          sign=args.sign, context=args.context)
    _print_records(records, args.json)
    return 0


def cmd_corpus_match(args: argparse.Namespace) -> int:
    from . import corpus

    records = corpus.open(args.store).match(args.on, args.off, threshold=args.threshold,
                                            min_len=args.min_len, layer=args.layer,
                                            direction=args.direction, state=args.state,
                                            limit=args.limit)
    _print_records(records, args.json)
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
