"""A run chooses data, never where the services are: every settings field but the title is refused."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import pytest

from machine_learning.errors import InvalidInputError, MLOpsError
from machine_learning.run_variables import MAGE_KEYS, PIPELINE_VARIABLES, check_run_variables
from machine_learning.settings import _ENV_NAMES, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = sorted(
    path.name for path in (ROOT / "mage_project" / "pipelines").iterdir() if (path / "metadata.yaml").exists()
)
SERVICE_FIELDS = sorted(field.name for field in dataclasses.fields(Settings) if field.name != "game_title")
# What Mage 0.9.80 itself passes to a block (a `mage run` of a pipeline, seen in a block's kwargs).
MAGE_KWARGS = {
    "env": "prod",
    "execution_date": datetime(2026, 11, 23),
    "execution_partition": "5/20261123T000000",
    "event": {},
    "configuration": {},
    "context": {},
    "pipeline_run_id": 5,
    "block_uuid": "score_daily_batch",
    "repo_path": "/somewhere/mage_project",
    "interval_end_datetime": None,
    "interval_seconds": None,
    "interval_start_datetime": None,
    "interval_start_datetime_previous": None,
    "ds": "2026-11-23",
    "hr": "00",
}


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    for name in _ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("S3_BUCKET", "server-bucket")
    monkeypatch.setenv("GAME_TITLE", "server-title")


def test_every_pipeline_declares_its_variables():
    assert sorted(PIPELINE_VARIABLES) == PIPELINES


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("name", [*SERVICE_FIELDS, "MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL", "aws_secret_access_key"])
def test_no_runtime_variable_can_redirect_a_service(pipeline, name):
    kwargs = {**MAGE_KWARGS, "pipeline_uuid": pipeline, name: "http://attacker.example:1"}
    with pytest.raises(InvalidInputError) as refused:
        load_settings(kwargs)
    message = str(refused.value)
    assert f"'{name}'" in message and pipeline in message and "allowed: " in message
    assert "\n" not in message


@pytest.mark.parametrize("name", SERVICE_FIELDS)
def test_a_command_without_a_pipeline_cannot_choose_a_service_either(name):
    with pytest.raises(InvalidInputError, match=name):
        load_settings({name: "x"})


def test_mage_keys_are_not_taken_for_user_variables():
    settings = load_settings({**MAGE_KWARGS, "pipeline_uuid": "batch_inference", "batch_date": "2026-11-23"})
    assert settings == Settings(game_title="server-title", s3_bucket="server-bucket")
    assert set(MAGE_KWARGS) <= MAGE_KEYS


def test_an_unknown_variable_is_refused_with_the_allowed_ones():
    with pytest.raises(InvalidInputError, match=r"'input_ur'.*allowed: game_title, batch_date, input_uri"):
        load_settings({"pipeline_uuid": "batch_inference", "input_ur": "s3://x/y"})


def test_the_title_is_the_only_setting_a_run_may_choose():
    settings = load_settings({"pipeline_uuid": "training", "game_title": "other-game"})
    assert settings.game_title == "other-game"
    assert settings.s3_bucket == "server-bucket" and settings.mlflow_tracking_uri == "http://127.0.0.1:5000"
    with pytest.raises(InvalidInputError, match="GAME_TITLE"):
        load_settings({"pipeline_uuid": "training", "game_title": "../other"})


@pytest.mark.parametrize(
    "uri",
    [
        "s3://server-bucket/server-title/batches/date=2026-11-23/players.csv",
        "s3://server-bucket/other-game/raw/players.csv",  # inside the run's own title
    ],
)
def test_an_input_inside_the_titles_prefix_is_accepted(uri):
    title = uri.split("/")[3]
    load_settings({"pipeline_uuid": "batch_inference", "game_title": title, "input_uri": uri})


@pytest.mark.parametrize(
    "uri",
    [
        "s3://other-bucket/server-title/raw/players.csv",
        "s3://server-bucket/another-title/raw/players.csv",
        "s3://server-bucket/server-title/../another-title/raw/players.csv",
        "s3://server-bucket/server-title//raw.csv",
        "s3://server-bucket/server-title/",
        "s3://server-bucket/server-title-evil/raw.csv",
        "/etc/passwd",
        "file:///etc/passwd",
        "http://127.0.0.1:1/players.csv",
        "s3://server-bucket/server-title/raw\nplayers.csv",
        "s3://server-bucket/server-title/" + "x" * 2000,
        42,
    ],
)
def test_an_input_outside_the_titles_prefix_is_refused(uri):
    with pytest.raises(InvalidInputError, match="input_uri must be"):
        load_settings({"pipeline_uuid": "data_preparation", "input_uri": uri})


@pytest.mark.parametrize("day", ["2026-02-30", "2026-13-01", "23.11.2026", "2026-11-23T00:00", 20261123, "", "today"])
def test_batch_date_must_be_a_real_day(day):
    with pytest.raises(InvalidInputError, match="batch_date"):
        load_settings({"pipeline_uuid": "performance_monitoring", "batch_date": day})


def test_training_params_are_checked_when_the_run_starts():
    load_settings({"pipeline_uuid": "training", "params": {"classifier__max_iter": 30}})
    with pytest.raises(InvalidInputError, match="classifier__max_iter must be an integer"):
        load_settings({"pipeline_uuid": "training", "params": {"classifier__max_iter": "30"}})
    with pytest.raises(InvalidInputError, match="'classifier__random_state' cannot be set by a run"):
        load_settings({"pipeline_uuid": "retraining", "params": {"classifier__random_state": 1}})


def test_online_request_ids_are_checked_when_the_run_starts():
    with pytest.raises(InvalidInputError, match="request_id"):
        load_settings({"pipeline_uuid": "online_inference", "request_id": "../../processed/latest"})


def test_refusals_are_errors_the_cli_and_mage_report_in_one_line():
    with pytest.raises(MLOpsError):
        check_run_variables({"pipeline_uuid": "model_selection", "batch_date": "2026-11-23"}, "b-1", "t-1-x")
