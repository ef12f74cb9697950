import gzip

import numpy as np
import pandas as pd
import pytest
from unit_helpers import synthetic_players

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN
from machine_learning.errors import InvalidInputError, NotFoundError
from machine_learning.inference.batch import BatchOutputs, as_day, daily_batch_locations, score_batch
from machine_learning.inference.model import LoadedModel
from machine_learning.inference.predict import PREDICTION_COLUMN, predict_players
from machine_learning.settings import Settings
from machine_learning.training.model import build_pipeline


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    players = synthetic_players(400, seed=1)
    pipeline = build_pipeline(0, {"classifier__max_iter": 20}).fit(
        players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN]
    )
    return LoadedModel("unit-model", "3", pipeline)


def batch_text(count: int = 60, seed: int = 2) -> pd.DataFrame:
    """A raw scoring batch (text columns, no label), as a game server would export it."""
    return synthetic_players(count, seed).drop(columns=[LABEL_COLUMN]).astype(str)


def write(frame: pd.DataFrame, path, kind: str) -> str:
    if kind == "csv":
        frame.to_csv(path, index=False)
    elif kind == "csv.gz":
        with gzip.open(path, "wt", newline="") as handle:
            frame.to_csv(handle, index=False, lineterminator="\r\n")
    else:
        synthetic = frame.copy()
        for column in ("PlayerID", "Age", "SessionsPerWeek", "PlayerLevel", "AchievementsUnlocked", "InGamePurchases"):
            synthetic[column] = synthetic[column].astype("int64")
        for column in ("PlayTimeHours", "AvgSessionDurationMinutes"):
            synthetic[column] = synthetic[column].astype("float64")
        synthetic.to_parquet(path, index=False)
    return str(path)


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "parquet"])
@pytest.mark.parametrize("chunk_rows", [7, 100_000])
def test_every_valid_row_gets_one_prediction_in_input_order(model, tmp_path, kind, chunk_rows):
    batch = batch_text(60)
    source = write(batch, tmp_path / f"batch.{kind}", kind)
    outputs = BatchOutputs(predictions=str(tmp_path / "out" / "predictions.parquet"))

    result = score_batch(source, outputs, model, None, max_quarantine_share=0.1, chunk_rows=chunk_rows)

    predictions = pd.read_parquet(result.outputs["predictions"])
    assert result.scored_rows == result.input_rows == len(batch)
    assert predictions[ID_COLUMN].astype(str).tolist() == batch[ID_COLUMN].tolist()
    assert set(predictions[PREDICTION_COLUMN]) <= {"High", "Medium", "Low"}
    probabilities = predictions[["probability_High", "probability_Medium", "probability_Low"]].sum(axis=1)
    assert probabilities.round(6).eq(1.0).all()
    assert (predictions["model_version"] == "3").all()


def test_batch_predictions_equal_direct_predictions(model, tmp_path):
    batch = synthetic_players(50, seed=4)
    source = write(batch.drop(columns=[LABEL_COLUMN]).astype(str), tmp_path / "b.csv", "csv")
    outputs = BatchOutputs(predictions=str(tmp_path / "p.parquet"))

    score_batch(source, outputs, model, None, 0.1, chunk_rows=9)

    streamed = pd.read_parquet(tmp_path / "p.parquet").drop(columns=["scored_at"])
    direct = predict_players(model, batch).drop(columns=["scored_at"])
    pd.testing.assert_frame_equal(streamed, direct, check_dtype=False)


def test_bad_rows_are_quarantined_and_current_data_is_written(model, tmp_path):
    batch = batch_text(40)
    batch.loc[5, "Gender"] = "Robot"
    source = write(batch, tmp_path / "b.csv", "csv")
    outputs = BatchOutputs(
        predictions=str(tmp_path / "p.csv"), quarantine=str(tmp_path / "q.csv"), current=str(tmp_path / "c.parquet")
    )

    result = score_batch(source, outputs, model, None, max_quarantine_share=0.1)

    quarantine = pd.read_csv(tmp_path / "q.csv", dtype=str)
    assert quarantine[ID_COLUMN].tolist() == [batch.loc[5, ID_COLUMN]]
    assert "Gender: unknown category 'Robot'" in quarantine["quarantine_reason"].iloc[0]
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(batch) - 1
    current = pd.read_parquet(tmp_path / "c.parquet")
    assert len(current) == len(batch) - 1 and "prediction" in current
    assert result.quarantine_reasons == {"Gender: unknown category": 1}


