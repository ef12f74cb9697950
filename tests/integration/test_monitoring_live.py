"""The nightly tests against real S3 and MLflow: decisions stored in S3, charted in MLflow, shown in Evidently."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from machine_learning.inference.batch import run_daily_batch
from machine_learning.monitoring.decision import decision_key
from machine_learning.monitoring.nightly import monitoring_experiment, run_performance_monitoring
from machine_learning.monitoring.workspace import open_project
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from machine_learning.simulation import run_simulation
from tests.conftest import Stack
from tests.integration.conftest import train_register_select

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(live_stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    live_stack.apply(monkeypatch, game_title=f"monitor-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "model-cache"))
    monkeypatch.setenv("EVIDENTLY_WORKSPACE", str(tmp_path / "evidently"))
    monkeypatch.setenv("EVIDENTLY_URL", "http://127.0.0.1:9")  # no UI running: snapshots still land
    return load_settings()


def test_quiet_then_drifted_nights_are_decided_recorded_and_charted(settings: Settings, prepared) -> None:
    train_register_select(settings, prepared)
    started: list[dict[str, Any]] = []

    def start(variables: dict[str, Any]) -> int:
        started.append(variables)
        return 7

    # A quiet Saturday, then a drifted Sunday: the simulator publishes the week's labels with it.
    for day, drift in (("2026-11-21", []), ("2026-11-22", ["sessions_per_week=0.6"])):
        run_simulation(settings, day, 1500, drift, seed=3)
        run_daily_batch(settings, day)
        run_performance_monitoring(settings, day, start)

    store = connect(settings).store
    quiet = store.read_json(decision_key(settings, "2026-11-21"))
    drifted = store.read_json(decision_key(settings, "2026-11-22"))
    assert not quiet["retraining_needed"] and not quiet["retraining_triggered"]
    assert drifted["retraining_triggered"] and drifted["retraining_run_id"] == 7
    # Retraining learns from the days since the change: the drifted Sunday, not the quiet Saturday.
    key = f"{settings.game_title}:2026-11-22:retraining"  # the idempotency key the retraining run carries
    expected = {"batch_date": "2026-11-22", "reason": drifted["quality_reason"], "changed_since": "2026-11-22"}
    assert started == [expected | {"trigger_key": key}]
    assert drifted["live_accuracy"] < drifted["expected_accuracy"] - settings.max_quality_drop
    assert drifted["drift_detected"] and not quiet["drift_detected"]
    assert "SessionsPerWeek" in drifted["drifted_columns"]
    assert store.exists(f"{settings.s3_prefix}/reports/date=2026-11-22/drift_tests.html")

    client = connect(settings).mlflow
    experiment = client.get_experiment_by_name(monitoring_experiment(settings))
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    assert [run.data.tags["day"] for run in runs] == ["2026-11-21", "2026-11-22"]
    assert [run.data.metrics["retraining_triggered"] for run in runs] == [0.0, 1.0]

    snapshots = open_project(settings).project.list_snapshots()
    assert {(s.metadata.get("kind"), s.metadata.get("day")) for s in snapshots} == {
        ("drift_tests", "2026-11-21"),
        ("drift_tests", "2026-11-22"),
    }
