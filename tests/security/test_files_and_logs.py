"""Secrets at rest: the state folder, databases and env files are private, and no log holds a generated secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.conftest import Servers

pytestmark = pytest.mark.security

SECRET_KEYS = (
    "AWS_SECRET_ACCESS_KEY", "DEFAULT_OWNER_PASSWORD", "JWT_SECRET", "SERVING_TOKEN", "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_READER_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY", "EVIDENTLY_SECRET",
    "S3_JWT_WRITE_KEY", "S3_JWT_READ_KEY",
)  # fmt: skip


def secrets_in(folder: Path, secrets: dict[str, str]) -> list[str]:
    """Names of the secrets found in any file below ``folder`` (as text, or bytes of a binary log)."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{name} in {path}" for name, value in secrets.items() if value.encode() in data]
    return found


def test_state_folder_databases_and_env_file_are_private(servers: Servers) -> None:
    state = servers.stack.state
    private = [state, state / "stack.env", state / "logs", state / "pids", state / "mlflow"]
    private += [state / "mlflow" / name for name in ("mlflow.db", "basic_auth.db", "basic_auth.ini")]
    private += list((state / "logs").iterdir())

    for path in private:
        assert path.exists(), path
        assert path.stat().st_mode & 0o077 == 0, f"{path} is open to other users: {oct(path.stat().st_mode)}"


def test_every_generated_secret_is_in_stack_env(servers: Servers) -> None:
    values = [servers.env[key] for key in SECRET_KEYS]

    assert all(len(value) >= 16 for value in values)
    assert len(set(values)) == len(values), "every secret is its own"
    assert len(servers.env["MLFLOW_TRACKING_PASSWORD"]) > 12, "MLflow wants passwords of more than 12 characters"


def test_no_log_holds_a_generated_secret(servers: Servers) -> None:
    secrets = {key: servers.env[key] for key in SECRET_KEYS}

    assert secrets_in(servers.stack.state / "logs", secrets) == []
