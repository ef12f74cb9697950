"""From a night's drift tests to at most one retraining per drift episode, recorded where users look.

A drift episode is a run of consecutive nights whose tests call for retraining. Retraining is triggered on the
first night of an episode whose labels have started to arrive (labels are published weekly; retraining without
any labelled day of the drift would learn nothing new); later nights of the same episode only record the
decision, until ``RETRAINING_COOLDOWN_DAYS`` have passed since the trigger. A night whose tests pass ends the
episode. The state lives in ``<title>/monitoring/state.json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from machine_learning.errors import NotFoundError
from machine_learning.monitoring.drift import DriftTestResult
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore

RETRAINING_PIPELINE = "retraining"


@dataclass(frozen=True)
class MonitoringState:
    """What the nightly decisions remember between nights."""

    episode_started: str | None = None
    last_triggered: str | None = None
    last_retraining_run: int | None = None
    last_checked: str | None = None


@dataclass(frozen=True)
class TriggerDecision:
    """Whether tonight triggers retraining, and why."""

    trigger: bool
    reason: str
    state: MonitoringState


def decide_trigger(
    needed: bool, state: MonitoringState, day: str, cooldown_days: int, labels_ready: bool = True
) -> TriggerDecision:
    """Decide whether tonight triggers retraining (pure: no I/O).

    Args:
        needed: Whether tonight's tests call for retraining.
        state: The state after the previous night.
        day: Tonight, ``YYYY-MM-DD``.
        cooldown_days: Days after a trigger during which the same episode does not trigger again.
        labels_ready: Whether labels of some day since the episode started have been published. Retraining
            without them would learn nothing new and use up the episode's trigger, so it waits for them.

    Returns:
        The decision and the state to store (without the run id of a retraining started because of it).

    """
    if not needed:
        ended = f"; the drift episode that started {state.episode_started} is over" if state.episode_started else ""
        return TriggerDecision(False, f"tests passed{ended}", dataclasses.replace(state, episode_started=None))
    if state.last_triggered == day:
        return TriggerDecision(False, f"retraining was already triggered for {day}", state)
    if state.episode_started and state.last_triggered and state.last_triggered >= state.episode_started:
        # A day before the last trigger (a re-run of an earlier night) counts as inside the cooldown.
        waited = (date.fromisoformat(day) - date.fromisoformat(state.last_triggered)).days
        if waited < cooldown_days:
            reason = (
                f"drift continues the episode that started {state.episode_started}; retraining was triggered on "
                f"{state.last_triggered} ({waited} of {cooldown_days} cooldown days)"
            )
            return TriggerDecision(False, reason, state)
    starts = state.episode_started or day
    if not labels_ready:
        reason = f"drift since {starts}: retraining waits for labels of those days (published when their week ends)"
        return TriggerDecision(False, reason, dataclasses.replace(state, episode_started=starts))
    # Still the same episode after a trigger means the drift outlived the cooldown.
    outlived = state.episode_started and (state.last_triggered or "") >= state.episode_started
    reason = "drift outlived the cooldown" if outlived else "drift detected: retraining triggered"
    return TriggerDecision(True, reason, MonitoringState(starts, day, None, state.last_checked))


def state_key(settings: Settings) -> str:
    """Key of the monitoring state object."""
    return f"{settings.s3_prefix}/monitoring/state.json"


def decision_key(settings: Settings, day: str) -> str:
    """Key of a night's decision record."""
    return f"{settings.s3_prefix}/monitoring/decisions/date={day}/decision.json"


def load_state(store: ObjectStore, settings: Settings) -> MonitoringState:
    """Read the monitoring state (a fresh state when none was stored yet)."""
    try:
        payload = store.read_json(state_key(settings))
    except NotFoundError:
        return MonitoringState()
    known = {f.name for f in dataclasses.fields(MonitoringState)}
    return MonitoringState(**{k: v for k, v in payload.items() if k in known})


def apply_decision(
    store: ObjectStore,
    settings: Settings,
    result: DriftTestResult,
    model_version: str,
    start_retraining: Callable[[dict[str, Any]], int],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Decide, trigger retraining if called for, and store the decision record and the new state.

    The state is written only after the retraining run was started, so a failed trigger is retried the next night
    (and the pipeline run fails visibly tonight). Running a night again that already triggered keeps its run id.

    Args:
        store: Where the state and the decision records live.
        settings: Title prefix and cooldown.
        result: Tonight's test result.
        model_version: The production version that was tested.
        start_retraining: Starts the retraining pipeline with the given variables and returns its run id.
        extra: More fields for the record (e.g. where the suite's snapshot and HTML copy went).

    Returns:
        The decision record (also stored at :func:`decision_key`).

    """
    from machine_learning.data.accumulate import labelled_days

    state = load_state(store, settings)
    starts = state.episode_started or result.day
    ready = any(starts <= labelled <= result.day for labelled in labelled_days(store, settings, result.day))
    decision = decide_trigger(result.decision.needed, state, result.day, settings.retraining_cooldown_days, ready)
    new_state = decision.state
    triggered_tonight = state.last_triggered == result.day  # this night ran before and started retraining
    run_id = state.last_retraining_run if triggered_tonight else None
    if decision.trigger:
        run_id = start_retraining({"batch_date": result.day, "reason": "; ".join(result.decision.reasons)})
        new_state = dataclasses.replace(new_state, last_retraining_run=run_id)
    record = {
        "day": result.day,
        "model_version": model_version,
        "retraining_needed": result.decision.needed,
        "retraining_triggered": decision.trigger or triggered_tonight,
        "retraining_run_id": run_id,
        "reason": decision.reason,
        "test_reasons": list(result.decision.reasons),
        "share_of_drifted_columns": result.decision.share_of_drifted_columns,
        "drifted_columns": list(result.decision.drifted_columns),
        "reference_rows": result.reference_rows,
        "current_rows": result.current_rows,
        "seconds": result.seconds,
        "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    store.write_json(decision_key(settings, result.day), record)
    checked = max(filter(None, (state.last_checked, result.day)))  # re-running an old night does not go back
    store.write_json(state_key(settings), asdict(dataclasses.replace(new_state, last_checked=checked)))
    return record


def describe_record(record: dict[str, Any]) -> str:
    """One line for logs and the CLI."""
    tests = "; ".join(record["test_reasons"]) or "no drift condition met"
    action = f"retraining run {record['retraining_run_id']} started" if record["retraining_triggered"] else "no action"
    return f"{record['day']}: {tests} -> {action} ({record['reason']})"
