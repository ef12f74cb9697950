"""The retraining trigger: at most once per drift episode, recorded where users look."""

from __future__ import annotations

import pandas as pd
import pytest

from machine_learning.monitoring.data import labels_key
from machine_learning.monitoring.decision import (
    MonitoringState,
    apply_decision,
    decide_trigger,
    decision_key,
    load_state,
)
from machine_learning.monitoring.drift import DriftTestResult, RetrainingDecision


def _result(day: str, needed: bool) -> DriftTestResult:
    reasons = ("AvgSessionDurationMinutes drifted (score 0.9 > threshold 0.1)",) if needed else ()
    drifted = ("AvgSessionDurationMinutes",) if needed else ()
    return DriftTestResult(day, 40_000, 2_000, RetrainingDecision(needed, reasons, 1 / 12 if needed else 0.0, drifted))


class _Starter:
    """Stands in for the Mage trigger: counts starts and hands out run ids."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict] = []
        self.fail = fail

    def __call__(self, variables: dict) -> int:
        if self.fail:
            raise ConnectionError("Mage is down")
        self.calls.append(variables)
        return 100 + len(self.calls)


def _publish_labels(store, settings, day: str) -> None:
    store.write_parquet(labels_key(settings, day), pd.DataFrame({"PlayerID": [1], "EngagementLevel": ["High"]}))


def _run_nights(
    store, settings, nights: list[tuple[str, bool]], starter: _Starter, labelled: bool = True
) -> list[dict]:
    """Run the nights in order; unless told otherwise, each night's labels are already published."""
    records = []
    for day, needed in nights:
        if labelled:
            _publish_labels(store, settings, day)
        records.append(apply_decision(store, settings, _result(day, needed), "1", starter))
    return records


def test_no_drift_never_triggers(store, settings):
    starter = _Starter()
    records = _run_nights(store, settings, [(f"2026-11-{d:02d}", False) for d in range(10, 17)], starter)
    assert starter.calls == []
    assert not any(r["retraining_triggered"] for r in records)


def test_a_drift_episode_triggers_retraining_exactly_once(store, settings):
    starter = _Starter()
    nights = [("2026-11-10", False), ("2026-11-11", True), ("2026-11-12", True), ("2026-11-13", True)]
    records = _run_nights(store, settings, nights, starter)
    assert [r["retraining_triggered"] for r in records] == [False, True, False, False]
    assert starter.calls == [{"batch_date": "2026-11-11", "reason": records[1]["test_reasons"][0]}]
    assert records[1]["retraining_run_id"] == 101
    assert "episode that started 2026-11-11" in records[3]["reason"]


def test_each_night_is_recorded_with_its_reasons(store, settings):
    _run_nights(store, settings, [("2026-11-11", True)], _Starter())
    stored = store.read_json(decision_key(settings, "2026-11-11"))
    assert stored["retraining_needed"] and stored["retraining_triggered"]
    assert stored["drifted_columns"] == ["AvgSessionDurationMinutes"]
    assert load_state(store, settings).last_triggered == "2026-11-11"


def test_rerunning_the_same_night_does_not_trigger_twice(store, settings):
    starter = _Starter()
    _run_nights(store, settings, [("2026-11-11", True), ("2026-11-11", True)], starter)
    assert len(starter.calls) == 1


def test_a_passing_night_ends_the_episode_and_new_drift_triggers_again(store, settings):
    starter = _Starter()
    nights = [("2026-11-11", True), ("2026-11-12", False), ("2026-11-13", True)]
    records = _run_nights(store, settings, nights, starter)
    assert [r["retraining_triggered"] for r in records] == [True, False, True]


def test_drift_outliving_the_cooldown_triggers_again(store, settings):
    starter = _Starter()
    days = [f"2026-11-{d:02d}" for d in range(1, 10)]  # nine nights of drift, cooldown 7 days
    records = _run_nights(store, settings, [(day, True) for day in days], starter)
    assert [r["day"] for r in records if r["retraining_triggered"]] == ["2026-11-01", "2026-11-08"]


def test_a_failed_trigger_fails_the_night_and_is_retried_the_next(store, settings):
    _publish_labels(store, settings, "2026-11-11")
    with pytest.raises(ConnectionError):
        apply_decision(store, settings, _result("2026-11-11", True), "1", _Starter(fail=True))
    assert load_state(store, settings) == MonitoringState()
    starter = _Starter()
    record = _run_nights(store, settings, [("2026-11-12", True)], starter)[0]
    assert record["retraining_triggered"] and len(starter.calls) == 1


@pytest.mark.parametrize("cooldown", [0, 1])
def test_decide_trigger_with_short_cooldowns(cooldown):
    state = MonitoringState(episode_started="2026-11-10", last_triggered="2026-11-10")
    decision = decide_trigger(True, state, "2026-11-11", cooldown)
    assert decision.trigger is (cooldown <= 1)


def test_rerunning_a_night_that_triggered_keeps_its_run_id(store, settings):
    starter = _Starter()
    first, again = _run_nights(store, settings, [("2026-11-11", True), ("2026-11-11", True)], starter)
    assert again["retraining_triggered"] and again["retraining_run_id"] == first["retraining_run_id"] == 101
    assert len(starter.calls) == 1


def test_rerunning_an_earlier_night_neither_triggers_nor_moves_the_state_back(store, settings):
    starter = _Starter()
    _run_nights(store, settings, [("2026-11-11", False), ("2026-11-12", True), ("2026-11-13", True)], starter)
    rerun = _run_nights(store, settings, [("2026-11-11", True)], starter)[0]
    assert not rerun["retraining_triggered"] and len(starter.calls) == 1
    assert load_state(store, settings).last_checked == "2026-11-13"


def test_retraining_waits_for_labels_of_the_drifted_days_then_runs_once(store, settings):
    starter = _Starter()
    # Drift from Wednesday; the week's labels (Monday to Sunday) are published on Sunday.
    waiting = _run_nights(store, settings, [(f"2026-11-{d}", True) for d in (11, 12, 13, 14)], starter, labelled=False)
    assert starter.calls == [] and not any(r["retraining_triggered"] for r in waiting)
    assert "waits for labels" in waiting[-1]["reason"] and "since 2026-11-11" in waiting[-1]["reason"]
    for day in ("2026-11-10", "2026-11-11", "2026-11-12", "2026-11-13", "2026-11-14", "2026-11-15"):
        _publish_labels(store, settings, day)
    sunday, monday = _run_nights(store, settings, [("2026-11-15", True), ("2026-11-16", True)], starter, labelled=False)
    assert sunday["retraining_triggered"] and not monday["retraining_triggered"]
    assert len(starter.calls) == 1


def test_labels_from_before_the_drift_do_not_count(store, settings):
    _publish_labels(store, settings, "2026-11-08")
    record = _run_nights(store, settings, [("2026-11-11", True)], _Starter(), labelled=False)[0]
    assert not record["retraining_triggered"] and "waits for labels" in record["reason"]


def test_a_new_episode_after_a_passing_night_triggers_even_within_the_cooldown(store, settings):
    starter = _Starter()
    nights = [("2026-11-11", True), ("2026-11-12", False), ("2026-11-13", True), ("2026-11-14", True)]
    records = _run_nights(store, settings, nights, starter)
    assert [r["retraining_triggered"] for r in records] == [True, False, True, False]
