"""The closed loop through a live Mage server: quiet -> nothing; a concept change -> live quality drops on the
labelled Sunday -> retraining exactly once -> the retrained model wins on recent players and serves the next day,
clearly better than the old production on the same drifted players."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from machine_learning.data.prepare import load_prepared_players, prepare_players
from machine_learning.data.schema import FEATURE_COLUMNS
from machine_learning.inference.daily import day_table_key
from machine_learning.monitoring.data import report_key
from machine_learning.monitoring.decision import decision_key
from machine_learning.orchestration import MageClient
from machine_learning.registry import PRODUCTION, get_alias_version, register_candidate
from machine_learning.selection import load_model_version, select_model
from machine_learning.services import Services, connect
from machine_learning.settings import Settings, load_settings
from machine_learning.simulation import truth_key
from machine_learning.training.train import train_candidate
from tests.conftest import ROOT, Stack, sample_players
from tests.e2e.mage_server import running_mage

pytestmark = pytest.mark.e2e

MLOPS = str(ROOT / ".local" / "venv-app" / "bin" / "mlops")
# A Saturday, then the Sunday that closes the week (its labels are published with it), then a Monday.
SATURDAY, SUNDAY, MONDAY = "2026-11-14", "2026-11-15", "2026-11-16"


class Loop:
    """The running loop: settings, services, a Mage client, and the CLI with the test's environment."""

    def __init__(self, settings: Settings, services: Services, mage: MageClient, env: dict[str, str]) -> None:
        self.settings, self.services, self.mage, self.env = settings, services, mage, env

    def mlops(self, *args: str) -> str:
        done = subprocess.run([MLOPS, *args], env=self.env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def run_day(self, day: str, drift: str | None, seed: int) -> dict[str, Any]:
        """Simulate the day, score it in Mage, run the nightly tests in Mage; return the night's decision."""
        self.mlops(
            "simulate", "--day", day, "--players", "1500", "--seed", str(seed), *(["--drift", drift] * bool(drift))
        )
        variables = json.dumps({"batch_date": day})
        self.mlops("run-pipeline", "batch_inference", "--variables", variables)
        self.mlops("run-pipeline", "performance_monitoring", "--variables", variables)
        record: dict[str, Any] = self.services.store.read_json(decision_key(self.settings, day))
        return record

    def retraining_runs(self) -> list[dict[str, Any]]:
        runs = self.mage._call("GET", "/api/pipeline_runs?pipeline_uuid=retraining&_limit=50")["pipeline_runs"]
        return [run for run in runs if run["pipeline_uuid"] == "retraining"]


@pytest.fixture(scope="module")
def loop(live_stack: Stack, shipped_players: pd.DataFrame) -> Iterator[Loop]:
    with pytest.MonkeyPatch.context() as monkeypatch, running_mage(live_stack, monkeypatch, "loop"):
        settings = load_settings()
        services = connect(settings)
        # Production v1, trained on a sample of the shipped players.
        prepare_players(sample_players(shipped_players, 4000, seed=8), services.store, settings, "loop-test")
        trained = train_candidate(load_prepared_players(services.store, settings), services.store, settings)
        register_candidate(services.mlflow, settings, trained)
        assert select_model(services.mlflow, services.store, settings).promoted
        yield Loop(settings, services, MageClient(settings), {**os.environ, "PYTHONWARNINGS": "ignore"})


def test_a_concept_change_is_caught_by_live_quality_and_the_retrained_model_recovers_it(loop: Loop) -> None:
    production_before = get_alias_version(loop.services.mlflow, loop.settings, PRODUCTION)
    assert production_before is not None

    quiet = loop.run_day(SATURDAY, None, seed=1)
    assert not quiet["retraining_needed"] and not quiet["retraining_triggered"]
    assert loop.retraining_runs() == []

    # Sunday publishes the week's labels: production's live accuracy on the drifted Sunday collapses.
    drifted = loop.run_day(SUNDAY, "session_length=0.6", seed=2)
    assert drifted["retraining_needed"] and drifted["retraining_triggered"]
    assert drifted["live_accuracy"] < drifted["expected_accuracy"] - loop.settings.max_quality_drop
    assert drifted["drift_detected"] and any("AvgSessionDurationMinutes" in r for r in drifted["test_reasons"])
    waited = loop.mlops("decision", "--date", SUNDAY, "--wait")
    assert f"retraining run {drifted['retraining_run_id']} completed" in waited
    # The run carries the night's idempotency key: a monitoring rerun after a crash finds it instead of retriggering.
    key = f"{loop.settings.game_title}:{SUNDAY}:retraining"
    assert loop.mage.find_run("retraining", "trigger_key", key) == drifted["retraining_run_id"]

    # The day's reports, step by step in Mage, with the model-quality report now that Sunday's labels exist.
    reported = loop.mlops("run-pipeline", "performance_reports", "--variables", json.dumps({"batch_date": SUNDAY}))
    assert "completed" in reported
    for kind in ("data_quality", "data_drift", "prediction_drift", "model_quality"):
        assert loop.services.store.exists(report_key(loop.settings, SUNDAY, kind)), kind

    # Retrained on the processed data plus the week's labels, and promoted on recent players the same night.
    candidate = get_alias_version(loop.services.mlflow, loop.settings, "candidate")
    production_after = get_alias_version(loop.services.mlflow, loop.settings, PRODUCTION)
    assert candidate is not None and production_after is not None
    manifest = loop.services.store.read_json(f"{loop.settings.s3_prefix}/processed/latest.json")
    assert f"({SATURDAY}..{SUNDAY})" in manifest["source"]
    assert production_after.version == candidate.version != production_before.version
    assert candidate.tags["selection_compared_on"] == "recent" and candidate.tags["trained_until"] == SUNDAY

    # On a new drifted day the new production is clearly better than the old one on the same players.
    monday = loop.run_day(MONDAY, "session_length=0.6", seed=3)
    truth = loop.services.store.read_parquet(truth_key(loop.settings, MONDAY))
    store = loop.services.store
    served = store.read_parquet(day_table_key(store, loop.settings, MONDAY, "predictions") or "")
    assert set(served["model_version"].astype(str)) == {production_after.version}
    joined = served.merge(truth, on="PlayerID")
    new_accuracy = (joined["predicted_engagement"] == joined["EngagementLevel"]).mean()
    old_model = load_model_version(loop.settings, production_before.version)
    players = store.read_parquet(day_table_key(store, loop.settings, MONDAY, "current") or "")
    old = pd.DataFrame({"PlayerID": players["PlayerID"], "old": old_model.predict(players[list(FEATURE_COLUMNS)])})
    old_accuracy = (joined.merge(old, on="PlayerID").eval("old == EngagementLevel")).mean()
    assert new_accuracy > old_accuracy + 0.15, (new_accuracy, old_accuracy)

    # No labelled evidence about the new model yet: nothing more is started.
    assert not monday["retraining_triggered"] and len(loop.retraining_runs()) == 1, "one episode, one retraining"
