"""What a user sees in Mage, MLflow and Evidently, in a real headless Chromium: steps, metrics and panels by name.

One Mage server (the e2e tests' ``running_mage``) and one Evidently UI beside the session's S3 + MLflow pair. The
MLflow run and the Evidently snapshots are written by the project's own code (``log_monitoring_run``,
``build_reports``, ``run_drift_tests``) on a small sample, so the test stays fast. No pixel comparisons: it reads
the page's text.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from machine_learning.settings import Settings, load_settings
from tests.conftest import Stack, free_port
from tests.e2e.mage_server import STACK, running_mage

pytestmark = pytest.mark.browser

MONITORING_STEPS = [
    "load_monitoring_data",
    "run_drift_tests",
    "measure_live_quality",
    "decide_retraining",
    "record_monitoring_decision",
]
DAYS = ["2026-11-20", "2026-11-21"]
NUMERIC = ("Age", "PlayTimeHours", "InGamePurchases", "SessionsPerWeek", "AvgSessionDurationMinutes")


@pytest.fixture(scope="module")
def uis(live_stack: Stack, browser: Any) -> Iterator[Settings]:
    """Mage and the Evidently UI on free ports, with settings pointing at them (and at the S3 + MLflow pair)."""
    with pytest.MonkeyPatch.context() as monkeypatch, running_mage(live_stack, monkeypatch, "ui"):
        env = {**os.environ, "LOCAL_STATE_DIR": str(live_stack.state), "EVIDENTLY_PORT": str(free_port())}
        started = subprocess.run([*STACK, "up", "--components", "evidently"], env=env, capture_output=True, text=True)
        try:
            assert started.returncode == 0, started.stdout + started.stderr
            printed = subprocess.run([*STACK, "env"], env=env, capture_output=True, text=True, check=True).stdout
            for name in ("EVIDENTLY_URL", "EVIDENTLY_WORKSPACE", "EVIDENTLY_SECRET"):
                monkeypatch.setenv(name, re.search(rf"^export {name}=(.*)$", printed, re.MULTILINE)[1])  # type: ignore[index]
            yield load_settings()
        finally:
            subprocess.run([*STACK, "down", "--components", "evidently"], env=env, capture_output=True, check=False)


def scored(players: pd.DataFrame) -> pd.DataFrame:
    """Players with typed numbers, scored by a perfect model (prediction = label), as monitoring reads them."""
    frame = players.copy()
    for column in (*NUMERIC, "PlayerLevel", "AchievementsUnlocked", "PlayerID"):
        frame[column] = pd.to_numeric(frame[column])
    return frame.assign(prediction=frame["EngagementLevel"], split="test")


@pytest.fixture(scope="module")
def nights(uis: Settings, shipped_players: pd.DataFrame) -> dict[str, Any]:
    """Two nights of drift tests and daily reports in Evidently, the second one's MLflow monitoring run."""
    from machine_learning.monitoring.drift import run_drift_tests
    from machine_learning.monitoring.nightly import log_monitoring_run
    from machine_learning.monitoring.reports import build_reports
    from machine_learning.monitoring.workspace import add_snapshot, open_project
    from machine_learning.services import connect

    reference = scored(shipped_players.head(3000))
    opened = open_project(uis)
    for offset, day in enumerate(DAYS):
        current = scored(shipped_players.iloc[5000:6000])
        current = current.assign(AvgSessionDurationMinutes=current["AvgSessionDurationMinutes"] * (1 - 0.4 * offset))
        suite, result = run_drift_tests(reference, current, uis, day, "1")
        add_snapshot(uis, suite, opened)
        for report in build_reports(reference, current, current.head(500), day, "1").values():
            add_snapshot(uis, report, opened)
    record = {
        "model_version": "1",
        "retraining_needed": True,
        "drift_detected": result.decision.needed,
        "retraining_triggered": False,
        "reason": "live accuracy dropped -> no action (browser test)",
        "quality_reason": "live accuracy dropped",
        "live_accuracy": 0.71,
    }
    run_id = log_monitoring_run(connect(uis).mlflow, uis, result, record)
    return {"project_id": str(opened.project.id), "run_id": run_id}


def test_mage_shows_the_monitoring_pipelines_steps(browser: Any, uis: Settings) -> None:
    page = browser.new_page()
    page.goto(f"{uis.mage_url}/sign-in", wait_until="domcontentloaded")
    page.locator("input[autocomplete=username]").fill(uis.mage_email, timeout=90_000)  # Mage's "Email" field
    page.locator("input[type=password]").fill(uis.mage_password)
    page.get_by_text("Sign into Mage").click()
    page.wait_for_url(lambda url: "/sign-in" not in url, timeout=60_000)

    page.goto(f"{uis.mage_url}/pipelines/performance_monitoring/edit", wait_until="domcontentloaded")
    # The dependency graph is an SVG whose nodes hold the blocks' names (the file browser lists every block file).
    graph = page.locator("svg foreignObject")
    graph.filter(has_text=MONITORING_STEPS[-1]).first.wait_for(timeout=90_000)
    shown = " ".join(graph.all_text_contents())
    assert [step for step in MONITORING_STEPS if step not in shown] == [], "every step of the DAG is shown by name"
    assert "score_online_players" not in shown, "only this pipeline's steps are in its graph"
    page.close()


def test_mlflow_run_page_shows_the_monitoring_metrics_by_name(browser: Any, uis: Settings, nights: dict) -> None:
    from machine_learning.services import connect

    run = connect(uis).mlflow.get_run(nights["run_id"])
    context = browser.new_context(
        http_credentials={
            "username": os.environ["MLFLOW_TRACKING_USERNAME"],
            "password": os.environ["MLFLOW_TRACKING_PASSWORD"],
        }
    )
    page = context.new_page()
    page.goto(f"{uis.mlflow_tracking_uri}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}")
    page.get_by_text("share_of_drifted_columns").first.wait_for(timeout=60_000)
    text = page.locator("body").inner_text()
    shown = {"share_of_drifted_columns", "drifted_columns", "failed_tests", "live_accuracy", "retraining_needed"}
    assert {name for name in shown if name not in text} == set()
    context.close()


def test_evidently_dashboard_shows_labelled_panels_with_data(browser: Any, uis: Settings, nights: dict) -> None:
    page = browser.new_page()
    page.goto(f"{uis.evidently_url}/projects/{nights['project_id']}", wait_until="domcontentloaded")
    page.get_by_text("Number of drifted columns").first.wait_for(timeout=90_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    text = page.locator("body").inner_text()
    for title in ("Share of drifted columns", "Number of drifted columns", "Drift score per column"):
        assert title in text, f"panel '{title}' is shown"
    for legend in ("AvgSessionDurationMinutes", "prediction", "drifted columns"):
        assert legend in text, f"legend '{legend}' names a plotted value"
    plots = page.locator(".js-plotly-plot")
    assert plots.count() >= 6
    points = page.locator(".js-plotly-plot .scatterlayer .point, .js-plotly-plot .barlayer .point").count()
    assert points >= len(DAYS), "the panels plot the days' values"
    page.close()
