"""Daily batch scoring against real S3 and MLflow, and scoring from the local cache when MLflow is down."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from machine_learning.inference.batch import daily_batch_locations, run_daily_batch
from machine_learning.inference.daily import day_table_key
from machine_learning.inference.model import ModelUnavailableError, load_production_model
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from tests.conftest import Stack, free_port, sample_players
from tests.integration.conftest import train_register_select

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(live_stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Settings:
    live_stack.apply(monkeypatch, game_title=f"batch-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "model-cache"))
    return load_settings()


@pytest.fixture
def production(settings: Settings, prepared: pd.DataFrame) -> str:
    version, promoted = train_register_select(settings, prepared)
    assert promoted
    return version


def test_the_daily_batch_is_scored_by_the_production_model(
    settings: Settings, production: str, shipped_players: pd.DataFrame
) -> None:
    store = connect(settings).store
    batch = sample_players(shipped_players, 800, seed=9).drop(columns=["EngagementLevel"])
    batch.loc[0, "SessionsPerWeek"] = "-4"
    source, _ = daily_batch_locations(settings, "2026-11-23")
    store.write_bytes(source.split("/", 3)[3], batch.to_csv(index=False).encode())

    result = run_daily_batch(settings, "2026-11-23")

    predictions, quarantine, current = (
        store.read_parquet(day_table_key(store, settings, "2026-11-23", table) or "")
        for table in ("predictions", "quarantine", "current")
    )
    assert result["model_version"] == production
    assert predictions["PlayerID"].astype(str).tolist() == batch["PlayerID"].iloc[1:].tolist()
    assert quarantine["PlayerID"].tolist() == [batch.loc[0, "PlayerID"]]
    assert len(current) == len(predictions) and (current["prediction"] == predictions["predicted_engagement"]).all()


def test_a_cached_version_scores_while_mlflow_is_down(settings: Settings, production: str) -> None:
    services = connect(settings)
    online = load_production_model(services.mlflow, settings)
    mlflow_down = settings.with_overrides({"mlflow_tracking_uri": f"http://127.0.0.1:{free_port()}"})

    offline = load_production_model(connect(mlflow_down).mlflow, mlflow_down)

    assert offline.version == online.version == production
    with pytest.raises(ModelUnavailableError, match="not cached"):
        load_production_model(connect(mlflow_down).mlflow, mlflow_down, version="999")
