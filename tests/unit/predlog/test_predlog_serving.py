"""The capture in front of the serving API (FastAPI TestClient, a tiny model, an in-memory sink)."""

import io
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "serving"))
from serving_helpers import TOKEN, FakeProvider, json_players, tiny_model
from unit_helpers import offline_settings

from machine_learning.predlog.serving import build_prediction_log
from machine_learning.registry import VersionInfo
from machine_learning.rollout.canary import MODE_TAG, SHARE_TAG
from machine_learning.rollout.router import build_rollout
from machine_learning.serving.app import create_app
from machine_learning.serving.provider import prepare_model

AUTH = {"X-API-Token": TOKEN}


@pytest.fixture(scope="module")
def model():
    return prepare_model(tiny_model("3"))


class Files(dict):
    def __call__(self, key: str, data: bytes) -> None:
        self[key] = data

    def rows(self) -> pd.DataFrame:
        frames = [pd.read_parquet(io.BytesIO(data)) for data in self.values()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["PlayerID"])


@pytest.fixture
def serve(model, monkeypatch):
    """The API whose prediction log writes to ``files`` instead of S3."""

    def make(files: Files, **overrides) -> TestClient:
        options = {"prediction_log": "on", "prediction_log_flush_seconds": 3600, **overrides}
        settings = offline_settings(serving_token=TOKEN, **options)
        monkeypatch.setattr(
            "machine_learning.predlog.serving.build_prediction_log", lambda s: build_prediction_log(s, sink=files)
        )
        return TestClient(create_app(settings, FakeProvider(model=model)))

    return make


def test_answered_predictions_are_logged_and_bad_requests_are_not(serve):
    files = Files()
    client = serve(files)
    good, bad = json_players(3), json_players(1, seed=9)
    bad[0]["PlayerID"], bad[0]["Age"] = 777_777, -5
    with client:
        answer = client.post("/predict", json={"players": good}, headers={**AUTH, "X-Request-ID": "game-42"})
        assert answer.status_code == 200 and answer.headers["x-request-id"] == "game-42"
        refused = client.post("/predict", json={"players": bad}, headers=AUTH)
        assert refused.status_code == 422
        assert client.post("/predict", json={"players": good}).status_code == 401
        stats = client.get("/prediction-log/stats", headers=AUTH).json()
        assert stats["enabled"] and stats["queued_rows"] == 3 and stats["lost_rows"] == 0
        assert client.get("/prediction-log/stats").status_code == 401
    rows = files.rows()  # the shutdown flushed the log
    assert rows["PlayerID"].tolist() == [p["PlayerID"] for p in good]
    assert 777_777 not in set(rows["PlayerID"])
    assert set(rows["request_id"]) == {"game-42"} and (rows["latency_ms"] > 0).all()
    assert rows["predicted_engagement"].tolist() == [p["predicted_engagement"] for p in answer.json()["predictions"]]
    assert next(iter(files)).startswith("unit-test/prediction-log/date=")


def test_with_the_log_off_nothing_is_captured_and_stats_say_so(serve):
    files = Files()
    client = serve(files, prediction_log="off")
    with client:
        assert client.post("/predict", json={"players": json_players(2)}, headers=AUTH).status_code == 200
        assert client.get("/prediction-log/stats", headers=AUTH).json() == {"enabled": False}
    assert not files


def test_a_shadow_answer_is_logged_as_variant_shadow_beside_productions(model, monkeypatch):
    files = Files()
    settings = offline_settings(
        serving_token=TOKEN, prediction_log="on", prediction_log_flush_seconds=3600, serving_reload_seconds=0.05
    )
    monkeypatch.setattr(
        "machine_learning.predlog.serving.build_prediction_log", lambda s: build_prediction_log(s, sink=files)
    )
    shadow = VersionInfo("unit-test-engagement", "4", "r", {SHARE_TAG: "0.5", MODE_TAG: "shadow"})
    challenger = tiny_model("4", seed=2)
    rollout = build_rollout(settings, lookup=lambda: shadow, load=lambda version: challenger)
    players = json_players(40)
    with TestClient(create_app(settings, FakeProvider(model=model), rollout=rollout)) as client:
        deadline = time.monotonic() + 10
        while client.get("/model-version", headers=AUTH).json()["challenger"]["status"] != "serving":
            assert time.monotonic() < deadline, "the shadow never loaded"
            time.sleep(0.05)
        answer = client.post("/predict", json={"players": players}, headers={**AUTH, "X-Request-ID": "shadow-1"})
        assert {p["variant"] for p in answer.json()["predictions"]} == {"production"}, "players see production"
    rows = files.rows()
    served, shadowed = rows[rows["variant"] == "production"], rows[rows["variant"] == "shadow"]
    assert sorted(served["PlayerID"]) == sorted(p["PlayerID"] for p in players)
    assert 0 < len(shadowed) < len(players), "the shadow scores its share of the players"
    assert set(shadowed["model_version"]) == {"4"} and set(shadowed["request_id"]) == {"shadow-1"}
    by_id = {p["PlayerID"]: p for p in players}
    assert all(by_id[row.PlayerID]["Age"] == row.Age for row in shadowed.itertuples()), "each row is its player"
    probabilities = shadowed.filter(like="probability_").to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0)


def test_with_s3_unreachable_players_are_answered_and_the_loss_is_reported_by_stats(model, monkeypatch):
    def unreachable(key: str, data: bytes) -> None:
        raise ConnectionError("Could not connect to the endpoint URL")

    settings = offline_settings(
        serving_token=TOKEN, prediction_log="on", prediction_log_batch_rows=1, prediction_log_max_rows=10
    )
    monkeypatch.setattr(
        "machine_learning.predlog.serving.build_prediction_log", lambda s: build_prediction_log(s, sink=unreachable)
    )
    with TestClient(create_app(settings, FakeProvider(model=model))) as client:
        for seed in range(3):
            assert (
                client.post("/predict", json={"players": json_players(2, seed=seed)}, headers=AUTH).status_code == 200
            )
        deadline = time.monotonic() + 10
        while (stats := client.get("/prediction-log/stats", headers=AUTH).json())["lost_rows"] < 6:
            assert time.monotonic() < deadline, f"the loss was not reported: {stats}"
            time.sleep(0.05)
    assert stats["written_rows"] == 0 and stats["failed_rows"] == 6
    assert "Could not connect" in stats["last_error"]
