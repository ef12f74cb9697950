"""Deleting a title: a dry run lists and changes nothing; a real delete removes only that title's things."""

from __future__ import annotations

from pathlib import Path

import pytest
from title_helpers import fake_services
from unit_helpers import synthetic_players

from machine_learning.errors import InvalidInputError, NotFoundError
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from machine_learning.titles.create import create_title
from machine_learning.titles.delete import delete_title, find_deletion
from machine_learning.titles.registry import read_titles


@pytest.fixture
def two_titles(store: ObjectStore, settings: Settings, tmp_path: Path):
    path = tmp_path / "players.csv"
    synthetic_players(200, seed=4).to_csv(path, index=False)
    services, mlflow, mage = fake_services(store)
    for name in ("foo", "foo-bar"):
        create_title(name, settings, services, str(path), on_progress=lambda _: None)
    return services, mlflow, mage


def _no_project(_: Settings) -> str | None:
    return None


def test_a_dry_run_lists_and_changes_nothing(two_titles, store: ObjectStore, settings: Settings, fake_s3) -> None:
    services, _, _ = two_titles
    before = dict(fake_s3.objects)
    found = find_deletion("foo", settings, services, _no_project)
    assert found.registered and found.registered_models == ("foo-engagement",)
    assert found.s3_keys and all(key.startswith("foo/") for key in found.s3_keys)
    assert found.triggers and all(name.startswith("foo-") and "foo-bar" not in name for _, _, name in found.triggers)
    assert fake_s3.objects == before


def test_delete_removes_one_title_and_leaves_the_other(two_titles, store: ObjectStore, settings: Settings) -> None:
    services, mlflow, mage = two_titles
    deleted: list[str] = []
    delete_title(
        "foo", settings, services, (_no_project, lambda own: deleted.append(own.game_title)), on_progress=print
    )
    assert set(read_titles(store)) == {"foo-bar"}
    assert not store.list_keys("foo/") and store.list_keys("foo-bar/")
    assert mlflow.models == {"foo-bar-engagement"}
    assert mlflow.experiments["foo-engagement"].lifecycle_stage == "deleted"
    assert mage.created_names() and all(name.startswith("foo-bar-") for name in mage.created_names())


def test_the_default_title_needs_force(store: ObjectStore, settings: Settings) -> None:
    services, _, _ = fake_services(store)
    with pytest.raises(InvalidInputError, match="default title"):
        delete_title(settings.game_title, settings, services, (_no_project, _no_project))


def test_an_unknown_title_is_not_found(store: ObjectStore, settings: Settings) -> None:
    services, _, _ = fake_services(store)
    with pytest.raises(NotFoundError, match="no title named 'nothing-here'"):
        find_deletion("nothing-here", settings, services, _no_project)
