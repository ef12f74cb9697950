"""Online inference through the Mage server: the API trigger (async, result in S3) and the patched /api/runs."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
import requests

from machine_learning.data.prepare import load_prepared_players, prepare_players
from machine_learning.data.schema import LABEL_COLUMN, LABELS
from machine_learning.data.validate import validate_players
from machine_learning.errors import NotFoundError
from machine_learning.inference.model import load_model
from machine_learning.inference.online import fetch_online_result, online_result_key
from machine_learning.inference.predict import predict_players
from machine_learning.orchestration import MageClient
from machine_learning.registry import PRODUCTION, get_alias_version, register_candidate
from machine_learning.selection import select_model
from machine_learning.services import Services, connect
from machine_learning.settings import Settings, load_settings
from machine_learning.training.train import train_candidate
from tests.conftest import ROOT, Stack, sample_players
from tests.e2e.mage_server import running_mage

pytestmark = pytest.mark.e2e

PIPELINE, BLOCK, TRIGGER = "online_inference", "score_online_players", "online_inference_api"


@dataclass(frozen=True)
class Online:
    """A Mage server beside the live stack, a production model under a title of its own, and the trigger."""

    settings: Settings
    services: Services
    mage: MageClient
    trigger: dict[str, Any]
    version: str

    def players(self, rows: pd.DataFrame) -> list[dict[str, str]]:
        """Raw rows as a caller sends them (text, no label)."""
        return rows.drop(columns=[LABEL_COLUMN]).to_dict(orient="records")

    def trigger_run(self, inputs: Any, timeout: float = 120.0) -> dict[str, Any]:
        run_id = self.mage.start_run(self.trigger, {"inputs": inputs, "game_title": self.settings.game_title})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.mage.get_run(run_id)
            if run["status"] in ("completed", "failed", "cancelled"):
                return run
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s")

    def sync_call(
        self, inputs: Any, token: str | None = None, pipeline: str = PIPELINE, **variables: Any
    ) -> requests.Response:
        body = {"run": {"pipeline_uuid": pipeline, "block_uuid": BLOCK, "variables": {"inputs": inputs}}}
        body["run"]["variables"].update(game_title=self.settings.game_title, **variables)
        headers = {"Authorization": f"Bearer {token or self.trigger['token']}"}
        return requests.post(f"{self.mage.base}/api/runs", json=body, headers=headers, timeout=60)

    def sync_run(self, inputs: Any, **variables: Any) -> dict[str, Any]:
        response = self.sync_call(inputs, **variables)
        assert response.status_code == 200, response.text
        payload: dict[str, Any] = response.json()
        return payload

    def online_keys(self) -> list[str]:
        return self.services.store.list_keys(f"{self.settings.s3_prefix}/online/")


@pytest.fixture(scope="module")
def online(live_stack: Stack, shipped_players: pd.DataFrame) -> Iterator[Online]:
    with pytest.MonkeyPatch.context() as monkeypatch, running_mage(live_stack, monkeypatch, "onl"):
        settings = load_settings().with_overrides({"min_accuracy": 0.3})
        services = connect(settings)
        prepare_players(sample_players(shipped_players, 2000, seed=5), services.store, settings, "online-test")
        trained = train_candidate(load_prepared_players(services.store, settings), services.store, settings)
        register_candidate(services.mlflow, settings, trained)
        assert select_model(services.mlflow, services.store, settings).promoted
        production = get_alias_version(services.mlflow, settings, PRODUCTION)
        assert production is not None
        mage = MageClient(settings)
        yield Online(settings, services, mage, _wait_for_trigger(mage), production.version)


def _wait_for_trigger(mage: MageClient, timeout: float = 60.0) -> dict[str, Any]:
    """triggers.yaml is synced into Mage's database on a scheduler tick after start."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return mage.find_trigger(PIPELINE, TRIGGER)
        except NotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def batch_scores(online: Online, raw: pd.DataFrame) -> pd.DataFrame:
    """The same players through the batch path: validate_players + predict_players with the production version."""
    model = load_model(online.settings, online.version)
    return predict_players(model, validate_players(raw.drop(columns=[LABEL_COLUMN])).clean)


def assert_same_as_batch(predictions: list[dict[str, Any]], batch: pd.DataFrame) -> None:
    assert [p["PlayerID"] for p in predictions] == batch["PlayerID"].tolist()
    for online_row, (_, batch_row) in zip(predictions, batch.iterrows(), strict=True):
        assert online_row["predicted_engagement"] == batch_row["predicted_engagement"]
        for label in LABELS:
            assert online_row[f"probability_{label}"] == pytest.approx(batch_row[f"probability_{label}"], abs=1e-12)


