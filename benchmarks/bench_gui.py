"""GUI speed, offscreen: step latency, config change to redrawn window, cold start.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py [--quick]

Targets: one step <= 16 ms p95 for hidden 256, T 1000, 2 layers, bidirectional; at scale
(hidden 512, T 10 000, one layer, and the character demo) one step and one move of the detail
window <= 16 ms p95 in the Gates and States views; config change to redrawn window <= 150 ms
for the default config; cold start < 3 s. Prints a table, then one JSON line (the last line).
``--scale-only`` runs the at-scale measures alone. ``--tracks`` measures one timeline with
twelve tracks shown (``TWELVE_TRACKS``: input, prediction, target, loss, the four gates, c, h,
chosen units and the gate bars) at hidden 512, T 10 000: one step and one move of the detail
window, p95 <= 16 ms, and the paint events and layout requests of each (counts a loaded
machine does not blur; ``--tracks-steps`` sets T for a smoke run). ``--windowed`` measures a
windowed session instead (hidden 512, T 200 000 by default, batch 1: its full trace is over
the 1 GiB budget): stepping inside the traced window, and a jump far away: the GUI thread's
longest event-loop turn while the worker traces the new window and the views draw it, and the
time until it is drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QObject, QSettings  # noqa: E402

from lstm_viz import InputSpec, LSTMConfig, Session  # noqa: E402
from lstm_viz_app.entry import make_app  # noqa: E402
from lstm_viz_app.main import MainWindow  # noqa: E402

STEP_TARGET_MS, CONFIG_TARGET_MS, COLD_TARGET_S = 16.0, 150.0, 3.0

_COLD_CHILD = r"""
import os, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, {root!r})
from PySide6.QtCore import QSettings
from lstm_viz_app.entry import make_app
from lstm_viz_app.main import MainWindow
app = make_app()
w = MainWindow(settings=QSettings({ini!r}, QSettings.Format.IniFormat), restore=False)
w.resize(1280, 800)
w.show()
app.processEvents()
w.grab()
print("drawn", flush=True)
"""


def _window(app, session):
    ini = str(Path(tempfile.mkdtemp(prefix="bench-gui-")) / "settings.ini")
    w = MainWindow(session=session, settings=QSettings(ini, QSettings.Format.IniFormat),
                   restore=False)
    w.resize(1280, 800)
    w.show()
    for _ in range(3):
        app.processEvents()
    return w


def _wait_traced(app, w, timeout=120.0):
    end = time.perf_counter() + timeout
    while not w.ctx.up_to_date:
        app.processEvents()
        if time.perf_counter() > end:
            raise TimeoutError("trace did not finish")
        time.sleep(0.0005)


def _stats(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"n": len(a), "p5_ms": float(np.percentile(a, 5)),
            "p50_ms": float(np.percentile(a, 50)),
            "p95_ms": float(np.percentile(a, 95)), "max_ms": float(a.max())}


def _timed(app, action, repeats: int) -> dict:
    """``action(k)`` then every pending event (the repaint), ``repeats`` times."""
    for _ in range(3):
        app.processEvents()
    times = []
    for k in range(repeats):
        t0 = time.perf_counter()
        action(k)
        app.processEvents()
        times.append((time.perf_counter() - t0) * 1000)
    return _stats(times)


def bench_scale(app, steps: int) -> dict:
    """Stepping and moving the detail window at hidden 512, T 10 000 and on the char demo."""
    from lstm_viz.demos import open_demo
    big = Session(LSTMConfig(input_size=8, hidden_size=512),
                  InputSpec(seq_len=10_000, batch_size=1))
    char = Session()
    open_demo(char, "char_python")
    out = {}
    for name, session in (("H=512, T=10000", big), ("char demo", char)):
        w = _window(app, session)
        w.ctx.retrace_now()
        out[name] = {"trace_s": session.trace.elapsed_s}
        T = session.num_steps
        for view in ("Gates", "States"):
            w.show_view(view)
            panel = w.views[view]
            session.seek(T // 3)
            out[name][f"step, {view}"] = _timed(app, lambda k, s=session: s.step(), steps)
            width = panel.overview.window[1] - panel.overview.window[0]

            def move(k, panel=panel, width=width, T=T):
                t0 = (k * 37) % (T - width)
                panel.overview.set_window(t0, t0 + width)

            out[name][f"move window, {view}"] = _timed(app, move, steps)
        w.close()
    return out


TWELVE_TRACKS = ["input", "prediction", "target", "loss", "i", "f", "g", "o", "c", "h", "units",
                 "bars"]


class _EventCount(QObject):
    """Counts the paint events and layout requests the application delivers while installed."""

    def __init__(self) -> None:
        super().__init__()
        self.paints = self.layouts = 0

    def eventFilter(self, obj, event):  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        elif event.type() == QEvent.Type.LayoutRequest:
            self.layouts += 1
        return False


def _counted(app, action, repeats: int) -> dict:
    """Paint events and layout requests per ``action(k)`` and the events it leaves: what a
    loaded machine cannot blur, beside the times."""
    count = _EventCount()
    app.installEventFilter(count)
    try:
        for k in range(repeats):
            action(k)
            app.processEvents()
    finally:
        app.removeEventFilter(count)
    return {"paints": count.paints / repeats, "layout_requests": count.layouts / repeats}


def bench_tracks(app, steps: int, seq_len: int = 10_000, hidden: int = 512) -> dict:
    """Stepping and moving the detail window with twelve tracks in one timeline."""
    session = Session(LSTMConfig(input_size=8, hidden_size=hidden),
                      InputSpec(seq_len=seq_len, batch_size=1))
    w = _window(app, session)
    w.ctx.retrace_now()
    w.show_view("States")
    timeline = w.views["States"].timeline
    timeline.set_tracks(TWELVE_TRACKS)
    shown = [t.kind for t in timeline.tracks()]
    if shown != TWELVE_TRACKS:
        raise RuntimeError(f"the timeline shows {shown}, not the twelve tracks asked for")
    T = session.num_steps
    session.seek(T // 3)
    out: dict = {"tracks": len(shown), "hidden": hidden, "steps": T,
                 "trace_s": session.trace.elapsed_s}
    out["step"] = _timed(app, lambda k: session.step(), steps)
    out["step"].update(_counted(app, lambda k: session.step(), 20))
    overview = timeline.overview
    width = overview.window[1] - overview.window[0]

    def move(k: int) -> None:
        t0 = (k * 37) % max(1, T - width)
        overview.set_window(t0, t0 + width)

    out["move window"] = _timed(app, move, steps)
    out["move window"].update(_counted(app, move, 20))
    w.close()
    return out


def bench_windowed(app, steps: int, seq_len: int, jumps: int) -> dict:
    """A windowed session in the Gates and States views: steps inside the traced window, and
    jumps far away (traced on the worker; the GUI thread only draws)."""
    rng = np.random.default_rng(0)
    session = Session(LSTMConfig(input_size=1, hidden_size=512),
                      InputSpec(source="sine", seq_len=seq_len, batch_size=1))
    w = _window(app, session)
    t0 = time.perf_counter()
    _wait_traced(app, w, timeout=3600)
    out: dict = {"first_pass_s": time.perf_counter() - t0, "windowed": session.trace.windowed}
    for view in ("Gates", "States"):
        w.show_view(view)
        tr = session.trace
        session.seek((tr.start + tr.stop) // 2 - steps // 2)
        _wait_traced(app, w)
        out[f"step in window, {view}"] = _timed(app, lambda k, s=session: s.step(), steps)
        turns, drawn = [], []
        for _ in range(jumps):
            target = int(rng.integers(0, seq_len))
            start = time.perf_counter()
            session.seek(target)
            longest = (time.perf_counter() - start) * 1000
            while not (w.ctx.holds(target) and w.ctx.up_to_date):
                turn = time.perf_counter()
                app.processEvents()
                longest = max(longest, (time.perf_counter() - turn) * 1000)
                time.sleep(0.0005)
            app.processEvents()
            turns.append(longest)
            drawn.append((time.perf_counter() - start) * 1000)
        out[f"jump, longest GUI turn, {view}"] = _stats(turns)
        out[f"jump, until drawn, {view}"] = _stats(drawn)
    w.close()
    return out


def bench_step(app, steps: int) -> dict:
    """Cursor move + every visible plot updated + events processed (the repaint), per step."""
    cfg = LSTMConfig(input_size=16, hidden_size=256, num_layers=2, bidirectional=True)
    session = Session(cfg, InputSpec(seq_len=1000, batch_size=2))
    w = _window(app, session)
    out = {"trace_s": session.trace.elapsed_s}
    for view in w.views:
        w.show_view(view)
        w.ctx.select(layer=1, direction=1)
        session.seek(100)
        for _ in range(3):
            app.processEvents()
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            session.step()
            app.processEvents()
            times.append((time.perf_counter() - t0) * 1000)
        out[view] = _stats(times)
    w.close()
    return out


def bench_config_change(app, repeats: int) -> dict:
    """Model-panel edit -> trace on the worker -> installed -> window redrawn."""
    w = _window(app, Session())
    w.show_view("Gates")
    field = w.panels["Model"].fields["hidden_size"].editor
    base = field.value()
    times = []
    for k in range(repeats):
        t0 = time.perf_counter()
        field.setValue(base + 1 + (k % 2))
        _wait_traced(app, w)
        app.processEvents()
        times.append((time.perf_counter() - t0) * 1000)
    w.close()
    return _stats(times[1:] if len(times) > 1 else times)


def bench_cold_start(runs: int) -> dict:
    """Interpreter start to a drawn main window, in a fresh process each time."""
    ini = str(Path(tempfile.mkdtemp(prefix="bench-cold-")) / "settings.ini")
    code = _COLD_CHILD.format(root=str(ROOT), ini=ini)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - t0
        proc.wait(timeout=60)
        if line.strip() != "drawn":
            raise RuntimeError("cold-start child did not draw its window")
        times.append(elapsed)
    a = np.asarray(times)
    return {"n": runs, "median_s": float(np.median(a)), "max_s": float(a.max())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--scale-only", action="store_true",
                        help="only the hidden 512 x T 10 000 and char demo measures")
    parser.add_argument("--windowed", action="store_true",
                        help="only a windowed session (hidden 512, --windowed-steps steps)")
    parser.add_argument("--windowed-steps", type=int, default=200_000, metavar="T")
    parser.add_argument("--tracks", action="store_true",
                        help="only twelve tracks in one timeline (hidden 512, --tracks-steps)")
    parser.add_argument("--tracks-steps", type=int, default=10_000, metavar="T")
    args = parser.parse_args(argv)
    app = make_app()
    if args.tracks:
        result = bench_tracks(app, 60 if args.quick else 200, args.tracks_steps)
        print(f"twelve tracks, hidden {result['hidden']}, T {result['steps']} (1280x800,"
              " offscreen)")
        for what in ("step", "move window"):
            m = result[what]
            print(f"{what:14s} p50 {m['p50_ms']:7.1f}  p95 {m['p95_ms']:7.1f}  max"
                  f" {m['max_ms']:7.1f} ms  (target p95 <= {STEP_TARGET_MS:.0f});"
                  f" {m['paints']:.0f} paint events, {m['layout_requests']:.0f} layout"
                  " requests each")
        result["all_met"] = all(result[w]["p95_ms"] <= STEP_TARGET_MS
                                for w in ("step", "move window"))
        print(json.dumps({"tracks": result}))
        return 0
    if args.windowed:
        result = bench_windowed(app, 60 if args.quick else 200, args.windowed_steps,
                                5 if args.quick else 20)
        print(f"windowed session, hidden 512, T {args.windowed_steps}: first pass"
              f" {result['first_pass_s']:.1f} s")
        for what, m in result.items():
            if isinstance(m, dict):
                print(f"{what:40s} p50 {m['p50_ms']:7.1f}  p95 {m['p95_ms']:7.1f}"
                      f"  max {m['max_ms']:7.1f} ms")
        print(json.dumps({"windowed": result}))
        return 0
    scale = bench_scale(app, 60 if args.quick else 200)
    scale_rows = [(f"{what}, {name}", f"p5 {m['p5_ms']:.1f} p50 {m['p50_ms']:.1f} p95"
                   f" {m['p95_ms']:.1f} max {m['max_ms']:.1f} ms", f"p95 <= {STEP_TARGET_MS:.0f}",
                   m["p95_ms"] <= STEP_TARGET_MS)
                  for name, measures in scale.items()
                  for what, m in measures.items() if what != "trace_s"]
    print(f"{'at scale (1280x800, offscreen)':36s} {'result':>44s}  {'target':>9s}  ok")
    for name, result, target, ok in scale_rows:
        print(f"{name:36s} {result:>44s}  {target:>9s}  {'yes' if ok else 'NO'}")
    if args.scale_only:
        print(json.dumps({"scale": scale, "target_p95_ms": STEP_TARGET_MS,
                          "all_met": all(r[3] for r in scale_rows)}))
        return 0
    step = bench_step(app, 60 if args.quick else 300)
    config = bench_config_change(app, 6 if args.quick else 21)
    cold = bench_cold_start(1 if args.quick else 3)
    views = [k for k in step if k != "trace_s"]
    rows = [
        (f"step, {view} view" + (" (H=256, T=1000, L=2, bidir)" if k == 0 else ""),
         f"{step[view]['p95_ms']:.2f} ms p95", f"<= {STEP_TARGET_MS:.0f} ms",
         step[view]["p95_ms"] <= STEP_TARGET_MS) for k, view in enumerate(views)
    ] + [
        ("config change -> redrawn (default config)", f"{config['p95_ms']:.1f} ms p95",
         f"<= {CONFIG_TARGET_MS:.0f} ms", config["p95_ms"] <= CONFIG_TARGET_MS),
        ("cold start -> drawn window", f"{cold['median_s']:.2f} s median",
         f"< {COLD_TARGET_S:.0f} s", cold["median_s"] < COLD_TARGET_S),
    ]
    print(f"{'measure':48s} {'result':>16s}  {'target':>9s}  ok")
    for name, result, target, ok in rows:
        print(f"{name:48s} {result:>16s}  {target:>9s}  {'yes' if ok else 'NO'}")
    print(f"(trace of the step benchmark's session took {step['trace_s']:.2f} s)")
    print(json.dumps({"step": step, "scale": scale, "config_change": config,
                      "cold_start": cold,
                      "targets": {"step_p95_ms": STEP_TARGET_MS,
                                  "config_change_p95_ms": CONFIG_TARGET_MS,
                                  "cold_start_s": COLD_TARGET_S},
                      "all_met": all(r[3] for r in rows + scale_rows)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
