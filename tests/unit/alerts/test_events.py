"""Which events make an alert, and the keys that make the same event one alert."""

from __future__ import annotations

from machine_learning.alerts.events import (
    PIPELINE_FAILED,
    PROMOTION,
    QUALITY_DROP,
    RETRAINING,
    alert_for_failed_run,
    alert_for_retreat,
    alert_for_transition,
    alerts_for_decision,
)


def _record(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "day": "2026-11-26",
        "retraining_needed": True,
        "retraining_triggered": True,
        "retraining_run_id": 12,
        "reason": "live accuracy dropped -> live quality dropped: retraining triggered",
        "quality_reason": "live accuracy 0.61 is 0.31 below the expected 0.92",
        "live_accuracy": 0.61,
        "expected_accuracy": 0.92,
    }
    return {**record, **changes}


def test_a_night_that_starts_retraining_alerts_the_drop_and_the_run() -> None:
    alerts = alerts_for_decision("demo-game", _record(), "2026-11-26")
    assert [a.kind for a in alerts] == [QUALITY_DROP, RETRAINING]
    assert "0.6100 vs expected 0.9200" in alerts[0].text
    assert "retraining run 12" in alerts[1].text
    assert all(a.payload() == {"text": a.text} for a in alerts)


def test_later_nights_of_one_episode_share_the_drop_alert() -> None:
    first = alerts_for_decision("demo-game", _record(), "2026-11-26")[0]
    later = alerts_for_decision("demo-game", _record(day="2026-11-28", retraining_triggered=False), "2026-11-26")
    assert [a.key for a in later] == [first.key]


def test_a_quiet_night_alerts_nothing() -> None:
    quiet = _record(retraining_needed=False, retraining_triggered=False, retraining_run_id=None)
    assert alerts_for_decision("demo-game", quiet, None) == []


def test_promotions_and_withdrawals_alert_once_per_version_and_other_transitions_not() -> None:
    alert = alert_for_transition("demo-game", "promoted", "3", "approved, replaces v2: beats the margin")
    assert alert is not None and alert.kind == PROMOTION and alert.key.endswith("/v3")
    assert "v3 promoted to production: approved, replaces v2" in alert.text
    withdrawn = alert_for_transition("demo-game", "canary-withdrawn", "4", "withdrawn automatically: p99 too high")
    assert withdrawn is not None and withdrawn.kind == "retreat" and withdrawn.key.endswith("/v4")
    assert alert_for_transition("demo-game", "proposed", "3", "waits for approval") is None


def test_the_alerting_events_are_the_audit_logs() -> None:
    from machine_learning.alerts import events
    from machine_learning.rollout import audit

    assert (events.PROMOTED_EVENT, events.WITHDRAWN_EVENT) == (audit.PROMOTED, audit.CANARY_WITHDRAWN)


def test_a_retreat_names_the_version_and_the_reason() -> None:
    alert = alert_for_retreat("demo-game", "4", "p99 latency 80 ms above the limit 50 ms")
    assert alert.key.endswith("/v4") and "p99 latency" in alert.text


def test_a_failed_run_is_keyed_by_its_pipeline_and_run_id() -> None:
    text = "Failed to run Pipeline `training` ... Error: boom\nhttp://127.0.0.1:6789/pipelines/training/runs/41"
    alert = alert_for_failed_run("demo-game", text)
    assert alert.kind == PIPELINE_FAILED and alert.key == "pipeline-failed/demo-game/training/41"
    assert alert_for_failed_run("demo-game", "no link here").key != alert_for_failed_run("demo-game", "other").key
