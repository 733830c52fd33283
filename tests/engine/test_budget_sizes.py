"""Memory sizes as people write them, for ``--memory-budget``: binary and decimal units, and a
message that says what to write for anything else."""

from __future__ import annotations

import pytest

from lstm_viz.budget import MIN_MEMORY_BUDGET, parse_size


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
