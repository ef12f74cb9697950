"""What a title needs: the steps left to create it and its Mage triggers (pure)."""

from __future__ import annotations

import dataclasses

from title_helpers import FakeMage

from machine_learning.titles.plan import (
    CREATE_STEPS,
    is_title_trigger,
    missing_triggers,
    remaining_steps,
    title_triggers,
    trigger_name,
)
from machine_learning.titles.registry import new_record


def test_a_new_title_has_every_step_and_a_finished_one_none() -> None:
    assert remaining_steps(None) == CREATE_STEPS
    record = dataclasses.replace(new_record("alpha"), steps_done=CREATE_STEPS)
    assert remaining_steps(record) == ()


def test_a_resumed_create_starts_at_the_first_gap() -> None:
    record = dataclasses.replace(new_record("alpha"), steps_done=CREATE_STEPS[:3])
    assert remaining_steps(record) == CREATE_STEPS[3:]
    shuffled = dataclasses.replace(record, steps_done=(CREATE_STEPS[0], CREATE_STEPS[2]))
    assert remaining_steps(shuffled) == CREATE_STEPS[1:]


def test_trigger_names_start_with_title_and_pipeline() -> None:
    assert trigger_name("space-racer", "training", "training_weekend") == "space-racer-training-weekend"
    assert trigger_name("space-racer", "data_preparation", "data_preparation_api") == (
        "space-racer-data_preparation-api"
    )


def test_title_triggers_copy_the_defaults_with_the_title_as_variable() -> None:
    defaults = FakeMage().list_triggers("training")
    bodies = title_triggers("alpha", "training", defaults)
    assert [b["name"] for b in bodies] == ["alpha-training-api", "alpha-training-nightly"]
    assert all(b["variables"] == {"game_title": "alpha"} and "id" not in b and "token" not in b for b in bodies)
    assert bodies[1]["schedule_interval"] == "0 22 * * *"
    # Another title's triggers are never copied, and a rerun creates nothing twice.
    again = title_triggers("beta", "training", [*defaults, *({**b, "id": 9} for b in bodies)])
    assert [b["name"] for b in again] == ["beta-training-api", "beta-training-nightly"]
    assert missing_triggers(bodies, [*defaults, bodies[0]]) == [bodies[1]]


def test_a_title_owns_only_its_own_triggers() -> None:
    mine = {"name": "foo-training-api", "variables": {"game_title": "foo"}}
    longer = {"name": "foo-bar-training-api", "variables": {"game_title": "foo-bar"}}
    assert is_title_trigger(mine, "foo", "training")
    assert not is_title_trigger(longer, "foo", "training")
    assert not is_title_trigger({"name": "training_api", "variables": {}}, "foo", "training")
