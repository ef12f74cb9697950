"""Recency weights and the recent held-out rows: newer labels count more, and selection gets unseen recent players."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from machine_learning.training.recency import (
    newest_label_day,
    recency_weights,
    split_recent_holdout,
    weighted_reference,
)


def _frame(days: list[str], per_day: int = 40) -> pd.DataFrame:
    rows = [(day, label) for day in days for label in ["High", "Medium", "Low", "Medium"] * (per_day // 4)]
    return pd.DataFrame({"label_day": [d for d, _ in rows], "EngagementLevel": [label for _, label in rows]})


def test_without_label_days_every_row_weighs_the_same():
    assert (recency_weights(pd.DataFrame({"x": range(5)}), 0.05, 14) == 1).all()
    assert (recency_weights(_frame([""]), 0.05, 14) == 1).all()


def test_newer_label_days_weigh_more_and_the_original_data_least():
    frame = _frame(["", "2026-11-01", "2026-11-15", "2026-11-29"], per_day=4)
    weights = recency_weights(frame, 0.05, 14)
    by_day = pd.Series(weights).groupby(frame["label_day"]).first()
    assert by_day["2026-11-29"] == 1.0
    assert by_day["2026-11-15"] == pytest.approx(0.5)  # one half-life older
    assert by_day["2026-11-01"] == pytest.approx(0.25)
    assert by_day[""] == 0.05


@pytest.mark.parametrize("half_life", [1.0, 7.0, 30.0])
def test_weights_fall_monotonically_with_age(half_life):
    days = [f"2026-11-{d:02d}" for d in range(1, 29)]
    weights = recency_weights(_frame(days, per_day=4), 0.01, half_life)
    per_day = weights[::4]
    assert np.all(np.diff(per_day) > 0) and per_day[-1] == 1.0


def test_the_recent_holdout_comes_from_the_newest_days_and_leaves_the_rest_for_training():
    frame = _frame(["", "2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"], per_day=40)
    rest, recent = split_recent_holdout(frame, recent_days=2, share=0.25, seed=1)
    assert set(recent["label_day"]) <= {"2026-11-03", "2026-11-04"}
    assert len(recent) == pytest.approx(0.25 * 80, abs=2)
    assert set(rest.index).isdisjoint(recent.index) and len(rest) + len(recent) == len(frame)
    assert set(recent["EngagementLevel"]) == {"High", "Medium", "Low"}  # stratified


def test_no_label_days_means_no_recent_holdout():
    rest, recent = split_recent_holdout(_frame([""]), 3, 0.2, 1)
    assert recent.empty and len(rest) == 40
    assert newest_label_day(_frame([""])) is None
    assert newest_label_day(_frame(["2026-11-01", "2026-11-09", ""])) == "2026-11-09"


def test_the_reference_follows_the_weights():
    frame = pd.DataFrame({"old": [True] * 900 + [False] * 100})
    weights = np.where(frame["old"], 0.01, 1.0)
    reference = weighted_reference(frame, weights, seed=3)
    assert len(reference) == len(frame) and reference["old"].mean() < 0.2
    assert weighted_reference(frame, np.ones(len(frame)), 3) is frame  # equal weights: the data itself
