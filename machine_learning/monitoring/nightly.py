"""The performance_monitoring pipeline: drift tests, live quality from labels, shadow promotion, decide, record."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pandas as pd

from machine_learning.alerts.webhook import notify_decision
from machine_learning.errors import NotFoundError
from machine_learning.monitoring.data import (
    ReferenceData,
    load_current_data,
    load_reference_data,
    report_key,
    summarise_loaded_data,
)
from machine_learning.monitoring.decision import (
    RETRAINING_PIPELINE,
    apply_decision,
    decision_key,
    describe_record,
    load_state,
)
from machine_learning.monitoring.drift import DriftTestResult, drift_test_data, run_drift_tests
from machine_learning.monitoring.quality import (
    PRODUCTION_ROLE,
    QualityDecision,
    compare_live,
    decide_quality,
    expected_accuracy,
    find_change_day,
    load_live_predictions,
    pool_live,
    summarise_live,
)
from machine_learning.settings import Settings


def monitoring_experiment(settings: Settings) -> str:
    """MLflow experiment holding one run per night's tests (metrics over time, decision as tags)."""
    return f"{settings.game_title}-monitoring"


def run_performance_monitoring(
    settings: Settings,
    day: date | datetime | str | None,
    start_retraining: Callable[[dict[str, Any]], int] | None = None,
    find_retraining: Callable[[str], int | None] | None = None,
) -> dict[str, Any]:
    """Test the night: drift as an early warning, live quality from labels as the decision, then act on it.

    The whole performance_monitoring pipeline as one call, composed of its steps (each one Mage block):
    :func:`check_drift` (the drift tests of the day's scored data against production's reference data, snapshot
    + HTML), :func:`measure_live_quality` (production's and a shadow candidate's live quality on the labelled
    days of the window, promoting the shadow candidate when it wins on them), :func:`decide_retraining` (the
    retraining decision from production's live quality, which may start retraining) and
    :func:`record_monitoring_night` (MLflow run and the stored decision record).

    Args:
        settings: Everything about where things live, the drift conditions and the quality rules.
        day: The night's day (a date, Mage's ``execution_date`` or ``YYYY-MM-DD``; today when omitted). The
            drift window is the ``MONITORING_WINDOW_DAYS`` days ending on it, the quality window
            ``QUALITY_WINDOW_DAYS``.
        start_retraining: Starts the retraining pipeline and returns its run id; defaults to the Mage server's
            ``retraining_api`` trigger.
        find_retraining: Finds a retraining run by its trigger key (reconciliation after a run died between
            trigger and record); defaults to asking the Mage server when ``start_retraining`` is the default.

    Returns:
        The decision record, with the live quality, any shadow promotion and where the suite's snapshot went.

    """
    from machine_learning.inference.batch import as_day
    from machine_learning.services import connect

    day = as_day(day)
    services = connect(settings)
    drift = check_drift(services, settings, day)
    # Everything that can fail without side effects comes before the decision, which may start retraining.
    quality = measure_live_quality(services, settings, day)
    record = decide_retraining(services, settings, drift, quality, start_retraining, find_retraining)
    return record_monitoring_night(services, settings, drift, record)


def load_monitoring_data(services: Any, settings: Settings, day: str) -> dict[str, Any]:
    """Step 1: find the night's data, production's reference data and the scored days of the window.

    Args:
        services: The S3 store and MLflow client.
        settings: Names the model and the drift window (``MONITORING_WINDOW_DAYS``).
        day: Tonight, ``YYYY-MM-DD``.

    Returns:
        ``day``, production's ``model_version``, ``reference_uri``, ``reference_rows``, ``current_rows`` and
        the scored ``current_days`` (small: the tables stay in S3 and the next step reads them).

    Raises:
        NotFoundError: Nothing is in production, its reference data is missing, or no day was scored.

    """
    reference, current = _load_night(services, settings, day)
    return summarise_loaded_data(day, reference, current)


def check_drift(services: Any, settings: Settings, day: str) -> dict[str, Any]:
    """Step 2: run the drift tests of the night's data and store them (Evidently snapshot and HTML in S3).

    Args:
        services: The S3 store and MLflow client.
        settings: Drift conditions, sample size and where the workspace is.
        day: Tonight, ``YYYY-MM-DD``.

    Returns:
        ``day``, the tests' ``result`` (:meth:`DriftTestResult.to_dict`), where they were ``shown`` (snapshot id,
        HTML URI) and the ``drift_sample`` tested.

    """
    from machine_learning.monitoring.workspace import add_snapshot, render_html

    reference, current = _load_night(services, settings, day)
    tested = drift_test_data(current, settings)  # scale: sample a big window
    suite, result = run_drift_tests(reference.frame, tested.frame, settings, day, reference.model_version)
    shown = {
        "snapshot_id": add_snapshot(settings, suite),
        "html_uri": services.store.write_bytes(
            report_key(settings, day, "drift_tests"), render_html(suite), content_type="text/html"
        ),
    }
    drifted = ", ".join(result.decision.drifted_columns) or "none"
    print(f"{day}: drift {'DETECTED' if result.decision.needed else 'not detected'}; drifted columns: {drifted}")
    return {"day": day, "result": result.to_dict(), "shown": shown, "drift_sample": tested.record()}


