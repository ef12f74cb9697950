"""Daily Evidently reports, the performance_reports pipeline.

Data quality, data drift, prediction drift, and model quality once the day's labels arrived. Each becomes a
snapshot in the title's Evidently project, and an HTML copy goes to S3.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd

from machine_learning.data.schema import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    ID_COLUMN,
    LABEL_COLUMN,
    LABELS,
    NUMERIC_FEATURES,
)
from machine_learning.monitoring.data import MONITORED_COLUMNS
from machine_learning.monitoring.workspace import (
    DATA_DRIFT,
    DATA_QUALITY,
    LIVE_PRODUCTION,
    LIVE_SHADOW,
    MODEL_QUALITY,
    PREDICTION_DRIFT,
    add_snapshot,
    describe_run,
    evidently_project_url,
    open_project,
    render_html,
)
from machine_learning.settings import Settings
from machine_learning.training.train import PREDICTION_COLUMN

DATE_COLUMN = "date"


def build_reports(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    labelled: pd.DataFrame | None,
    day: str,
    model_version: str | None = None,
    drift_current: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Run the day's Evidently reports.

    Args:
        reference: The production model's reference data (features, ``EngagementLevel``, ``prediction`` and
            ``split``).
        current: The scored players of the window (features and ``prediction``; other columns are ignored).
        labelled: The current rows that have ground truth (with ``EngagementLevel``), or ``None``.
        day: The day the reports describe, ``YYYY-MM-DD`` (their timestamp and tags).
        model_version: The production version whose reference data is used, recorded with each snapshot.
        drift_current: The rows the drift reports compare, when not all of ``current``: the nightly drift tests'
            rows (:func:`machine_learning.monitoring.drift.drift_test_data`), so both count the same drift.

    Returns:
        Run ``Report`` objects by name: ``data_quality``, ``data_drift``, ``prediction_drift``, and
        ``model_quality`` only when ``labelled`` has rows.

    """
    from evidently import ColumnMapping
    from evidently.metric_preset import DataDriftPreset, DataQualityPreset
    from evidently.metrics import (
        ClassificationClassBalance,
        ClassificationConfusionMatrix,
        ClassificationQualityByClass,
        ClassificationQualityMetric,
        ColumnCategoryMetric,
        ColumnDriftMetric,
    )
    from evidently.report import Report

    inputs = [*FEATURE_COLUMNS, PREDICTION_COLUMN]
    unlabelled = ColumnMapping(
        target=None,
        prediction=PREDICTION_COLUMN,
        numerical_features=list(NUMERIC_FEATURES),
        categorical_features=list(CATEGORICAL_FEATURES),
    )
    plans: dict[str, list[Any]] = {
        DATA_QUALITY: [DataQualityPreset()],
        # The drift tests' columns (features and prediction), so the report's numbers are the tests' numbers.
        DATA_DRIFT: [
            DataDriftPreset(columns=list(MONITORED_COLUMNS)),
            *(ColumnDriftMetric(column_name=column) for column in MONITORED_COLUMNS),  # the per-column panel
        ],
        PREDICTION_DRIFT: [
            ColumnDriftMetric(column_name=PREDICTION_COLUMN),
            *(ColumnCategoryMetric(column_name=PREDICTION_COLUMN, category=label) for label in LABELS),
        ],
    }
    reports: dict[str, Any] = {}
    for kind, metrics in plans.items():
        report = Report(metrics=metrics, **describe_run(kind, day, model_version))
        rows = current if kind == DATA_QUALITY or drift_current is None else drift_current
        report.run(reference_data=reference[inputs], current_data=rows[inputs], column_mapping=unlabelled)
        reports[kind] = report
    if labelled is not None and len(labelled) > 0:
        # Reference quality on the held-out rows when there are some: training rows would flatter the model.
        held_out = reference[reference["split"] == "test"] if "split" in reference else reference
        held_out = reference if held_out.empty else held_out
        report = Report(
            metrics=[
                ClassificationQualityMetric(),
                ClassificationClassBalance(),
                ClassificationConfusionMatrix(),
                ClassificationQualityByClass(),
            ],
            **describe_run(MODEL_QUALITY, day, model_version),
        )
        report.run(
            reference_data=held_out[[*inputs, LABEL_COLUMN]],
            current_data=labelled[[*inputs, LABEL_COLUMN]],
            column_mapping=ColumnMapping(
                target=LABEL_COLUMN,
                prediction=PREDICTION_COLUMN,
                numerical_features=list(NUMERIC_FEATURES),
                categorical_features=list(CATEGORICAL_FEATURES),
            ),
        )
        reports[MODEL_QUALITY] = report
    return reports


