"""The serving API as `make up` runs it (a uvicorn subprocess) against real MLflow and S3 servers.

A promotion in MLflow is served without a restart; a production version that cannot be loaded leaves the
previous one serving and is reported by /health.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd
import pytest

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN
from machine_learning.inference.compiled import find_compiler
from machine_learning.registry import PRODUCTION
from machine_learning.services import Services, connect
from machine_learning.settings import Settings, load_settings
from tests.conftest import ROOT, Stack, free_port
from tests.integration.conftest import train_register_select

pytestmark = pytest.mark.integration

WEAK = {"classifier__max_bins": 5}  # see test_lifecycle_live: clearly worse than the default parameters


@dataclass(frozen=True)
class Server:
    """A running API: its URL, token and process."""

    url: str
    token: str
    process: subprocess.Popen[bytes]

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, headers={"X-API-Token": self.token}, timeout=10)

    def predict(self, players: list[dict[str, Any]]) -> httpx.Response:
        return httpx.post(
            self.url + "/predict", json={"players": players}, headers={"X-API-Token": self.token}, timeout=10
        )


@pytest.fixture
def settings(live_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Settings:
    live_stack.apply(monkeypatch, game_title=f"it-serve-{uuid.uuid4().hex[:8]}")
    return load_settings().with_overrides({"min_accuracy": 0.3})


@pytest.fixture
def server(settings: Settings, tmp_path) -> Iterator[Server]:
    """The API as a subprocess following this test's model, checking the alias every 0.3 s."""
    port, token = free_port(), secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "SERVING_PORT": str(port),
        "SERVING_TOKEN": token,
        "SERVING_RELOAD_SECONDS": "0.3",
        "MODEL_CACHE_DIR": str(tmp_path / "model-cache"),
        # As in the stack: serving reads the registry as the read-only MLflow user.
        "MLFLOW_TRACKING_USERNAME": os.environ["MLFLOW_READER_USERNAME"],
        "MLFLOW_TRACKING_PASSWORD": os.environ["MLFLOW_READER_PASSWORD"],
    }
    log = (tmp_path / "serving.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "machine_learning.serving"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        running = Server(f"http://127.0.0.1:{port}", token, process)
        wait_for(lambda: answers(running), what="the API to answer")
        yield running
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def train_and_promote(settings: Settings, prepared: pd.DataFrame, params=None) -> str:
    version, promoted = train_register_select(settings, prepared, params)
    assert promoted
    return version


def test_a_promotion_is_served_without_a_restart_and_a_broken_one_is_not(
    settings: Settings, prepared: pd.DataFrame, server: Server
) -> None:
    services = connect(settings)
    players = prepared[[ID_COLUMN, *FEATURE_COLUMNS]].head(20).to_dict(orient="records")

    # Nothing promoted yet: the API is up but has no model.
    assert server.get("/health").status_code == 503
    assert server.predict(players).status_code == 503

    first = train_and_promote(settings, prepared, WEAK)
    wait_for(lambda: server.get("/model-version").status_code == 200, what="the first model")
    assert server.get("/model-version").json()["model_version"] == first
    served = server.predict(players).json()
    assert [row["PlayerID"] for row in served["predictions"]] == [row[ID_COLUMN] for row in players]
    assert served["model_version"] == first

    better = train_and_promote(settings, prepared)
    wait_for(lambda: server.get("/model-version").json()["model_version"] == better, what="the promoted model")
    assert server.predict(players).json()["model_version"] == better
    expected = "tl2cgen" if find_compiler() else "numpy"  # compiled trees where a C compiler exists
    assert server.get("/model-version").json()["predictor"] == expected

    # Production moved to a version whose artifacts are not a model: the better model keeps serving.
    broken = register_unloadable_version(services, settings)
    services.mlflow.set_registered_model_alias(settings.model_name, PRODUCTION, broken)
    wait_for(lambda: server.get("/health").json()["last_reload_error"] is not None, what="the failed reload")
    health = server.get("/health").json()
    assert health["status"] == "ok"
    assert health["model_version"] == better
    assert f"loading version {broken} failed, serving version {better}" in health["last_reload_error"]
    assert server.predict(players).json()["model_version"] == better
    assert server.process.poll() is None, "the API never restarted"


def register_unloadable_version(services: Services, settings: Settings) -> str:
    experiment = services.mlflow.get_experiment_by_name(settings.experiment_name).experiment_id
    run = services.mlflow.create_run(experiment, run_name="not-a-model")
    services.mlflow.log_text(run.info.run_id, "this is not an MLmodel file: [", "model/MLmodel")
    services.mlflow.set_terminated(run.info.run_id)
    source = f"{run.info.artifact_uri}/model"
    return str(services.mlflow.create_model_version(settings.model_name, source, run.info.run_id).version)


def answers(server: Server) -> bool:
    try:
        return server.get("/health").status_code in (200, 503)
    except httpx.HTTPError:
        assert server.process.poll() is None, "the API exited"
        return False


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
