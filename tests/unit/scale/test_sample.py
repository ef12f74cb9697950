"""Sampling of large monitoring windows: reproducible, bounded, recorded."""

from __future__ import annotations

import pandas as pd
import pytest

from machine_learning.scale.sample import sample_current


def _window(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": range(rows), "date": ["2026-11-23"] * (rows // 2) + ["2026-11-24"] * (rows - rows // 2)})


def test_a_window_within_the_limit_is_tested_whole():
    window = _window(100)

    tested = sample_current(window, 100, seed=3)

    assert tested.frame is window and not tested.sampled
    assert tested.record()["sample_seed"] is None and tested.record()["sample_rows"] == 100


def test_a_larger_window_is_sampled_to_the_limit_reproducibly_in_window_order():
    window = _window(1000)

    first = sample_current(window, 120, seed=7)
    again = sample_current(window, 120, seed=7)
    other = sample_current(window, 120, seed=8)

    assert len(first.frame) == 120 and first.sampled
    assert first.frame.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert not first.frame.index.equals(other.frame.index)
    assert first.record() == {
        "window_rows": 1000,
        "sample_rows": 120,
        "sample_seed": 7,
        "sampled": True,
        "reason": first.reason,
    }
    assert "1,000" in first.reason and "seed 7" in first.reason


def test_every_day_of_the_window_is_represented_in_proportion():
    tested = sample_current(_window(20_000), 2_000, seed=1)

    share = (tested.frame["date"] == "2026-11-23").mean()
    assert 0.45 < share < 0.55


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        sample_current(_window(10), 0, seed=1)
