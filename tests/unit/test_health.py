"""Dependency checks: a stopped service is named within seconds, with what to do."""

from __future__ import annotations

import time

import pytest

from machine_learning.errors import ServiceUnavailableError
from machine_learning.health import check_mlflow, limit_mlflow_retries, require_mlflow
from machine_learning.settings import Settings
from tests.conftest import free_port


def test_a_stopped_mlflow_fails_the_preflight_at_once_with_a_clear_message():
    settings = Settings(mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}")
    started = time.perf_counter()
    with pytest.raises(ServiceUnavailableError, match=r"MLflow at http://127.0.0.1:\d+ is not reachable: .*make up"):
        require_mlflow(settings)
    assert time.perf_counter() - started < 5


def test_mlflow_retries_are_capped_unless_the_environment_sets_them(monkeypatch):
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")
    limit_mlflow_retries(Settings(mlflow_timeout_seconds=7))
    import os

    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "99"  # the user's choice wins


def test_a_local_tracking_store_needs_no_server(tmp_path):
    assert check_mlflow(Settings(mlflow_tracking_uri=f"file://{tmp_path}")).reachable
