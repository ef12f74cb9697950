"""Preparation, training, registration, selection and rollback against real S3 and MLflow servers."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from machine_learning.data.prepare import manifest_key, prepare_players
from machine_learning.errors import InvalidInputError, QualityGateError
from machine_learning.registry import (
    CANDIDATE,
    PREVIOUS,
    PRODUCTION,
    get_alias_version,
    register_candidate,
    rollback_production,
)
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from machine_learning.training.train import train_candidate
from tests.conftest import Stack, sample_players
from tests.integration.conftest import train_register_select

pytestmark = pytest.mark.integration

# The engineered score nearly decides the label, so "weak" must blunt it: 5 bins per feature (macro-F1 ~0.85),
# or two tiny boosting steps (predicts the majority class, macro-F1 ~0.22); the default scores ~0.93.
WEAK = {"classifier__max_bins": 5}
WEAKEST = {"classifier__max_iter": 2, "classifier__learning_rate": 0.02}


@pytest.fixture
def settings(live_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Settings:
    live_stack.apply(monkeypatch, game_title=f"it-{uuid.uuid4().hex[:8]}")
    return load_settings().with_overrides({"min_accuracy": 0.3})


def test_prepare_publishes_every_valid_row_and_quarantines_the_rest(
    settings: Settings, shipped_players: pd.DataFrame
) -> None:
    raw = sample_players(shipped_players, 500).copy()
    raw.loc[0, "Age"] = "old"
    raw.loc[1, "GameGenre"] = "Racing"
    store = connect(settings).store

    prepared = prepare_players(raw, store, settings, "test-sample")

    processed = store.read_parquet(prepared.players_uri.split("/", 3)[3])
    quarantine = store.read_parquet(prepared.quarantine_uri.split("/", 3)[3])
    assert len(processed) == len(raw) - len(quarantine)
    assert set(quarantine["PlayerID"]) == {raw.loc[0, "PlayerID"], raw.loc[1, "PlayerID"]}
    assert store.read_json(manifest_key(settings))["run_id"] == prepared.run_id


def test_a_rejected_batch_writes_nothing(settings: Settings, shipped_players: pd.DataFrame) -> None:
    raw = sample_players(shipped_players, 200).copy()
    raw["SessionsPerWeek"] = "many"
    store = connect(settings).store
    before = store.list_keys(settings.s3_prefix)

    with pytest.raises(InvalidInputError, match="SessionsPerWeek: not a number"):
        prepare_players(raw, store, settings, "bad-sample")

    assert store.list_keys(settings.s3_prefix) == before


def test_training_logs_metrics_and_registers_a_candidate(settings: Settings, prepared: pd.DataFrame) -> None:
    services = connect(settings)

    result = train_candidate(prepared, services.store, settings)
    version = register_candidate(services.mlflow, settings, result)

    run = services.mlflow.get_run(result.run_id)
    for metric in ("test_accuracy", "test_f1_macro", "test_precision", "test_recall", "test_f1_High"):
        assert 0.0 <= run.data.metrics[metric] <= 1.0
    assert run.data.tags["data_fingerprint"] == result.data_fingerprint
    artifacts = {item.path for item in services.mlflow.list_artifacts(result.run_id, "evaluation")}
    assert {"evaluation/confusion_matrix.png", "evaluation/feature_importance.png"} <= artifacts
    assert get_alias_version(services.mlflow, settings, CANDIDATE).version == version.version
    reference = services.store.read_parquet(result.reference_uri.split("/", 3)[3])
    assert len(reference) == len(prepared) and reference["prediction"].notna().all()


def test_a_model_below_the_quality_gate_is_not_registered(settings: Settings, prepared: pd.DataFrame) -> None:
    services = connect(settings)
    strict = settings.with_overrides({"min_accuracy": 0.99})

    result = train_candidate(prepared, services.store, strict, WEAKEST)

    assert not result.passed_gate
    with pytest.raises(QualityGateError, match="below the minimum"):
        register_candidate(services.mlflow, strict, result)
    assert get_alias_version(services.mlflow, strict, CANDIDATE) is None


def test_only_a_better_candidate_is_promoted_and_rollback_restores_the_previous(
    settings: Settings, prepared: pd.DataFrame
) -> None:
    services = connect(settings)

    first, first_promoted = train_register_select(settings, prepared, WEAK)
    worse, worse_promoted = train_register_select(settings, prepared, WEAKEST)
    better, better_promoted = train_register_select(settings, prepared, None)

    assert first_promoted, "the first model is promoted automatically"
    assert not worse_promoted
    assert better_promoted
    assert get_alias_version(services.mlflow, settings, PRODUCTION).version == better
    assert get_alias_version(services.mlflow, settings, PREVIOUS).version == first
    rejected = services.mlflow.get_model_version(settings.model_name, worse)
    assert rejected.tags["selection_decision"] == "rejected"
    assert "does not beat" in rejected.tags["selection_reason"]

    restored = rollback_production(services.mlflow, settings)

    assert restored.version == first
    assert get_alias_version(services.mlflow, settings, PRODUCTION).version == first
