"""The local stack script and the Mage server path the demo uses: API-triggered runs visible in Mage."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from machine_learning.orchestration import MageClient
from machine_learning.registry import PRODUCTION, get_alias_version
from machine_learning.services import connect
from machine_learning.settings import load_settings
from tests.conftest import ROOT, Stack, free_port, sample_players
from tests.e2e.mage_server import STACK, running_mage

pytestmark = pytest.mark.e2e

MLOPS = str(ROOT / ".local" / "venv-app" / "bin" / "mlops")


@pytest.fixture
def mage_server(live_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Start `mage start` beside the live S3 + MLflow pair, using the same generated secrets."""
    with running_mage(live_stack, monkeypatch, "srv"):
        yield {**os.environ, "PYTHONWARNINGS": "ignore"}


def test_demo_path_runs_pipelines_in_the_mage_server(
    mage_server: dict[str, str], shipped_players: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "players.csv"
    sample_players(shipped_players, 2000, seed=3).to_csv(source, index=False)

    def mlops(*args: str) -> str:
        done = subprocess.run([MLOPS, *args], env=mage_server, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    uri = mlops("upload", "--input", str(source)).strip()
    mlops("run-pipeline", "data_preparation", "--variables", f'{{"input_uri": "{uri}"}}')
    mlops("run-pipeline", "training")
    printed = mlops("run-pipeline", "model_selection")

    assert "completed" in printed and "/pipelines/model_selection/runs/" in printed
    settings = load_settings()
    assert get_alias_version(connect(settings).mlflow, settings, PRODUCTION) is not None
    runs = MageClient(settings)._call("GET", "/api/pipeline_runs?_limit=50")["pipeline_runs"]
    shown = {run["pipeline_uuid"] for run in runs if run["status"] == "completed"}
    assert {"data_preparation", "training", "model_selection"} <= shown, "the runs are visible in the Mage UI"


def test_a_failed_run_in_the_server_reports_block_and_reason(mage_server: dict[str, str]) -> None:
    missing = f"s3://mlops-test/{os.environ['GAME_TITLE']}/raw/nope.csv"  # inside the title's prefix
    done = subprocess.run(
        [MLOPS, "run-pipeline", "data_preparation", "--variables", json.dumps({"input_uri": missing})],
        env=mage_server,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 1
    assert f"failed in block load_raw_players: {missing} does not exist" in done.stderr


def test_up_refuses_a_taken_port_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "LOCAL_STATE_DIR": str(tmp_path), "S3_SERVER": "moto"}
        env |= {"S3_PORT": str(free_port()), "MLFLOW_PORT": str(port)}

        done = subprocess.run([*STACK, "up", "--components", "s3,mlflow"], env=env, capture_output=True, text=True)

    assert done.returncode != 0
    assert f"port {port} for mlflow is already taken" in done.stderr
    assert not list(tmp_path.glob("pids/*.pid")), "nothing was started"