def test_parquet_outputs_hold_text_categories_as_pandas_would_write_them(model, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from machine_learning.data.validate import validate_players
    from machine_learning.inference.batch import read_chunks

    batch = batch_text(30)
    batch.loc[3, "Location"] = " Europe "  # valid once stripped, as in the text path
    source = write(batch, tmp_path / "b.csv", "csv")
    outputs = BatchOutputs(predictions=str(tmp_path / "p.parquet"), current=str(tmp_path / "c.parquet"))

    score_batch(source, outputs, model, None, max_quarantine_share=0.1, chunk_rows=7)

    current = pq.read_table(tmp_path / "c.parquet")
    (chunk,) = read_chunks(tmp_path / "b.csv", "b.csv", 100)
    clean = validate_players(chunk).clean
    strings = clean.astype({name: object for name in clean if isinstance(clean[name].dtype, pd.CategoricalDtype)})
    expected = pa.Table.from_pandas(strings.assign(prediction="x"), preserve_index=False)
    assert current.schema.equals(expected.schema, check_metadata=True)
    assert current.column("Location").to_pylist()[3] == "Europe"
    pd.testing.assert_frame_equal(current.to_pandas().drop(columns="prediction"), strings)


def test_a_batch_with_too_many_bad_rows_writes_nothing(model, tmp_path):
    batch = batch_text(20)
    batch["Age"] = "old"
    source = write(batch, tmp_path / "b.csv", "csv")
    outputs = BatchOutputs(
        predictions=str(tmp_path / "out" / "p.parquet"), quarantine=str(tmp_path / "out" / "q.parquet")
    )

    with pytest.raises(InvalidInputError, match="Age: not a number"):
        score_batch(source, outputs, model, None, max_quarantine_share=0.05)

    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("PlayerID,Age\n1,20\n", "missing required column"),
        (",".join(["PlayerID", *FEATURE_COLUMNS]) + "\n", "no rows"),
        ("hello\nworld\n", "not a player file"),
    ],
    ids=["missing-column", "header-only", "not-player-data"],
)
def test_unusable_inputs_fail_clearly(model, tmp_path, content, message):
    source = tmp_path / "b.csv"
    source.write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        score_batch(str(source), BatchOutputs(predictions=str(tmp_path / "p.parquet")), model, None, 0.05)
    assert not (tmp_path / "p.parquet").exists()


def test_a_missing_input_is_reported(model, tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        score_batch(
            str(tmp_path / "nope.csv"), BatchOutputs(predictions=str(tmp_path / "p.parquet")), model, None, 0.05
        )


def test_daily_locations_are_partitioned_by_date():
    source, outputs = daily_batch_locations(Settings(game_title="my-game", s3_bucket="bkt"), "2026-11-23", "r1")
    assert source == "s3://bkt/my-game/batches/date=2026-11-23/players.csv"
    assert outputs.predictions == "s3://bkt/my-game/predictions/date=2026-11-23/run=r1/predictions.parquet"
    assert outputs.current == "s3://bkt/my-game/monitoring/current/date=2026-11-23/run=r1/current.parquet"


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("2026-11-23", "2026-11-23"),
        ("2026-11-23T21:00:00+00:00", "2026-11-23"),
        (pd.Timestamp("2026-01-02"), "2026-01-02"),
    ],
)
def test_batch_dates_accept_mage_execution_dates(value, day):
    assert as_day(value) == day