def measure_live_quality(services: Any, settings: Settings, day: str) -> dict[str, Any]:
    """Step 3: live quality from published labels; a shadow candidate that wins on them is promoted.

    Args:
        services: The S3 store and MLflow client.
        settings: Quality window, thresholds and the promotion rule.
        day: Tonight, ``YYYY-MM-DD``.

    Returns:
        ``day``, the quality ``decision`` (a :class:`QualityDecision` as a dict), the production ``version`` it
        is about, any ``shadow_selection`` and the ``live_quality`` per labelled day, version and role.

    """
    quality, live = check_live_quality(services, settings, day)
    decision: QualityDecision = quality["decision"]
    print(f"{day}: live quality of v{quality['version']}: {decision.reason}")
    return {
        "day": day,
        "decision": dataclasses.asdict(decision),
        "version": quality["version"],
        "shadow_selection": quality["shadow_selection"],
        "live_quality": live,
    }


def decide_retraining(
    services: Any,
    settings: Settings,
    drift: dict[str, Any],
    quality: dict[str, Any],
    start_retraining: Callable[[dict[str, Any]], int] | None = None,
    find_retraining: Callable[[str], int | None] | None = None,
) -> dict[str, Any]:
    """Step 4: decide from live quality, start retraining if called for, store the state; print the decision.

    Args:
        services: The S3 store.
        settings: Title prefix and cooldown.
        drift: The output of :func:`check_drift`.
        quality: The output of :func:`measure_live_quality`.
        start_retraining: Starts the retraining pipeline and returns its run id; defaults to the Mage server's
            ``retraining_api`` trigger.
        find_retraining: Finds a retraining run by its trigger key (reconciliation after a run died between
            trigger and record); defaults to asking the Mage server when ``start_retraining`` is the default.

    Returns:
        The decision record (see :func:`machine_learning.monitoring.decision.apply_decision`).

    """
    result = DriftTestResult.from_dict(drift["result"])
    starter = start_retraining or mage_retraining_starter(settings)
    finder = find_retraining or (None if start_retraining else mage_retraining_finder(settings))
    decision = QualityDecision(**quality["decision"])
    record = apply_decision(
        services.store, settings, result, decision, quality["version"], starter, drift["shown"], finder
    )
    record.update(live_quality=quality["live_quality"], shadow_selection=quality["shadow_selection"])
    print(describe_record(record))
    return record


def record_monitoring_night(
    services: Any, settings: Settings, drift: dict[str, Any], record: dict[str, Any]
) -> dict[str, Any]:
    """Step 5: record the night in MLflow and store the full decision record.

    Args:
        services: The S3 store and MLflow client.
        settings: Names the experiment and the title prefix.
        drift: The output of :func:`check_drift`.
        record: The output of :func:`decide_retraining`.

    Returns:
        The stored decision record, with the drift sample and the MLflow run id.

    """
    result = DriftTestResult.from_dict(drift["result"])
    record = {**record, "drift_sample": drift["drift_sample"]}  # scale: the sample's size and seed
    record["mlflow_run_id"] = log_monitoring_run(services.mlflow, settings, result, record)
    services.store.write_json(decision_key(settings, result.day), record)
    notify_decision(services.store, settings, record)
    return record


def _load_night(services: Any, settings: Settings, day: str) -> tuple[ReferenceData, pd.DataFrame]:
    reference = load_reference_data(services.mlflow, services.store, settings)
    current = load_current_data(services.store, settings, day, settings.monitoring_window_days)
    print(f"{day}: testing {len(current)} scored rows against v{reference.model_version}'s {len(reference.frame)}")
    return reference, current


