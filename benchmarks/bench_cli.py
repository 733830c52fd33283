"""How long ``lstm-viz --help``, ``--version`` and ``shapes`` take, as a user runs them.

Each command starts a fresh interpreter (``python -m lstm_viz_app``, what the ``lstm-viz``
script runs) ``--runs`` times; prints the median, the spread (min..max) and whether the median
is under the 0.5 s target. ``python -c pass`` is measured the same way, as the floor no
command can go below on this machine.

    python benchmarks/bench_cli.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.5
SHAPES = ["shapes", "--input-size", "3", "--hidden-size", "8", "--seq-len", "10", "--batch", "4"]
COMMANDS = {
    "python -c pass (floor)": ["-c", "pass"],
    "lstm-viz --help": ["-m", "lstm_viz_app", "--help"],
    "lstm-viz --version": ["-m", "lstm_viz_app", "--version"],
    "lstm-viz shapes ...": ["-m", "lstm_viz_app", *SHAPES],
    "lstm-viz shapes ... --json": ["-m", "lstm_viz_app", *SHAPES, "--json"],
}


def time_command(args: list[str], runs: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], env=env, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} runs each")
    print(f"{'command':<28} {'median':>8} {'min':>7} {'max':>7} {'stdev':>7}  target")
    slow = 0
    for name, argv in COMMANDS.items():
        time_command(argv, 1)  # warm the file cache
        t = time_command(argv, args.runs)
        median = statistics.median(t)
        ok = "floor" if "floor" in name else ("ok" if median < TARGET_S else "SLOW")
        slow += ok == "SLOW"
        print(f"{name:<28} {median:7.3f}s {min(t):6.3f}s {max(t):6.3f}s"
              f" {statistics.stdev(t):6.3f}s  {ok}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