def test_a_malformed_batch_date_is_rejected():
    with pytest.raises(InvalidInputError, match="batch_date"):
        as_day("yesterday")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda lines: [*lines[:-1], lines[-1].rsplit(",", 1)[0]], "AchievementsUnlocked: missing"),
        (lambda lines: [*lines[:-1], lines[-1] + ","], "Expected 12 fields in line 31, saw 13"),
    ],
    ids=["short-last-row", "trailing-comma"],
)
def test_rows_arrow_cannot_read_are_read_as_pandas_reads_them(model, tmp_path, damage, reason):
    # Fast reading hands such files to pandas from the chunk that fails: results are those of pandas alone.
    batch = batch_text(30)
    lines = batch.to_csv(index=False).splitlines()
    source = tmp_path / "b.csv"
    source.write_text("\n".join(damage(lines)) + "\n")
    outputs = BatchOutputs(predictions=str(tmp_path / "p.parquet"), quarantine=str(tmp_path / "q.parquet"))

    if reason.startswith("Expected"):  # pandas refuses the file, with its own message
        with pytest.raises(InvalidInputError, match=reason):
            score_batch(str(source), outputs, model, None, 0.1, chunk_rows=7)
        return
    result = score_batch(str(source), outputs, model, None, 0.1, chunk_rows=7)

    # The bad row is in the last chunk: earlier chunks had nothing to quarantine, the file still gets it.
    assert pd.read_parquet(tmp_path / "q.parquet")["quarantine_reason"].tolist() == [reason]
    predictions = pd.read_parquet(tmp_path / "p.parquet")
    assert predictions[ID_COLUMN].astype(str).tolist() == batch[ID_COLUMN].tolist()[:-1]
    assert result.input_rows == len(batch)


def test_typed_parquet_rows_are_quarantined_with_their_values_as_text(model, tmp_path):
    batch = synthetic_players(20, seed=5).drop(columns=[LABEL_COLUMN])
    batch["PlayTimeHours"] = batch["PlayTimeHours"].astype("float64")
    batch.loc[3, "PlayTimeHours"] = np.nan
    batch.loc[4, "Age"] = 500
    batch.to_parquet(tmp_path / "b.parquet", index=False)
    outputs = BatchOutputs(predictions=str(tmp_path / "p.parquet"), quarantine=str(tmp_path / "q.parquet"))

    score_batch(str(tmp_path / "b.parquet"), outputs, model, None, 0.2)

    quarantine = pd.read_parquet(tmp_path / "q.parquet")
    assert quarantine["quarantine_reason"].tolist() == ["PlayTimeHours: missing", "Age: 500 outside [5, 120]"]
    assert quarantine["PlayTimeHours"].iloc[0] == "" and quarantine["Age"].iloc[1] == "500"
    assert len(pd.read_parquet(tmp_path / "p.parquet")) == len(batch) - 2


def test_quarantine_csv_cells_cannot_run_as_spreadsheet_formulas(model, tmp_path):
    batch = batch_text(40)
    batch.loc[3, "Gender"] = '=HYPERLINK("http://evil.example","click")'
    batch.loc[4, "Location"] = "@SUM(A1)"
    source = write(batch, tmp_path / "b.csv", "csv")
    outputs = BatchOutputs(predictions=str(tmp_path / "p.csv"), quarantine=str(tmp_path / "q.csv"))

    score_batch(source, outputs, model, None, max_quarantine_share=0.1)

    quarantine = pd.read_csv(tmp_path / "q.csv", dtype=str, keep_default_na=False)
    assert quarantine["Gender"].iloc[0] == "'" + batch.loc[3, "Gender"]
    assert quarantine["Location"].iloc[1] == "'@SUM(A1)"
    assert not any(cell.startswith(("=", "+", "@")) for cell in quarantine.to_numpy().ravel())


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (gzip.compress(b""), "is empty"), (b"\xef\xbb\xbf\r\n\r\n", "is empty")],
    ids=["empty", "empty-gzip", "bom-and-blank-lines"],
)
def test_empty_inputs_are_called_empty(model, tmp_path, content, message):
    source = tmp_path / "b.csv.gz"
    source.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message):
        score_batch(str(source), BatchOutputs(predictions=str(tmp_path / "p.parquet")), model, None, 0.05)
    assert not (tmp_path / "p.parquet").exists()


def test_a_header_naming_a_column_twice_is_refused(model, tmp_path):
    batch = batch_text(10)
    text = batch.to_csv(index=False)
    header, rest = text.split("\n", 1)
    source = tmp_path / "b.csv"
    source.write_text(f"{header},Age\n" + "".join(f"{line},99\n" for line in rest.splitlines()))
    with pytest.raises(InvalidInputError, match="names column\\(s\\) Age more than once"):
        score_batch(str(source), BatchOutputs(predictions=str(tmp_path / "p.parquet")), model, None, 0.05)


def test_a_folder_input_is_called_a_folder(model, tmp_path):
    with pytest.raises(InvalidInputError, match="is a folder, not a file"):
        score_batch(str(tmp_path), BatchOutputs(predictions=str(tmp_path / "p.parquet")), model, None, 0.05)


