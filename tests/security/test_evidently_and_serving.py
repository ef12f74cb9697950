"""The Evidently UI needs its secret for every write and serves only its own Host names; serving runs as the reader."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.security.conftest import Servers, server_environ

pytestmark = pytest.mark.security


def project_id(servers: Servers) -> str:
    projects = httpx.get(servers.env["EVIDENTLY_URL"] + "/api/projects", timeout=10)
    assert projects.status_code == 200, "reading stays open"
    return str(projects.json()[0]["id"])


@pytest.mark.parametrize("secret", [None, "wrong-secret"], ids=["anonymous", "wrong-secret"])
def test_evidently_writes_without_the_secret_get_403_and_change_nothing(servers: Servers, secret) -> None:
    base = servers.env["EVIDENTLY_URL"] + "/api/projects"
    headers = {"evidently-secret": secret} if secret else {}
    existing = project_id(servers)
    before = httpx.get(base, timeout=10).json()
    attempts = [
        httpx.post(base, json={"name": "evil", "id": str(uuid.uuid4())}, headers=headers, timeout=10),
        httpx.delete(f"{base}/{existing}", headers=headers, timeout=10),
        httpx.get(f"{base}/{existing}/reload", headers=headers, timeout=10),
        httpx.post(f"{base}/{existing}/info", json={"name": "renamed"}, headers=headers, timeout=10),
        httpx.post(f"{base}/{existing}/snapshots", content=b"{}", headers=headers, timeout=10),
        httpx.delete(f"{base}/{existing}/{uuid.uuid4()}", headers=headers, timeout=10),
    ]

    assert [response.status_code for response in attempts] == [403] * len(attempts)
    assert httpx.get(base, timeout=10).json() == before


def test_evidently_accepts_a_write_with_the_secret(servers: Servers) -> None:
    url = f"{servers.env['EVIDENTLY_URL']}/api/projects/{project_id(servers)}/reload"

    assert httpx.get(url, headers={"evidently-secret": servers.env["EVIDENTLY_SECRET"]}, timeout=30).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1", "localhost:1"])
def test_evidently_refuses_a_foreign_host_header(servers: Servers, host: str) -> None:
    response = httpx.get(servers.env["EVIDENTLY_URL"] + "/api/projects", headers={"Host": host}, timeout=10)

    assert response.status_code == 400


def test_each_server_gets_only_the_secrets_it_needs(servers: Servers) -> None:
    env = servers.env
    serving = server_environ(servers.stack.state, "serving")
    evidently = server_environ(servers.stack.state, "evidently")

    assert serving["MLFLOW_TRACKING_USERNAME"] == env["MLFLOW_READER_USERNAME"]
    assert serving["MLFLOW_TRACKING_PASSWORD"] == env["MLFLOW_READER_PASSWORD"]
    assert serving["SERVING_TOKEN"] == env["SERVING_TOKEN"]
    assert evidently["EVIDENTLY_SECRET"] == env["EVIDENTLY_SECRET"]
    for name, seen in {"serving": serving, "evidently": evidently}.items():
        for key in ("MLFLOW_ADMIN_PASSWORD", "DEFAULT_OWNER_PASSWORD", "JWT_SECRET", "AWS_SECRET_ACCESS_KEY"):
            assert key not in seen, f"{name} must not get {key}"
        assert env["MLFLOW_TRACKING_PASSWORD"] not in seen.values(), f"{name} must not get the trainer's password"


def test_serving_answers_on_its_moved_port_without_a_token_only_for_health(servers: Servers) -> None:
    url = servers.env["SERVING_URL"]

    assert httpx.get(url + "/health", timeout=10).status_code in (200, 503)
    assert httpx.get(url + "/model-version", timeout=10).status_code == 401
    assert httpx.get(url + "/model-version", headers={"X-API-Token": "wrong"}, timeout=10).status_code == 401
