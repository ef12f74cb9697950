import dataclasses

import pytest

from machine_learning.errors import ConfigurationError
from machine_learning.settings import _ENV_NAMES, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in _ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)


def test_defaults_describe_the_local_stack():
    settings = load_settings()
    assert settings == Settings()
    assert settings.game_title == "demo-game"
    assert settings.s3_endpoint_url.startswith("http://127.0.0.1")
    assert settings.mlflow_tracking_uri.startswith("http://127.0.0.1")
    assert 0 < settings.test_size < 1
    assert settings.promotion_metric in ("accuracy", "f1_macro")


def test_names_derive_from_the_game_title():
    settings = Settings(game_title="space-race", s3_bucket="studio")
    assert settings.model_name == "space-race-engagement"
    assert settings.experiment_name == "space-race-engagement"
    assert settings.s3_prefix == "space-race"
    assert settings.raw_uri == "s3://studio/space-race/raw/players.csv"


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ("GAME_TITLE", "game_title", "space-race"),
        ("S3_BUCKET", "s3_bucket", "studio-data"),
        ("AWS_ENDPOINT_URL", "s3_endpoint_url", "http://minio:9000"),
        ("MLFLOW_TRACKING_URI", "mlflow_tracking_uri", "http://mlflow:5000"),
        ("RANDOM_SEED", "random_seed", 7),
        ("TEST_SIZE", "test_size", 0.3),
        ("MIN_ACCURACY", "min_accuracy", 0.5),
        ("PROMOTION_METRIC", "promotion_metric", "accuracy"),
        ("PROMOTION_MARGIN", "promotion_margin", 0.01),
        ("MAX_QUARANTINE_SHARE", "max_quarantine_share", 0.2),
    ],
)
def test_every_field_can_be_set_from_the_environment(monkeypatch, env, field, value):
    monkeypatch.setenv(env, str(value))
    settings = load_settings()
    assert getattr(settings, field) == value
    assert type(getattr(settings, field)) is type(value)


def test_every_field_has_an_environment_variable():
    assert set(_ENV_NAMES) == {field.name for field in dataclasses.fields(Settings)}


def test_explicit_overrides_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("GAME_TITLE", "from-env")
    monkeypatch.setenv("RANDOM_SEED", "1")
    settings = load_settings({"game_title": "from-kwargs"})
    assert settings.game_title == "from-kwargs"
    assert settings.random_seed == 1


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("GAME_TITLE", "Space Race"),
        ("GAME_TITLE", "ab"),
        ("GAME_TITLE", "-leading-dash"),
        ("GAME_TITLE", "x" * 43),
        ("S3_BUCKET", "ab"),
        ("RANDOM_SEED", "seven"),
        ("RANDOM_SEED", "1.5"),
        ("TEST_SIZE", "0"),
        ("TEST_SIZE", "1"),
        ("TEST_SIZE", "big"),
        ("TEST_SIZE", "nan"),
        ("MIN_ACCURACY", "1.5"),
        ("MIN_ACCURACY", "-0.1"),
        ("PROMOTION_METRIC", "auc"),
        ("PROMOTION_MARGIN", "a lot"),
        ("MAX_QUARANTINE_SHARE", "2"),
        ("MAX_QUARANTINE_SHARE", "5%"),
    ],
)
def test_invalid_values_name_the_environment_variable(monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigurationError, match=env):
        load_settings()


@pytest.mark.parametrize(
    ("env", "value"),
    [("PROMOTION_MARGIN", "-0.5"), ("PROMOTION_MARGIN", "nan"), ("RANDOM_SEED", "-1")],
)
def test_out_of_range_margin_and_seed_are_rejected(monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigurationError, match=env):
        load_settings()


def test_empty_endpoint_from_the_environment_means_aws(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "")
    assert load_settings().s3_endpoint_url == ""


def test_with_overrides_ignores_unknown_keys_and_none():
    base = Settings()
    changed = base.with_overrides({"random_seed": None, "execution_date": "2024-01-01", "test_size": "0.25"})
    assert changed == dataclasses.replace(base, test_size=0.25)
    assert base.test_size == 0.2  # the original is unchanged


def test_with_overrides_validates_the_result():
    with pytest.raises(ConfigurationError, match="TEST_SIZE"):
        Settings().with_overrides({"test_size": 3})
    with pytest.raises(ConfigurationError, match="RANDOM_SEED must be a"):
        Settings().with_overrides({"random_seed": "x"})


def test_settings_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().game_title = "other"  # type: ignore[misc]


def test_drift_columns_must_be_model_inputs():
    with pytest.raises(ConfigurationError, match=r"DRIFT_COLUMNS names unknown columns \['Nonsense'\]"):
        Settings(drift_columns="AvgSessionDurationMinutes, Nonsense")
    assert Settings(drift_columns=" GameGenre ,, prediction").drift_column_names == ("GameGenre", "prediction")