def test_api_trigger_scores_every_valid_input_like_batch_and_stores_the_result(
    online: Online, shipped_players: pd.DataFrame
) -> None:
    raw = sample_players(shipped_players, 40, seed=11).head(5)
    inputs = online.players(raw)
    inputs.insert(2, {**inputs[0], "PlayerID": "77777777", "GameGenre": "Racing"})

    run = online.trigger_run(inputs)

    assert run["status"] == "completed", online.mage.failure_reason(PIPELINE, run["id"])
    result = fetch_online_result(online.services.store, online.settings, f"mage-run-{run['id']}")
    assert [p["input_index"] for p in result["predictions"]] == [0, 1, 3, 4, 5]
    assert_same_as_batch(result["predictions"], batch_scores(online, raw))
    assert result["rejected"] == [
        {
            "input_index": 2,
            "PlayerID": "77777777",
            "reason": "GameGenre: unknown category 'Racing' (allowed: Action, RPG, Simulation, Sports, Strategy)",
        }
    ]
    assert result["model_version"] == online.version


def test_synchronous_api_runs_returns_the_predictions_in_the_response(
    online: Online, shipped_players: pd.DataFrame
) -> None:
    raw = sample_players(shipped_players, 40, seed=12).head(3)

    payload = online.sync_run(online.players(raw))

    assert "error" not in payload, payload.get("error", {}).get("exception")
    (result,) = payload["run"]["output"]
    assert_same_as_batch(result["predictions"], batch_scores(online, raw))
    assert fetch_online_result(online.services.store, online.settings, result["request_id"]) == result


def test_the_same_player_gets_the_same_answer_from_trigger_and_api_runs(
    online: Online, shipped_players: pd.DataFrame
) -> None:
    inputs = online.players(sample_players(shipped_players, 40, seed=13).head(1))

    through_trigger = online.trigger_run(inputs)
    stored = fetch_online_result(online.services.store, online.settings, f"mage-run-{through_trigger['id']}")
    (synchronous,) = online.sync_run(inputs)["run"]["output"]

    assert stored["predictions"] == synchronous["predictions"]


def test_a_bad_request_fails_with_a_clear_error_and_writes_nothing(online: Online) -> None:
    bad = [{"PlayerID": "1", "Age": "old"}]  # not a number, and every other field missing
    before = online.online_keys()

    run = online.trigger_run(bad)
    response = online.sync_call(bad)

    assert run["status"] == "failed"
    reason = online.mage.failure_reason(PIPELINE, run["id"])
    assert "no valid input to score (1 rejected): inputs[0]: Age: not a number (old)" in reason
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "no valid input to score" in message and "Gender: missing" in message
    assert "Traceback" not in response.text and "site-packages" not in response.text
    assert online.online_keys() == before
    with pytest.raises(NotFoundError, match="no online result"):
        fetch_online_result(online.services.store, online.settings, f"mage-run-{run['id']}")
    assert not online.services.store.exists(online_result_key(online.settings, f"mage-run-{run['id']}"))


def test_api_runs_accepts_only_a_token_of_the_pipelines_own_trigger(online: Online) -> None:
    other = online.mage.find_trigger("training", "training_api")

    wrong_pipeline = online.sync_call([{"PlayerID": "1"}], token=other["token"])
    unknown_token = online.sync_call([{"PlayerID": "1"}], token="0" * 32)

    assert wrong_pipeline.status_code == 403
    assert wrong_pipeline.json() == {
        "error": {"code": 403, "message": "This token does not run pipeline online_inference."}
    }
    assert unknown_token.status_code == 401
    assert unknown_token.json()["error"]["message"] == "Invalid token."


def test_api_runs_refuses_a_chosen_request_id_that_is_taken_and_keeps_the_first_result(
    online: Online, shipped_players: pd.DataFrame
) -> None:
    inputs = online.players(sample_players(shipped_players, 40, seed=14).head(2))
    chosen = f"mine-{online.version}-{time.time_ns()}"
    (first,) = online.sync_run(inputs, request_id=chosen)["run"]["output"]

    again = online.sync_call(inputs[:1], request_id=chosen)

    assert again.status_code == 409
    assert f"request_id '{chosen}' is taken" in again.json()["error"]["message"]
    assert fetch_online_result(online.services.store, online.settings, chosen) == first


def test_api_runs_refuses_a_variable_that_names_a_service(online: Online) -> None:
    before = online.online_keys()

    response = online.sync_call([{"PlayerID": "1"}], mlflow_tracking_uri="http://127.0.0.1:1")

    assert response.status_code == 422
    assert "'mlflow_tracking_uri' is not accepted by pipeline online_inference" in response.json()["error"]["message"]
    assert online.online_keys() == before


def test_the_installed_mage_carries_the_api_runs_patch_and_reapplying_is_a_no_op() -> None:
    command = [sys.executable, str(ROOT / "scripts" / "patch_mage.py")]
    checked = subprocess.run([*command, "--check"], capture_output=True, text=True)
    again = subprocess.run(command, capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout + checked.stderr + "\n(run `make setup`)"
    assert again.returncode == 0 and "already applied" in again.stdout
