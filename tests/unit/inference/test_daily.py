"""A day's batch outputs: published together by the manifest, or not at all; readers follow the manifest."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from machine_learning.errors import InvalidInputError
from machine_learning.inference.batch import daily_batch_locations
from machine_learning.inference.daily import (
    DAY_TABLES,
    RUN_IN_FLIGHT_SECONDS,
    day_manifest_key,
    day_table_key,
    publish_day,
)
from machine_learning.monitoring.data import load_current_data
from machine_learning.storage import parse_s3_uri

DAY = "2026-11-23"


def _write_run(store, settings, run_id: str, value: int, tables=("predictions", "quarantine", "current")) -> dict:
    _, outputs = daily_batch_locations(settings, DAY, run_id)
    written = {}
    for name in tables:
        uri = getattr(outputs, name)
        store.write_parquet(parse_s3_uri(uri)[1], pd.DataFrame({"PlayerID": [value], "run": [run_id]}))
        written[name] = uri
    return written


def test_readers_see_only_the_published_run(store, settings):
    publish_day(store, settings, DAY, "r1", _write_run(store, settings, "r1", 1), {})
    _write_run(store, settings, "r2", 2, tables=("predictions", "quarantine"))  # r2 died before its "current"
    for table in ("predictions", "quarantine", "current"):
        assert store.read_parquet(day_table_key(store, settings, DAY, table))["run"].tolist() == ["r1"]
    assert load_current_data(store, settings, DAY, 1)["run"].tolist() == ["r1"]


def _age(fake_s3, run_id: str, seconds: float) -> None:
    """Move the write time of a run's objects back, as if it had stopped ``seconds`` ago."""
    for place in fake_s3.modified:
        if f"run={run_id}/" in place[1]:
            fake_s3.modified[place] -= timedelta(seconds=seconds)


def test_publishing_keeps_one_generation_and_removes_failed_runs(store, settings, fake_s3):
    publish_day(store, settings, DAY, "r1", _write_run(store, settings, "r1", 1), {})
    _write_run(store, settings, "r2", 2, tables=("predictions",))  # failed, never published
    _age(fake_s3, "r1", RUN_IN_FLIGHT_SECONDS + 1)
    _age(fake_s3, "r2", RUN_IN_FLIGHT_SECONDS + 1)
    publish_day(store, settings, DAY, "r3", _write_run(store, settings, "r3", 3), {})
    runs = {key.split("run=")[1].split("/")[0] for key in store.list_keys(f"{settings.s3_prefix}/") if "run=" in key}
    assert runs == {"r1", "r3"}  # r1 is kept for a reader that read the previous manifest a moment ago
    _age(fake_s3, "r3", RUN_IN_FLIGHT_SECONDS + 1)
    _age(fake_s3, "r1", RUN_IN_FLIGHT_SECONDS + 1)
    publish_day(store, settings, DAY, "r4", _write_run(store, settings, "r4", 4), {})
    runs = {key.split("run=")[1].split("/")[0] for key in store.list_keys(f"{settings.s3_prefix}/") if "run=" in key}
    assert runs == {"r3", "r4"}


def test_a_run_still_going_keeps_its_objects_and_publishes_whole_after_a_faster_one(store, settings):
    slow = _write_run(store, settings, "r1", 1)  # r1 started first and has written its tables, not its manifest
    publish_day(store, settings, DAY, "r2", _write_run(store, settings, "r2", 2), {})  # r2 overtakes it
    publish_day(store, settings, DAY, "r1", slow, {})  # r1 publishes last: its manifest wins
    for table in DAY_TABLES:
        assert store.read_parquet(day_table_key(store, settings, DAY, table))["run"].tolist() == ["r1"]


def test_days_scored_before_manifests_are_read_at_the_old_keys(store, settings):
    old = f"{settings.s3_prefix}/monitoring/current/date={DAY}/current.parquet"
    store.write_parquet(old, pd.DataFrame({"PlayerID": [7]}))
    assert day_table_key(store, settings, DAY, "current") == old
    publish_day(store, settings, DAY, "r1", _write_run(store, settings, "r1", 1), {})
    assert not store.exists(old)  # superseded by the manifest


def test_a_damaged_manifest_is_named(store, settings):
    store.write_bytes(day_manifest_key(settings, DAY), b'{"outputs": ')
    with pytest.raises(InvalidInputError, match=r"manifest.json is damaged .* rerun batch_inference for 2026-11-23"):
        day_table_key(store, settings, DAY, "predictions")
    publish_day(store, settings, DAY, "r1", _write_run(store, settings, "r1", 1), {})  # a rerun repairs it
    assert store.read_parquet(day_table_key(store, settings, DAY, "predictions"))["run"].tolist() == ["r1"]
