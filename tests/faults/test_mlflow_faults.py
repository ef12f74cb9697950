"""MLflow down: training fails in seconds with what to do, serving says so and keeps serving, orphans are closed."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from machine_learning.errors import ServiceUnavailableError
from machine_learning.services import connect
from machine_learning.serving.app import create_app
from machine_learning.serving.provider import build_provider
from machine_learning.training.orphans import CLOSED_TAG
from machine_learning.training.train import train_candidate
from tests.conftest import ROOT

pytestmark = pytest.mark.faults


def test_with_mlflow_down_training_fails_in_seconds_and_serving_reports_it(shared, fault_stack):
    settings, prepared = shared
    serving = settings.with_overrides({"serving_token": "fault-token", "serving_reload_seconds": 0.5})
    with TestClient(create_app(serving, build_provider(serving))) as client:
        deadline = time.monotonic() + 120
        while client.get("/health").json()["status"] != "ok":
            assert time.monotonic() < deadline, client.get("/health").json()
            time.sleep(0.5)
        fault_stack.kill("mlflow")
        try:
            started = time.perf_counter()
            with pytest.raises(
                ServiceUnavailableError, match=r"MLflow at http://127.0.0.1:\d+ is not reachable.*make up"
            ):
                train_candidate(prepared, connect(settings).store, settings)
            assert time.perf_counter() - started < 15

            time.sleep(11)  # the dependency check is cached for 10 s
            health = client.get("/health").json()
            answer = client.post(
                "/predict", json={"players": [_player(prepared)]}, headers={"X-API-Token": "fault-token"}
            )
        finally:
            fault_stack.restart("mlflow")
    assert health["status"] == "degraded" and health["dependencies"]["mlflow"]["reachable"] is False
    assert "not reachable" in health["dependencies"]["mlflow"]["detail"]
    assert health["dependencies"]["s3"]["reachable"] is True
    assert answer.status_code == 200  # the model in memory keeps serving


def test_a_killed_training_leaves_no_run_running_after_the_next_training(shared, fault_stack):
    settings, prepared = shared
    code = (
        "import os, signal, mlflow\n"
        "from machine_learning.settings import load_settings\n"
        "from machine_learning.training.orphans import owner_tags\n"
        "s = load_settings()\n"
        "mlflow.set_tracking_uri(s.mlflow_tracking_uri); mlflow.set_experiment(s.experiment_name)\n"
        "run = mlflow.start_run(run_name='training', tags=owner_tags())\n"
        "print(run.info.run_id, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)  # killed mid-training, as with its Mage server\n"
    )
    env = {**fault_stack.env, "GAME_TITLE": settings.game_title}
    killed = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    orphan = killed.stdout.split()[0]
    client = connect(settings).mlflow
    assert client.get_run(orphan).info.status == "RUNNING"

    train_candidate(prepared, connect(settings).store, settings)

    closed = client.get_run(orphan)
    assert closed.info.status == "FAILED"
    assert "ended without closing it" in closed.data.tags[CLOSED_TAG]


def _player(prepared) -> dict:
    from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN

    row = prepared.iloc[0]
    values = {column: row[column] for column in (ID_COLUMN, *FEATURE_COLUMNS)}
    return {name: value.item() if hasattr(value, "item") else value for name, value in values.items()}
