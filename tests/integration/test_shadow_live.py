"""Shadow scoring against real S3 and MLflow: a candidate better on live labels is promoted, a worse one is not."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from machine_learning.inference.batch import run_daily_batch
from machine_learning.monitoring.nightly import run_performance_monitoring
from machine_learning.monitoring.quality import shadow_key
from machine_learning.registry import CANDIDATE, PRODUCTION, get_alias_version, register_candidate
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from machine_learning.simulation import default_source, load_source_players, run_simulation, simulate_players
from machine_learning.training.train import train_candidate
from tests.conftest import Stack
from tests.integration.conftest import train_register_select

pytestmark = pytest.mark.integration

# The candidate's training data ends on a Friday; the weekend is scored in shadow and labelled on Sunday.
TRAINED_UNTIL, SATURDAY, SUNDAY = "2026-11-27", "2026-11-28", "2026-11-29"


@pytest.fixture
def settings(live_stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    live_stack.apply(monkeypatch, game_title=f"shadow-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "model-cache"))
    monkeypatch.setenv("EVIDENTLY_WORKSPACE", str(tmp_path / "evidently"))
    monkeypatch.setenv("EVIDENTLY_URL", "http://127.0.0.1:9")
    return load_settings()


def _register_candidate(settings: Settings, prepared: pd.DataFrame, drift: dict[str, float]) -> str:
    """Train a candidate on the prepared players plus a labelled day ending at TRAINED_UNTIL; register it only."""
    services = connect(settings)
    source = load_source_players(default_source(), None)
    labelled = simulate_players(source, date.fromisoformat(TRAINED_UNTIL), 3000, drift, seed=11)
    frame = pd.concat([prepared.assign(label_day=""), labelled.assign(label_day=TRAINED_UNTIL)], ignore_index=True)
    result = train_candidate(frame, services.store, settings)
    return register_candidate(services.mlflow, settings, result).version


def _weekend(settings: Settings, drift: list[str]) -> dict:
    def start(variables: dict) -> int:
        raise AssertionError("no retraining expected while the shadow decides")

    for seed, day in enumerate((SATURDAY, SUNDAY), start=1):
        run_simulation(settings, day, 1500, drift, seed=seed)  # Sunday publishes both days' labels
        run_daily_batch(settings, day)
    return run_performance_monitoring(settings, SUNDAY, start)


def test_a_shadow_candidate_that_wins_on_live_labels_is_promoted(settings: Settings, prepared: pd.DataFrame) -> None:
    old, _ = train_register_select(settings, prepared)
    new = _register_candidate(settings, prepared, {"session_length": 0.6})
    services = connect(settings)

    record = _weekend(settings, ["session_length=0.6"])

    assert services.store.exists(shadow_key(settings, SATURDAY, new)), "the candidate scored each day in shadow"
    selection = record["shadow_selection"]
    assert selection["promoted"] and selection["compared_on"] == "live"
    assert selection["candidate_recent_score"] > selection["production_recent_score"]
    production = get_alias_version(services.mlflow, settings, PRODUCTION)
    assert production is not None and production.version == new != old
    roles = {(q["version"], q["role"]) for q in record["live_quality"]}
    assert {(old, "production"), (new, "shadow")} <= roles
    assert not record["retraining_triggered"]


def test_a_worse_shadow_candidate_stays_out_of_production(settings: Settings, prepared: pd.DataFrame) -> None:
    old, _ = train_register_select(settings, prepared)
    # Adapted to a change that never happens: on the unchanged game it is worse than production.
    worse = _register_candidate(settings, prepared, {"session_length": 0.6})
    services = connect(settings)

    record = _weekend(settings, [])

    selection = record["shadow_selection"]
    assert selection is not None and not selection["promoted"]
    assert selection["candidate_recent_score"] < selection["production_recent_score"]
    assert get_alias_version(services.mlflow, settings, PRODUCTION).version == old  # type: ignore[union-attr]
    assert get_alias_version(services.mlflow, settings, CANDIDATE).version == worse  # type: ignore[union-attr]
    assert not record["retraining_needed"]
