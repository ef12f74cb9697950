import io
import json

import pandas as pd
import pytest
from unit_helpers import FakeS3, csv_bytes, raw_frame, raw_rows

from machine_learning.data.prepare import (
    fingerprint_frame,
    load_prepared_players,
    load_raw_players,
    manifest_key,
    prepare_players,
)
from machine_learning.data.schema import DEMOGRAPHIC_COLUMNS, ID_COLUMN, LABEL_COLUMN
from machine_learning.data.validate import REASON_COLUMN
from machine_learning.errors import InvalidInputError, NotFoundError
from machine_learning.storage import ObjectStore


def _read(fake: FakeS3, uri: str) -> pd.DataFrame:
    bucket, key = uri[5:].split("/", 1)
    return pd.read_parquet(io.BytesIO(fake.objects[(bucket, key)]))


@pytest.mark.parametrize("bad_rows", [0, 1, 2])
def test_processed_rows_are_input_minus_quarantined(bad_rows, store, fake_s3, settings):
    rows = raw_rows(20, Age=dict.fromkeys(range(bad_rows), "old"))
    prepared = prepare_players(raw_frame(rows), store, settings.with_overrides({"max_quarantine_share": 0.1}), "src")

    assert prepared.input_rows == len(rows)
    assert prepared.quarantined_rows == bad_rows
    assert prepared.processed_rows == len(rows) - bad_rows
    assert len(_read(fake_s3, prepared.players_uri)) == prepared.processed_rows
    quarantine = _read(fake_s3, prepared.quarantine_uri)
    assert len(quarantine) == bad_rows
    assert (quarantine[REASON_COLUMN].str.startswith("Age: not a number")).all()
    assert prepared.quarantine_reasons == ({"Age: not a number": bad_rows} if bad_rows else {})


def test_manifest_is_written_last_and_points_at_this_runs_objects(store, fake_s3, settings):
    prepared = prepare_players(raw_frame(raw_rows(6)), store, settings, "s3://unit-bucket/raw.csv")

    assert fake_s3.put_keys[-1] == manifest_key(settings) == "unit-test/processed/latest.json"
    run_keys = fake_s3.put_keys[:-1]
    assert all(key.startswith(f"unit-test/processed/runs/{prepared.run_id}/") for key in run_keys)
    manifest = json.loads(fake_s3.objects[("unit-bucket", manifest_key(settings))])
    assert manifest == prepared.to_dict()
    assert manifest["source"] == "s3://unit-bucket/raw.csv"
    for name in ("players_uri", "features_uri", "quarantine_uri"):
        assert manifest[name].removeprefix("s3://unit-bucket/") in run_keys


def test_features_table_holds_ids_and_demographics_only(store, fake_s3, settings):
    prepared = prepare_players(raw_frame(raw_rows(3)), store, settings, "src")
    features = _read(fake_s3, prepared.features_uri)
    assert list(features.columns) == [ID_COLUMN, *DEMOGRAPHIC_COLUMNS]
    assert features[ID_COLUMN].tolist() == [1000, 1001, 1002]


def test_two_runs_keep_both_and_the_manifest_follows_the_newest(store, fake_s3, settings):
    first = prepare_players(raw_frame(raw_rows(3)), store, settings, "first")
    second = prepare_players(raw_frame(raw_rows(5)), store, settings, "second")

    assert first.run_id != second.run_id
    assert store.exists(first.players_uri.removeprefix("s3://unit-bucket/"))
    frame = load_prepared_players(store, settings)
    assert store.read_json(manifest_key(settings)) == second.to_dict()
    assert len(frame) == second.processed_rows
    assert frame[ID_COLUMN].tolist() == [1000, 1001, 1002, 1003, 1004]


@pytest.mark.parametrize(("bad_rows", "limit"), [(2, 0.05), (1, 0.0), (11, 0.5)])
def test_too_many_bad_rows_reject_the_batch_and_write_nothing(bad_rows, limit, store, fake_s3, settings):
    rows = raw_rows(20, Location=dict.fromkeys(range(bad_rows), "Atlantis"))
    with pytest.raises(InvalidInputError) as raised:
        prepare_players(raw_frame(rows), store, settings.with_overrides({"max_quarantine_share": limit}), "batch.csv")

    message = str(raised.value)
    assert message.startswith("batch.csv:")
    assert f"{bad_rows} of 20 rows" in message
    assert "MAX_QUARANTINE_SHARE" in message
    assert "Location: unknown category" in message
    assert fake_s3.objects == {}


