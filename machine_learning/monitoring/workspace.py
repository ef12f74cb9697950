"""The Evidently workspace the reports and the UI share: one project per game title, its dashboard, snapshots.

Evidently is imported inside the functions: importing it takes seconds, which only the runs that use it should pay.

Every snapshot is labelled by :func:`describe_run`: metadata ``kind`` and ``day`` (also as tags ``kind=<kind>``,
``day=<day>``) and the simulated day as its timestamp, so the dashboard's panels pick their reports by ``kind`` and
order them by day. Ids are derived from the title (project, panels) and from title, kind and day (snapshots):
opening the project twice never duplicates it or its panels, and re-running a day replaces that day's snapshot.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from machine_learning.data.schema import FEATURE_COLUMNS, LABELS
from machine_learning.monitoring.snapshots import set_aside_damaged_snapshots
from machine_learning.settings import Settings
from machine_learning.training.train import PREDICTION_COLUMN

# Kinds of snapshot; the nightly drift TestSuite (monitoring/drift.py) uses DRIFT_TESTS.
DATA_QUALITY = "data_quality"
DATA_DRIFT = "data_drift"
PREDICTION_DRIFT = "prediction_drift"
MODEL_QUALITY = "model_quality"
DRIFT_TESTS = "drift_tests"
# Live quality per labelled day, back-filled when labels arrive: production's served answers and the shadow's.
LIVE_PRODUCTION = "live_quality_production"
LIVE_SHADOW = "live_quality_shadow"


class OpenProject(NamedTuple):
    """The opened workspace and the title's project in it (unpacks as ``workspace, project``)."""

    workspace: Any
    project: Any


def stable_uuid(*parts: str) -> uuid.UUID:
    """Derive a UUID that is always the same for the same parts (version 4, which Evidently's models require)."""
    digest = hashlib.sha256("\x1f".join(("engagement-mlops", *parts)).encode()).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def day_timestamp(day: str) -> datetime:
    """Midnight of a ``YYYY-MM-DD`` day, naive like the timestamps Evidently compares it with."""
    return datetime.combine(date.fromisoformat(day), datetime.min.time())


