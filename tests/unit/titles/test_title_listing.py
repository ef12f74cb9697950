"""``title list``: the default title and every registered one, with state, production and runs."""

from __future__ import annotations

from title_helpers import fake_services

from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from machine_learning.titles.listing import describe_titles, format_titles, last_runs_by_title
from machine_learning.titles.registry import new_record, save_record


def test_runs_are_grouped_by_title_newest_first() -> None:
    runs = [
        {"id": 9, "pipeline_uuid": "training", "status": "running", "variables": {"game_title": "alpha"}},
        {"id": 8, "pipeline_uuid": "training", "status": "completed", "variables": {"game_title": "alpha"}},
        {"id": 7, "pipeline_uuid": "training", "status": "completed", "variables": {}},
    ]
    assert last_runs_by_title(runs, "demo") == {"alpha": {"training": "9 running"}, "demo": {"training": "7 completed"}}


def test_an_unfinished_title_is_never_shown_ready(store: ObjectStore, settings: Settings) -> None:
    services, mlflow, _ = fake_services(store)
    save_record(store, new_record("half-done"))
    mlflow.production[f"{settings.game_title}-engagement"] = "4"
    states = {state.name: state for state in describe_titles(settings, services)}
    assert states[settings.game_title].default and states[settings.game_title].production_version == "4"
    assert states["half-done"].state == "creating" and states["half-done"].production_version is None
    table = "\n".join(format_titles(states.values()))
    assert "unit-test (default)" in table and "half-done" in table


def test_mage_being_down_leaves_the_runs_empty(store: ObjectStore, settings: Settings) -> None:
    services, _, _ = fake_services(store)

    def down() -> None:
        raise ConnectionError("refused")

    import dataclasses

    states = describe_titles(settings, dataclasses.replace(services, mage=down))
    assert states[0].last_runs == {}
