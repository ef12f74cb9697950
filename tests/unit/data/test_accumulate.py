"""Accumulating labelled days for retraining: every labelled player once, nothing from the future."""

from __future__ import annotations

import pandas as pd
import pytest
from unit_helpers import csv_bytes, raw_frame, raw_rows

from machine_learning.data.accumulate import accumulate_training_data, labelled_days
from machine_learning.data.prepare import load_prepared_players, prepare_players
from machine_learning.data.schema import ID_COLUMN, LABEL_COLUMN, required_columns
from machine_learning.errors import NotFoundError
from machine_learning.monitoring.data import labels_key


def _publish_day(store, settings, day: str, first_id: int, rows: int, labelled: int) -> None:
    """A scored day's batch (no label column) and, for the first ``labelled`` players, published labels."""
    batch = [{**row, ID_COLUMN: str(first_id + i)} for i, row in enumerate(raw_rows(rows))]
    store.write_bytes(
        f"{settings.s3_prefix}/batches/date={day}/players.csv",
        csv_bytes(batch, columns=required_columns(require_label=False)),
    )
    labels = pd.DataFrame({ID_COLUMN: [first_id + i for i in range(labelled)], LABEL_COLUMN: ["Low"] * labelled})
    store.write_parquet(labels_key(settings, day), labels)


@pytest.fixture
def base(store, settings):
    return prepare_players(raw_frame(raw_rows(30)), store, settings, "s3://unit-bucket/raw.csv")


def test_labelled_players_are_added_to_the_processed_data(store, settings, base):
    _publish_day(store, settings, "2026-11-15", 50_000, rows=20, labelled=12)
    prepared = accumulate_training_data(store, settings, until="2026-11-15")
    players = load_prepared_players(store, settings)
    assert prepared.processed_rows == base.processed_rows + 12
    added = players[players[ID_COLUMN] >= 50_000]
    assert len(added) == 12 and set(added[LABEL_COLUMN]) == {"Low"}
    assert "labels of 1 day(s) (2026-11-15..2026-11-15)" in prepared.source


def test_running_twice_counts_each_player_once(store, settings, base):
    _publish_day(store, settings, "2026-11-15", 50_000, rows=10, labelled=10)
    first = accumulate_training_data(store, settings, until="2026-11-15")
    second = accumulate_training_data(store, settings, until="2026-11-15")
    assert second.processed_rows == first.processed_rows == base.processed_rows + 10
    assert second.fingerprint == first.fingerprint


def test_days_after_the_cut_off_are_left_out(store, settings, base):
    _publish_day(store, settings, "2026-11-15", 50_000, rows=5, labelled=5)
    _publish_day(store, settings, "2026-11-22", 60_000, rows=5, labelled=5)
    assert labelled_days(store, settings, "2026-11-20") == ["2026-11-15"]
    prepared = accumulate_training_data(store, settings, until="2026-11-20")
    assert prepared.processed_rows == base.processed_rows + 5


def test_without_labels_the_training_data_is_unchanged(store, settings, base):
    prepared = accumulate_training_data(store, settings, until="2026-11-20")
    assert prepared.fingerprint == base.fingerprint


def test_without_processed_data_it_says_to_prepare_first(store, settings):
    with pytest.raises(NotFoundError, match="run data preparation first"):
        accumulate_training_data(store, settings, until="2026-11-20")


def test_labelled_rows_carry_their_day_and_days_before_the_change_count_as_old_data(store, settings, base):
    _publish_day(store, settings, "2026-11-14", 50_000, rows=10, labelled=10)
    _publish_day(store, settings, "2026-11-15", 60_000, rows=10, labelled=10)
    accumulate_training_data(store, settings, until="2026-11-15")
    days = load_prepared_players(store, settings).groupby("label_day")[ID_COLUMN].count().to_dict()
    assert days == {"": base.processed_rows, "2026-11-14": 10, "2026-11-15": 10}

    prepared = accumulate_training_data(store, settings, until="2026-11-15", changed_since="2026-11-15")
    days = load_prepared_players(store, settings).groupby("label_day")[ID_COLUMN].count().to_dict()
    assert days == {"": base.processed_rows + 10, "2026-11-15": 10}  # the day before the change: no label day
    assert "since the change on 2026-11-15" in prepared.source
