import errno
import json
import pathlib

import pytest

from machine_learning.errors import NotFoundError
from machine_learning.inference import model as model_module
from machine_learning.inference.model import ModelUnavailableError, load_model, resolve_version
from machine_learning.registry import VersionInfo
from machine_learning.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(game_title="cache-test", model_cache_dir=str(tmp_path / "cache"))


def test_a_resolved_alias_is_remembered_for_when_mlflow_is_down(settings, monkeypatch):
    monkeypatch.setattr(model_module, "mlflow_reachable", lambda _s: True)
    monkeypatch.setattr(model_module, "get_alias_version", lambda *_a: VersionInfo(settings.model_name, "4", "run"))
    assert resolve_version(object(), settings) == "4"

    monkeypatch.setattr(model_module, "mlflow_reachable", lambda _s: False)
    assert resolve_version(object(), settings) == "4"


def test_mlflow_down_and_nothing_cached_is_a_clear_error(settings, monkeypatch):
    monkeypatch.setattr(model_module, "mlflow_reachable", lambda _s: False)
    with pytest.raises(ModelUnavailableError, match="unreachable"):
        resolve_version(object(), settings)
    with pytest.raises(ModelUnavailableError, match=r"version 7 .* is not cached"):
        load_model(settings, "7")


def test_no_production_model_yet_says_what_to_do(settings, monkeypatch):
    monkeypatch.setattr(model_module, "mlflow_reachable", lambda _s: True)
    monkeypatch.setattr(model_module, "get_alias_version", lambda *_a: None)
    with pytest.raises(NotFoundError, match="train and promote a model first"):
        resolve_version(object(), settings)


def test_the_alias_pointer_is_plain_json(settings, monkeypatch, tmp_path):
    monkeypatch.setattr(model_module, "mlflow_reachable", lambda _s: True)
    monkeypatch.setattr(model_module, "get_alias_version", lambda *_a: VersionInfo(settings.model_name, "2", "run"))
    resolve_version(object(), settings)
    pointer = tmp_path / "cache" / settings.model_name / "aliases" / "production.json"
    assert json.loads(pointer.read_text()) == {"version": "2"}


def test_a_read_only_cache_still_resolves_and_leaves_no_partial_file(settings, monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(model_module, "mlflow_reachable", lambda _s: True)
    monkeypatch.setattr(model_module, "get_alias_version", lambda *_a: VersionInfo(settings.model_name, "5", "run"))

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(pathlib.Path, "write_text", read_only)  # a cache mounted read-only in a container

    assert resolve_version(object(), settings) == "5"
    assert "could not remember production = v5 in the model cache (Read-only file system)" in caplog.text
    assert not list((tmp_path / "cache").rglob("*.partial"))
