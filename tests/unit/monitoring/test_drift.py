"""Nightly drift tests: the reference design's conditions, read by test name and parameters."""

from __future__ import annotations

import dataclasses
import json
import random

import pandas as pd
import pytest

from machine_learning.errors import InvalidInputError, MLOpsError
from machine_learning.monitoring.drift import (
    COLUMN_TEST,
    SHARE_TEST,
    DriftCheck,
    DriftTestResult,
    build_drift_suite,
    decisive_columns,
    needs_retraining,
    run_drift_tests,
)
from machine_learning.settings import Settings

DECISIVE = ("prediction", "AvgSessionDurationMinutes", "SessionsPerWeek")
OTHERS = ("Age", "Gender", "Location", "GameGenre", "PlayTimeHours", "InGamePurchases", "GameDifficulty")


def _outcomes(failing: set[str] = frozenset(), share_fails: bool = False, share: float = 0.0) -> list[DriftCheck]:
    tests = [DriftCheck(SHARE_TEST, None, "FAIL" if share_fails else "SUCCESS", share, 0.3, "")]
    for column in (*DECISIVE, *OTHERS):
        status = "FAIL" if column in failing and column in DECISIVE else "WARNING" if column in failing else "SUCCESS"
        tests.append(DriftCheck(COLUMN_TEST, column, status, 0.5 if column in failing else 0.01, 0.1, ""))
    return tests


def test_no_failed_condition_means_no_retraining():
    decision = needs_retraining(_outcomes(), 0.3, DECISIVE)
    assert not decision.needed and decision.reasons == ()


@pytest.mark.parametrize("column", DECISIVE)
def test_drift_in_a_decisive_column_alone_calls_for_retraining(column):
    decision = needs_retraining(_outcomes({column}), 0.3, DECISIVE)
    assert decision.needed
    assert decision.reasons == (f"{column} drifted (score 0.5 > threshold 0.1)",)


def test_drift_in_another_column_only_warns():
    decision = needs_retraining(_outcomes({"GameGenre"}), 0.3, DECISIVE)
    assert not decision.needed
    assert decision.drifted_columns == ("GameGenre",)


def test_a_high_share_of_drifted_columns_calls_for_retraining():
    decision = needs_retraining(_outcomes(set(OTHERS[:4]), share_fails=True, share=4 / 12), 0.3, DECISIVE)
    assert decision.needed and decision.reasons[0].startswith("share of drifted columns 0.33 is above 0.30")


def test_test_order_does_not_matter():
    outcomes = _outcomes({"SessionsPerWeek"})
    shuffled = outcomes[:]
    random.Random(3).shuffle(shuffled)  # noqa: S311 - test data, not security
    assert needs_retraining(shuffled, 0.3, DECISIVE) == needs_retraining(outcomes, 0.3, DECISIVE)


def test_a_missing_or_broken_decisive_test_is_an_error_not_a_pass():
    without = [o for o in _outcomes() if o.column != "SessionsPerWeek"]
    with pytest.raises(MLOpsError, match=r"SessionsPerWeek.*missing"):
        needs_retraining(without, 0.3, DECISIVE)
    broken = [dataclasses.replace(o, status="ERROR") if o.name == SHARE_TEST else o for o in _outcomes()]
    with pytest.raises(MLOpsError, match="failed to run"):
        needs_retraining(broken, 0.3, DECISIVE)


def test_the_suite_is_labelled_for_the_dashboard_and_the_prediction_always_decides():
    settings = Settings(drift_columns="GameGenre")
    suite = build_drift_suite(settings, "2026-11-20", "3")
    assert suite.metadata == {"kind": "drift_tests", "day": "2026-11-20", "model_version": "3"}
    assert decisive_columns(settings) == ("prediction", "GameGenre")


@pytest.fixture(scope="module")
def reference(shipped_players: pd.DataFrame) -> pd.DataFrame:
    frame = shipped_players.head(6000).copy()
    for column in ("Age", "PlayTimeHours", "InGamePurchases", "SessionsPerWeek", "AvgSessionDurationMinutes"):
        frame[column] = pd.to_numeric(frame[column])
    for column in ("PlayerLevel", "AchievementsUnlocked"):
        frame[column] = pd.to_numeric(frame[column])
    return frame.assign(prediction=frame["EngagementLevel"])


def test_evidently_passes_undrifted_data_and_fails_shorter_sessions(reference):
    settings = Settings()
    current = reference.sample(2000, random_state=1)
    _, clean = run_drift_tests(reference, current, settings, "2026-11-20")
    assert not clean.decision.needed
    shorter = current.assign(AvgSessionDurationMinutes=current["AvgSessionDurationMinutes"] * 0.5)
    suite, drifted = run_drift_tests(reference, shorter, settings, "2026-11-21")
    assert drifted.decision.needed
    assert drifted.decision.drifted_columns == ("AvgSessionDurationMinutes",)
    assert suite.timestamp.date().isoformat() == "2026-11-21"


def test_missing_columns_are_a_clear_error(reference):
    with pytest.raises(InvalidInputError, match="current data cannot be tested: missing \\['prediction'\\]"):
        run_drift_tests(reference, reference.drop(columns="prediction"), Settings(), "2026-11-20")


def test_a_result_survives_the_hand_over_between_pipeline_steps(reference):
    """Mage stores a block's output as JSON; the next step rebuilds the same result from it."""
    shorter = reference.sample(2000, random_state=2)
    shorter = shorter.assign(AvgSessionDurationMinutes=shorter["AvgSessionDurationMinutes"] * 0.5)
    _, result = run_drift_tests(reference, shorter, Settings(), "2026-11-21")
    handed_over = json.loads(json.dumps(result.to_dict()))
    assert DriftTestResult.from_dict(handed_over) == result
