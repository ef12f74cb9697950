"""The dask engine on a real LocalCluster (2 worker processes on loopback): same tables as the local engine,
a killed worker, S3 input and output through the live stack, labelled days read on the workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN
from machine_learning.data.validate import validate_players
from machine_learning.inference.batch import BatchOutputs, score_batch
from machine_learning.inference.model import LoadedModel, load_model
from machine_learning.scale.engine import score_with_engine
from machine_learning.scale.score import ScaleError
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from machine_learning.storage import ensure_bucket, parse_s3_uri
from machine_learning.training.model import build_pipeline
from tests.conftest import ROOT, Stack, sample_players

pytestmark = [pytest.mark.integration, pytest.mark.dask]
CHUNK = 150
MLOPS = ROOT / ".local" / "venv-app" / "bin" / "mlops"
TABLES = ("predictions", "quarantine", "current")


def start_cluster(workers: int) -> object:
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=None,
        silence_logs=50,
    )


@pytest.fixture(scope="module")
def stack_env(live_stack: Stack) -> Iterator[Stack]:
    """The live stack's environment, set before the workers start so they inherit its S3 credentials."""
    with pytest.MonkeyPatch.context() as patch:
        live_stack.apply(patch, game_title=f"scale-{uuid.uuid4().hex[:8]}")
        yield live_stack


@pytest.fixture(scope="module")
def cluster(stack_env: Stack) -> Iterator[object]:
    with start_cluster(2) as running:
        yield running


@pytest.fixture(scope="module")
def settings(cluster, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Trusted test code sets the engine's services directly (a pipeline run's variables cannot).
    return load_settings().with_overrides(
        {
            "scoring_engine": "dask",
            "dask_scheduler_address": cluster.scheduler_address,  # type: ignore[attr-defined]
            "model_cache_dir": str(tmp_path_factory.mktemp("model-cache")),
            "max_quarantine_share": 0.2,
        }
    )


@pytest.fixture(scope="module")
def model(settings: Settings, shipped_players: pd.DataFrame) -> LoadedModel:
    """A small model saved in the model cache, where every worker loads it from (no MLflow needed)."""
    import mlflow

    players = validate_players(sample_players(shipped_players, 3000, seed=1)).clean
    pipeline = build_pipeline(0, {"classifier__max_iter": 30}).fit(
        players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN]
    )
    mlflow.sklearn.save_model(pipeline, str(Path(settings.model_cache_dir) / settings.model_name / "versions" / "1"))
    return load_model(settings, "1")


@pytest.fixture(scope="module")
def batch(shipped_players: pd.DataFrame) -> pd.DataFrame:
    """Raw text with invalid rows and duplicate IDs inside one chunk and across chunks."""
    frame = sample_players(shipped_players, 2400, seed=4).drop(columns=[LABEL_COLUMN]).reset_index(drop=True)
    frame.loc[7, "Gender"] = "Robot"
    frame.loc[160, "Age"] = "x"
    frame.loc[161, ID_COLUMN] = frame.loc[170, ID_COLUMN]
    frame.loc[900, ID_COLUMN] = frame.loc[3, ID_COLUMN]
    frame.loc[1500, "SessionsPerWeek"] = ""
    return frame


def outputs_in(where: str) -> BatchOutputs:
    return BatchOutputs(f"{where}/predictions.parquet", f"{where}/quarantine.parquet", f"{where}/current.parquet")


def read_tables(outputs: BatchOutputs, settings: Settings) -> dict[str, pd.DataFrame]:
    store = connect(settings).store
    tables = {}
    for name in TABLES:
        location = getattr(outputs, name)
        if location.startswith("s3://"):
            tables[name] = store.read_parquet(parse_s3_uri(location)[1])
        else:
            tables[name] = pd.read_parquet(location)
    tables["predictions"] = tables["predictions"].drop(columns="scored_at")
    return tables


