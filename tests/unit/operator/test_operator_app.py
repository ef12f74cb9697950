"""The operator API without servers: tokens and roles on every operation, clean 4xx, runs through a fake Mage."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from machine_learning.operator.actions import OperatorServices
from machine_learning.operator.app import create_app
from machine_learning.services import Services
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from tests.unit.operator.operator_helpers import TOKENS, FakeMage, bearer

OPERATIONS = [  # method, path, body, role needed
    ("get", "/status", None, "viewer"),
    ("post", "/pipelines/training/runs", {"variables": {}}, "operator"),
    ("get", "/pipelines/training/runs/1", None, "viewer"),
    ("post", "/promotions", None, "operator"),
    ("post", "/rollbacks", None, "operator"),
    ("get", "/decisions/latest", None, "viewer"),
    ("get", "/live-quality", None, "viewer"),
    ("get", "/prediction-log/quality", None, "viewer"),
    ("post", "/cleanup", {"environment": "dev"}, "operator"),
    ("post", "/versions/3/approval", {"reason": "looks good"}, "approver"),
    ("post", "/versions/3/rejection", {"reason": "too risky"}, "approver"),
]


@pytest.fixture
def mage() -> FakeMage:
    return FakeMage()


@pytest.fixture
def client(settings: Settings, store: ObjectStore, mage: FakeMage) -> TestClient:
    configured = dataclasses.replace(
        settings, **{f"operator_{role}_token": token for role, token in TOKENS.items()}, alert_relay_token="r" * 24
    )
    services = OperatorServices(mage=lambda: mage, connect=lambda: Services(store=store, mlflow=None), aws=_no_aws)
    return TestClient(create_app(configured, services), raise_server_exceptions=False)


def _no_aws(service: str) -> Any:
    raise AssertionError(f"no AWS call expected ({service})")


def test_the_api_refuses_to_start_without_role_tokens(settings: Settings) -> None:
    from machine_learning.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="OPERATOR_VIEWER_TOKEN is empty"):
        create_app(settings)


@pytest.mark.parametrize(("method", "path", "body", "_role"), OPERATIONS)
def test_anonymous_and_unknown_tokens_get_401(
    client: TestClient, method: str, path: str, body: Any, _role: str
) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": TOKENS["operator"]}):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (path, headers, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert TOKENS["operator"] not in response.text


@pytest.mark.parametrize(("method", "path", "body", "role"), [op for op in OPERATIONS if op[3] == "operator"])
def test_viewers_and_approvers_may_not_act(
    client: TestClient, mage: FakeMage, method: str, path: str, body: Any, role: str
) -> None:
    for other in ("viewer", "approver"):
        response = client.request(method, path, json=body, headers=bearer(other))
        assert response.status_code == 403, response.text
        assert f"role {other} may not operate" in response.json()["detail"]
    assert mage.runs == {}


def test_an_operator_starts_a_run_and_gets_its_id_at_once(
    client: TestClient, mage: FakeMage, settings: Settings
) -> None:
    variables = {"params": {"classifier__max_iter": 50}}
    started = client.post("/pipelines/training/runs", json={"variables": variables}, headers=bearer("operator"))
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["status"] == "initial" and run["finished"] is False and run["url"].endswith(f"/runs/{run['run_id']}")
    assert mage.runs[run["run_id"]]["variables"] == {"game_title": settings.game_title, **variables}
    followed = client.get(f"/pipelines/training/runs/{run['run_id']}", headers=bearer("viewer"))
    assert followed.json()["status"] == "running" and followed.json()["finished"] is False
    mage.runs[run["run_id"]].update(status="failed", block_runs=[{"block_uuid": "train_candidate", "status": "failed"}])
    failed = client.get(f"/pipelines/training/runs/{run['run_id']}", headers=bearer("viewer")).json()
    assert (
        failed["finished"] is True
        and failed["failed_blocks"] == ["train_candidate"]
        and failed["error"] == "ValueError: boom"
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/pipelines/nope/runs", {"variables": {}}, 404, "unknown pipeline 'nope'"),
        ("/pipelines/Bad-Name/runs", {"variables": {}}, 422, "pipeline"),
        ("/pipelines/training/runs", {"variables": {"mlflow_tracking_uri": "http://x"}}, 422, "mlflow_tracking_uri"),
        ("/pipelines/training/runs", {"variables": {"batch_date": "2026-02-30"}}, 422, "batch_date"),
        ("/pipelines/training/runs", {"variables": []}, 422, "variables"),
        ("/pipelines/training/runs", {"variables": {}, "extra": 1}, 422, "extra"),
        ("/pipelines/training/runs?title=other-game", {"variables": {}}, 404, "not managed here"),
        ("/pipelines/training/runs?title=../x", {"variables": {}}, 422, "title"),
        ("/cleanup", {"environment": "dev", "dry_run": False}, 422, "confirm_environment"),
        ("/cleanup", {"environment": "Dev!"}, 422, "environment"),
    ],
)
def test_bad_input_gets_a_clean_4xx_and_starts_nothing(
    client: TestClient, mage: FakeMage, path: str, body: Any, status: int, message: str
) -> None:
    response = client.post(path, json=body, headers=bearer("operator"))
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert "Traceback" not in response.text
    assert mage.runs == {}


def test_malformed_json_gets_422(client: TestClient) -> None:
    headers = {**bearer("operator"), "Content-Type": "application/json"}
    response = client.post("/pipelines/training/runs", content=b"{not json", headers=headers)
    assert response.status_code == 422 and "invalid request" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/pipelines/training/runs/99", 404, "does not exist"),
        ("/pipelines/training/runs/0", 422, "run_id"),
        ("/decisions/latest", 404, "no monitoring decision"),
        ("/decisions/latest?day=2026-13-01", 422, "day"),
        ("/decisions/latest?day=2026-11-30", 404, "does not exist"),
        ("/live-quality?days=0", 422, "days"),
        ("/live-quality?days=abc", 422, "days"),
        ("/prediction-log/quality?days=0", 422, "days"),
        ("/prediction-log/quality?day=2026-13-01", 422, "day"),
    ],
)
def test_reads_of_what_does_not_exist_get_404_and_bad_queries_422(
    client: TestClient, path: str, status: int, message: str
) -> None:
    response = client.get(path, headers=bearer("viewer"))
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_the_relay_needs_its_secret_path(client: TestClient) -> None:
    assert client.post("/alerts/mage/wrong", json={"blocks": []}).status_code == 404
    assert client.post("/alerts/mage/" + "r" * 24, content=b"x").status_code == 422
    # No webhook configured: accepted, nothing sent.
    accepted = client.post("/alerts/mage/" + "r" * 24, content=json.dumps({"blocks": [{"text": {"text": "boom"}}]}))
    assert accepted.status_code == 202 and accepted.json()["alert"].startswith("pipeline-failed/")


def test_an_aws_error_during_cleanup_is_one_line_502(settings: Settings, store: ObjectStore) -> None:
    def failing(service: str) -> Any:
        raise RuntimeError("Unable to locate credentials")

    configured = dataclasses.replace(settings, **{f"operator_{role}_token": token for role, token in TOKENS.items()})
    services = OperatorServices(mage=FakeMage, connect=lambda: Services(store=store, mlflow=None), aws=failing)
    client = TestClient(create_app(configured, services), raise_server_exceptions=False)
    response = client.post("/cleanup", json={"environment": "dev"}, headers=bearer("operator"))
    assert response.status_code == 502
    assert response.json()["detail"].startswith("cannot list resources (RuntimeError: Unable to locate credentials)")


@pytest.mark.parametrize("path", ["/versions/3/approval", "/versions/3/rejection"])
def test_only_approvers_approve_or_reject(client: TestClient, path: str) -> None:
    for other in ("viewer", "operator"):
        response = client.post(path, json={"reason": "ok"}, headers=bearer(other))
        assert response.status_code == 403, response.text
        assert f"role {other} may not approve" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/versions/3/approval", {"reason": ""}, "reason"),
        ("/versions/3/approval", {}, "reason"),
        ("/versions/latest/approval", {"reason": "ok"}, "version"),
        ("/versions/3/rejection", {"reason": "ok", "extra": 1}, "extra"),
    ],
)
def test_bad_approvals_get_422(client: TestClient, path: str, body: Any, message: str) -> None:
    response = client.post(path, json=body, headers=bearer("approver"))
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