def check_live_quality(services: Any, settings: Settings, day: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score stored predictions against published labels; promote a shadow candidate that wins on them.

    Args:
        services: The S3 store and MLflow client.
        settings: Quality window, thresholds and the promotion rule.
        day: Tonight, ``YYYY-MM-DD``.

    Returns:
        The quality decision for the version now in production (with that version and any shadow selection),
        and the live quality per labelled day, version and role.

    """
    from machine_learning.monitoring.data import window_days
    from machine_learning.registry import CANDIDATE, PRODUCTION, get_alias_version
    from machine_learning.selection import select_model

    live = load_live_predictions(services.store, settings, window_days(day, settings.quality_window_days))
    production = get_alias_version(services.mlflow, settings, PRODUCTION)
    candidate = get_alias_version(services.mlflow, settings, CANDIDATE)
    if production is None:
        raise NotFoundError(f"no model in production for '{settings.game_title}': run training and model_selection")
    selection = None
    if candidate is not None and candidate.version != production.version:
        comparison = compare_live(live, candidate, production, settings.promotion_metric)
        if comparison is not None:
            selection = select_model(services.mlflow, services.store, settings, live=comparison).to_dict()
            print(f"{day}: shadow candidate v{candidate.version}: {selection['reason']}")
            production = get_alias_version(services.mlflow, settings, PRODUCTION) or production
    if selection and selection["promoted"]:
        decision = QualityDecision(None, f"shadow candidate v{production.version} promoted on live players tonight")
    else:
        pooled, newest = pool_live(live, production.version, PRODUCTION_ROLE, production.tags.get("trained_until", ""))
        state = load_state(services.store, settings)
        baseline = state.episode_baseline if state.episode_started else None
        expected, after = expected_accuracy(production), production.tags.get("trained_until", "")
        decision = decide_quality(
            pooled, newest, expected, baseline, settings.max_quality_drop, settings.quality_recovery_tolerance
        )
        if decision.needed:
            changed = find_change_day(live, production.version, after, expected, settings.max_quality_drop)
            decision = dataclasses.replace(decision, changed_since=changed)
    summary = [quality.to_dict() for quality in summarise_live(live)]
    return {"decision": decision, "version": production.version, "shadow_selection": selection}, summary


def mage_retraining_starter(settings: Settings) -> Callable[[dict[str, Any]], int]:
    """Return a function that starts the retraining pipeline through its API trigger on the Mage server."""

    def start(variables: dict[str, Any]) -> int:
        from machine_learning.orchestration import MageClient, start_pipeline

        # The server's own GAME_TITLE may differ: the retraining run works on this title.
        return start_pipeline(
            MageClient(settings), RETRAINING_PIPELINE, {"game_title": settings.game_title, **variables}
        )

    return start


def mage_retraining_finder(settings: Settings) -> Callable[[str], int | None]:
    """Return a function that finds a retraining run on the Mage server by its ``trigger_key`` variable."""

    def find(key: str) -> int | None:
        from machine_learning.orchestration import MageClient

        return MageClient(settings).find_run(RETRAINING_PIPELINE, "trigger_key", key)

    return find


def log_monitoring_run(client: Any, settings: Settings, result: DriftTestResult, record: dict[str, Any]) -> str:
    """Record the night in MLflow: metrics to chart over days, the decision as tags.

    Args:
        client: An ``MlflowClient``.
        settings: Names the experiment.
        result: The night's tests.
        record: The decision record.

    Returns:
        The MLflow run id.

    """
    name = monitoring_experiment(settings)
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    tags = {
        "day": result.day,
        "model_version": str(record["model_version"]),
        "retraining_needed": str(record["retraining_needed"]),
        "drift_detected": str(record["drift_detected"]),
        "retraining_triggered": str(record["retraining_triggered"]),
        "decision": record["reason"][:5000],
        "mlflow.note.content": f"{record['quality_reason']}. Drift: "
        + ("; ".join(result.decision.reasons) or "no drift condition met"),
    }
    run = client.create_run(experiment_id, run_name=f"drift-tests-{result.day}", tags=tags)
    step = int(result.day.replace("-", ""))
    metrics = {
        "share_of_drifted_columns": result.decision.share_of_drifted_columns,
        "drifted_columns": float(len(result.decision.drifted_columns)),
        "failed_tests": float(sum(t.status == "FAIL" for t in result.tests)),
        "retraining_needed": float(result.decision.needed),
        "retraining_triggered": float(record["retraining_triggered"]),
        "current_rows": float(result.current_rows),
        **({"live_accuracy": record["live_accuracy"]} if record.get("live_accuracy") is not None else {}),
    }
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value, step=step)
    for quality in record.get("live_quality", []):  # each labelled day, per model version, on the day's axis
        day_step = int(quality["day"].replace("-", ""))
        for name in ("accuracy", "f1_macro"):
            key = f"live_{name}_{quality['role']}_v{quality['version']}"
            client.log_metric(run.info.run_id, key, quality[name], step=day_step)
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)
