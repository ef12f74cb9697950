"""Partitioned scoring in this process: the same tables as the streaming path, published whole, manifest last."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from unit_helpers import synthetic_players

from machine_learning.data.schema import ID_COLUMN, LABEL_COLUMN
from machine_learning.errors import InvalidInputError
from machine_learning.inference.batch import BatchOutputs, score_batch
from machine_learning.scale.engine import score_with_engine
from machine_learning.scale.score import plan_input, run_in_process, score_partitioned

TABLES = ("predictions", "quarantine", "current")


def messy_batch(rows: int = 90, seed: int = 5) -> pd.DataFrame:
    """Raw text with bad rows and duplicate IDs, some within one local chunk and some across chunks."""
    batch = synthetic_players(rows, seed).drop(columns=[LABEL_COLUMN]).astype(str)
    batch.loc[3, "Gender"] = "Robot"
    batch.loc[11, "Age"] = "old"
    batch.loc[12, ID_COLUMN] = batch.loc[14, ID_COLUMN]  # same chunk
    batch.loc[40, ID_COLUMN] = batch.loc[2, ID_COLUMN]  # other chunk
    batch.loc[50, "SessionsPerWeek"] = ""
    return batch


def outputs_in(folder: Path, suffix: str = ".parquet") -> BatchOutputs:
    return BatchOutputs(
        predictions=str(folder / f"predictions{suffix}"),
        quarantine=str(folder / f"quarantine{suffix}"),
        current=str(folder / f"current{suffix}"),
    )


def read_tables(outputs: BatchOutputs) -> dict[str, pd.DataFrame]:
    read = pd.read_csv if outputs.predictions.endswith(".csv") else pd.read_parquet
    frames = {name: read(getattr(outputs, name)) for name in TABLES}
    frames["predictions"] = frames["predictions"].drop(columns="scored_at")
    return frames


def write_input(batch: pd.DataFrame, path: Path) -> str:
    if path.suffix == ".parquet":
        typed = batch.copy()
        typed.to_parquet(path, index=False, row_group_size=17)
    else:
        batch.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize("out", [".parquet", ".csv"])
def test_partitioned_scoring_gives_the_streaming_paths_tables(cached, tmp_path, kind, out):
    settings, model = cached
    source = write_input(messy_batch(), tmp_path / f"batch.{kind}")
    local, parted = outputs_in(tmp_path / "local", out), outputs_in(tmp_path / "parted", out)

    expected = score_batch(source, local, model, None, 0.2, chunk_rows=20)
    result, partitions = score_partitioned(
        settings.with_overrides({"max_quarantine_share": 0.2}), source, parted, model.version, None, run_in_process, 20
    )

    assert partitions == 5
    for name, frame in read_tables(local).items():
        pd.testing.assert_frame_equal(read_tables(parted)[name], frame)
    assert (result.input_rows, result.scored_rows, result.quarantined_rows) == (
        expected.input_rows,
        expected.scored_rows,
        expected.quarantined_rows,
    )
    assert result.quarantine_reasons == expected.quarantine_reasons
    assert not list((tmp_path / "parted").glob("_staging-*"))


def test_a_folder_is_scored_file_by_file_in_name_order_with_a_manifest_last(cached, tmp_path):
    settings, _ = cached
    batch = messy_batch(60)
    folder = tmp_path / "in"
    folder.mkdir()
    write_input(batch.iloc[30:], folder / "b.csv")
    write_input(batch.iloc[:30], folder / "a.parquet")
    outputs = outputs_in(tmp_path / "out")

    result = score_with_engine(
        settings.with_overrides({"max_quarantine_share": 0.3}), str(folder), outputs, cached[1], None, chunk_rows=8
    )

    predictions = pd.read_parquet(outputs.predictions)
    quarantined = set(pd.read_parquet(outputs.quarantine)[ID_COLUMN].astype(str))
    valid = [pid for pid in batch[ID_COLUMN] if pid not in quarantined]
    assert predictions[ID_COLUMN].astype(str).tolist() == valid
    manifest = json.loads(Path(result.outputs["manifest"]).read_text())
    assert manifest["engine"] == "local" and manifest["partitions"] == 4 + 4
    assert manifest["outputs"]["predictions"] == outputs.predictions
    assert manifest["scored_rows"] == len(predictions)


def test_a_failing_batch_publishes_nothing_and_removes_the_old_manifest(cached, tmp_path):
    settings, model = cached
    outputs = outputs_in(tmp_path / "out")
    good = write_input(messy_batch(), tmp_path / "good.csv")
    score_with_engine(settings.with_overrides({"max_quarantine_share": 0.2}), good, outputs, model, None, 20)
    before = Path(outputs.predictions).read_bytes()
    bad = messy_batch()
    bad.loc[:40, "Gender"] = "Robot"
    (tmp_path / "bad").mkdir()
    source = write_input(bad, tmp_path / "bad" / "bad.csv")

    with pytest.raises(InvalidInputError, match="nothing was written"):
        score_with_engine(settings, source, outputs, model, None, 20)
    with pytest.raises(InvalidInputError, match="nothing was written"):
        score_with_engine(settings, str(tmp_path / "bad"), outputs, model, None, 20)  # the partitioned path

    assert Path(outputs.predictions).read_bytes() == before  # the previous run's table is untouched ...
    assert not Path(outputs.predictions).with_name("predictions.manifest.json").exists()  # ... but not vouched for
    assert not list(Path(outputs.predictions).parent.glob("_staging-*"))


def test_a_csv_whose_lines_are_not_rows_is_rescored_as_one_partition(cached, tmp_path):
    settings, model = cached
    text = messy_batch(30).to_csv(index=False)
    lines = text.splitlines(keepends=True)
    source = tmp_path / "blank-lines.csv"
    source.write_text("".join(lines[:5]) + "\n\n" + "".join(lines[5:]))  # blank lines are not rows
    local, parted = outputs_in(tmp_path / "local"), outputs_in(tmp_path / "parted")

    score_batch(str(source), local, model, None, 0.3, chunk_rows=6)
    _, partitions = score_partitioned(
        settings.with_overrides({"max_quarantine_share": 0.3}),
        str(source),
        parted,
        model.version,
        None,
        run_in_process,
        6,
    )

    assert partitions == 1
    for name, frame in read_tables(local).items():
        pd.testing.assert_frame_equal(read_tables(parted)[name], frame)


def test_planning_names_a_missing_input(tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        plan_input(str(tmp_path / "nope.csv"), None, 10)
