"""Train the sine demo: an LSTM + Linear head that forecasts the next value of a noisy sine wave.

Each training sequence is ``a * sin(2*pi*t/period + phase) + noise`` with a random amplitude
``a`` in [0.5, 1.5], period in [10, 40] steps and phase; the model sees x[0..T-1] and predicts
x[1..T] (one step ahead). Model: ``nn.LSTM(1, 32)`` -> ``nn.Linear(32, 1)``.

Writes, next to this script, ``sine_forecaster.pt``: ``{"model": state_dict, ...}`` readable with
``torch.load(..., weights_only=True)``, the LSTM under ``lstm.``. Also writes the sample input
``resources/samples/sine.csv`` (a header ``x``, one row per timestep).

Runs on one CPU thread in about a minute: ``python resources/models/train_sine.py``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "samples"


class SineForecaster(nn.Module):
    """One-layer LSTM with a linear read-out: x_t -> prediction of x_{t+1}."""

    def __init__(self, hidden_size: int = 32):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x, hx=None):
        out, hx = self.lstm(x, hx)
        return self.head(out), hx


def waves(batch: int, seq_len: int, gen: torch.Generator, noise: float = 0.05) -> torch.Tensor:
    """(seq_len + 1, batch, 1) noisy sine waves with random amplitude, period and phase."""
    t = torch.arange(seq_len + 1, dtype=torch.float32)[:, None]
    amp = 0.5 + torch.rand(batch, generator=gen)
    period = 10 + 30 * torch.rand(batch, generator=gen)
    phase = 2 * math.pi * torch.rand(batch, generator=gen)
    x = amp * torch.sin(2 * math.pi * t / period + phase)
    return (x + noise * torch.randn(x.shape, generator=gen))[..., None]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=80)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = SineForecaster(args.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps, eta_min=5e-4)
    t0, running = time.time(), None
    for step in range(1, args.steps + 1):
        x = waves(args.batch, args.seq_len, gen)
        pred, _ = model(x[:-1])
        # The first few steps are a warm-up: nothing can forecast a wave from one sample.
        loss = nn.functional.mse_loss(pred[5:], x[1:][5:])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        value = loss.item()
        running = value if running is None else 0.95 * running + 0.05 * value
        if step % 100 == 0 or step == args.steps:
            print(f"step {step:5d}  train MSE {running:.4f}  ({time.time() - t0:.0f} s)",
                  flush=True)

    test_gen = torch.Generator().manual_seed(12345)
    x = waves(256, args.seq_len, test_gen)
    model.eval()
    with torch.no_grad():
        pred, _ = model(x[:-1])
    test_mse = float(nn.functional.mse_loss(pred[5:], x[1:][5:]))
    naive_mse = float(nn.functional.mse_loss(x[:-1][5:], x[1:][5:]))  # "tomorrow = today"
    print(f"test MSE {test_mse:.4f} (noise floor 0.0025;"
          f" repeating the last value: {naive_mse:.4f})")

    args.out.mkdir(parents=True, exist_ok=True)
    torch.save({
        "model": model.state_dict(),
        "lstm_prefix": "lstm.",
        "description": "LSTM(1, 32) + Linear(32, 1) one-step-ahead forecaster of noisy sine waves",
        "train": {"steps": args.steps, "batch": args.batch, "seq_len": args.seq_len,
                  "train_mse": round(running, 5), "test_mse": round(test_mse, 5),
                  "naive_mse": round(naive_mse, 5), "seconds": round(time.time() - t0, 1),
                  "torch": str(torch.__version__)},
    }, args.out / "sine_forecaster.pt")

    # Sample input: two periods changing mid-way, so the units' response to the period shows.
    args.samples.mkdir(parents=True, exist_ok=True)
    t = torch.arange(120, dtype=torch.float64)
    sample = torch.where(t < 60, torch.sin(2 * math.pi * t / 20),
                         0.8 * torch.sin(2 * math.pi * (t - 60) / 32))
    lines = ["x"] + [f"{v:.6f}" for v in sample.tolist()]
    (args.samples / "sine.csv").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'sine_forecaster.pt'} and {args.samples / 'sine.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
