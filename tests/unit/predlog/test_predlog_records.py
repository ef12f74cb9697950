import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from predlog_helpers import PLAYER, exchange

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN
from machine_learning.predlog.records import (
    LOG_COLUMNS,
    batch_key,
    count_predictions,
    rows_from_exchanges,
    title_of_path,
)


def test_every_player_of_every_call_becomes_one_row_with_its_fields_variant_and_version():
    calls = [exchange([7, 8], request_id="a"), exchange([9], variant="challenger", version="4", request_id="b")]
    rows = rows_from_exchanges(calls)
    assert rows[ID_COLUMN].tolist() == [7, 8, 9]
    assert list(rows.columns) == ["title", *LOG_COLUMNS]
    assert rows["variant"].tolist() == ["production", "production", "challenger"]
    assert rows["model_version"].tolist() == ["3", "3", "4"]
    assert rows["request_id"].tolist() == ["a", "a", "b"]
    assert rows["players_in_request"].tolist() == [2, 2, 1]
    assert rows["Age"].tolist() == [20, 21, 20], "each row keeps its own player's fields"
    assert rows.loc[0, list(FEATURE_COLUMNS)].drop("Age").to_dict() == {k: v for k, v in PLAYER.items() if k != "Age"}
    assert (rows["date"] == "2025-12-02").all()
    probabilities = rows[["probability_High", "probability_Medium", "probability_Low"]].sum(axis=1)
    assert probabilities.round(9).eq(1.0).all()


def test_no_calls_give_an_empty_frame_with_the_log_columns():
    assert list(rows_from_exchanges([]).columns) == ["title", *LOG_COLUMNS]


def test_counting_predictions_matches_the_players_answered():
    assert count_predictions(exchange(list(range(40))).response_body) == 40


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/predict", "default-title"),
        ("/titles/other-game/predict", "other-game"),
        ("/titles/../predict", "default-title"),
    ],
)
def test_a_call_goes_to_the_log_of_the_title_in_its_path(path, title):
    assert title_of_path(path, "default-title") == title


def test_a_batch_key_is_date_partitioned_under_the_title_and_never_repeats():
    at = datetime(2026, 12, 2, 8, 30, 1, 5, tzinfo=UTC)
    first, second = batch_key("demo-game", "2026-12-02", at), batch_key("demo-game", "2026-12-02", at)
    assert first.startswith("demo-game/prediction-log/date=2026-12-02/part-083001000005-")
    assert first.endswith(".parquet") and first != second