def test_the_reference_prediction_column_is_trainings():
    from machine_learning.inference.batch import REFERENCE_PREDICTION
    from machine_learning.training.train import PREDICTION_COLUMN as TRAINING_PREDICTION

    assert REFERENCE_PREDICTION == TRAINING_PREDICTION


def _outputs(tmp_path, name: str = "p.csv") -> BatchOutputs:
    return BatchOutputs(predictions=str(tmp_path / name), quarantine=str(tmp_path / f"q-{name}"))


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("in.csv", "is the input"),
        ("p.txt", "must end in .csv or .parquet"),
        ("missing/p.csv", "does not exist: create it first"),
        ("folder.csv", "is a folder"),
        ("taken.csv", "exists; pass --overwrite"),
        ("link.csv", "is the input"),
    ],
)
def test_outputs_that_cannot_or_must_not_be_written_are_refused(tmp_path, target, message):
    from machine_learning.inference.batch import check_batch_outputs

    (tmp_path / "in.csv").write_text("x")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "taken.csv").write_text("earlier result")
    (tmp_path / "link.csv").symlink_to(tmp_path / "in.csv")

    with pytest.raises(InvalidInputError, match=message):
        check_batch_outputs(str(tmp_path / "in.csv"), BatchOutputs(predictions=str(tmp_path / target)), None, False)

    assert (tmp_path / "taken.csv").read_text() == "earlier result"


def test_overwrite_allows_an_existing_output_but_never_the_input(tmp_path):
    from machine_learning.inference.batch import check_batch_outputs

    (tmp_path / "in.csv").write_text("x")
    (tmp_path / "p.csv").write_text("old")
    check_batch_outputs(str(tmp_path / "in.csv"), _outputs(tmp_path), None, True)
    with pytest.raises(InvalidInputError, match="is the input"):
        check_batch_outputs(str(tmp_path / "in.csv"), BatchOutputs(predictions=str(tmp_path / "in.csv")), None, True)


def test_a_full_disk_keeps_the_old_output_and_leaves_no_partial_file(tmp_path, monkeypatch):
    import errno
    import shutil

    from machine_learning.inference.batch import publish_file

    target = tmp_path / "predictions.csv"
    target.write_text("old\n")
    finished = tmp_path / "finished.csv"
    finished.write_text("new\n" * 1000)

    def copy_until_full(source, destination):
        with open(destination, "w") as handle:
            handle.write("ne")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", copy_until_full)
    with pytest.raises(OSError, match="No space left"):
        publish_file(finished, str(target), None)
    assert target.read_text() == "old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["finished.csv", "predictions.csv"]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_the_arrow_path_writes_what_the_row_wise_path_writes(model, tmp_path, kind):
    import pyarrow.parquet as pq

    from machine_learning.data.validate import validate_players
    from machine_learning.inference.batch import TableWriter, read_chunks, write_chunk

    batch = synthetic_players(80, seed=5).astype(str)
    batch.loc[3, "Age"], batch.loc[9, "Gender"], batch.loc[11, "Location"] = "x", "Robot", " Asia "
    batch.loc[20, ID_COLUMN] = batch.loc[21, ID_COLUMN]
    source = write(batch, tmp_path / f"b.{kind}", "csv") if kind == "csv" else str(tmp_path / "b.parquet")
    if kind == "parquet":
        batch.to_parquet(source, index=False)  # text columns in Parquet
    tables = ("predictions", "quarantine", "current")
    outputs = BatchOutputs(*(str(tmp_path / f"{name}.parquet") for name in tables))
    score_batch(source, outputs, model, None, 0.2, chunk_rows=30)
    scored_at = pd.read_parquet(outputs.predictions)["scored_at"].iloc[0].to_pydatetime()

    writers = {name: TableWriter(tmp_path / f"old-{name}.parquet") for name in tables}
    for chunk in read_chunks(tmp_path / f"b.{kind}", "b", 30):  # the row-wise path, chunk by chunk
        validation = validate_players(chunk)
        write_chunk(writers, validation, predict_players(model, validation.clean, scored_at))
    for name in tables:
        old, new = pq.read_table(writers[name].close()), pq.read_table(getattr(outputs, name))
        assert new.schema.equals(old.schema, check_metadata=True), name
        pd.testing.assert_frame_equal(new.to_pandas(), old.to_pandas(), check_exact=True)
