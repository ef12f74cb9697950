"""The three Mage pipelines run with `mage run`, exactly as the demo and the schedules run them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from pathlib import Path

import pandas as pd
import pytest

from machine_learning.data.prepare import manifest_key
from machine_learning.inference.batch import BatchOutputs, daily_batch_locations
from machine_learning.inference.daily import day_table_key, read_day_manifest
from machine_learning.registry import PREVIOUS, PRODUCTION, get_alias_version
from machine_learning.scale.publish import manifest_location
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from machine_learning.storage import parse_s3_uri
from tests.conftest import ROOT, Stack, sample_players
from tests.integration.test_lifecycle_live import WEAK, WEAKEST

pytestmark = pytest.mark.e2e

MAGE = Path(os.environ.get("MAGE_BIN", ROOT / ".local" / "venv-app" / "bin" / "mage"))


@pytest.fixture
def mage_env(live_stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    title = f"e2e-{uuid.uuid4().hex[:8]}"
    live_stack.apply(monkeypatch, game_title=title)
    return {
        **os.environ,
        "MAGE_DATA_DIR": str(tmp_path / "mage_data"),
        "MIN_ACCURACY": "0.3",
        "PYTHONWARNINGS": "ignore",
    }


def run_pipeline(name: str, env: dict[str, str], variables: dict[str, object] | None = None) -> str:
    command = [str(MAGE), "run", str(ROOT / "mage_project"), name, "--test"]
    if variables:
        command += ["--runtime-vars", json.dumps(variables)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{name} failed:\n{output[-3000:]}"
    return output


def test_pipelines_prepare_train_and_promote_only_better_models(
    mage_env: dict[str, str], shipped_players: pd.DataFrame, tmp_path: Path
) -> None:
    settings: Settings = load_settings()
    services = connect(settings)
    raw = sample_players(shipped_players, 2500, seed=1).copy()
    raw.loc[0, "Gender"] = "Unknown"  # one bad row: quarantined, not fatal
    raw.loc[1, "PlayTimeHours"] = "-3"
    source = tmp_path / "players.csv"
    raw.to_csv(source, index=False, lineterminator="\r\n")
    uri = services.store.write_bytes(f"{settings.s3_prefix}/raw/players.csv", source.read_bytes())

    run_pipeline("data_preparation", mage_env, {"input_uri": uri})
    manifest = services.store.read_json(manifest_key(settings))
    processed = services.store.read_parquet(manifest["players_uri"].split("/", 3)[3])
    quarantined = services.store.read_parquet(manifest["quarantine_uri"].split("/", 3)[3])
    assert len(processed) == len(raw) - len(quarantined)
    assert len(quarantined) == 2

    run_pipeline("training", mage_env, {"params": WEAK})
    run_pipeline("model_selection", mage_env)
    first = get_alias_version(services.mlflow, settings, PRODUCTION)
    assert first is not None, "the first model is promoted"
    run = services.mlflow.get_run(first.run_id)
    assert {"test_accuracy", "test_f1_macro", "test_precision", "test_recall"} <= set(run.data.metrics)

    run_pipeline("training", mage_env, {"params": WEAKEST})
    output = run_pipeline("model_selection", mage_env)
    assert "NOT promoted" in output
    assert get_alias_version(services.mlflow, settings, PRODUCTION).version == first.version

    run_pipeline("training", mage_env)
    output = run_pipeline("model_selection", mage_env)
    assert "PROMOTED" in output
    assert get_alias_version(services.mlflow, settings, PRODUCTION).version != first.version
    assert get_alias_version(services.mlflow, settings, PREVIOUS).version == first.version

    # batch_inference scores a day alike on both engines: SCORING_ENGINE is a setting of the process Mage runs in
    day = "2026-11-20"
    batch = sample_players(shipped_players, 800, seed=8).drop(columns=["EngagementLevel"])
    batch.loc[5, "Age"] = "old"  # quarantined alike too
    source_uri, _ = daily_batch_locations(settings, day)
    services.store.write_bytes(parse_s3_uri(source_uri)[1], batch.to_csv(index=False).encode())
    published = {}
    for engine in ("local", "dask"):
        run_pipeline(
            "batch_inference", {**mage_env, "SCORING_ENGINE": engine, "DASK_WORKERS": "2"}, {"batch_date": day}
        )
        day_manifest = read_day_manifest(services.store, settings, day)
        assert day_manifest is not None
        predictions_uri = day_manifest["outputs"]["predictions"]
        run_manifest = services.store.read_json(parse_s3_uri(manifest_location(BatchOutputs(predictions_uri)))[1])
        assert run_manifest["engine"] == engine
        published[engine] = {
            table: services.store.read_parquet(day_table_key(services.store, settings, day, table) or "")
            for table in ("predictions", "quarantine")
        }
    for table, local in published["local"].items():
        dask = published["dask"][table]
        assert len(local) == len(batch) - 1 if table == "predictions" else len(local) == 1
        kept = [column for column in local.columns if column != "scored_at"]
        pd.testing.assert_frame_equal(dask[kept].reset_index(drop=True), local[kept].reset_index(drop=True))


def test_a_bad_input_fails_the_pipeline_and_publishes_nothing(
    mage_env: dict[str, str], shipped_players: pd.DataFrame, tmp_path: Path
) -> None:
    settings = load_settings()
    store = connect(settings).store
    raw = sample_players(shipped_players, 100).drop(columns=["GameGenre"])
    uri = store.write_bytes(f"{settings.s3_prefix}/raw/broken.csv", raw.to_csv(index=False).encode())

    command = [str(MAGE), "run", str(ROOT / "mage_project"), "data_preparation", "--test"]
    done = subprocess.run(
        [*command, "--runtime-vars", json.dumps({"input_uri": uri})],
        env=mage_env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode != 0
    assert "missing required column(s): GameGenre" in " ".join((done.stdout + done.stderr).split())
    assert store.list_keys(f"{settings.s3_prefix}/processed") == []


@pytest.mark.parametrize(
    ("pipeline", "variable"),
    [
        ("batch_inference", "mlflow_tracking_uri"),
        ("data_preparation", "s3_endpoint_url"),
        ("training", "model_cache_dir"),
    ],
)
def test_a_run_naming_a_service_is_refused_before_anything_happens(
    mage_env: dict[str, str], pipeline: str, variable: str
) -> None:
    settings = load_settings()
    with socket.socket() as fake_service:  # where the run is told to go: it must never connect
        fake_service.bind(("127.0.0.1", 0))
        fake_service.listen()
        fake_service.setblocking(False)
        address = f"http://127.0.0.1:{fake_service.getsockname()[1]}"
        command = [str(MAGE), "run", str(ROOT / "mage_project"), pipeline, "--test"]
        variables = (
            {variable: address, "batch_date": "2026-11-23"} if pipeline != "data_preparation" else {variable: address}
        )
        done = subprocess.run(
            [*command, "--runtime-vars", json.dumps(variables)],
            env=mage_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        with pytest.raises(BlockingIOError):
            fake_service.accept()

    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0
    assert f"runtime variable '{variable}' is not accepted by pipeline {pipeline}" in output
    assert "allowed: game_title" in output
    assert connect(settings).store.list_keys(f"{settings.s3_prefix}/") == []
