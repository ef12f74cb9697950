"""The closed loop through a live Mage server: no drift -> nothing; drift -> retraining exactly once -> promotion
only if better on the same held-out rows -> the next day is scored by the production model."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from machine_learning.data.prepare import load_prepared_players, prepare_players
from machine_learning.monitoring.decision import decision_key
from machine_learning.orchestration import MageClient
from machine_learning.registry import PRODUCTION, get_alias_version, register_candidate
from machine_learning.selection import load_model_version, score_on_holdout, select_model
from machine_learning.services import Services, connect
from machine_learning.settings import Settings, load_settings
from machine_learning.storage import parse_s3_uri
from machine_learning.training.train import train_candidate
from tests.conftest import ROOT, Stack, sample_players
from tests.e2e.mage_server import running_mage

pytestmark = pytest.mark.e2e

MLOPS = str(ROOT / ".local" / "venv-app" / "bin" / "mlops")
# A Saturday, then the Sunday that closes the week (its labels are published with it), then two weekdays.
SATURDAY, SUNDAY, MONDAY, TUESDAY = "2026-11-14", "2026-11-15", "2026-11-16", "2026-11-17"


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


def test_the_loop_retrains_once_per_drift_episode_and_keeps_the_better_model(loop: Loop) -> None:
    production_before = get_alias_version(loop.services.mlflow, loop.settings, PRODUCTION)
    assert production_before is not None

    quiet = loop.run_day(SATURDAY, None, seed=1)
    assert not quiet["retraining_needed"] and not quiet["retraining_triggered"]
    assert loop.retraining_runs() == []

    drifted = loop.run_day(SUNDAY, "session_length=0.6", seed=2)
    assert drifted["retraining_needed"] and drifted["retraining_triggered"]
    assert any("AvgSessionDurationMinutes" in reason for reason in drifted["test_reasons"])
    waited = loop.mlops("decision", "--date", SUNDAY, "--wait")
    assert f"retraining run {drifted['retraining_run_id']} completed" in waited

    # The candidate was trained on the processed data plus the week's published labels (Saturday and Sunday).
    candidate = get_alias_version(loop.services.mlflow, loop.settings, "candidate")
    assert candidate is not None and candidate.version != production_before.version
    manifest = loop.services.store.read_json(f"{loop.settings.s3_prefix}/processed/latest.json")
    assert f"({SATURDAY}..{SUNDAY})" in manifest["source"]

    # Promoted only if better than production on the same held-out rows.
    holdout = loop.services.store.read_parquet(parse_s3_uri(candidate.tags["holdout_uri"])[1])
    metric, margin = loop.settings.promotion_metric, loop.settings.promotion_margin
    new_score = score_on_holdout(load_model_version(loop.settings, candidate.version), holdout, metric)
    old_score = score_on_holdout(load_model_version(loop.settings, production_before.version), holdout, metric)
    production_after = get_alias_version(loop.services.mlflow, loop.settings, PRODUCTION)
    assert production_after is not None
    expected = candidate.version if new_score - old_score > margin else production_before.version
    assert production_after.version == expected

    still_drifted = loop.run_day(MONDAY, "session_length=0.6", seed=3)
    assert still_drifted["retraining_needed"] and not still_drifted["retraining_triggered"]
    assert "episode that started" in still_drifted["reason"]
    assert len(loop.retraining_runs()) == 1, "one drift episode, one retraining"

    loop.run_day(TUESDAY, "session_length=0.6", seed=4)
    scored = loop.services.store.read_parquet(
        f"{loop.settings.s3_prefix}/predictions/date={TUESDAY}/predictions.parquet"
    )
    assert len(scored) > 0 and set(scored["model_version"].astype(str)) == {production_after.version}