def test_bad_share_exactly_at_the_limit_is_accepted(store, settings):
    rows = raw_rows(20, Age={0: "x"})
    prepared = prepare_players(raw_frame(rows), store, settings.with_overrides({"max_quarantine_share": 0.05}), "s")
    assert prepared.quarantined_rows == 1


@pytest.mark.parametrize("failing_put", [1, 2, 3, 4])
def test_a_failing_write_leaves_the_previous_manifest_and_data_untouched(failing_put, settings):
    fake = FakeS3()
    store = ObjectStore(client=fake, bucket=settings.s3_bucket)
    previous = prepare_players(raw_frame(raw_rows(4)), store, settings, "previous")
    manifest_before = fake.objects[(settings.s3_bucket, manifest_key(settings))]

    fake.fail_on_put = len(fake.put_keys) + failing_put  # the Nth PUT of the next run fails
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises must propagate
        prepare_players(raw_frame(raw_rows(9)), store, settings, "broken")

    assert fake.objects[(settings.s3_bucket, manifest_key(settings))] == manifest_before
    assert store.read_json(manifest_key(settings)) == previous.to_dict()
    frame = load_prepared_players(store, settings)
    assert len(frame) == previous.processed_rows


def test_load_prepared_players_returns_typed_labelled_rows(store, settings):
    rows = raw_rows(5, Age={1: "9000"})
    prepared = prepare_players(raw_frame(rows), store, settings.with_overrides({"max_quarantine_share": 0.5}), "s")
    frame = load_prepared_players(store, settings)

    assert frame[ID_COLUMN].tolist() == [1000, 1002, 1003, 1004]
    assert frame["Age"].dtype == "int64"
    assert frame["PlayTimeHours"].dtype == "float64"
    assert frame[LABEL_COLUMN].tolist() == ["High", "Low", "High", "Medium"]
    assert prepared.fingerprint == fingerprint_frame(frame)


def test_load_prepared_players_without_any_run_says_what_to_do(store, settings):
    with pytest.raises(NotFoundError, match="no processed data for game title 'unit-test': run data preparation first"):
        load_prepared_players(store, settings)


def test_titles_do_not_see_each_others_data(store, settings):
    prepare_players(raw_frame(raw_rows(3)), store, settings, "s")
    with pytest.raises(NotFoundError, match="other-title"):
        load_prepared_players(store, settings.with_overrides({"game_title": "other-title"}))


def test_load_raw_players_reads_local_files(make_csv_file, store):
    path = make_csv_file(csv_bytes(raw_rows(3), newline="\r\n", compress=True), "players.csv.gz")
    frame = load_raw_players(path, store)
    assert frame[ID_COLUMN].tolist() == ["1000", "1001", "1002"]


def test_load_raw_players_reads_s3_uris_from_any_bucket(fake_s3, store):
    fake_s3.objects[("raw-bucket", "in/players.csv")] = csv_bytes(raw_rows(2))
    frame = load_raw_players("s3://raw-bucket/in/players.csv", store)
    assert len(frame) == 2


@pytest.mark.parametrize("source", ["/definitely/not/here.csv", "s3://unit-bucket/missing.csv"])
def test_load_raw_players_missing_source_is_not_found(source, store):
    with pytest.raises(NotFoundError, match="does not exist"):
        load_raw_players(source, store)


def test_fingerprint_depends_on_values_and_order_only():
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert fingerprint_frame(frame) == fingerprint_frame(frame.copy())
    assert fingerprint_frame(frame) == fingerprint_frame(frame.set_axis([7, 8, 9]))
    assert fingerprint_frame(frame) != fingerprint_frame(frame.iloc[::-1])
    assert fingerprint_frame(frame) != fingerprint_frame(frame.assign(a=[1, 2, 4]))
    assert fingerprint_frame(frame) != fingerprint_frame(frame.rename(columns={"b": "c"}))
