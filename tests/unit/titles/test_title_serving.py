"""``/titles/{title}/...``: one provider per ready title, lazily made, bounded; 404 for others; same token."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from machine_learning.serving.app import create_app
from machine_learning.serving.provider import ProviderStatus, ServingModel, prepare_model
from machine_learning.settings import Settings
from machine_learning.titles.serving import TitleProviders, add_title_routes
from tests.unit.serving.serving_helpers import TOKEN, json_players, tiny_model

AUTH = {"X-API-Token": TOKEN}


class TitleProvider:
    """A started-and-stopped fake provider serving one title's model."""

    def __init__(self, model: ServingModel | None) -> None:
        self.model, self.started, self.stopped = model, False, False

    def current(self) -> ServingModel | None:
        return self.model

    def status(self) -> ProviderStatus:
        return ProviderStatus("x", self.model, datetime.now(UTC), None)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture(scope="module")
def models() -> dict[str, ServingModel]:
    base = prepare_model(tiny_model("3"))
    other = prepare_model(tiny_model("7", seed=2))
    return {
        "unit-test": base,
        "alpha": ServingModel("alpha-engagement", "7", other.predictor, other.loaded_at),
        "beta": ServingModel("beta-engagement", "2", base.predictor, base.loaded_at),
    }


@pytest.fixture
def built() -> dict[str, TitleProvider]:
    return {}


@pytest.fixture
def client(models: dict[str, ServingModel], built: dict[str, TitleProvider]):
    from fastapi import FastAPI

    from machine_learning.serving.app import _token_check

    settings = Settings(game_title="unit-test", serving_token=TOKEN)
    default = TitleProvider(models["unit-test"])

    def build(title: str) -> TitleProvider:
        built[title] = TitleProvider(models[title])
        return built[title]

    providers = TitleProviders("unit-test", default, lambda: {"alpha", "beta"}, build, limit=1, cache_seconds=60)
    app = FastAPI()
    add_title_routes(app, settings, default, _token_check(TOKEN), providers)
    with TestClient(app) as test_client:
        yield test_client
    assert all(provider.stopped for provider in built.values())  # stopped with the app


def test_the_serving_api_has_the_title_routes_beside_the_single_title_ones(models) -> None:
    settings = Settings(game_title="unit-test", serving_token=TOKEN)
    paths = {route.path for route in create_app(settings, TitleProvider(models["unit-test"])).routes}
    assert {"/predict", "/model-version", "/titles/{title}/predict", "/titles/{title}/model-version"} <= paths


def test_each_title_is_served_by_its_own_model(client: TestClient) -> None:
    players = {"players": json_players(3)}
    alpha = client.post("/titles/alpha/predict", json=players, headers=AUTH)
    assert alpha.status_code == 200, alpha.text
    assert alpha.json()["model_name"] == "alpha-engagement" and len(alpha.json()["predictions"]) == 3
    assert client.get("/titles/alpha/model-version", headers=AUTH).json()["model_version"] == "7"
    assert client.get("/titles/unit-test/model-version", headers=AUTH).json()["model_version"] == "3"


def test_an_unknown_title_gets_404_with_a_message(client: TestClient) -> None:
    answer = client.get("/titles/nope-title/model-version", headers=AUTH)
    assert answer.status_code == 404 and "unknown title 'nope-title'" in answer.json()["detail"]


def test_anonymous_requests_get_401(client: TestClient) -> None:
    assert client.get("/titles/alpha/model-version").status_code == 401
    assert client.post("/titles/alpha/predict", json={"players": json_players(1)}).status_code == 401


def test_providers_are_bounded_and_stopped(client: TestClient, built: dict[str, TitleProvider]) -> None:
    client.get("/titles/alpha/model-version", headers=AUTH)
    client.get("/titles/beta/model-version", headers=AUTH)  # limit 1: alpha is evicted
    assert built["alpha"].started and built["alpha"].stopped and not built["beta"].stopped


def test_a_title_that_is_no_longer_ready_stops_being_served(models: dict[str, ServingModel]) -> None:
    ready = {"alpha"}
    built: dict[str, TitleProvider] = {}

    def build(title: str) -> TitleProvider:
        built[title] = TitleProvider(models[title])
        return built[title]

    default = TitleProvider(models["unit-test"])
    providers = TitleProviders("unit-test", default, lambda: set(ready), build, limit=4, cache_seconds=0)
    assert providers.get("alpha") is built["alpha"]
    assert providers.get("alpha") is built["alpha"]  # kept while ready: not made twice
    ready.clear()  # deleted
    with pytest.raises(HTTPException) as refused:
        providers.get("alpha")
    assert refused.value.status_code == 404 and built["alpha"].stopped
    assert providers.served() == []
