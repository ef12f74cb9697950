"""scripts/stack.py records every address in stack.env, moves only what starts, and keeps secrets private."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from tests.conftest import ROOT


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for variable in ("S3_PORT", "MLFLOW_PORT", "EVIDENTLY_PORT", "MAGE_PORT", "SERVING_PORT", "S3_SERVER"):
        monkeypatch.delenv(variable, raising=False)
    for variable in ("S3_MASTER_PORT", "S3_VOLUME_PORT", "S3_FILER_PORT", "S3_ADMIN_PORT", "S3_GRPC_PORT"):
        monkeypatch.delenv(variable, raising=False)
    spec = importlib.util.spec_from_file_location("stack_script", ROOT / "scripts" / "stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_ports_moved_before_the_first_up_are_recorded_with_their_urls(stack, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MAGE_PORT", "7001")
    monkeypatch.setenv("SERVING_PORT", "7002")
    monkeypatch.setenv("S3_PORT", "9100")

    env = stack.load_or_create_env(tmp_path, moving=())

    assert env["MAGE_URL"] == "http://127.0.0.1:7001"
    assert env["SERVING_URL"] == "http://127.0.0.1:7002"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9100"
    assert [env[v] for v in stack.SEAWEEDFS_PORTS] == [str(9101 + i) for i in range(len(stack.SEAWEEDFS_PORTS))]
    assert stack._read_env(tmp_path / "stack.env") == env, "the file holds exactly what the tools get"
    assert (tmp_path / "stack.env").stat().st_mode & 0o777 == 0o600
    assert tmp_path.stat().st_mode & 0o777 == 0o700


def test_a_later_port_variable_moves_only_a_server_that_starts(stack, tmp_path, monkeypatch) -> None:
    stack.load_or_create_env(tmp_path)
    monkeypatch.setenv("MAGE_PORT", "7005")
    monkeypatch.setenv("MLFLOW_PORT", "7006")

    env = stack.load_or_create_env(tmp_path, moving=("mage",))

    assert env["MAGE_URL"] == "http://127.0.0.1:7005"
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000", "MLflow was not starting: it stays"
    assert stack.load_or_create_env(tmp_path)["MAGE_PORT"] == "7005", "recorded"


def test_an_older_file_keeps_its_ports_and_secrets_and_gains_the_new_ones(stack, tmp_path) -> None:
    old = "export AWS_SECRET_ACCESS_KEY=kept-secret\nexport MLFLOW_TRACKING_URI=http://127.0.0.1:5111\n"
    (tmp_path / "stack.env").write_text("# old\n" + old)

    env = stack.load_or_create_env(tmp_path)

    assert env["AWS_SECRET_ACCESS_KEY"] == "kept-secret"
    assert env["MLFLOW_PORT"] == "5111" and env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5111"
    assert len(env["MLFLOW_TRACKING_PASSWORD"]) > 12 and env["MLFLOW_TRACKING_USERNAME"] == "mlops-trainer"
    assert (tmp_path / "stack.env").stat().st_mode & 0o777 == 0o600


def test_each_server_gets_only_its_secrets(stack, tmp_path) -> None:
    env = stack.initial_env(tmp_path)
    caller = {"MLFLOW_ADMIN_PASSWORD": "from a shell that loaded stack.env", "PATH": "/bin"}

    serving = stack.security.server_environment("serving", caller, env)
    mage = stack.security.server_environment("mage", caller, env)

    assert serving["MLFLOW_TRACKING_USERNAME"] == "mlops-reader"
    assert serving["MLFLOW_TRACKING_PASSWORD"] == env["MLFLOW_READER_PASSWORD"]
    assert "AWS_SECRET_ACCESS_KEY" not in serving and "MLFLOW_ADMIN_PASSWORD" not in serving
    assert mage["MLFLOW_TRACKING_PASSWORD"] == env["MLFLOW_TRACKING_PASSWORD"]
    assert "MLFLOW_ADMIN_PASSWORD" not in mage and "SERVING_TOKEN" not in mage
    assert mage["PATH"] == "/bin"


def test_the_operator_api_has_its_port_tokens_and_secrets(stack, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)
    env = stack.load_or_create_env(tmp_path)
    tokens = [env[f"OPERATOR_{role}_TOKEN"] for role in ("VIEWER", "OPERATOR", "APPROVER")]
    assert len(set(tokens)) == 3 and all(len(token) >= 24 for token in tokens)
    assert env["OPERATOR_URL"] == f"http://127.0.0.1:{env['OPERATOR_PORT']}"
    assert (tmp_path / "stack.env").stat().st_mode & 0o777 == 0o600
    components = stack.build_components(tmp_path, env)
    assert components["operator"].argv[-2:] == ["-m", "machine_learning.operator"]
    assert "ALERT_RELAY_URL" not in components["mage"].env  # no webhook: Mage sends no notification
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    relay = stack.build_components(tmp_path, env)["mage"].env["ALERT_RELAY_URL"]
    assert relay == f"{env['OPERATOR_URL']}/alerts/mage/{env['ALERT_RELAY_TOKEN']}"
