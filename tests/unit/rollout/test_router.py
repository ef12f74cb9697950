"""Production and a challenger in the serving app (FastAPI TestClient, tiny models, no MLflow)."""

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "serving"))
from serving_helpers import TOKEN, FakeProvider, json_players, tiny_model
from unit_helpers import offline_settings

from machine_learning.registry import VersionInfo
from machine_learning.rollout.canary import MODE_TAG, SHARE_TAG
from machine_learning.rollout.router import build_rollout
from machine_learning.rollout.split import challenger_rows, split_salt
from machine_learning.serving.app import create_app
from machine_learning.serving.provider import prepare_model
from machine_learning.settings import Settings

AUTH = {"X-API-Token": TOKEN}
MODELS = {"3": tiny_model("3", seed=1), "4": tiny_model("4", seed=2)}


class Registry:
    """The challenger alias and its tags, as the test sets them."""

    def __init__(self) -> None:
        self.challenger: VersionInfo | None = None

    def set(self, version: str | None, share: float = 0.5, mode: str = "canary") -> None:
        tags = {SHARE_TAG: str(share), MODE_TAG: mode}
        self.challenger = None if version is None else VersionInfo("unit-test-engagement", version, "r", tags)


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def settings() -> Settings:
    return offline_settings(
        serving_token=TOKEN, serving_reload_seconds=0.05, canary_min_requests=5, prediction_log="off"
    )


@pytest.fixture
def rollout(settings, registry):
    return build_rollout(settings, lookup=lambda: registry.challenger, load=lambda version: MODELS[version])


@pytest.fixture
def client(settings, rollout):
    app = create_app(settings, FakeProvider(model=prepare_model(MODELS["3"])), rollout=rollout)
    with TestClient(app) as test_client:
        yield test_client


def wait_until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def challenger_status(client):
    return (client.get("/model-version", headers=AUTH).json().get("challenger") or {}).get("status")


def predict(client, players):
    response = client.post("/predict", json={"players": players}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_without_a_challenger_every_answer_names_production(client):
    predictions = predict(client, json_players(20))
    assert {(p["variant"], p["model_version"]) for p in predictions} == {("production", "3")}
    assert client.get("/model-version", headers=AUTH).json()["challenger"] is None


def test_a_canary_answers_its_players_and_production_the_others_sticky_and_hot_reloaded(client, registry):
    registry.set("4", share=0.5)
    wait_until(lambda: challenger_status(client) == "serving")
    players = json_players(300)
    expected = set(challenger_rows([p["PlayerID"] for p in players], 0.5, split_salt("unit-test-engagement", "4")))
    predictions = predict(client, players)
    got = {row for row, p in enumerate(predictions) if p["variant"] == "challenger"}
    assert got == expected and 0 < len(got) < len(players)
    assert {p["model_version"] for p in predictions if p["variant"] == "challenger"} == {"4"}
    for row in list(expected)[:5]:  # alone, the same player meets the same model
        assert predict(client, [players[row]])[0]["variant"] == "challenger"
    first = sorted(expected)[0]  # the challenger's answer is its own model's
    own = prepare_model(MODELS["4"]).predictor
    mine = own.predict_proba({k: [players[first][k]] for k in players[first]})
    assert predictions[first]["probability_High"] == pytest.approx(mine[0][own.classes.index("High")], rel=1e-9)

    registry.set(None)  # the alias goes: production answers everyone, no restart
    wait_until(lambda: challenger_status(client) is None)
    assert {p["variant"] for p in predict(client, players)} == {"production"}


def test_shadow_scores_the_challenger_but_players_get_productions_answer(client, registry):
    registry.set("4", share=1.0, mode="shadow")
    wait_until(lambda: challenger_status(client) == "serving")
    players = json_players(50)
    for _ in range(3):
        predictions = predict(client, players)
        assert {(p["variant"], p["model_version"]) for p in predictions} == {("production", "3")}
    figures = client.get("/rollout", headers=AUTH).json()
    assert figures["challenger"]["mode"] == "shadow"
    assert figures["challenger"]["shadow_compared"] == 150
    assert 0.0 <= figures["challenger"]["shadow_agreement"] <= 1.0
    assert figures["production"]["requests"] == 3


def test_a_failing_challenger_is_withdrawn_and_its_players_still_get_an_answer(client, registry, rollout):
    registry.set("4", share=1.0)
    wait_until(lambda: challenger_status(client) == "serving")
    predictor = rollout.plan().model.predictor  # break the loaded challenger: answers of the wrong shape
    predictor.predict_proba = lambda columns: np.array([[0.2, 0.3]])
    for _ in range(6):
        predictions = predict(client, json_players(3))
        assert {(p["variant"], p["model_version"]) for p in predictions} == {("production", "3")}
    wait_until(lambda: challenger_status(client) == "withdrawn")
    described = client.get("/model-version", headers=AUTH).json()["challenger"]
    assert "error rate" in described["withdrawn_reason"]
    assert {p["variant"] for p in predict(client, json_players(3))} == {"production"}


def test_the_rollout_figures_need_the_token(client):
    assert client.get("/rollout").status_code == 401
