"""The daily simulator through the CLI against a real S3 server: batches batch inference can read, weekly labels."""

from __future__ import annotations

import uuid

import pytest

from machine_learning.cli import main
from machine_learning.data.ingest import parse_raw_players
from machine_learning.data.schema import ID_COLUMN
from machine_learning.data.validate import validate_players
from machine_learning.inference.batch import daily_batch_locations
from machine_learning.monitoring.data import load_labels
from machine_learning.services import connect
from machine_learning.settings import Settings, load_settings
from machine_learning.storage import read_source_bytes
from tests.conftest import Stack

pytestmark = pytest.mark.integration

DAYS = ["2026-11-20", "2026-11-21", "2026-11-22"]  # Friday, Saturday, Sunday


@pytest.fixture
def settings(live_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Settings:
    live_stack.apply(monkeypatch, game_title=f"sim-{uuid.uuid4().hex[:8]}")
    return load_settings()


def test_simulated_days_are_scoreable_batches_whose_labels_arrive_on_sunday(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    store = connect(settings).store
    batch_ids: dict[str, list[int]] = {}
    for day in DAYS:
        drift = ["--drift", "session_length=0.5"] if day != DAYS[0] else []
        assert main(["simulate", "--day", day, "--players", "300", "--seed", "7", *drift]) == 0
        if day != DAYS[-1]:
            assert load_labels(store, settings, DAYS).empty  # the week is not over: no labels yet
        # Read the batch the way batch inference does: every row passes its validation.
        uri = daily_batch_locations(settings, day)[0]
        result = validate_players(parse_raw_players(read_source_bytes(uri, store), uri, require_label=False))
        assert result.quarantine.empty
        batch_ids[day] = result.clean[ID_COLUMN].tolist()

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{DAYS[0]}: 300 players (no drift) -> s3://{settings.s3_bucket}/")
    assert lines[-1].endswith(f"labels published for {DAYS[0]}..{DAYS[-1]}")
    labels = load_labels(store, settings, DAYS)
    for day in DAYS:
        assert labels.loc[labels["date"] == day, ID_COLUMN].tolist() == batch_ids[day]
    assert labels[ID_COLUMN].is_unique
