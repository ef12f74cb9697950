import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_helpers import TOKEN, FakeProvider, json_players, tiny_model
from unit_helpers import offline_settings

from machine_learning.data.schema import LABELS
from machine_learning.errors import ConfigurationError
from machine_learning.health import Dependency
from machine_learning.inference.predict import predict_players
from machine_learning.serving.app import create_app
from machine_learning.serving.provider import prepare_model
from machine_learning.settings import Settings

AUTH = {"X-API-Token": TOKEN}


@pytest.fixture(scope="module")
def loaded():
    return tiny_model("3")


@pytest.fixture
def provider(loaded) -> FakeProvider:
    return FakeProvider(model=prepare_model(loaded))


@pytest.fixture
def settings() -> Settings:
    return offline_settings(serving_token=TOKEN, serving_max_body_bytes=2_000_000, prediction_log="off")


@pytest.fixture
def client(settings, provider):
    with TestClient(create_app(settings, provider)) as test_client:
        yield test_client


def predict(client, players, headers=AUTH):
    return client.post("/predict", json={"players": players}, headers=headers)


@pytest.mark.parametrize("count", [1, 7, 300])
def test_every_player_gets_exactly_one_prediction_in_order(client, count):
    players = json_players(count)
    response = predict(client, players)
    assert response.status_code == 200
    body = response.json()
    assert [p["PlayerID"] for p in body["predictions"]] == [p["PlayerID"] for p in players]
    assert (body["model_name"], body["model_version"]) == ("unit-test-engagement", "3")
    for prediction in body["predictions"]:
        assert prediction["predicted_engagement"] in LABELS
        assert prediction["model_version"] == "3"
        assert sum(prediction[f"probability_{label}"] for label in LABELS) == pytest.approx(1.0)


@pytest.mark.parametrize("count", [1, 300])
def test_a_player_gets_the_same_label_and_probabilities_as_batch_scoring(client, loaded, count):
    players = json_players(count, seed=11)
    online = pd.DataFrame(predict(client, players).json()["predictions"])
    batch = predict_players(loaded, pd.DataFrame(players))
    assert online["PlayerID"].tolist() == batch["PlayerID"].tolist()
    assert online["predicted_engagement"].tolist() == batch["predicted_engagement"].tolist()
    for label in LABELS:
        column = f"probability_{label}"
        np.testing.assert_allclose(online[column], batch[column], rtol=1e-9, atol=1e-12)
    assert (online["model_version"] == batch["model_version"]).all()


def problems(response) -> dict[str, str]:
    return {problem["field"]: problem["reason"] for problem in response.json()["errors"]}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"Age": None}, "players.0.Age", "Field required"),
        ({"Age": "old"}, "players.0.Age", "valid integer"),
        ({"SessionsPerWeek": 2.5}, "players.0.SessionsPerWeek", "valid integer"),
        ({"GameGenre": "Racing"}, "players.0.GameGenre", "'Action', 'RPG', 'Simulation', 'Sports' or 'Strategy'"),
        ({"PlayTimeHours": -3.0}, "players.0.PlayTimeHours", "greater than or equal to 0"),
        ({"AvgSessionDurationMinutes": 5000}, "players.0.AvgSessionDurationMinutes", "less than or equal to 1440"),
        ({"Score": 3}, "players.0.Score", "Extra inputs are not permitted"),
    ],
)
def test_an_invalid_field_is_a_422_naming_the_field_and_the_reason(client, change, field, reason):
    player = json_players(2)
    player[0] = {k: v for k, v in {**player[0], **change}.items() if v is not None}
    response = predict(client, player)
    assert response.status_code == 422
    assert reason in problems(response)[field]
    assert response.json()["error_count"] == 1


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinite_numbers_are_refused(client, value):
    text = json.dumps({"players": [{**json_players(1)[0], "PlayTimeHours": 0.0}]}).replace("0.0", value, 1)
    response = client.post("/predict", content=text, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert "finite number" in problems(response)["players.0.PlayTimeHours"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"players": []}, "players"), ({}, "players"), ({"players": {}}, "players"), ([], "body")],
)
def test_an_empty_or_misshapen_request_is_a_422(client, body, field):
    response = client.post("/predict", json=body, headers=AUTH)
    assert response.status_code == 422
    assert field in problems(response)


