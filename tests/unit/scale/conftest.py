"""Fixtures of the scale tests: a model in a local model cache, as Dask workers load it."""

from __future__ import annotations

from pathlib import Path

import pytest
from unit_helpers import synthetic_players

from machine_learning.data.schema import FEATURE_COLUMNS, LABEL_COLUMN
from machine_learning.inference.model import LoadedModel, load_model
from machine_learning.settings import Settings
from machine_learning.training.model import build_pipeline


def cache_model(settings: Settings, version: str = "1") -> LoadedModel:
    """Fit a small model and save it where ``load_model`` finds it without MLflow (the worker's path)."""
    import mlflow

    players = synthetic_players(400, seed=1)
    pipeline = build_pipeline(0, {"classifier__max_iter": 20}).fit(
        players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN]
    )
    target = Path(settings.model_cache_dir) / settings.model_name / "versions" / version
    mlflow.sklearn.save_model(pipeline, str(target))
    return load_model(settings, version)


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, LoadedModel]:
    settings = Settings(
        game_title="scale-unit", s3_bucket="unit-bucket", model_cache_dir=str(tmp_path_factory.mktemp("cache"))
    )
    return settings, cache_model(settings)
