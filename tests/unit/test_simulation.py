"""The daily simulator: schema-valid drifted players, deterministic draws, unique IDs, weekly label publication."""

from __future__ import annotations

import io
import time
from datetime import date, timedelta

import pandas as pd
import pytest
from unit_helpers import FakeS3, synthetic_players

from machine_learning.data.ingest import parse_raw_players
from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN, required_columns
from machine_learning.data.validate import validate_players
from machine_learning.errors import InvalidInputError, MLOpsError, NotFoundError
from machine_learning.inference.batch import daily_batch_locations
from machine_learning.monitoring.data import labels_key
from machine_learning.settings import Settings
from machine_learning.simulation import (
    DRIFT_KINDS,
    NEW_GENRE,
    default_source,
    load_source_players,
    parse_drift,
    publish_simulated_day,
    simulate_players,
    truth_key,
)
from machine_learning.storage import parse_s3_uri

DAY = date(2026, 11, 20)  # a Friday
SUNDAY = date(2026, 11, 22)
# The column each drift kind moves, and whether it moves down (numbers) or towards the new genre.
DRIFTED_COLUMN = {
    "session_length": "AvgSessionDurationMinutes",
    "sessions_per_week": "SessionsPerWeek",
    "genre_mix": "GameGenre",
    "playtime": "PlayTimeHours",
}


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    return synthetic_players(400, seed=3)


@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    """The shipped dataset, read and validated the way the simulator's CLI reads it."""
    return load_source_players(default_source(), None)


def _batch(fake_s3: FakeS3, settings: Settings, day: date) -> bytes:
    bucket, key = parse_s3_uri(daily_batch_locations(settings, day.isoformat())[0])
    return fake_s3.objects[(bucket, key)]


# Label-consistent shifts: which real players a share of the day is drawn from.
MIX_OF = {"casual_players": ("EngagementLevel", "Low"), "genre_players": ("GameGenre", NEW_GENRE)}


def test_drift_kinds_are_covered():
    assert set(DRIFTED_COLUMN) | set(MIX_OF) == set(DRIFT_KINDS)


@pytest.mark.parametrize("kind", sorted(MIX_OF))
def test_a_label_consistent_shift_draws_real_players_of_the_mix(source, kind):
    column, value = MIX_OF[kind]
    plain = simulate_players(source, DAY, 3000, {}, seed=5)
    shifted = simulate_players(source, DAY, 3000, {kind: 0.5}, seed=5)
    assert (shifted[column] == value).mean() > (plain[column] == value).mean() + 0.25
    # Every player is a real row of the source, label included: the labels still fit the inputs.
    features = [name for name in shifted.columns if name != "PlayerID"]
    real = source[features].astype(str).agg("|".join, axis=1)
    assert shifted[features].astype(str).agg("|".join, axis=1).isin(set(real)).all()


