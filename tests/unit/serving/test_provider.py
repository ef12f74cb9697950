import gc
import time

import pytest
from serving_helpers import tiny_model
from sklearn.dummy import DummyClassifier

from machine_learning.errors import NotFoundError
from machine_learning.inference.model import LoadedModel
from machine_learning.serving.provider import ModelProvider, prepare_model


class Registry:
    """A fake production alias and model store: versions load unless marked broken."""

    def __init__(self) -> None:
        self.production: str | None = None
        self.broken: set[str] = set()
        self.loads: list[str] = []
        self.models = {"1": tiny_model("1", seed=1), "2": tiny_model("2", seed=2)}

    def resolve(self) -> str:
        if self.production is None:
            raise NotFoundError("model unit-test-engagement has no 'production' version yet")
        return self.production

    def load(self, version: str) -> LoadedModel:
        self.loads.append(version)
        if version in self.broken:
            raise OSError(f"artifact of version {version} is unreadable")
        return self.models[version]


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def provider(registry: Registry) -> ModelProvider:
    return ModelProvider("unit-test-engagement", registry.resolve, registry.load, interval_seconds=0.02)


def test_without_a_production_model_there_is_nothing_to_serve(provider):
    assert provider.refresh() is False
    assert provider.current() is None
    assert "no production model yet" in provider.status().last_error


def test_the_first_promoted_version_is_picked_up(provider, registry):
    provider.refresh()
    registry.production = "1"

    assert provider.refresh() is True
    assert provider.current().version == "1"
    assert provider.current().predictor.kind == "numpy"
    assert provider.status().last_error is None


def test_an_unchanged_alias_does_not_reload(provider, registry):
    registry.production = "1"
    provider.refresh()
    assert provider.refresh() is False
    assert registry.loads == ["1"]


def test_a_failed_reload_keeps_serving_the_old_version_and_reports_why(provider, registry):
    registry.production = "1"
    provider.refresh()
    registry.production, registry.broken = "2", {"2"}

    assert provider.refresh() is False
    assert provider.current().version == "1"
    assert "loading version 2 failed, serving version 1" in provider.status().last_error
    assert "unreadable" in provider.status().last_error

    registry.broken.clear()  # fixed: the next check picks it up and clears the error
    assert provider.refresh() is True
    assert provider.current().version == "2"
    assert provider.status().last_error is None


def test_a_model_with_other_labels_is_refused(provider, registry):
    registry.production = "1"
    provider.refresh()
    registry.models["2"] = LoadedModel("unit-test-engagement", "2", DummyClassifier().fit([[0], [1]], ["Gold", "Tin"]))
    registry.production = "2"

    assert provider.refresh() is False
    assert provider.current().version == "1"
    assert "not ['High', 'Medium', 'Low']" in provider.status().last_error


def test_the_background_thread_follows_promotions_until_stopped(provider, registry):
    provider.start()
    try:
        registry.production = "1"
        wait_for(lambda: provider.current() is not None and provider.current().version == "1")
        registry.production = "2"
        wait_for(lambda: provider.current().version == "2")
    finally:
        provider.stop()
    registry.production = "1"
    time.sleep(0.1)
    assert provider.current().version == "2"


def test_prepare_model_compiles_the_fast_predictor():
    model = prepare_model(tiny_model("9"))
    assert (model.name, model.version, model.predictor.kind) == ("unit-test-engagement", "9", "numpy")


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_reload_in_progress_is_reported(registry):
    seen = []

    def slow_load(version: str) -> LoadedModel:
        seen.append(provider.status().loading)
        return registry.load(version)

    provider = ModelProvider("unit-test-engagement", registry.resolve, slow_load, interval_seconds=1)
    registry.production = "1"
    provider.refresh()
    assert seen[0].startswith("version 1 since ")
    assert provider.status().loading is None


def test_a_new_version_moves_the_heap_out_of_the_collectors_view(provider, registry):
    gc.unfreeze()
    registry.production = "1"
    try:
        assert provider.refresh()
        assert gc.get_freeze_count() > 0  # full collections no longer walk the loaded model and libraries
    finally:
        gc.unfreeze()
