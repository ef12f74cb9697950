"""Batch inference under faults: S3 dies halfway, or two runs of one day overlap. Readers see one whole run."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from machine_learning.inference import batch as batch_module
from machine_learning.inference.batch import daily_batch_locations, run_daily_batch
from machine_learning.inference.daily import day_table_key, read_day_manifest
from machine_learning.services import connect
from machine_learning.settings import Settings
from tests.conftest import ROOT, sample_players

pytestmark = pytest.mark.faults


@pytest.fixture
def settings(shared) -> Settings:
    return shared[0]


def _upload_batch(settings: Settings, day: str, players: pd.DataFrame) -> pd.DataFrame:
    """Upload a day's batch of players (each test scores a day of its own on the shared title)."""
    batch = sample_players(players, 600, seed=4).drop(columns=["EngagementLevel"])
    source, _ = daily_batch_locations(settings, day)
    connect(settings).store.write_bytes(source.split("/", 3)[3], batch.to_csv(index=False).encode())
    return batch


def _published(settings: Settings, day: str) -> dict[str, pd.DataFrame]:
    store = connect(settings).store
    return {
        table: store.read_parquet(day_table_key(store, settings, day, table) or "")
        for table in ("predictions", "quarantine", "current")
    }


def test_s3_dying_after_the_predictions_upload_leaves_the_previous_run_published_whole(
    settings, shipped_players, fault_stack, monkeypatch
):
    day = "2026-11-23"
    day_batch = _upload_batch(settings, day, shipped_players)
    first = run_daily_batch(settings, day)
    publish = batch_module.publish_file

    def publish_then_s3_dies(local, target, store):
        published = publish(local, target, store)
        if target.endswith("/predictions.parquet"):
            fault_stack.kill("s3")  # the new predictions are uploaded; the quarantine and current data are not
        return published

    monkeypatch.setattr(batch_module, "publish_file", publish_then_s3_dies)
    try:
        with pytest.raises(Exception, match="Could not connect to the endpoint URL"):
            run_daily_batch(settings, day)
    finally:
        fault_stack.restart("s3")
    monkeypatch.setattr(batch_module, "publish_file", publish)

    store = connect(settings).store
    assert read_day_manifest(store, settings, day)["run_id"] == first["run_id"]  # the failed run published nothing
    tables = _published(settings, day)
    assert all(f"run={first['run_id']}/" in (day_table_key(store, settings, day, t) or "") for t in tables)
    assert len(tables["predictions"]) == len(tables["current"]) == len(day_batch)

    rerun = run_daily_batch(settings, day)  # a plain rerun completes
    assert read_day_manifest(store, settings, day)["run_id"] == rerun["run_id"] != first["run_id"]
    assert len(_published(settings, day)["predictions"]) == len(day_batch)


def test_two_runs_of_one_day_at_once_both_finish_and_one_is_published_whole(settings, shipped_players, fault_stack):
    day = "2026-11-24"
    day_batch = _upload_batch(settings, day, shipped_players)
    code = (
        "from machine_learning.inference.batch import run_daily_batch\n"
        "from machine_learning.settings import load_settings\n"
        f"run_daily_batch(load_settings(), {day!r})"
    )
    env = {**fault_stack.env, "GAME_TITLE": settings.game_title, "MODEL_CACHE_DIR": settings.model_cache_dir}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(2)  # real processes, started together
    ]
    outputs = [run.communicate(timeout=300)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs

    store = connect(settings).store
    manifest = read_day_manifest(store, settings, day)
    keys = [day_table_key(store, settings, day, table) or "" for table in ("predictions", "quarantine", "current")]
    assert all(f"run={manifest['run_id']}/" in key for key in keys)  # all three tables of the same run
    tables = _published(settings, day)
    assert tables["predictions"]["PlayerID"].astype(str).tolist() == day_batch["PlayerID"].tolist()
    assert len(tables["current"]) == len(day_batch)