def build_live_quality_reports(live: pd.DataFrame) -> list[Any]:
    """One model-quality report per labelled day and role (production as served, shadow candidate).

    Args:
        live: Stored predictions joined with labels (``monitoring.quality.load_live_predictions``).

    Returns:
        Run ``Report`` objects, each dated by its labelled day and tagged with role and model version.

    """
    from evidently import ColumnMapping
    from evidently.metrics import ClassificationQualityMetric
    from evidently.report import Report

    from machine_learning.monitoring.quality import SHADOW_ROLE

    reports = []
    mapping = ColumnMapping(target="label", prediction="predicted")
    for (day, role), rows in live.groupby(["date", "role"], sort=True):
        version = str(rows["version"].max())  # one candidate at a time; the newest if the log holds two
        rows = rows[rows["version"] == version]
        kind = LIVE_SHADOW if role == SHADOW_ROLE else LIVE_PRODUCTION
        report = Report(metrics=[ClassificationQualityMetric()], **describe_run(kind, str(day), version))
        report.run(reference_data=None, current_data=rows[["label", "predicted"]], column_mapping=mapping)
        reports.append(report)
    return reports


def join_labels(current: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Keep the current rows that have ground truth, adding ``EngagementLevel`` (joined on PlayerID and date)."""
    keys = [ID_COLUMN, DATE_COLUMN]
    left = current.drop(columns=[LABEL_COLUMN], errors="ignore").assign(**{ID_COLUMN: current[ID_COLUMN].astype(str)})
    right = labels[[*keys, LABEL_COLUMN]].assign(**{ID_COLUMN: labels[ID_COLUMN].astype(str)})
    return left.merge(right.drop_duplicates(keys), on=keys, how="inner")


def find_metric_result(report: Any, metric_id: str) -> dict[str, Any] | None:
    """Return the result of the first metric of this kind in a run report, as a dict (``None`` if absent)."""
    for metric in report.as_dict()["metrics"]:
        if metric["metric"] == metric_id:
            return dict(metric["result"])
    return None


def run_performance_reports(settings: Settings, day: date | datetime | str | None = None) -> dict[str, Any]:
    """Build the day's reports, add them to the Evidently workspace and store HTML copies in S3.

    The whole performance_reports pipeline as one call, composed of its steps (each one Mage block):
    :func:`load_report_data`, :func:`publish_daily_reports`, :func:`backfill_live_quality` and
    :func:`summarise_reports`.

    Args:
        settings: Everything about where things live (``EVIDENTLY_WORKSPACE``, ``MONITORING_WINDOW_DAYS``, ...).
        day: The day (date, Mage ``execution_date`` or ``YYYY-MM-DD``); today when omitted.

    Returns:
        Day, model version, snapshot ids and HTML URIs by report, share of drifted columns, accuracy (``None``
        without labels) and the project's URL in the Evidently UI.

    Raises:
        NotFoundError: No model in production, or no scored batch in the window.

    """
    from machine_learning.inference.batch import as_day
    from machine_learning.services import connect

    day = as_day(day)
    services = connect(settings)
    published = publish_daily_reports(services, settings, day)
    return summarise_reports(settings, published, backfill_live_quality(services, settings, day))


def load_report_data(services: Any, settings: Settings, day: str) -> dict[str, Any]:
    """Step 1: find the day's data: production's reference data, the window's scored players and their labels.

    Args:
        services: The S3 store and MLflow client.
        settings: Names the model and the window (``MONITORING_WINDOW_DAYS``).
        day: The day, ``YYYY-MM-DD``.

    Returns:
        ``day``, ``model_version``, ``reference_uri``, the scored ``current_days`` and the row counts (the tables
        stay in S3).

    Raises:
        NotFoundError: No model in production, or no scored batch in the window.

    """
    from machine_learning.monitoring.data import summarise_loaded_data

    reference, current, labelled = _load_day(services, settings, day)
    return {**summarise_loaded_data(day, reference, current), "labelled_rows": len(labelled)}


def publish_daily_reports(services: Any, settings: Settings, day: str) -> dict[str, Any]:
    """Step 2: build the day's reports, add them to the Evidently project and store HTML copies in S3.

    Args:
        services: The S3 store and MLflow client.
        settings: Where the workspace is, and the window.
        day: The day, ``YYYY-MM-DD``.

    Returns:
        ``day``, ``model_version``, row counts, ``snapshots`` and ``html`` by report, the share of drifted
        columns, the accuracy (``None`` without labels) and the Evidently ``project_id``.

    """
    from machine_learning.monitoring.data import report_key
    from machine_learning.monitoring.drift import drift_test_data

    reference, current, labelled = _load_day(services, settings, day)
    tested = drift_test_data(current, settings).frame  # the drift tests' rows: the same numbers
    reports = build_reports(reference.frame, current, labelled, day, reference.model_version, tested)
    opened = open_project(settings)
    snapshots: dict[str, str] = {}
    html: dict[str, str] = {}
    for name, report in reports.items():
        snapshots[name] = add_snapshot(settings, report, opened)
        html[name] = services.store.write_bytes(
            report_key(settings, day, name), render_html(report), content_type="text/html"
        )
        print(f"{day}: {name} report -> snapshot {snapshots[name]}, {html[name]}")
    drift = find_metric_result(reports[DATA_DRIFT], "DatasetDriftMetric") or {}
    quality = (
        find_metric_result(reports[MODEL_QUALITY], "ClassificationQualityMetric") if MODEL_QUALITY in reports else None
    )
    return {
        "day": day,
        "model_version": reference.model_version,
        "reference_rows": len(reference.frame),
        "current_rows": len(current),
        "labelled_rows": len(labelled),
        "snapshots": snapshots,
        "html": html,
        "share_of_drifted_columns": drift.get("share_of_drifted_columns"),
        "accuracy": quality["current"]["accuracy"] if quality else None,
        "project_id": str(opened.project.id),
    }


def backfill_live_quality(services: Any, settings: Settings, day: str) -> dict[str, Any]:
    """Step 3: one live-quality snapshot per labelled day of the window and role (back-fills late labels).

    Args:
        services: The S3 store.
        settings: Quality window (``QUALITY_WINDOW_DAYS``) and the workspace.
        day: The last day of the window, ``YYYY-MM-DD``.

    Returns:
        ``live_quality_days`` (the labelled days) and ``live_quality_snapshots`` (their snapshot ids).

    """
    from machine_learning.monitoring.data import window_days
    from machine_learning.monitoring.quality import load_live_predictions

    live = load_live_predictions(services.store, settings, window_days(day, settings.quality_window_days))
    opened = open_project(settings)
    live_ids = [add_snapshot(settings, report, opened) for report in build_live_quality_reports(live)]
    days = sorted(set(live["date"].astype(str)))
    print(f"{day}: live quality of {len(days)} labelled day(s) -> {len(live_ids)} snapshot(s)")
    return {"live_quality_days": days, "live_quality_snapshots": live_ids}


def summarise_reports(settings: Settings, published: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """Step 4: one line and one result for the day: what was reported, and where the dashboard is.

    Args:
        settings: Where the Evidently UI is.
        published: The output of :func:`publish_daily_reports`.
        live: The output of :func:`backfill_live_quality`.

    Returns:
        Day, model version, row counts, live-quality days and snapshots, snapshot ids and HTML URIs by report,
        share of drifted columns, accuracy and the project's URL in the Evidently UI.

    """
    project_url = evidently_project_url(settings, published["project_id"])
    print(
        f"{published['day']}: {published['current_rows']} scored and {published['labelled_rows']} labelled players "
        f"vs {published['reference_rows']} reference rows; share of drifted columns "
        f"{published['share_of_drifted_columns']}; dashboard {project_url}"
    )
    kept = {key: value for key, value in published.items() if key not in ("reference_rows", "project_id")}
    return {**kept, **live, "project_url": project_url}


def _load_day(services: Any, settings: Settings, day: str) -> tuple[Any, pd.DataFrame, pd.DataFrame]:
    from machine_learning.monitoring.data import load_current_data, load_labels, load_reference_data, window_days

    reference = load_reference_data(services.mlflow, services.store, settings)
    current = load_current_data(services.store, settings, day, settings.monitoring_window_days)
    labels = load_labels(services.store, settings, window_days(day, settings.monitoring_window_days))
    return reference, current, join_labels(current, labels)