@pytest.mark.parametrize("strength", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("kind", sorted(DRIFT_KINDS))
def test_simulated_players_are_valid_for_the_schema(shipped, kind, strength):
    players = simulate_players(shipped, DAY, 500, {kind: strength}, seed=1)

    assert list(players.columns) == list(required_columns(True))
    result = validate_players(players.astype(str))
    assert result.quarantine.empty, result.reason_counts()
    assert (result.clean.dtypes == shipped.dtypes).all()
    # Like the shipped data: whole minutes and whole numbers of sessions.
    assert (players["AvgSessionDurationMinutes"] % 1 == 0).all()
    assert players["SessionsPerWeek"].dtype == "int64"


@pytest.mark.parametrize("kind", sorted(DRIFTED_COLUMN))
def test_a_drift_moves_only_its_own_column_in_its_direction(source, kind):
    column = DRIFTED_COLUMN[kind]
    plain = simulate_players(source, DAY, 2000, {}, seed=5)
    drifted = simulate_players(source, DAY, 2000, {kind: 0.5}, seed=5)

    others = [name for name in drifted.columns if name != column]
    pd.testing.assert_frame_equal(drifted[others], plain[others])
    if kind == "genre_mix":
        changed = drifted[column] != plain[column]
        assert (drifted.loc[changed, column] == NEW_GENRE).all()
        assert (drifted[column] == NEW_GENRE).mean() > (plain[column] == NEW_GENRE).mean() + 0.25
    else:
        assert (drifted[column] <= plain[column]).all()
        assert drifted[column].mean() == pytest.approx(plain[column].mean() * 0.5, rel=0.02)


@pytest.mark.parametrize(
    ("kind", "column", "expected"),
    [("session_length", "AvgSessionDurationMinutes", 0), ("genre_mix", "GameGenre", NEW_GENRE)],
)
def test_full_strength_drift_reaches_its_extreme(source, kind, column, expected):
    players = simulate_players(source, DAY, 300, {kind: 1.0}, seed=2)
    assert (players[column] == expected).all()


def test_players_keep_the_engagement_of_the_row_they_were_drawn_from(source):
    players = simulate_players(source, DAY, 1000, {}, seed=4)
    # Synthetic rows have unique features, so a join on the features finds each player's source row.
    joined = players.merge(source, on=list(FEATURE_COLUMNS), suffixes=("", "_source"), validate="many_to_one")
    assert len(joined) == len(players)
    assert (joined[LABEL_COLUMN] == joined[f"{LABEL_COLUMN}_source"]).all()


def test_the_same_day_and_seed_give_the_same_players(source):
    first = simulate_players(source, DAY, 500, {"session_length": 0.3}, seed=7)
    again = simulate_players(source, DAY, 500, {"session_length": 0.3}, seed=7)
    other_seed = simulate_players(source, DAY, 500, {"session_length": 0.3}, seed=8)
    other_day = simulate_players(source, DAY + timedelta(days=1), 500, {"session_length": 0.3}, seed=7)

    pd.testing.assert_frame_equal(first, again)
    features = list(FEATURE_COLUMNS)
    assert not first[features].equals(other_seed[features])
    assert not first[features].equals(other_day[features])


def test_player_ids_are_new_and_unique_within_and_across_days(shipped):
    days = [simulate_players(shipped, DAY + timedelta(days=offset), 3000, {}, seed=0) for offset in range(3)]
    ids = pd.concat([players[ID_COLUMN] for players in days])

    assert ids.dtype == "int64"
    assert ids.is_unique
    assert not ids.isin(shipped[ID_COLUMN]).any()
    assert ids.min() > shipped[ID_COLUMN].max()


def test_ten_thousand_players_take_well_under_a_second(shipped):
    started = time.perf_counter()
    simulate_players(shipped, DAY, 10_000, dict.fromkeys(DRIFT_KINDS, 0.3), seed=0)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["speed=0.5"], "session_length, sessions_per_week, genre_mix, playtime"),
        (["session_length"], "KIND=STRENGTH"),
        (["session_length=fast"], "must be a number in [0, 1]"),
        (["session_length=1.5"], "must be in [0, 1]"),
        (["session_length=-0.1"], "must be in [0, 1]"),
        (["session_length=nan"], "must be in [0, 1]"),
        (["genre_mix=0.2", "genre_mix=0.3"], "given twice"),
    ],
    ids=["unknown-kind", "no-strength", "not-a-number", "above-one", "negative", "nan", "duplicate"],
)
def test_bad_drift_specs_are_rejected_with_a_clear_message(specs, message):
    with pytest.raises(InvalidInputError, match="drift") as raised:
        parse_drift(specs)
    assert message in str(raised.value)


def test_drift_specs_are_parsed():
    assert parse_drift(["session_length=0.5", " genre_mix=0.3"]) == {"session_length": 0.5, "genre_mix": 0.3}
    assert parse_drift([]) == {}


@pytest.mark.parametrize(
    ("players", "drift", "seed", "message"),
    [
        (0, {}, 0, "players must be between"),
        (1_000_001, {}, 0, "players must be between"),
        (10, {"speed": 0.1}, 0, "unknown drift kind"),
        (10, {"playtime": 2.0}, 0, "must be in [0, 1]"),
        (10, {}, -1, "seed must be"),
    ],
)
def test_bad_requests_are_rejected(source, players, drift, seed, message):
    with pytest.raises(InvalidInputError) as raised:
        simulate_players(source, DAY, players, drift, seed)
    assert message in str(raised.value)


