"""The retraining trigger: live quality decides, at most once per episode and cooldown, recorded where users look."""

from __future__ import annotations

import pytest

from machine_learning.monitoring.decision import (
    MonitoringState,
    apply_decision,
    decide_trigger,
    decision_key,
    load_state,
)
from machine_learning.monitoring.drift import DriftTestResult, RetrainingDecision
from machine_learning.monitoring.quality import QualityDecision


def _result(day: str, drift: bool) -> DriftTestResult:
    reasons = ("AvgSessionDurationMinutes drifted (score 0.9 > threshold 0.1)",) if drift else ()
    drifted = ("AvgSessionDurationMinutes",) if drift else ()
    return DriftTestResult(day, 40_000, 2_000, RetrainingDecision(drift, reasons, 1 / 12 if drift else 0.0, drifted))


def _quality(needed: bool | None) -> QualityDecision:
    if needed is None:
        return QualityDecision(None, "no labelled players newer than production's training data")
    accuracy = 0.6 if needed else 0.93
    return QualityDecision(needed, f"live accuracy {accuracy}", accuracy, 0.93, 2000)


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


def _run_nights(
    store, settings, nights: list[tuple[str, bool | None]], starter: _Starter, drift: bool = False
) -> list[dict]:
    """Run the nights in order: each with its live-quality verdict (None: no labelled evidence)."""
    return [
        apply_decision(store, settings, _result(day, drift), _quality(needed), "1", starter) for day, needed in nights
    ]


def test_quality_that_holds_never_triggers(store, settings):
    starter = _Starter()
    records = _run_nights(store, settings, [(f"2026-11-{d:02d}", False) for d in range(10, 17)], starter)
    assert starter.calls == []
    assert not any(r["retraining_triggered"] for r in records)


def test_a_quality_episode_triggers_retraining_exactly_once(store, settings):
    starter = _Starter()
    nights = [("2026-11-10", False), ("2026-11-11", True), ("2026-11-12", True), ("2026-11-13", True)]
    records = _run_nights(store, settings, nights, starter)
    assert [r["retraining_triggered"] for r in records] == [False, True, False, False]
    key = f"{settings.game_title}:2026-11-11:retraining"
    assert starter.calls == [{"batch_date": "2026-11-11", "reason": records[1]["quality_reason"], "trigger_key": key}]
    assert records[1]["retraining_run_id"] == 101
    assert "episode that started 2026-11-11" in records[3]["reason"]


def test_each_night_is_recorded_with_its_reasons(store, settings):
    _run_nights(store, settings, [("2026-11-11", True)], _Starter(), drift=True)
    stored = store.read_json(decision_key(settings, "2026-11-11"))
    assert stored["retraining_needed"] and stored["retraining_triggered"]
    assert stored["drifted_columns"] == ["AvgSessionDurationMinutes"] and stored["drift_detected"]
    assert stored["live_accuracy"] == 0.6 and stored["expected_accuracy"] == 0.93
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


def test_quality_not_recovering_within_the_cooldown_triggers_again(store, settings):
    starter = _Starter()
    days = [f"2026-11-{d:02d}" for d in range(1, 10)]  # nine nights of drift, cooldown 7 days
    records = _run_nights(store, settings, [(day, True) for day in days], starter)
    assert [r["day"] for r in records if r["retraining_triggered"]] == ["2026-11-01", "2026-11-08"]


def test_a_failed_trigger_fails_the_night_and_is_retried_the_next(store, settings):
    with pytest.raises(ConnectionError):
        apply_decision(store, settings, _result("2026-11-11", True), _quality(True), "1", _Starter(fail=True))
    assert load_state(store, settings).last_retraining_run is None  # recorded as sent, no run yet
    starter = _Starter()
    record = _run_nights(store, settings, [("2026-11-12", True)], starter)[0]
    assert record["retraining_triggered"] and record["retraining_run_id"] == 101
    assert [call["trigger_key"] for call in starter.calls] == [f"{settings.game_title}:2026-11-11:retraining"]


class _DyingStarter(_Starter):
    """Mage accepted the run, then the monitoring run died before it could record the run id."""

    def __call__(self, variables: dict) -> int:
        super().__call__(variables)
        raise SystemExit("killed")


def _finder(starter: _Starter):
    def find(key: str) -> int | None:
        ids = [100 + n for n, call in enumerate(starter.calls, 1) if call.get("trigger_key") == key]
        return ids[-1] if ids else None

    return find


def test_a_run_that_dies_between_trigger_and_record_never_triggers_twice(store, settings):
    dying = _DyingStarter()
    with pytest.raises(SystemExit):
        apply_decision(store, settings, _result("2026-11-11", True), _quality(True), "1", dying)
    # Mage re-runs the killed step: the rerun finds the key's run and records it instead of starting another.
    again = apply_decision(
        store, settings, _result("2026-11-11", True), _quality(True), "1", dying, None, _finder(dying)
    )
    assert len(dying.calls) == 1
    assert again["retraining_triggered"] and again["retraining_run_id"] == 101
    assert load_state(store, settings).last_retraining_run == 101


def test_two_monitoring_runs_of_one_night_at_once_trigger_once(store, settings):
    import threading

    starter = _Starter()
    barrier = threading.Barrier(2)

    def night() -> None:
        barrier.wait()
        apply_decision(
            store, settings, _result("2026-11-11", True), _quality(True), "1", starter, None, _finder(starter)
        )

    threads = [threading.Thread(target=night) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(starter.calls) == 1
    assert store.list_keys(f"{settings.s3_prefix}/locks/") == []  # released


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


def test_drift_without_labelled_evidence_is_an_early_warning_only(store, settings):
    starter = _Starter()
    records = _run_nights(store, settings, [(f"2026-11-{d}", None) for d in (11, 12, 13)], starter, drift=True)
    assert starter.calls == [] and not any(r["retraining_triggered"] for r in records)
    assert all(r["drift_detected"] and "early warning" in r["drift_warning"] for r in records)


def test_drift_that_the_labels_still_fit_starts_nothing(store, settings):
    starter = _Starter()
    records = _run_nights(store, settings, [(f"2026-11-{d}", False) for d in (11, 12, 13)], starter, drift=True)
    assert starter.calls == [] and all(r["drift_detected"] for r in records)


def test_a_quality_drop_without_drift_triggers(store, settings):
    starter = _Starter()
    record = _run_nights(store, settings, [("2026-11-15", True)], starter, drift=False)[0]
    assert record["retraining_triggered"] and not record["drift_detected"] and len(starter.calls) == 1


def test_nights_without_evidence_keep_the_episode_and_its_baseline(store, settings):
    starter = _Starter()
    nights = [("2026-11-08", True), *((f"2026-11-{d:02d}", None) for d in range(9, 15)), ("2026-11-15", True)]
    records = _run_nights(store, settings, nights, starter)
    assert [r["day"] for r in records if r["retraining_triggered"]] == ["2026-11-08", "2026-11-15"]
    state = load_state(store, settings)
    assert state.episode_started == "2026-11-08" and state.episode_baseline == 0.93
    _run_nights(store, settings, [("2026-11-22", False)], starter)
    assert load_state(store, settings).episode_started is None and len(starter.calls) == 2


def test_a_new_episode_after_a_passing_night_triggers_even_within_the_cooldown(store, settings):
    starter = _Starter()
    nights = [("2026-11-11", True), ("2026-11-12", False), ("2026-11-13", True), ("2026-11-14", True)]
    records = _run_nights(store, settings, nights, starter)
    assert [r["retraining_triggered"] for r in records] == [True, False, True, False]
