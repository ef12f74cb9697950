"""MLflow refuses anonymous and wrong credentials, the reader cannot write, and only its own Host names are served."""

from __future__ import annotations

import uuid

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.conftest import Stack

pytestmark = pytest.mark.security

SEARCH = "/api/2.0/mlflow/experiments/search?max_results=5"
CREATE = "/api/2.0/mlflow/experiments/create"
UPLOAD = "/api/2.0/mlflow-artifacts/artifacts/0/evil/model.pkl"


def login(env: dict[str, str], role: str) -> tuple[str, str]:
    prefix = {"trainer": "MLFLOW_TRACKING", "reader": "MLFLOW_READER", "admin": "MLFLOW_ADMIN"}[role]
    return env[f"{prefix}_USERNAME"], env[f"{prefix}_PASSWORD"]


def client_as(live_stack: Stack, role: str, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    user, password = login(live_stack.env, role)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    return MlflowClient(tracking_uri=live_stack.env["MLFLOW_TRACKING_URI"])


@pytest.mark.parametrize("auth", [None, ("mlops-trainer", "not-the-password-at-all"), ("nobody", "x" * 20)])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", SEARCH, None), ("POST", CREATE, {"name": "anonymous-was-here"}), ("PUT", UPLOAD, b"pickle")],
    ids=["read", "create-experiment", "artifact-upload"],
)
def test_anonymous_and_wrong_credentials_get_401(live_stack: Stack, auth, method, path, body) -> None:
    url = live_stack.env["MLFLOW_TRACKING_URI"] + path
    content = body if isinstance(body, bytes) else None
    response = httpx.request(method, url, auth=auth, json=body if isinstance(body, dict) else None, content=content)

    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


def test_the_reader_reads_but_cannot_upload_artifacts_or_create_runs(live_stack: Stack) -> None:
    base, reader = live_stack.env["MLFLOW_TRACKING_URI"], login(live_stack.env, "reader")
    trainer = login(live_stack.env, "trainer")
    name = f"sec-{uuid.uuid4().hex[:8]}"
    created = httpx.post(base + CREATE, auth=trainer, json={"name": name})
    assert created.status_code == 200, created.text
    experiment_id = created.json()["experiment_id"]

    assert httpx.get(base + SEARCH, auth=reader).status_code == 200
    upload = f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/run/artifacts/model.pkl"
    assert httpx.put(base + upload, auth=reader, content=b"pickle").status_code == 403
    run = httpx.post(base + "/api/2.0/mlflow/runs/create", auth=reader, json={"experiment_id": experiment_id})
    assert run.status_code == 403
    assert httpx.put(base + upload, auth=trainer, content=b"model").status_code == 200, "the trainer may"


def test_the_reader_cannot_move_an_alias_nor_delete_a_model(live_stack: Stack, monkeypatch) -> None:
    trainer = client_as(live_stack, "trainer", monkeypatch)
    name = f"sec-model-{uuid.uuid4().hex[:8]}"
    experiment_id = trainer.create_experiment(name)
    run = trainer.create_run(experiment_id)
    trainer.create_registered_model(name)
    source = f"mlflow-artifacts:/{experiment_id}/{run.info.run_id}/artifacts/model"
    for _ in range(2):
        trainer.create_model_version(name, source, run_id=run.info.run_id)
    trainer.set_registered_model_alias(name, "production", "1")

    reader = client_as(live_stack, "reader", monkeypatch)
    assert reader.get_model_version_by_alias(name, "production").version == "1"
    for attempt in (
        lambda: reader.set_registered_model_alias(name, "production", "2"),
        lambda: reader.delete_registered_model_alias(name, "production"),
        lambda: reader.delete_registered_model(name),
    ):
        with pytest.raises(MlflowException, match=r"PERMISSION_DENIED|Permission denied|403"):
            attempt()
    assert trainer.get_model_version_by_alias(name, "production").version == "1", "production did not move"


def test_anonymous_cannot_move_an_alias(live_stack: Stack) -> None:
    body = {"name": "demo-game-engagement", "alias": "production", "version": "1"}
    url = live_stack.env["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/registered-models/alias"

    assert httpx.post(url, json=body).status_code == 401


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io"])
def test_a_foreign_host_header_is_refused(live_stack: Stack, host: str) -> None:
    url = live_stack.env["MLFLOW_TRACKING_URI"] + SEARCH
    trainer = login(live_stack.env, "trainer")

    assert httpx.get(url, auth=trainer, headers={"Host": host}).status_code == 400
    assert httpx.get(url, auth=trainer).status_code == 200
