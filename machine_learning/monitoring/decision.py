"""From a night's live quality and drift tests to at most one retraining per episode and cooldown, recorded.

Live quality from labels decides (``monitoring/quality.py``): an episode is a run of nights on which production's
live accuracy is too low. Retraining is triggered on its first night; later nights of the same episode only record
the decision until ``RETRAINING_COOLDOWN_DAYS`` have passed since the trigger, and a night whose labels show that
quality recovered ends the episode. Nights without labelled evidence (labels arrive weekly) keep the episode as it
is. Feature drift is recorded every night as an early warning; on its own it starts nothing, since a shift that the
labels still fit (more casual players, say) does not make the model worse. The state lives in
``<title>/monitoring/state.json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from machine_learning.errors import NotFoundError
from machine_learning.monitoring.drift import DriftTestResult
from machine_learning.monitoring.quality import QualityDecision
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore

RETRAINING_PIPELINE = "retraining"
MONITORING_LOCK = "monitoring-decision"


@dataclass(frozen=True)
class MonitoringState:
    """What the nightly decisions remember between nights."""

    episode_started: str | None = None
    last_triggered: str | None = None
    last_retraining_run: int | None = None
    last_checked: str | None = None
    episode_baseline: float | None = None  # expected accuracy of the production in place when the episode began
    trigger_key: str | None = None  # idempotency key of the last trigger, recorded before the trigger is sent


@dataclass(frozen=True)
class TriggerDecision:
    """Whether tonight triggers retraining, and why."""

    trigger: bool
    reason: str
    state: MonitoringState


def decide_trigger(
    needed: bool | None, state: MonitoringState, day: str, cooldown_days: int, baseline: float | None = None
) -> TriggerDecision:
    """Decide whether tonight triggers retraining (pure: no I/O).

    Args:
        needed: Whether tonight's live quality calls for retraining; ``None`` when no labelled day can tell.
        state: The state after the previous night.
        day: Tonight, ``YYYY-MM-DD``.
        cooldown_days: Days after a trigger during which the same episode does not trigger again.
        baseline: Production's expected accuracy, kept as the episode's baseline when an episode starts.

    Returns:
        The decision and the state to store (without the run id of a retraining started because of it).

    """
    if needed is None:
        return TriggerDecision(False, "no new evidence tonight; the state is kept", state)
    if not needed:
        ended = f"; the quality episode that started {state.episode_started} is over" if state.episode_started else ""
        cleared = dataclasses.replace(state, episode_started=None, episode_baseline=None)
        return TriggerDecision(False, f"live quality holds{ended}", cleared)
    if state.last_triggered == day:
        return TriggerDecision(False, f"retraining was already triggered for {day}", state)
    if state.episode_started and state.last_triggered and state.last_triggered >= state.episode_started:
        # A day before the last trigger (a re-run of an earlier night) counts as inside the cooldown.
        waited = (date.fromisoformat(day) - date.fromisoformat(state.last_triggered)).days
        if waited < cooldown_days:
            reason = (
                f"the quality episode that started {state.episode_started} continues; retraining was triggered on "
                f"{state.last_triggered} ({waited} of {cooldown_days} cooldown days)"
            )
            return TriggerDecision(False, reason, state)
    # Still the same episode after a trigger means quality did not recover within the cooldown.
    outlived = state.episode_started and (state.last_triggered or "") >= state.episode_started
    reason = (
        "quality did not recover within the cooldown: retraining triggered again"
        if outlived
        else ("live quality dropped: retraining triggered")
    )
    starts = state.episode_started or day
    kept = state.episode_baseline if state.episode_started else baseline
    return TriggerDecision(True, reason, MonitoringState(starts, day, None, state.last_checked, kept))


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


def last_checked_day(store: ObjectStore, settings: Settings) -> str:
    """Return the latest night monitoring checked (the default day of ``mlops decision`` and ``live-quality``).

    Raises:
        NotFoundError: performance_monitoring has not run for this title yet.

    """
    last = load_state(store, settings).last_checked
    if not last:
        raise NotFoundError(f"no monitoring decision for {settings.game_title} yet: performance_monitoring has not run")
    return str(last)


def retraining_trigger_key(settings: Settings, day: str) -> str:
    """Return the idempotency key of the retraining a night triggers (one per title and night)."""
    return f"{settings.game_title}:{day}:retraining"


def apply_decision(
    store: ObjectStore,
    settings: Settings,
    result: DriftTestResult,
    quality: QualityDecision,
    model_version: str,
    start_retraining: Callable[[dict[str, Any]], int],
    extra: dict[str, Any] | None = None,
    find_retraining: Callable[[str], int | None] | None = None,
) -> dict[str, Any]:
    """Decide, trigger retraining if called for, and store the decision record and the new state.

    Exactly once per episode, even when the run dies between trigger and record: under the title's monitoring
    lock, the state with the trigger's idempotency key is recorded first, then retraining is started with that key
    as a variable, then its run id is recorded. A night that finds its key recorded without a run id (the run died
    in between) asks ``find_retraining`` whether a run with that key exists, and starts one only if none does. A
    failed trigger fails the run visibly; its rerun (or the next night) reconciles.

    Args:
        store: Where the state and the decision records live.
        settings: Title prefix and cooldown.
        result: Tonight's drift tests (an early warning, recorded).
        quality: Tonight's live-quality decision (what decides).
        model_version: The production version that was tested.
        start_retraining: Starts the retraining pipeline with the given variables and returns its run id.
        extra: More fields for the record (e.g. where the suite's snapshot and HTML copy went).
        find_retraining: Returns the run id of a retraining run started with a given key, or ``None``; without
            it, a recorded key without a run id is taken as never sent.

    Returns:
        The decision record (also stored at :func:`decision_key`).

    Raises:
        LockBusyError: Another monitoring run of this title is deciding.

    """
    from machine_learning.locks import title_lock

    with title_lock(store, settings, MONITORING_LOCK):
        state = load_state(store, settings)
        variables = {"batch_date": result.day, "reason": quality.reason}
        variables |= {"changed_since": quality.changed_since} if quality.changed_since else {}
        started_now = None  # a run this night started for an earlier trigger that never reached the orchestrator
        if state.trigger_key and state.last_retraining_run is None:
            state, started_now = _reconcile_trigger(
                store, settings, state, result.day, variables, start_retraining, find_retraining
            )
        decision = decide_trigger(
            quality.needed, state, result.day, settings.retraining_cooldown_days, quality.expected_accuracy
        )
        new_state = decision.state
        triggered_tonight = state.last_triggered == result.day  # this night ran before and started retraining
        run_id = state.last_retraining_run if triggered_tonight else started_now
        if decision.trigger:
            key = retraining_trigger_key(settings, result.day)
            new_state = dataclasses.replace(new_state, trigger_key=key)
            _write_state(store, settings, state, new_state, result.day)  # record first: a rerun finds the key
            run_id = start_retraining(variables | {"trigger_key": key})
            new_state = dataclasses.replace(new_state, last_retraining_run=run_id)
        record = {
            "day": result.day,
            "model_version": model_version,
            "retraining_needed": bool(quality.needed),
            "retraining_triggered": decision.trigger or triggered_tonight or started_now is not None,
            "retraining_run_id": run_id,
            "reason": f"{quality.reason} -> {decision.reason}",
            "quality_reason": quality.reason,
            "live_accuracy": quality.live_accuracy,
            "expected_accuracy": quality.expected_accuracy,
            "live_rows": quality.rows,
            "changed_since": quality.changed_since,
            "drift_detected": result.decision.needed,
            "drift_warning": _drift_warning(result),
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
        _write_state(store, settings, state, new_state, result.day)
        return record


def _reconcile_trigger(
    store: ObjectStore,
    settings: Settings,
    state: MonitoringState,
    day: str,
    variables: dict[str, Any],
    start_retraining: Callable[[dict[str, Any]], int],
    find_retraining: Callable[[str], int | None] | None,
) -> tuple[MonitoringState, int | None]:
    """Settle, once, a trigger recorded without its run id (the run died, or the trigger failed).

    Returns:
        The settled state, and the run id when this call had to start the run (``None`` when it existed).

    """
    key = str(state.trigger_key)
    found = find_retraining(key) if find_retraining else None
    started = None
    if found is None:
        started = start_retraining({**variables, "batch_date": state.last_triggered or day, "trigger_key": key})
        print(f"{day}: the retraining of {key} had not started: started run {started}")
    else:
        print(f"{day}: the retraining of {key} was already started as run {found}; not started again")
    settled = dataclasses.replace(state, last_retraining_run=found if found is not None else started)
    _write_state(store, settings, state, settled, day)
    return settled, started


def _write_state(
    store: ObjectStore, settings: Settings, before: MonitoringState, state: MonitoringState, day: str
) -> None:
    checked = max(filter(None, (before.last_checked, day)))  # re-running an old night does not go back
    store.write_json(state_key(settings), asdict(dataclasses.replace(state, last_checked=checked)))


def _drift_warning(result: DriftTestResult) -> str:
    if not result.decision.needed:
        return ""
    return f"early warning, drift: {'; '.join(result.decision.reasons)} (labels will tell whether quality dropped)"


def describe_record(record: dict[str, Any]) -> str:
    """One line for logs and the CLI: the decision first, then the quality evidence and the drift warning."""
    action = f"retraining run {record['retraining_run_id']} started" if record["retraining_triggered"] else "no action"
    drift = "; ".join(record["test_reasons"]) or "no drift"
    return f"{record['day']}: {action} ({record['reason']}); drift tests: {drift}"