def describe_run(kind: str, day: str, model_version: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``Report``/``TestSuite``: the day as timestamp, and the tags the dashboard filters on.

    Args:
        kind: What the run is (``data_drift``, ``drift_tests``, ...).
        day: The simulated day it describes, ``YYYY-MM-DD``.
        model_version: The production model version whose data it compares, when known.

    Returns:
        ``timestamp``, ``tags`` and ``metadata``, e.g. ``Report(metrics=..., **describe_run("data_drift", day))``.

    """
    metadata = {"kind": kind, "day": day, **({"model_version": model_version} if model_version else {})}
    return {
        "timestamp": day_timestamp(day),
        "tags": [f"{key}={value}" for key, value in metadata.items()],
        "metadata": metadata,
    }


def workspace_location(settings: Settings) -> str:
    """Return the workspace folder (``~`` expanded, created) or its ``s3://`` URI, from ``EVIDENTLY_WORKSPACE``."""
    if settings.evidently_workspace.startswith("s3://"):
        return settings.evidently_workspace
    folder = Path(settings.evidently_workspace).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


@contextmanager
def lock_workspace(location: str) -> Iterator[None]:
    """Hold the workspace's lock file while reading or writing it.

    Evidently writes its JSON files in place, so a reader (another run opening the workspace) must never see one
    half-written. Not needed, and not possible, for an ``s3://`` workspace.
    """
    if location.startswith("s3://"):
        yield
        return
    with open(Path(location) / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_project(settings: Settings) -> OpenProject:
    """Open the workspace and the title's project, creating it, and make sure its dashboard is current.

    The project is named after the game title. A new one gets an id derived from the title, so two runs that
    create it at the same time write the same folder instead of two projects. The dashboard is rebuilt from
    :func:`build_dashboard` and saved only when it differs from the stored one.

    Args:
        settings: Names the workspace (``EVIDENTLY_WORKSPACE``) and the title.

    Returns:
        The workspace and the project.

    """
    from evidently.ui.base import Project
    from evidently.ui.workspace import Workspace

    location, title = workspace_location(settings), settings.game_title
    dashboard = build_dashboard(title)
    with lock_workspace(location):
        for line in set_aside_damaged_snapshots(location):  # one damaged file must not stop every report
            print(f"warning: {line}")
        workspace = Workspace.create(location)
        project = find_project(workspace, title)
        if project is None:
            description = f"Daily Evidently reports and nightly drift tests of {title}'s engagement model"
            # One write with the dashboard: a running UI reloads the file when it changes, and a second write
            # right after the first can reach it half-written.
            project = Project(
                id=stable_uuid("project", title), name=title, description=description, dashboard=dashboard
            )
            project = workspace.add_project(project)
        if project.dashboard.json() != dashboard.json():
            project.dashboard = dashboard
            project.save()
    return OpenProject(workspace, project)


def find_project(workspace: Any, title: str) -> Any | None:
    """Find the project named ``title``: the one with the title's stable id if several exist, else the oldest."""
    matches = workspace.search_project(title)
    if not matches:
        return None
    preferred = stable_uuid("project", title)
    return min(matches, key=lambda p: (p.id != preferred, p.created_at or datetime.min, str(p.id)))


def add_snapshot(settings: Settings, run_object: Any, opened: OpenProject | None = None) -> str:
    """Add a run ``Report`` or ``TestSuite`` to the title's project as a snapshot.

    A run labelled by :func:`describe_run` gets an id derived from title, kind and day, so running a day again
    replaces its snapshot instead of adding a second point to the dashboard.

    Args:
        settings: Names the workspace and the title.
        run_object: A Report or TestSuite that has been run.
        opened: The already opened project (saves re-reading the workspace for several snapshots).

    Returns:
        The snapshot id.

    """
    workspace, project = opened or open_project(settings)
    kind, day = run_object.metadata.get("kind"), run_object.metadata.get("day")
    if isinstance(kind, str) and isinstance(day, str):
        run_object.id = stable_uuid("snapshot", settings.game_title, kind, day)
    snapshot = run_object.to_snapshot()
    with lock_workspace(workspace_location(settings)):
        workspace.add_snapshot(project.id, snapshot)
    refresh_ui(settings, str(project.id))
    return str(run_object.id)


def render_html(run_object: Any) -> bytes:
    """Render a run ``Report`` or ``TestSuite`` as one self-contained HTML file (Evidently's single-file format)."""
    buffer = io.StringIO()
    run_object.save_html(buffer)
    return buffer.getvalue().encode("utf-8")


def evidently_project_url(settings: Settings, project_id: Any) -> str:
    """Return the title's project page in the Evidently UI."""
    return f"{settings.evidently_url.rstrip('/')}/projects/{project_id}"


def refresh_ui(settings: Settings, project_id: str) -> bool:
    """Ask a running Evidently UI to re-read the project's snapshots (best effort).

    The UI watches a local workspace's folder, but its watcher can miss a file caught half-written; an ``s3://``
    workspace is not watched at all. The UI not running is fine: it reads everything when it starts.

    Returns:
        Whether the UI confirmed the reload.

    """
    url = f"{settings.evidently_url.rstrip('/')}/api/projects/{project_id}/reload"
    request = urllib.request.Request(url, headers={"evidently-secret": settings.evidently_secret})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - URL from settings
            return bool(response.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def build_dashboard(title: str) -> Any:
    """Build the dashboard: drift over time, predictions, accuracy once labels exist, drift-test results.

    The drift panels read the daily data-drift report, which tests the same columns on the same rows with the
    same tests as the nightly drift suite (``monitoring.drift.drift_test_data``), so they show the numbers that
    the suite decided on and MLflow records (``share_of_drifted_columns``, ``drifted_columns``). Evidently
    0.4's plots cannot read a TestSuite's metrics, hence the report. Every plotted value has a legend naming it;
    Evidently's per-test panel names neither test nor column, so per-column drift scores are plotted instead,
    with the column as legend.
    """
    from evidently.renderers.html_widgets import WidgetSize
    from evidently.tests.base_test import TestStatus
    from evidently.ui.dashboards import (
        CounterAgg,
        DashboardConfig,
        DashboardPanelCounter,
        DashboardPanelPlot,
        DashboardPanelTestSuite,
        DashboardPanelTestSuiteCounter,
        PanelValue,
        PlotType,
        ReportFilter,
        TestSuitePanelType,
    )

    def only(kind: str, test_suites: bool = False) -> Any:
        # By metadata, which every snapshot labelled by describe_run (or by hand with a "kind") carries.
        return ReportFilter(metadata_values={"kind": kind}, tag_values=[], include_test_suites=test_suites)

    def value(metric_id: str, path: str, legend: str, **args: Any) -> Any:
        return PanelValue(metric_id=metric_id, field_path=path, legend=legend, metric_args=args)

    def column_drift(column: str, legend: str) -> Any:
        return value("ColumnDriftMetric", "drift_score", legend, **{"column_name.name": column})

    def panel_id(name: str) -> uuid.UUID:
        return stable_uuid("panel", title, name)

    share = value("DatasetDriftMetric", "share_of_drifted_columns", "share of drifted columns")
    drifted = value("DatasetDriftMetric", "number_of_drifted_columns", "drifted columns")
    tests = only(DRIFT_TESTS, test_suites=True)
    accuracy = value("ClassificationQualityMetric", "current.accuracy", "accuracy")
    panels = [
        DashboardPanelCounter(
            id=panel_id("header"),
            title=f"{title}: player engagement model",
            filter=ReportFilter(metadata_values={}, tag_values=[]),
            agg=CounterAgg.NONE,
            text="Daily reports from the performance_reports pipeline; drift tests from the nightly monitoring.",
        ),
        DashboardPanelCounter(
            id=panel_id("latest drift share"),
            title="Share of drifted columns (latest day, as the drift tests count it)",
            filter=only(DATA_DRIFT),
            agg=CounterAgg.LAST,
            value=share,
            size=WidgetSize.HALF,
        ),
        DashboardPanelCounter(
            id=panel_id("latest accuracy"),
            title="Live accuracy of production (latest labelled day)",
            filter=only(LIVE_PRODUCTION),
            agg=CounterAgg.LAST,
            value=accuracy,
            size=WidgetSize.HALF,
        ),
        DashboardPanelPlot(
            id=panel_id("drift share"),
            title="Share of drifted columns (features and prediction, as the drift tests count them)",
            filter=only(DATA_DRIFT),
            values=[share],
            plot_type=PlotType.LINE,
            size=WidgetSize.HALF,
        ),
        DashboardPanelPlot(
            id=panel_id("drifted columns"),
            title="Number of drifted columns (features and prediction, as the drift tests count them)",
            filter=only(DATA_DRIFT),
            values=[drifted],
            plot_type=PlotType.BAR,
            size=WidgetSize.HALF,
        ),
        DashboardPanelPlot(
            id=panel_id("prediction distribution"),
            title="Predicted engagement (share of scored players)",
            filter=only(PREDICTION_DRIFT),
            values=[value("ColumnCategoryMetric", "current.category_ratio", label, category=label) for label in LABELS],
            plot_type=PlotType.BAR,
            size=WidgetSize.HALF,
        ),
        DashboardPanelPlot(
            id=panel_id("prediction drift"),
            title=f"Prediction drift score ('{PREDICTION_COLUMN}' vs reference)",
            filter=only(PREDICTION_DRIFT),
            values=[column_drift(PREDICTION_COLUMN, "drift score")],
            plot_type=PlotType.LINE,
            size=WidgetSize.HALF,
        ),
        *(
            DashboardPanelPlot(
                id=panel_id(f"live quality {kind}"),
                title=f"Live quality per labelled day: {who} (back-filled when labels arrive)",
                filter=only(kind),
                values=[accuracy, value("ClassificationQualityMetric", "current.f1", "macro F1")],
                plot_type=PlotType.LINE,
                size=WidgetSize.HALF,
            )
            for kind, who in ((LIVE_PRODUCTION, "production, as served"), (LIVE_SHADOW, "shadow candidate"))
        ),
        DashboardPanelTestSuite(
            id=panel_id("drift tests"),
            title="Nightly drift tests by status (passed, warning, failed)",
            filter=tests,
            panel_type=TestSuitePanelType.AGGREGATE,
            size=WidgetSize.HALF,
        ),
        DashboardPanelTestSuiteCounter(
            id=panel_id("drift tests passed"),
            title="Nightly drift tests passed (latest night)",
            filter=tests,
            agg=CounterAgg.LAST,
            statuses=[TestStatus.SUCCESS],
            size=WidgetSize.HALF,
        ),
        DashboardPanelPlot(
            id=panel_id("drift tests detailed"),
            title="Drift score per column (each column's drift test; legend: the column)",
            filter=only(DATA_DRIFT),
            values=[column_drift(column, column) for column in (*FEATURE_COLUMNS, PREDICTION_COLUMN)],
            plot_type=PlotType.LINE,
            size=WidgetSize.FULL,
        ),
    ]
    return DashboardConfig(name=title, panels=panels)
