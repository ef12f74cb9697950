"""The performance_monitoring pipeline as one call: test, decide, trigger retraining, record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from machine_learning.monitoring.data import load_current_data, load_reference_data, report_key
from machine_learning.monitoring.decision import RETRAINING_PIPELINE, apply_decision, decision_key, describe_record
from machine_learning.monitoring.drift import DriftTestResult, run_drift_tests
from machine_learning.scale.sample import sample_current
from machine_learning.settings import Settings


def monitoring_experiment(settings: Settings) -> str:
    """MLflow experiment holding one run per night's tests (metrics over time, decision as tags)."""
    return f"{settings.game_title}-monitoring"


def run_performance_monitoring(
    settings: Settings,
    day: date | datetime | str | None,
    start_retraining: Callable[[dict[str, Any]], int] | None = None,
) -> dict[str, Any]:
    """Test the day's scored data against production's reference data and retrain when the tests call for it.

    Args:
        settings: Everything about where things live and the drift conditions.
        day: The night's day (a date, Mage's ``execution_date`` or ``YYYY-MM-DD``; today when omitted). The
            window is the ``MONITORING_WINDOW_DAYS`` days ending on it.
        start_retraining: Starts the retraining pipeline and returns its run id; defaults to the Mage server's
            ``retraining_api`` trigger.

    Returns:
        The decision record, with where the suite's snapshot and HTML copy went.

    """
    from machine_learning.inference.batch import as_day
    from machine_learning.monitoring.workspace import add_snapshot, render_html
    from machine_learning.services import connect

    day = as_day(day)
    services = connect(settings)
    reference = load_reference_data(services.mlflow, services.store, settings)
    current = load_current_data(services.store, settings, day, settings.monitoring_window_days)
    print(f"{day}: testing {len(current)} scored rows against v{reference.model_version}'s {len(reference.frame)}")
    tested = sample_current(current, settings.drift_sample_rows, settings.random_seed)  # scale: sample a big window
    suite, result = run_drift_tests(reference.frame, tested.frame, settings, day, reference.model_version)
    # Everything that can fail without side effects comes before the decision, which may start retraining.
    shown = {
        "snapshot_id": add_snapshot(settings, suite),
        "html_uri": services.store.write_bytes(
            report_key(settings, day, "drift_tests"), render_html(suite), content_type="text/html"
        ),
    }
    starter = start_retraining or mage_retraining_starter(settings)
    record = apply_decision(services.store, settings, result, reference.model_version, starter, shown)
    print(describe_record(record))
    record["drift_sample"] = tested.record()  # scale: the sample's size and seed, in the stored decision
    record["mlflow_run_id"] = log_monitoring_run(services.mlflow, settings, result, record)
    services.store.write_json(decision_key(settings, day), record)
    return record


def mage_retraining_starter(settings: Settings) -> Callable[[dict[str, Any]], int]:
    """Return a function that starts the retraining pipeline through its API trigger on the Mage server."""

    def start(variables: dict[str, Any]) -> int:
        from machine_learning.orchestration import MageClient, start_pipeline

        # The server's own GAME_TITLE may differ: the retraining run works on this title.
        return start_pipeline(
            MageClient(settings), RETRAINING_PIPELINE, {"game_title": settings.game_title, **variables}
        )

    return start


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
        "retraining_triggered": str(record["retraining_triggered"]),
        "decision": record["reason"][:5000],
        "mlflow.note.content": "; ".join(result.decision.reasons) or "no drift condition met",
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
    }
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value, step=step)
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)
