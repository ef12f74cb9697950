"""The title registry: one S3 object, changed by compare-and-set, so concurrent creates never clobber."""

from __future__ import annotations

import threading

import pytest

from machine_learning.errors import InvalidInputError, MLOpsError
from machine_learning.storage import ObjectStore
from machine_learning.titles.registry import (
    CREATING,
    REGISTRY_KEY,
    new_record,
    read_titles,
    remove_record,
    save_record,
    update_titles,
)


def test_an_empty_bucket_has_no_titles(store: ObjectStore) -> None:
    assert read_titles(store) == {}


def test_records_round_trip_and_removal_keeps_the_others(store: ObjectStore) -> None:
    save_record(store, new_record("alpha"))
    save_record(store, new_record("beta"))
    assert read_titles(store)["alpha"].state == CREATING
    remove_record(store, "alpha")
    assert set(read_titles(store)) == {"beta"}


def test_parallel_writers_all_land(store: ObjectStore) -> None:
    names = [f"title-{n}" for n in range(8)]
    threads = [threading.Thread(target=save_record, args=(store, new_record(name))) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(read_titles(store)) == set(names)


def test_a_refused_change_writes_nothing(store: ObjectStore) -> None:
    def refuse(_: dict) -> dict:
        raise InvalidInputError("no")

    with pytest.raises(InvalidInputError):
        update_titles(store, refuse)
    assert not store.exists(REGISTRY_KEY)


def test_a_damaged_registry_is_reported_not_overwritten(store: ObjectStore) -> None:
    store.write_bytes(REGISTRY_KEY, b"{not json")
    with pytest.raises(MLOpsError, match="damaged"):
        save_record(store, new_record("alpha"))
    assert store.read_bytes(REGISTRY_KEY) == b"{not json"