def test_malformed_json_is_a_422_saying_so(client):
    response = client.post("/predict", content=b'{"players": [', headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert problems(response)["body"].startswith("malformed JSON")


def test_many_problems_are_all_counted_but_the_list_is_capped(client):
    players = [{**player, "Age": -1, "Gender": "?"} for player in json_players(80)]
    response = predict(client, players)
    assert response.status_code == 422
    assert response.json()["error_count"] == 160
    assert len(response.json()["errors"]) == 100


def test_a_10_mb_body_is_a_413_before_parsing(client):
    body = b'{"players": [' + b" " * 10_000_000 + b"]}"
    response = client.post("/predict", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert "larger than 2000000 bytes" in response.json()["detail"]


def test_a_chunked_body_over_the_limit_is_a_413(client):
    chunks = (b" " * 100_000 for _ in range(30))  # no Content-Length: counted while it streams
    response = client.post("/predict", content=chunks, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Token": "wrong"}, {"X-API-Token": ""}, {"X-API-Token": "é".encode("latin-1")}]
)
@pytest.mark.parametrize("path", ["/predict", "/model-version"])
def test_a_missing_or_wrong_token_is_a_401(client, headers, path):
    if path == "/predict":
        response = predict(client, json_players(1), headers=headers)
    else:
        response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert "X-API-Token" in response.json()["detail"]


class FakeDependencies:
    def __init__(self, mlflow_up: bool) -> None:
        self.mlflow_up = mlflow_up

    def check(self) -> list[Dependency]:
        detail = "ok" if self.mlflow_up else "not reachable: [Errno 111] Connection refused"
        return [
            Dependency("mlflow", "http://127.0.0.1:1/health", self.mlflow_up, detail, 0.0),
            Dependency("s3", "http://127.0.0.1:2", True, "ok", 0.0),
        ]


def test_model_version_and_health_describe_the_serving_model(settings, provider):
    with TestClient(create_app(settings, provider, FakeDependencies(mlflow_up=True))) as client:
        version = client.get("/model-version", headers=AUTH)
        health = client.get("/health")
    assert version.status_code == 200 and health.status_code == 200
    assert version.json()["model_version"] == "3"
    assert version.json()["predictor"] == "numpy"
    assert health.json()["status"] == "ok"
    assert health.json()["dependencies"]["mlflow"]["reachable"] is True
    assert health.json()["loaded_at"] == version.json()["loaded_at"]
    assert health.json()["last_reload_error"] is None


def test_health_says_which_dependency_is_unreachable_while_the_model_serves(settings, provider):
    with TestClient(create_app(settings, provider, FakeDependencies(mlflow_up=False))) as client:
        health = client.get("/health")
        assert predict(client, json_players(1)).status_code == 200  # the model in memory still serves
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert health.json()["dependencies"]["mlflow"] == {
        "reachable": False,
        "detail": "not reachable: [Errno 111] Connection refused",
        "url": "http://127.0.0.1:1/health",
    }


def test_without_a_model_health_predict_and_model_version_are_503(settings):
    provider = FakeProvider(model=None, last_error="no production model yet: nothing promoted")
    with TestClient(create_app(settings, provider)) as client:
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "no model"
        assert "no production model" in health.json()["last_reload_error"]
        assert predict(client, json_players(1)).status_code == 503
        assert client.get("/model-version", headers=AUTH).status_code == 503


def test_a_bad_request_without_a_model_is_still_a_4xx(settings):
    with TestClient(create_app(settings, FakeProvider(model=None))) as client:
        assert predict(client, []).status_code == 422


def test_the_provider_is_started_and_stopped_with_the_app(settings):
    provider = FakeProvider()
    with TestClient(create_app(settings, provider)):
        assert provider.calls == ["start"]
    assert provider.calls == ["start", "stop"]


def test_the_api_refuses_to_start_without_a_token(provider):
    with pytest.raises(ConfigurationError, match="SERVING_TOKEN is empty"):
        create_app(Settings(game_title="unit-test", serving_token=""), provider)


def test_the_openapi_schema_documents_the_endpoints_and_the_token(client):
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/health", "/model-version"} <= set(schema["paths"])
    request = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert request["$ref"].endswith("/PredictRequest")
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Token"
    assert schema["components"]["schemas"]["Player"]["properties"]["Gender"]["enum"] == ["Female", "Male"]


def test_duplicate_player_ids_are_a_422_naming_the_ids(client):
    players = json_players(4)
    players[3]["PlayerID"] = players[0]["PlayerID"]
    response = predict(client, players)
    assert response.status_code == 422
    assert response.json()["error_count"] == 1
    assert (
        f"PlayerID {players[0]['PlayerID']} is given 2 times (players 0, 3)" in problems(response)["players.0.PlayerID"]
    )


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_not_declared_as_json_is_a_415(client, content_type):
    headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
    body = json.dumps({"players": json_players(1)}).encode()
    response = client.post("/predict", content=body, headers=headers)
    assert response.status_code == 415
    assert "Content-Type must be application/json" in response.json()["detail"]


def test_json_with_a_charset_is_accepted(client):
    body = json.dumps({"players": json_players(1)}).encode()
    headers = {**AUTH, "Content-Type": "application/json; charset=utf-8"}
    assert client.post("/predict", content=body, headers=headers).status_code == 200


def test_the_token_is_checked_before_a_byte_of_the_body_is_read(settings, provider):
    import asyncio

    app = create_app(settings, provider)
    received, sent = [], []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/predict", "raw_path": b"/predict", "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"3000000")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip

    async def receive():
        received.append(True)
        return {"type": "http.request", "body": b" " * 1000, "more_body": True}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 401
    assert received == []


def test_docs_are_served_with_local_assets(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    scripts = [part.split('"')[0] for part in page.text.split('src="')[1:]]
    styles = [part.split('"')[0] for part in page.text.split('href="')[1:] if ".css" in part.split('"')[0]]
    assert scripts and styles
    for asset in [*scripts, *styles]:
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 10_000, asset


def test_the_documented_example_is_a_valid_request(client, settings):
    schema = client.get("/openapi.json").json()
    example = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert predict(client, example["players"]).status_code == 200
    assert schema["components"]["schemas"]["Player"]["examples"] == example["players"]
    with TestClient(create_app(settings, FakeProvider(model=None))) as without_model:
        assert predict(without_model, example["players"]).status_code == 503
