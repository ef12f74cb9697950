import socket

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError
from mlflow.exceptions import MlflowException
from unit_helpers import csv_bytes, csv_text, raw_rows

from machine_learning.cli import describe_unexpected, main
from machine_learning.data.schema import required_columns
from machine_learning.settings import _ENV_NAMES

FILE_COMMANDS = [["prepare"], ["upload"], ["train"]]  # each parses --input before touching S3 or MLflow


AWS_CREDENTIAL_SOURCES = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


@pytest.fixture
def connections(monkeypatch, tmp_path):
    """Record every outgoing connection and refuse it; isolate from the developer's AWS profile and settings."""
    for name in (*_ENV_NAMES.values(), *AWS_CREDENTIAL_SOURCES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # boto3 caches credentials in its default session
    attempts: list[object] = []

    def refuse(self_or_address, *args, **kwargs):
        attempts.append(args[0] if args else self_or_address)
        raise ConnectionRefusedError("unit tests make no network calls")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.fixture(autouse=True)
def offline(connections, monkeypatch):
    """Dummy credentials (as a deployed container has), so only the CLI itself could cause network traffic."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unit-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit-test")
    yield
    assert connections == [], "the command used the network"


def _single_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert err.endswith("\n")
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_missing_input_file(command, tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    assert main([*command, "--input", str(missing)]) == 1
    line = _single_error_line(capsys)
    assert str(missing) in line
    assert "does not exist" in line


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (csv_text([]).encode(), "has a header but no rows"),
        (csv_bytes(raw_rows(3), columns=[c for c in required_columns(True) if c != "Location"]), "Location"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file"),
        (b"just some notes\nnothing tabular here\n", "not a player file"),
        (b"\x1f\x8b\x08\x00truncated", "damaged gzip"),
    ],
    ids=["empty", "header-only", "missing-column", "binary", "prose", "bad-gzip"],
)
def test_unusable_input_file(data, message, make_csv_file, capsys):
    path = make_csv_file(data)
    assert main(["prepare", "--input", path]) == 1
    line = _single_error_line(capsys)
    assert message in line
    assert path in line


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_every_file_command_checks_the_file_first(command, make_csv_file, capsys):
    path = make_csv_file(b"\x00\x01binary", "players.bin")
    assert main([*command, "--input", path]) == 1
    assert "not a CSV file" in _single_error_line(capsys)


def test_ragged_csv_error_is_one_line(make_csv_file, capsys):
    path = make_csv_file((csv_text(raw_rows(2)) + "1,2,3,4,5,6,7,8,9,10,11,12,13,14\n").encode())
    assert main(["prepare", "--input", path]) == 1
    _single_error_line(capsys)


@pytest.mark.parametrize(("option", "env"), [(["--game-title", "Not A Title"], {}), ([], {"TEST_SIZE": "7"})])
def test_bad_configuration_is_reported_before_anything_runs(option, env, monkeypatch, capsys):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main([*option, "status"]) == 1
    line = _single_error_line(capsys)
    assert "GAME_TITLE" in line or "TEST_SIZE" in line


@pytest.mark.parametrize(
    "argv",
    [[], ["no-such-command"], ["upload"], ["prepare", "--unknown"], ["status", "--json", "extra"]],
    ids=["no-command", "unknown-command", "upload-without-input", "unknown-option", "extra-argument"],
)
def test_usage_errors_exit_with_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("prepare", "upload", "train", "promote", "rollback", "status", "init-storage"):
        assert command in out


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:8333/x"), "is the local stack running? try 'make up'"),
        (NoCredentialsError(), "S3 rejected the credentials"),
        (MlflowException("API request failed: Max retries exceeded with url"), "cannot reach MLflow"),
        (ValueError("first line\nsecond line"), "ValueError: first line"),
        (KeyError(), "KeyError: KeyError"),
    ],
)
def test_unexpected_errors_become_one_actionable_line(error, expected):
    message = describe_unexpected(error)
    assert expected in message
    assert "\n" not in message


def test_no_network_even_without_aws_credentials(connections, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["prepare", "--input", str(tmp_path / "nope.csv")]) == 1
    assert "does not exist" in _single_error_line(capsys)
    attempted = list(connections)
    connections.clear()  # keep the autouse check from failing a second time
    assert attempted == []


def _rows_with(column: str, value: str, count: int = 40) -> bytes:
    rows = raw_rows(count)
    for row in rows:
        row[column] = value
    return csv_text(rows).encode()


def _duplicated_ids(count: int = 40) -> bytes:
    rows = raw_rows(count)
    for row in rows:
        row["PlayerID"] = "7"
    return csv_text(rows).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_rows_with("Age", "twenty"), "Age: not a number"),
        (_rows_with("GameGenre", "Racing"), "GameGenre: unknown category"),
        (_rows_with("EngagementLevel", "Extreme"), "EngagementLevel: unknown category"),
        (_duplicated_ids(), "PlayerID: duplicate"),
    ],
    ids=["wrong-type", "unknown-category", "unknown-label", "duplicate-ids"],
)
@pytest.mark.parametrize("command", [["prepare"], ["train"]])
def test_a_batch_of_bad_rows_is_rejected_before_anything_is_written(command, data, message, make_csv_file, capsys):
    # The autouse `offline` fixture proves nothing reached S3 or MLflow: nothing can have been written.
    assert main([*command, "--input", make_csv_file(data)]) == 1
    line = _single_error_line(capsys)
    assert message in line
    assert "MAX_QUARANTINE_SHARE" in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--drift", "speed=0.5"], "session_length, sessions_per_week, genre_mix, playtime"),
        (["--drift", "session_length=2"], "must be in [0, 1]"),
        (["--players", "0"], "players must be between"),
    ],
    ids=["unknown-drift", "strength-above-one", "no-players"],
)
def test_simulate_rejects_bad_arguments_before_connecting(argv, message, capsys):
    assert main(["simulate", "--day", "2026-11-20", *argv]) == 1
    assert message in _single_error_line(capsys)


def test_simulate_writes_a_day_and_prints_one_line(monkeypatch, make_csv_file, capsys):
    from unit_helpers import FakeS3

    from machine_learning import services
    from machine_learning.storage import ObjectStore

    store = ObjectStore(client=FakeS3(), bucket="mlops")
    monkeypatch.setattr(services, "connect", lambda settings: services.Services(store=store, mlflow=None))
    source = make_csv_file(csv_bytes(raw_rows(30)))
    argv = ["simulate", "--day", "2026-11-22", "--players", "50", "--drift", "session_length=0.5", "--source", source]

    assert main(argv) == 0

    assert capsys.readouterr().out == (
        "2026-11-22: 50 players (drift session_length=0.5) -> s3://mlops/demo-game/batches/date=2026-11-22/"
        "players.csv; labels published for 2026-11-22..2026-11-22\n"
    )
    assert store.exists("demo-game/labels/date=2026-11-22/labels.parquet")


def test_init_workspace_creates_the_titles_project_with_its_dashboard_once(connections, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("EVIDENTLY_WORKSPACE", str(tmp_path / "evidently"))
    monkeypatch.setenv("EVIDENTLY_URL", "http://127.0.0.1:8001")

    assert main(["--game-title", "cli-game", "init-workspace"]) == 0
    assert main(["--game-title", "cli-game", "init-workspace"]) == 0

    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == printed[1] and printed[0].startswith("Evidently project cli-game: http://127.0.0.1:8001/")
    projects = list((tmp_path / "evidently").glob("*/metadata.json"))
    assert len(projects) == 1 and '"panels"' in projects[0].read_text()
    assert connections == [], "the workspace is a local folder: no network"


def test_cleanup_is_handed_to_its_own_parser(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["cleanup", "--help"])
    assert stopped.value.code == 0 and "--dry-run" in capsys.readouterr().out
