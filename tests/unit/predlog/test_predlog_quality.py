"""Live quality from the prediction log: the join with labels, per variant and version, and the decision."""

from __future__ import annotations

import pandas as pd
import pytest

from machine_learning.monitoring.quality import LiveQuality, pool_live, summarise_live
from machine_learning.predlog.quality import (
    CHALLENGER_ROLE,
    KEEP,
    PRODUCTION_ROLE,
    PROMOTE,
    WAIT,
    WITHDRAW,
    decide_online,
    join_with_labels,
)
from machine_learning.rollout.retreat import RetreatLimits

LIMITS = RetreatLimits(max_p99_ms=50, max_error_increase=0.01, quality_tolerance=0.02, min_requests=200)


def logged(rows: list[tuple[str, str, str, int, str]], at: int = 0) -> pd.DataFrame:
    """(date, variant, version, PlayerID, predicted) rows, logged one second apart."""
    frame = pd.DataFrame(rows, columns=["date", "variant", "model_version", "PlayerID", "predicted_engagement"])
    frame["logged_at"] = pd.to_datetime(range(at, at + len(frame)), unit="s", utc=True)
    return frame


def labels(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "PlayerID", "EngagementLevel"])


def test_answers_join_labels_of_the_same_player_and_day_only():
    log = logged([
        ("2026-12-01", "production", "3", 1, "High"),
        ("2026-12-01", "challenger", "4", 2, "Low"),
        ("2026-12-02", "production", "3", 1, "Low"),  # same player, a day whose label is not out yet
        ("2026-12-01", "production", "3", 9, "High"),  # nobody labelled this player
    ])  # fmt: skip
    truth = labels([("2026-12-01", 1, "High"), ("2026-12-01", 2, "Medium"), ("2026-12-03", 1, "Low")])
    live = join_with_labels(log, truth)
    columns = ["date", "role", "version", "PlayerID", "predicted", "label"]
    assert sorted(map(tuple, live[columns].itertuples(index=False))) == [
        ("2026-12-01", CHALLENGER_ROLE, "4", 2, "Low", "Medium"),
        ("2026-12-01", PRODUCTION_ROLE, "3", 1, "High", "High"),
    ]


def test_a_player_asked_twice_a_day_counts_once_with_the_last_answer():
    log = logged([("2026-12-01", "production", "3", 1, "Low"), ("2026-12-01", "production", "3", 1, "High")])
    live = join_with_labels(log, labels([("2026-12-01", 1, "High")]))
    assert live["predicted"].tolist() == ["High"]


def test_the_joined_rows_give_live_accuracy_per_variant_and_version_like_the_batch_side():
    rows = [("2026-12-01", "production", "3", i, "High") for i in range(10)]
    rows += [("2026-12-01", "challenger", "4", 100 + i, "High" if i < 5 else "Low") for i in range(10)]
    truth = labels([("2026-12-01", player, "High") for player in [*range(10), *range(100, 110)]])
    live = join_with_labels(logged(rows), truth)
    summary = {(q.role, q.version): (q.rows, q.accuracy) for q in summarise_live(live)}
    assert summary == {(PRODUCTION_ROLE, "3"): (10, 1.0), (CHALLENGER_ROLE, "4"): (10, 0.5)}
    pooled, _ = pool_live(live, "4", CHALLENGER_ROLE, "")
    assert pooled.accuracy == 0.5


def test_no_log_or_no_labels_give_no_rows():
    assert join_with_labels(logged([]), labels([("2026-12-01", 1, "High")])).empty
    assert join_with_labels(logged([("2026-12-01", "production", "3", 1, "High")]), labels([])).empty


def quality(role: str, version: str, accuracy: float, rows: int = 500) -> LiveQuality:
    return LiveQuality("pooled", version, role, rows, accuracy, accuracy)


@pytest.mark.parametrize(
    ("challenger", "action", "words"),
    [
        (0.80, WITHDRAW, "live accuracy 0.8000 vs production 0.9000"),
        (0.885, KEEP, "within the tolerance 0.0200"),
        (0.93, PROMOTE, "beats the margin 0.0100"),
    ],
)
def test_the_decision_names_its_figures_and_limit(challenger, action, words):
    decision = decide_online(
        quality(PRODUCTION_ROLE, "3", 0.90), quality(CHALLENGER_ROLE, "4", challenger), LIMITS, "accuracy", 0.01
    )
    assert decision.action == action
    assert words in decision.reason
    assert decision.to_dict()["challenger"]["accuracy"] == challenger


def test_too_few_labelled_players_wait_even_for_a_much_worse_challenger():
    decision = decide_online(
        quality(PRODUCTION_ROLE, "3", 0.9), quality(CHALLENGER_ROLE, "4", 0.1, rows=199), LIMITS, "accuracy", 0.01
    )
    assert decision.action == WAIT and "199" in decision.reason and "200 each needed" in decision.reason
    assert decide_online(None, None, LIMITS, "accuracy", 0.01).action == WAIT
