"""`mlops status` reads the aliases over MLflow's REST API: versions, missing aliases, errors, credentials."""

from __future__ import annotations

import pytest

from machine_learning.cli.mlflow_rest import read_alias_versions
from machine_learning.errors import MLOpsError
from machine_learning.settings import Settings


class Response:
    def __init__(self, status: int, payload: dict) -> None:
        self.status_code, self.ok, self.payload, self.text, self.reason = status, status < 400, payload, "", ""

    def json(self) -> dict:
        return self.payload


class FakeMlflow:
    """A requests.Session against an MLflow whose registry has only a production alias."""

    def __init__(self, broken: bool = False) -> None:
        self.headers: dict[str, str] = {}
        self.auth = None
        self.broken = broken
        self.calls: list[tuple[str, dict]] = []

    def get(self, url: str, params: dict, timeout: float) -> Response:
        self.calls.append((url, params))
        if self.broken:
            return Response(500, {"error_code": "INTERNAL_ERROR", "message": "database is locked"})
        if params["alias"] != "production":
            return Response(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "alias not found"})
        version = {"version": "3", "run_id": "abc", "tags": [{"key": "test_accuracy", "value": "0.91"}]}
        return Response(200, {"model_version": version})


def test_aliases_are_read_with_their_tags_and_missing_ones_are_none(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    session = FakeMlflow()
    settings = Settings(mlflow_tracking_uri="http://127.0.0.1:5000/")

    status = read_alias_versions(settings, session)

    assert status == {
        "production": {"name": settings.model_name, "version": "3", "run_id": "abc", "tags": {"test_accuracy": "0.91"}},
        "candidate": None,
        "previous": None,
    }
    assert session.calls[0] == (
        "http://127.0.0.1:5000/api/2.0/mlflow/registered-models/alias",
        {"name": settings.model_name, "alias": "production"},
    )


def test_mlflow_errors_become_one_line(monkeypatch):
    with pytest.raises(MLOpsError, match=r"MLflow answered 500 for alias 'production'.*database is locked"):
        read_alias_versions(Settings(), FakeMlflow(broken=True))


def test_basic_auth_credentials_are_the_ones_mlflow_reads(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "reader")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "a-long-password")
    session = FakeMlflow()

    read_alias_versions(Settings(), session)

    assert session.auth == ("reader", "a-long-password")