def assert_same_tables(left: BatchOutputs, right: BatchOutputs, settings: Settings) -> None:
    expected = read_tables(left, settings)
    for name, frame in read_tables(right, settings).items():
        pd.testing.assert_frame_equal(frame, expected[name])


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_dask_gives_the_local_engines_tables_exactly(settings, model, batch, tmp_path, kind):
    source = tmp_path / f"batch.{kind}"
    batch.to_csv(source, index=False) if kind == "csv" else batch.to_parquet(source, row_group_size=100)
    local, distributed = outputs_in(str(tmp_path / "local")), outputs_in(str(tmp_path / "dask"))

    expected = score_batch(str(source), local, model, None, settings.max_quarantine_share, CHUNK)
    result = score_with_engine(settings, str(source), distributed, model, None, CHUNK)

    assert_same_tables(local, distributed, settings)
    assert result.quarantine_reasons == expected.quarantine_reasons
    assert result.scored_rows + result.quarantined_rows == len(batch)
    assert Path(result.outputs["manifest"]).exists()


def test_mlops_predict_with_engine_dask_writes_the_local_engines_tables(settings, cluster, model, batch, tmp_path):
    source = tmp_path / "batch.csv"
    batch.to_csv(source, index=False)
    local = outputs_in(str(tmp_path / "local"))
    score_batch(str(source), local, model, None, settings.max_quarantine_share, CHUNK)
    env = {
        **os.environ,
        "MODEL_CACHE_DIR": settings.model_cache_dir,
        "DASK_SCHEDULER_ADDRESS": cluster.scheduler_address,  # type: ignore[attr-defined]
        "MAX_QUARANTINE_SHARE": str(settings.max_quarantine_share),
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",  # refused: the cached version 1 scores, as with MLflow down
    }
    (tmp_path / "cli").mkdir()
    command = [str(MLOPS), "predict", "--engine", "dask", "--model-version", "1", "--chunk-rows", str(CHUNK)]
    command += ["--input", str(source), "--output", str(tmp_path / "cli" / "predictions.parquet")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((tmp_path / "cli" / "predictions.manifest.json").read_text())
    assert manifest["engine"] == "dask" and manifest["workers"] == 2
    for name, file in (("predictions", "predictions.parquet"), ("quarantine", "predictions.quarantine.parquet")):
        written = pd.read_parquet(tmp_path / "cli" / file)
        expected = pd.read_parquet(getattr(local, name))
        if name == "predictions":
            written, expected = written.drop(columns="scored_at"), expected.drop(columns="scored_at")
        pd.testing.assert_frame_equal(written, expected)


def test_a_worker_killed_mid_run_is_replaced_and_the_run_completes(settings, cluster, model, batch, tmp_path):
    source = tmp_path / "batch.parquet"
    batch.to_parquet(source, row_group_size=50)
    local, distributed = outputs_in(str(tmp_path / "local")), outputs_in(str(tmp_path / "dask"))
    score_batch(str(source), local, model, None, settings.max_quarantine_share, 50)
    killed = kill_a_worker_once_parts_appear(cluster, tmp_path / "dask")

    result = score_with_engine(settings, str(source), distributed, model, None, 50)

    assert killed.wait(0) and killed.parts_then < len(batch) // 50  # type: ignore[attr-defined]
    assert_same_tables(local, distributed, settings)
    assert result.scored_rows + result.quarantined_rows == len(batch)


def test_a_run_that_loses_a_worker_beyond_the_retries_fails_clearly_and_publishes_nothing(
    settings, cluster, model, batch, tmp_path
):
    source = tmp_path / "batch.parquet"
    batch.to_parquet(source, row_group_size=50)
    outputs = outputs_in(str(tmp_path / "dask"))
    scheduler = cluster.scheduler  # type: ignore[attr-defined]
    allowed, scheduler.allowed_failures = scheduler.allowed_failures, 0  # distributed.scheduler.allowed-failures
    try:
        kill_a_worker_once_parts_appear(cluster, tmp_path / "dask")
        with pytest.raises(ScaleError, match="nothing was published"):
            score_with_engine(settings, str(source), outputs, model, None, 50)
    finally:
        scheduler.allowed_failures = allowed

    published = [p.name for p in (tmp_path / "dask").iterdir() if not p.name.startswith("_staging-")]
    assert published == []  # no table and no manifest


def test_s3_input_and_outputs_through_the_live_stack(settings, model, batch, tmp_path):
    store = connect(settings).store
    ensure_bucket(store)
    base = f"s3://{settings.s3_bucket}/{settings.s3_prefix}"
    store.write_bytes(f"{settings.s3_prefix}/batches/many/a.csv", batch.iloc[:1000].to_csv(index=False).encode())
    store.write_parquet(f"{settings.s3_prefix}/batches/many/b.parquet", batch.iloc[1000:])
    local_copy = tmp_path / "in"
    local_copy.mkdir()
    batch.iloc[:1000].to_csv(local_copy / "a.csv", index=False)
    batch.iloc[1000:].to_parquet(local_copy / "b.parquet")
    local, distributed = outputs_in(str(tmp_path / "local")), outputs_in(f"{base}/predictions/date=2026-11-23")

    score_with_engine(settings.with_overrides({"scoring_engine": "local"}), str(local_copy), local, model, None, CHUNK)
    result = score_with_engine(settings, f"{base}/batches/many/", distributed, model, store, CHUNK)

    assert_same_tables(local, distributed, settings)
    prefix = f"{settings.s3_prefix}/predictions/date=2026-11-23/"
    keys = [key[len(prefix) :] for key in store.list_keys(prefix)]
    # Parquet outputs are published as folders of parts; nothing staged is left behind.
    assert sorted({key.split("/", 1)[0] for key in keys}) == [
        "current.parquet",
        "predictions.manifest.json",
        "predictions.parquet",
        "quarantine.parquet",
    ]
    assert all(key.rsplit("/", 1)[1].startswith("part-") for key in keys if "/" in key)
    assert result.outputs["manifest"].endswith("predictions.manifest.json")


def test_labelled_days_read_on_the_workers_equal_the_local_read(settings, batch):
    from machine_learning.data.accumulate import load_labelled_batches
    from machine_learning.inference.batch import daily_batch_locations
    from machine_learning.monitoring.data import labels_key
    from machine_learning.scale.accumulate import read_labelled_batches

    store = connect(settings).store
    ensure_bucket(store)
    days = ["2026-11-20", "2026-11-21", "2026-11-22"]
    for offset, day in enumerate(days):
        rows = batch.iloc[offset * 300 : (offset + 1) * 300]
        store.write_bytes(parse_s3_uri(daily_batch_locations(settings, day)[0])[1], rows.to_csv(index=False).encode())
        labels = pd.DataFrame({ID_COLUMN: pd.to_numeric(rows[ID_COLUMN]), LABEL_COLUMN: "High"})
        store.write_parquet(labels_key(settings, day), labels.iloc[::2])

    on_workers = read_labelled_batches(store, settings, days)

    pd.testing.assert_frame_equal(on_workers, load_labelled_batches(store, settings, days))
    assert len(on_workers) > 0


def kill_a_worker_once_parts_appear(cluster: object, outputs: Path) -> threading.Event:
    """SIGKILL one worker process as soon as the first part of a run is staged under ``outputs``."""
    from distributed import Client

    with Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
    killed = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            parts = list(outputs.glob("_staging-*/predictions/part-*.parquet"))
            if parts:
                killed.parts_then = len(parts)  # type: ignore[attr-defined]
                os.kill(pids[0], signal.SIGKILL)
                killed.set()
                return
            time.sleep(0.002)

    threading.Thread(target=watch, daemon=True).start()
    return killed
