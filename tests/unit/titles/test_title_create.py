"""Creating a title: one step from a CSV to production, resumable, never listed ready half-done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from title_helpers import FakeMage, fake_services
from unit_helpers import synthetic_players

from machine_learning.errors import InvalidInputError, MLOpsError
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from machine_learning.titles.create import create_title, ensure_triggers
from machine_learning.titles.plan import CREATE_STEPS, LOOP
from machine_learning.titles.registry import FAILED, READY, read_titles


@pytest.fixture
def seed_csv(tmp_path: Path) -> str:
    path = tmp_path / "players.csv"
    synthetic_players(200, seed=3).to_csv(path, index=False)
    return str(path)


def test_create_takes_a_title_from_csv_to_production(
    store: ObjectStore, settings: Settings, seed_csv: str, capsys: pytest.CaptureFixture[str]
) -> None:
    services, mlflow, mage = fake_services(store)
    record = create_title("space-racer", settings, services, seed_csv)
    assert record.state == READY and record.production_version == "1"
    assert record.steps_done == CREATE_STEPS and set(record.runs) == set(LOOP)
    assert store.exists("space-racer/raw/players.csv")
    assert {"space-racer-engagement", "space-racer-monitoring"} <= set(mlflow.experiments)
    assert "space-racer-engagement" in mlflow.models
    assert "space-racer-training-api" in mage.created_names()
    assert [p for _, p in services.run.calls] == list(LOOP)  # type: ignore[attr-defined]
    printed = capsys.readouterr().out
    assert "-> schedules ..." in printed and "space-racer is ready: production v1" in printed


def test_a_failed_create_is_recorded_and_a_rerun_finishes_it(
    store: ObjectStore, settings: Settings, seed_csv: str
) -> None:
    services, _, mage = fake_services(store, fail_at="training")
    with pytest.raises(MLOpsError, match=r"stopped at training: training run 2 failed.*rerun to resume"):
        create_title("space-racer", settings, services, seed_csv, on_progress=lambda _: None)
    stopped = read_titles(store)["space-racer"]
    assert stopped.state == FAILED and "training" not in stopped.steps_done and stopped.runs["training"] == "2"
    triggers = mage.created_names()
    record = create_title("space-racer", settings, services, on_progress=lambda _: None)  # no CSV needed now
    assert record.state == READY
    assert mage.created_names() == triggers  # nothing created twice
    assert [p for _, p in services.run.calls] == ["data_preparation", "training", "training", "model_selection"]  # type: ignore[attr-defined]


def test_a_second_create_of_a_ready_title_changes_nothing(
    store: ObjectStore, settings: Settings, seed_csv: str
) -> None:
    services, _, _ = fake_services(store)
    first = create_title("space-racer", settings, services, seed_csv, on_progress=lambda _: None)
    again = create_title("space-racer", settings, services, seed_csv, on_progress=lambda _: None)
    assert again == first and len(services.run.calls) == len(LOOP)  # type: ignore[attr-defined]


def test_bad_seed_data_is_refused_before_anything_is_written(
    store: ObjectStore, settings: Settings, tmp_path: Path, fake_s3
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("PlayerID,Age\n1,20\n")
    services, _, _ = fake_services(store)
    with pytest.raises(InvalidInputError, match="missing"):
        create_title("space-racer", settings, services, str(bad))
    assert fake_s3.objects == {}


def test_a_new_title_without_data_stops_with_a_clear_message(store: ObjectStore, settings: Settings) -> None:
    services, _, _ = fake_services(store)
    with pytest.raises(MLOpsError, match="has no data yet: pass the seed CSV"):
        create_title("space-racer", settings, services, on_progress=lambda _: None)
    assert read_titles(store)["space-racer"].state == FAILED


@pytest.mark.parametrize("name", ["unit-test", "Bad_Name", "mlflow"])
def test_the_default_title_and_bad_names_are_refused(
    store: ObjectStore, settings: Settings, seed_csv: str, name: str
) -> None:
    services, _, _ = fake_services(store)
    with pytest.raises(InvalidInputError):
        create_title(name, settings, services, seed_csv)
    assert read_titles(store) == {}


def test_triggers_exist_for_every_pipeline_taking_game_title() -> None:
    from machine_learning.run_variables import PIPELINE_VARIABLES

    mage = FakeMage()
    ensure_triggers(mage, "alpha")
    assert set(mage.triggers) == {p for p, names in PIPELINE_VARIABLES.items() if "game_title" in names}
    assert "0 created, " in ensure_triggers(mage, "alpha")


def test_triggers_are_not_created_before_mage_has_synced_the_default_ones() -> None:
    class UnsyncedMage(FakeMage):
        def list_triggers(self, pipeline: str) -> list[dict[str, Any]]:
            return self.triggers.get(pipeline, [])  # a just-started Mage: triggers.yaml not in its DB yet

    mage = UnsyncedMage()
    with pytest.raises(MLOpsError, match=r"Mage lists none of .* triggers from its triggers.yaml.*rerun"):
        ensure_triggers(mage, "alpha", wait_seconds=0)
    assert mage.created_names() == set()


class DroppingMage:
    """A Mage client whose first run of the title's trigger is accepted but never started (Mage drops it)."""

    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []
        self.cancelled: list[int] = []

    def find_trigger(self, pipeline: str, name: str) -> dict[str, Any]:
        return {"id": 7, "token": "t", "name": name}

    def start_run(self, trigger: dict[str, Any], variables: dict[str, Any]) -> int:
        self.started.append({"trigger": trigger["name"], **variables})
        return len(self.started)

    def get_run(self, run_id: int) -> dict[str, Any]:
        if run_id == 1:
            return {"status": "running", "block_runs": [{"status": "initial"}]}
        return {"status": "completed", "block_runs": [{"status": "completed"}]}

    def cancel_run(self, run_id: int) -> None:
        self.cancelled.append(run_id)

    def run_url(self, pipeline: str, run_id: int) -> str:
        return f"http://mage.test/pipelines/{pipeline}/runs/{run_id}"


def test_a_dropped_mage_run_of_a_title_is_cancelled_and_started_once_more(settings: Settings) -> None:
    from machine_learning.titles.create import mage_runner, title_settings

    mage, recorded, lines = DroppingMage(), [], []
    run = mage_runner(lambda: mage, timeout=30, on_progress=lines.append, not_started_after=0)
    assert run(title_settings(settings, "alpha"), "training", {}, recorded.append) == "2"
    assert mage.cancelled == [1] and recorded == ["1", "2"]  # the record follows the run that did the work
    assert mage.started == [{"trigger": "alpha-training-api", "game_title": "alpha"}] * 2
    assert any("cancelled it and started it again" in line for line in lines)
