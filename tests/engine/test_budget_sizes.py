"""Memory sizes as people write them, for ``--memory-budget``: binary and decimal units, and a
message that says what to write for anything else; and what a session costs against the budget
beyond the bytes of its trace (its steps, its layers)."""

from __future__ import annotations

import pytest

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz.tracing.budget import (
    DEFAULT_MEMORY_BUDGET,
    LAYER_COST,
    MIN_MEMORY_BUDGET,
    STEP_WORK,
    TraceBudgetError,
    check_budget,
    check_steps,
    estimate_trace_bytes,
    max_steps,
    parse_size,
    precheck,
)


@pytest.mark.parametrize("text, size", [
    ("4GiB", 4 * 1024**3), ("4 gib", 4 * 1024**3), ("1.5G", 3 * 1024**3 // 2),
    ("512MiB", 512 * 1024**2), ("512M", 512 * 1024**2), ("2GB", 2 * 10**9),
    ("20000000", 20_000_000), ("1e9", 10**9), ("1TiB", 1024**4), ("100000kB", 10**8),
])
def test_sizes_in_binary_and_decimal_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "", "-1G", "0", "inf", "nan", "3XB", "GiB", "4 G B"])
def test_anything_else_says_what_to_write(text):
    with pytest.raises(ValueError, match="a memory size looks like 4GiB, 512MiB or 2000000000"):
        parse_size(text)


def test_a_budget_too_small_for_any_trace_is_refused_with_the_least_it_takes():
    assert parse_size("16MiB") == MIN_MEMORY_BUDGET
    with pytest.raises(ValueError, match="too small: at least 16.0 MiB"):
        parse_size("15MiB")


@pytest.mark.parametrize("text", ["1e300T", "1e30", "2000000TiB", "9e18G"])
def test_a_budget_past_any_machine_is_refused_with_the_most_it_takes(text):
    with pytest.raises(ValueError, match=r"more than any machine has: at most 1\.0 EiB"):
        parse_size(text)
    assert parse_size("1024TiB") == 1 << 50


# ----- what a session costs beyond the bytes of its trace --------------------------------------
def test_millions_of_steps_of_a_tiny_lstm_are_refused_by_their_count_before_anything_is_built():
    tiny = LSTMConfig(2, 3)
    assert estimate_trace_bytes(tiny, 1, 5_000_000) < DEFAULT_MEMORY_BUDGET  # bytes alone pass
    with pytest.raises(TraceBudgetError, match=r"this would trace 5,000,000 steps \(num_layers=1"
                       r" x directions=1 x seq_len=5000000\), more than the 4,194,304") as err:
        Session(tiny, InputSpec(source="sine", seq_len=5_000_000, batch_size=1))
    assert "reduce seq_len or num_layers (or raise the budget)" in str(err.value)
    assert "\n" not in str(err.value)
    # layers and directions count too; a larger budget allows more
    with pytest.raises(TraceBudgetError, match="this would trace 6,000,000 steps"):
        precheck(LSTMConfig(2, 3, num_layers=3, bidirectional=True),
                 InputSpec(seq_len=1_000_000, batch_size=1), windowed=True)
    assert check_steps(tiny, 5_000_000, budget=2 << 30) == 5_000_000
    # a small budget windows a trace but never allows fewer steps than the default
    assert max_steps(16 << 20) == max_steps() == DEFAULT_MEMORY_BUDGET // STEP_WORK


def test_thousands_of_layers_of_a_tiny_lstm_are_refused_by_what_each_layer_costs():
    cfg = LSTMConfig(2, 3, num_layers=10_000)
    with pytest.raises(TraceBudgetError, match=r"a windowed trace would need about 1\.2 GiB"
                       r" \(.* of weights, 1\.2 GiB for num_layers=10000 x directions=1 at"
                       r" 128\.0 KiB each"):
        Session(cfg, InputSpec(source="sine", seq_len=6, batch_size=1))
    assert check_budget(LSTMConfig(2, 3, num_layers=1000), 1, 6) < DEFAULT_MEMORY_BUDGET
    assert check_budget(cfg, 1, 6, budget=2 << 30) > 10_000 * LAYER_COST
