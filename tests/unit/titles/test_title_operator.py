"""The operator API's title operations: listTitles for viewers, createTitle for operators, 4xx writing nothing."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from title_helpers import FakeMage, FakeMlflow
from unit_helpers import synthetic_players

from machine_learning.operator.actions import OperatorServices
from machine_learning.operator.app import create_app
from machine_learning.services import Services
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from machine_learning.titles.plan import CREATE_STEPS
from machine_learning.titles.registry import CREATING, REGISTRY_KEY, read_titles
from tests.unit.operator.operator_helpers import TOKENS, bearer

SEED_URI = "s3://unit-bucket/space-racer/raw/seed.csv"


class HeldThreads:
    """Stands in for ``threading.Thread``: remembers the background creates instead of running them."""

    started: ClassVar[list[str]] = []

    def __init__(self, target: Any, name: str, daemon: bool) -> None:
        self.name = name

    def start(self) -> None:
        HeldThreads.started.append(self.name)


@pytest.fixture
def client(settings: Settings, store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    HeldThreads.started = []
    monkeypatch.setattr("machine_learning.titles.operator.threading.Thread", HeldThreads)
    configured = dataclasses.replace(settings, **{f"operator_{role}_token": token for role, token in TOKENS.items()})
    mlflow, mage = FakeMlflow(), FakeMage()
    services = OperatorServices(mage=lambda: mage, connect=lambda: Services(store, mlflow), aws=lambda _: None)
    return TestClient(create_app(configured, services), raise_server_exceptions=False)


@pytest.fixture
def seeded(store: ObjectStore) -> str:
    store.write_bytes("space-racer/raw/seed.csv", synthetic_players(60, seed=1).to_csv(index=False).encode())
    return SEED_URI


def test_a_viewer_lists_the_titles_with_the_default_one(client: TestClient, settings: Settings) -> None:
    answer = client.get("/titles", headers=bearer("viewer"))
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert listed["default_title"] == settings.game_title
    assert [(t["name"], t["default"], t["production_version"]) for t in listed["titles"]] == [
        (settings.game_title, True, None)
    ]


@pytest.mark.parametrize(("method", "body"), [("get", None), ("post", {"name": "space-racer"})])
def test_anonymous_and_unknown_tokens_get_401(client: TestClient, store: ObjectStore, method: str, body: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        answer = client.request(method, "/titles", json=body, headers=headers)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert not store.exists(REGISTRY_KEY)


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_only_an_operator_may_create_a_title(client: TestClient, store: ObjectStore, seeded: str, role: str) -> None:
    answer = client.post("/titles", json={"name": "space-racer", "source_uri": seeded}, headers=bearer(role))
    assert answer.status_code == 403 and f"role {role} may not operate" in answer.json()["detail"]
    assert not store.exists(REGISTRY_KEY) and HeldThreads.started == []


def test_an_operator_creates_a_title_and_gets_an_operation_id_at_once(
    client: TestClient, store: ObjectStore, seeded: str
) -> None:
    answer = client.post("/titles", json={"name": "space-racer", "source_uri": seeded}, headers=bearer("operator"))
    assert answer.status_code == 202, answer.text
    started = answer.json()
    assert started["state"] == CREATING and started["steps"] == list(CREATE_STEPS) and started["operation_id"]
    record = read_titles(store)["space-racer"]
    assert record.state == CREATING and record.operation_id == started["operation_id"]
    assert HeldThreads.started == ["create-title-space-racer"]  # the steps run in the background
    listed = {t["name"]: t for t in client.get("/titles", headers=bearer("viewer")).json()["titles"]}
    assert listed["space-racer"]["state"] == CREATING and listed["space-racer"]["default"] is False


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Space-Racer", "must be lowercase: try 'space-racer'"),
        ("space_racer", "may hold only lowercase letters, digits and dashes, not '_'"),
        ("ab", "must be 3-42 characters, got 2"),
        ("space--racer", "must not hold two dashes in a row"),
        ("titles", "is reserved"),
        ("../etc", "may hold only lowercase letters, digits and dashes"),
    ],
)
def test_a_bad_name_is_refused_with_the_reason_and_nothing_is_written(
    client: TestClient, store: ObjectStore, name: str, reason: str
) -> None:
    answer = client.post("/titles", json={"name": name}, headers=bearer("operator"))
    assert answer.status_code == 422, answer.text
    assert reason in answer.json()["detail"] and answer.json()["detail"].startswith("invalid request: body.name")
    assert not store.exists(REGISTRY_KEY) and HeldThreads.started == []


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"name": "unit-test"}, 422, "is the default title"),
        ({"name": "space-racer", "source_uri": "s3://unit-bucket/other-game/raw/x.csv"}, 422, "space-racer"),
        ({"name": "space-racer", "source_uri": "s3://unit-bucket/space-racer/raw/none.csv"}, 404, "does not exist"),
        ({"name": "space-racer", "extra": 1}, 422, "extra"),
    ],
)
def test_a_create_that_cannot_start_says_why_and_writes_nothing(
    client: TestClient, store: ObjectStore, body: dict[str, Any], status: int, reason: str
) -> None:
    answer = client.post("/titles", json=body, headers=bearer("operator"))
    assert answer.status_code == status, answer.text
    assert reason in answer.json()["detail"]
    assert not store.exists(REGISTRY_KEY) and HeldThreads.started == []