def test_a_day_is_published_as_a_batch_without_labels_and_a_hidden_truth(source, store, fake_s3, settings):
    players = simulate_players(source, DAY, 200, {"session_length": 0.5}, seed=1)

    written = publish_simulated_day(store, settings, DAY, players)

    batch = parse_raw_players(_batch(fake_s3, settings, DAY), "batch", require_label=False)
    assert list(batch.columns) == list(required_columns(False))
    assert validate_players(batch).clean[ID_COLUMN].tolist() == players[ID_COLUMN].tolist()
    truth = store.read_parquet(truth_key(settings, DAY.isoformat()))
    pd.testing.assert_frame_equal(truth, players[[ID_COLUMN, LABEL_COLUMN]])
    assert written.batch_uri == daily_batch_locations(settings, DAY.isoformat())[0]
    assert (written.players, written.drift, written.labels_published) == (200, {"session_length": 0.5}, [])
    assert not any("/labels/" in key for key in fake_s3.put_keys)  # not a Sunday: labels stay hidden


def test_the_batch_is_written_like_the_shipped_csv(shipped, store, fake_s3, settings):
    publish_simulated_day(store, settings, DAY, simulate_players(shipped, DAY, 50, {"session_length": 0.5}, 0))
    batch = pd.read_csv(io.BytesIO(_batch(fake_s3, settings, DAY)), dtype=str)
    assert not batch["AvgSessionDurationMinutes"].str.contains(".", regex=False).any()  # "54", not "54.0"


def test_labels_are_published_on_sunday_for_every_simulated_day_of_the_week(source, store, fake_s3, settings):
    days = [date(2026, 11, 13) + timedelta(days=offset) for offset in range(10)]  # Friday .. the next Sunday
    written = {}
    for day in days:
        written[day] = publish_simulated_day(store, settings, day, simulate_players(source, day, 30, {}, seed=0))
        if day == date(2026, 11, 21):  # Saturday: nothing of this week is published yet
            assert not any(store.exists(labels_key(settings, d.isoformat())) for d in days[3:])

    assert written[date(2026, 11, 15)].labels_published == ["2026-11-13", "2026-11-14", "2026-11-15"]
    assert written[SUNDAY].labels_published == [f"2026-11-{number}" for number in range(16, 23)]
    assert all(not written[day].labels_published for day in days if day.isoweekday() != 7)
    for day in days:
        labels = store.read_parquet(labels_key(settings, day.isoformat()))
        pd.testing.assert_frame_equal(labels, store.read_parquet(truth_key(settings, day.isoformat())))
    assert "labels published for 2026-11-16..2026-11-22" in written[SUNDAY].describe()


@pytest.mark.parametrize(
    ("column", "value"),
    [("Age", 500), (LABEL_COLUMN, "Extreme"), ("GameGenre", "Racing"), (ID_COLUMN, -1)],
)
def test_nothing_is_written_when_the_self_check_fails(source, store, fake_s3, settings, column, value):
    players = simulate_players(source, SUNDAY, 50, {}, seed=0)
    players[column] = players[column].astype(object)
    players.loc[7, column] = value

    with pytest.raises(MLOpsError, match="nothing was written"):
        publish_simulated_day(store, settings, SUNDAY, players)
    assert fake_s3.put_keys == []


def test_nothing_is_written_when_a_column_is_missing(source, store, fake_s3, settings):
    players = simulate_players(source, DAY, 20, {}, seed=0).drop(columns=[LABEL_COLUMN])
    with pytest.raises(InvalidInputError, match=LABEL_COLUMN):
        publish_simulated_day(store, settings, DAY, players)
    assert fake_s3.put_keys == []


def test_describe_names_the_day_size_drift_and_destination(source, store, settings):
    players = simulate_players(source, DAY, 20, {"session_length": 0.5, "genre_mix": 0.3}, seed=0)
    line = publish_simulated_day(store, settings, DAY, players).describe()
    assert line.startswith("2026-11-20: 20 players (drift session_length=0.5, genre_mix=0.3) -> s3://unit-bucket/")
    plain = publish_simulated_day(store, settings, DAY, simulate_players(source, DAY, 20, {}, seed=0))
    assert "(no drift)" in plain.describe()


def test_the_shipped_dataset_is_the_default_source(monkeypatch, tmp_path):
    monkeypatch.delenv("SIMULATOR_SOURCE", raising=False)
    assert default_source().endswith("data/online_gaming_behavior_dataset.csv.gz")
    monkeypatch.setenv("SIMULATOR_SOURCE", str(tmp_path / "mine.csv"))
    assert default_source() == str(tmp_path / "mine.csv")


def test_a_missing_source_says_how_to_choose_another(tmp_path):
    with pytest.raises(NotFoundError, match="SIMULATOR_SOURCE"):
        load_source_players(str(tmp_path / "nope.csv"), None)
