"""Batch scoring that streams: chunks are read, validated, scored and appended to files, so memory stays flat.

Inputs are CSV (optionally gzip) or Parquet, local or in S3, in the raw schema (``EngagementLevel`` optional).
Outputs are written to temporary files first and moved (local) or uploaded (S3) only when the whole batch has
been scored, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from machine_learning.data.formulas import neutralise_formula_cells
from machine_learning.data.ingest import select_schema_columns
from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN, required_columns
from machine_learning.data.validate import ValidationResult, enforce_quarantine_share, validate_players
from machine_learning.data.validate_table import (
    TableValidation,
    frame_for_validation,
    from_validation_result,
    validate_player_table,
)
from machine_learning.errors import InvalidInputError, NotFoundError
from machine_learning.inference.columnar import current_table, score_columns
from machine_learning.inference.model import LoadedModel
from machine_learning.inference.predict import PREDICTION_COLUMN
from machine_learning.inference.prefetch import read_ahead
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore, parse_s3_uri

DEFAULT_CHUNK_ROWS = 250_000
ROW_GROUP_ROWS = 1 << 20  # Parquet's default: a chunk of a batch is one row group
# training.train.PREDICTION_COLUMN (the reference data's prediction column), not imported: training pulls in
# mlflow and matplotlib, seconds of start-up for `mlops predict`. tests/unit/inference/test_batch.py checks it.
REFERENCE_PREDICTION = "prediction"
_ARROW_BLOCK_BYTES = 4 << 20
# File suffixes pandas decompresses by itself ("infer"); of these, Arrow reads only gzip here.
_PANDAS_COMPRESSIONS = {".gz", ".bz2", ".zip", ".xz", ".zst", ".tar"}


@dataclass(frozen=True)
class BatchOutputs:
    """Where a batch's three tables go (local paths or ``s3://`` URIs; ``None`` skips a table)."""

    predictions: str
    quarantine: str | None = None
    current: str | None = None


@dataclass
class BatchResult:
    """What one batch run did, with timings per phase (seconds)."""

    model_name: str
    model_version: str
    predictor: str = ""  # which predictor scored: tl2cgen, numpy or pipeline
    input_rows: int = 0
    scored_rows: int = 0
    quarantined_rows: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (Mage block output)."""
        return asdict(self)


def score_batch(
    source: str,
    outputs: BatchOutputs,
    model: LoadedModel,
    store: ObjectStore | None,
    max_quarantine_share: float,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_progress: Callable[[str], None] | None = None,
) -> BatchResult:
    """Validate and score a batch of players chunk by chunk, then publish the outputs.

    Args:
        source: Local path or ``s3://`` URI of a CSV (optionally gzip) or Parquet file.
        outputs: Where predictions, quarantined rows and monitoring "current" data go (``.csv`` or ``.parquet``).
        model: The model to score with.
        store: Used for S3 inputs and outputs.
        max_quarantine_share: A batch with a larger share of invalid rows is rejected and nothing is written.
        chunk_rows: Rows per chunk (memory scales with this, not with the file).
        on_progress: Called with one line per chunk.

    Returns:
        Counts, reasons, output locations and timings.

    Raises:
        InvalidInputError: Unreadable input, missing columns, no rows, or too many invalid rows.
        NotFoundError: The input does not exist.

    """
    result = BatchResult(model.name, model.version, model.predictor.kind)
    reasons: Counter[str] = Counter()
    timings: defaultdict[str, float] = defaultdict(float)
    with tempfile.TemporaryDirectory(prefix="batch-") as folder:
        local_source = _localise(source, store, Path(folder))
        writers = {name: TableWriter(Path(folder) / f"{name}{_suffix(target)}") for name, target in _targets(outputs)}
        scored_at = datetime.now(UTC)
        chunks = _timed_chunks(local_source, source, chunk_rows, timings)
        with contextlib.closing(chunks):  # a failed chunk stops the read-ahead at once
            for chunk in chunks:
                started = time.perf_counter()
                validation = validate_chunk(chunk)
                timings["validate"] += time.perf_counter() - started
                started = time.perf_counter()
                predictions = score_columns(model, validation.columns, scored_at)
                timings["predict"] += time.perf_counter() - started
                started = time.perf_counter()
                write_table_chunk(writers, validation, predictions)
                timings["write"] += time.perf_counter() - started
                result.input_rows += len(chunk)
                result.scored_rows += validation.clean_rows
                result.quarantined_rows += len(validation.quarantine)
                reasons.update(validation.reasons)
                if on_progress:
                    on_progress(f"{result.input_rows:,} rows read, {result.scored_rows:,} scored")
        if result.input_rows == 0:
            raise InvalidInputError(f"{source} has a header but no rows")
        result.quarantine_reasons = dict(reasons.most_common())
        enforce_quarantine_share(
            result.quarantined_rows,
            result.input_rows,
            result.quarantine_reasons,
            max_quarantine_share,
            source,
            "; nothing was written",
        )
        started = time.perf_counter()
        for name, target in _targets(outputs):
            result.outputs[name] = publish_file(writers[name].close(), target, store)
        timings["publish"] += time.perf_counter() - started
    result.timings = {name: round(seconds, 3) for name, seconds in timings.items()}
    return result


OUTPUT_SUFFIXES = (".csv", ".parquet")


def check_batch_outputs(source: str, outputs: BatchOutputs, store: ObjectStore | None, overwrite: bool) -> None:
    """Refuse output locations a batch cannot or must not write, before any work (what ``mlops predict`` checks).

    Local targets are checked always; S3 targets only when ``store`` is given (their check is a request).

    Args:
        source: The input, which no output may replace.
        outputs: The output locations.
        store: Used to see whether S3 outputs exist already.
        overwrite: Whether existing outputs may be replaced.

    Raises:
        InvalidInputError: An output has an unknown suffix, is the input, is a folder, is in a missing folder,
            or exists while ``overwrite`` is off.

    """
    for _, target in _targets(outputs):
        if not target.lower().endswith(OUTPUT_SUFFIXES):
            raise InvalidInputError(f"output {target} must end in .csv or .parquet")
        if target == source or (not target.startswith("s3://") and _same_file(target, source)):
            raise InvalidInputError(f"output {target} is the input: choose another output")
        if target.startswith("s3://"):
            if store is not None and not overwrite and _s3_exists(store, target):
                raise InvalidInputError(f"output {target} exists; pass --overwrite to replace it")
            continue
        path = Path(target)
        if path.is_dir() and not _is_parts_folder(path):
            raise InvalidInputError(f"output {target} is a folder: give a file name ending in .csv or .parquet")
        if not path.parent.is_dir():
            raise InvalidInputError(f"the folder of output {target} does not exist: create it first")
        if (path.exists() or path.is_symlink()) and not overwrite:
            raise InvalidInputError(f"output {target} exists; pass --overwrite to replace it")


def check_batch_input(source: str) -> None:
    """Refuse a local input that is missing, a folder or empty, before a model is loaded for it.

    Raises:
        NotFoundError: The file does not exist.
        InvalidInputError: It is a folder, or empty.

    """
    if source.startswith("s3://"):
        return
    path = Path(source)
    if path.is_dir():
        raise InvalidInputError(f"input {source} is a folder, not a file")
    if not path.is_file():
        raise NotFoundError(f"input file {source} does not exist")
    with open(path, "rb") as handle:
        _check_not_empty(path, source, handle.read(4))


def _is_parts_folder(path: Path) -> bool:
    """Tell whether a folder is a partitioned run's Parquet output (only ``part-*.parquet`` files in it)."""
    names = [one.name for one in path.iterdir()]
    return path.suffix == ".parquet" and all(n.startswith("part-") and n.endswith(".parquet") for n in names)


def _same_file(target: str, source: str) -> bool:
    try:
        return not source.startswith("s3://") and Path(target).resolve() == Path(source).resolve()
    except OSError:
        return False


def _s3_exists(store: ObjectStore, uri: str) -> bool:
    bucket, key = parse_s3_uri(uri)
    return ObjectStore(client=store.client, bucket=bucket).exists(key)


def _targets(outputs: BatchOutputs) -> list[tuple[str, str]]:
    pairs = [("predictions", outputs.predictions), ("quarantine", outputs.quarantine), ("current", outputs.current)]
    return [(name, target) for name, target in pairs if target]


def validate_chunk(chunk: pa.Table | pd.DataFrame) -> TableValidation:
    """Validate one chunk as :func:`read_tables` yields it (an Arrow table, or a frame pandas read)."""
    if isinstance(chunk, pa.Table):
        return validate_player_table(chunk)
    return from_validation_result(validate_players(chunk))


def write_table_chunk(writers: dict[str, TableWriter], validation: TableValidation, predictions: pa.Table) -> None:
    """Append one scored chunk (Arrow predictions) to the predictions, quarantine and "current" writers present."""
    writers["predictions"].write(predictions)
    if "quarantine" in writers:
        writers["quarantine"].write(validation.quarantine)
    if "current" in writers:
        predicted = predictions.column(PREDICTION_COLUMN)
        writers["current"].write(current_table(validation.columns, predicted, REFERENCE_PREDICTION))


def write_chunk(writers: dict[str, TableWriter], validation: ValidationResult, predictions: pd.DataFrame) -> None:
    """Append one scored chunk to the predictions, quarantine and monitoring "current" writers present."""
    writers["predictions"].write(predictions)
    if "quarantine" in writers:
        writers["quarantine"].write(validation.quarantine)
    if "current" in writers:
        # Monitoring "current" data: what the model saw and said, in the reference data's column names.
        current = validation.clean[
            [ID_COLUMN, *FEATURE_COLUMNS, *([LABEL_COLUMN] if LABEL_COLUMN in validation.clean else [])]
        ]
        writers["current"].write(current.assign(**{REFERENCE_PREDICTION: predictions[PREDICTION_COLUMN].to_numpy()}))


def _timed_chunks(
    path: Path, name: str, chunk_rows: int, timings: defaultdict[str, float]
) -> Generator[pa.Table | pd.DataFrame, None, None]:
    # "read" is the time spent waiting for a chunk: the read of the next one overlaps the work on this one.
    chunks = read_ahead(read_tables(path, name, chunk_rows))
    try:
        while True:
            started = time.perf_counter()
            chunk = next(chunks, None)
            timings["read"] += time.perf_counter() - started
            if chunk is None:
                return
            yield chunk
    finally:
        chunks.close()


def read_chunks(path: Path, name: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Read a local CSV (optionally compressed) or Parquet file in chunks of ``chunk_rows`` rows, as frames.

    The frames :func:`validate_players` expects: :func:`read_tables`' chunks, Arrow tables turned into frames.

    Raises:
        InvalidInputError: The file is not a readable player CSV or Parquet file.

    """
    for chunk in read_tables(path, name, chunk_rows):
        yield chunk if isinstance(chunk, pd.DataFrame) else frame_for_validation(chunk)


def read_tables(path: Path, name: str, chunk_rows: int) -> Iterator[pa.Table | pd.DataFrame]:
    """Read a local CSV (optionally compressed) or Parquet file in chunks of ``chunk_rows`` rows, as scoring does.

    Chunks are Arrow tables of the schema's columns (CSV cells as text, Parquet columns as stored); what Arrow
    does not read as pandas would (unusual compression or header, damaged rows) comes as pandas frames of text.

    Raises:
        InvalidInputError: The file is not a readable player CSV or Parquet file.

    """
    with open(path, "rb") as handle:
        magic = handle.read(4)
    _check_not_empty(path, name, magic)
    if magic == b"PAR1":
        yield from _read_parquet_chunks(path, name, chunk_rows)
        return
    done = 0
    try:
        for chunk in _read_arrow_csv_chunks(path, chunk_rows):
            yield select_table_columns(chunk, name)
            done += chunk.num_rows
        return
    except (pa.ArrowException, UnicodeDecodeError, _NotForArrowError):
        pass  # whatever Arrow does not read as pandas would is read by pandas, with pandas' messages
    yield from _read_pandas_csv_chunks(path, name, chunk_rows, skip_rows=done)


def _check_not_empty(path: Path, name: str, magic: bytes) -> None:
    """Refuse an empty file (or empty gzip member, or only a BOM and blank lines), whatever a reader would say."""
    if magic.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(path) as handle:
                head = handle.read(4096)
        except (OSError, EOFError, zlib.error) as error:
            raise InvalidInputError(f"{name} is a damaged gzip file: {error}") from None
    else:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    if not head.removeprefix(b"\xef\xbb\xbf").strip():
        raise InvalidInputError(f"{name} is empty")


class _NotForArrowError(Exception):
    """The file is read by pandas instead (unusual compression or header, no rows)."""


def _read_arrow_csv_chunks(path: Path, chunk_rows: int) -> Iterator[pa.Table]:
    """Text columns as Arrow strings, in chunks of exactly ``chunk_rows`` rows (as pandas' chunks)."""
    if any(suffix in _PANDAS_COMPRESSIONS for suffix in path.suffixes) and path.suffix != ".gz":
        raise _NotForArrowError(path.suffix)
    wanted = set(required_columns(False)) | {LABEL_COLUMN}
    # One thread: the streaming reader gains nothing from more, and the next chunk is read beside the work on
    # this one (read_ahead), which needs the other core.
    read = pacsv.ReadOptions(block_size=_ARROW_BLOCK_BYTES, use_threads=False)
    with pa.input_stream(path, compression="detect") as stream:
        names = pacsv.open_csv(stream, read_options=read).schema.names
    keep = [column for column in names if column.strip() in wanted]
    if len({column.strip() for column in keep}) != len(keep):
        raise _NotForArrowError("duplicate column names")
    convert = pacsv.ConvertOptions(
        column_types={column: pa.string() for column in keep},
        include_columns=keep,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    pending: list[pa.RecordBatch] = []
    rows = total = 0
    with pa.input_stream(path, compression="detect") as stream:
        for batch in pacsv.open_csv(stream, read_options=read, convert_options=convert):
            pending.append(batch)
            rows, total = rows + batch.num_rows, total + batch.num_rows
            while rows >= chunk_rows:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, chunk_rows)
                pending, rows = table.slice(chunk_rows).to_batches(), rows - chunk_rows
    if rows:
        yield pa.Table.from_batches(pending)
    if total == 0:
        raise _NotForArrowError("no rows")  # a header alone: pandas decides what that file is


def _read_pandas_csv_chunks(path: Path, name: str, chunk_rows: int, skip_rows: int) -> Iterator[pd.DataFrame]:
    try:
        reader = pd.read_csv(
            path, dtype=str, keep_default_na=False, chunksize=chunk_rows, index_col=False, compression="infer"
        )
        for chunk in reader:
            if skip_rows >= len(chunk):  # already read by Arrow
                skip_rows -= len(chunk)
                continue
            yield select_schema_columns(chunk, name, require_label=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as error:
        raise InvalidInputError(
            f"{name} is not a readable CSV or Parquet file: {' '.join(str(error).split())}"
        ) from None


def _read_parquet_chunks(path: Path, name: str, chunk_rows: int) -> Iterator[pa.Table]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
        yield select_table_columns(pa.Table.from_batches([batch]), name)


def select_table_columns(table: pa.Table, name: str) -> pa.Table:
    """Check a table's header against the schema and keep the schema's columns in canonical order.

    The checks and messages of :func:`select_schema_columns` (names stripped, repeats and missing columns refused).

    Raises:
        InvalidInputError: Required columns are missing or named twice.

    """
    names = [str(column).strip() for column in table.column_names]
    keep = select_schema_columns(pd.DataFrame(columns=names), name, require_label=False).columns
    return table.rename_columns(names).select([names.index(column) for column in keep])


def frame_from_parquet(batch: pa.RecordBatch | pa.Table, name: str) -> pd.DataFrame:
    """Turn Parquet rows into the frame validation expects (the schema's columns, numbers typed, text as Arrow).

    Args:
        batch: Rows read from a Parquet file.
        name: The input's name, for messages.

    Returns:
        The frame to validate.

    Raises:
        InvalidInputError: Required columns are missing.

    """
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    return select_schema_columns(frame_for_validation(table), name, require_label=False)


def _localise(source: str, store: ObjectStore | None, folder: Path) -> Path:
    if not source.startswith("s3://"):
        path = Path(source)
        if path.is_dir():
            raise InvalidInputError(f"input {source} is a folder, not a file")
        if not path.is_file():
            raise NotFoundError(f"input file {source} does not exist")
        return path
    if store is None:
        raise InvalidInputError("an S3 input needs an S3 client")
    bucket, key = parse_s3_uri(source)
    local = folder / ("input" + "".join(Path(key).suffixes))
    try:
        store.client.download_file(bucket, key, str(local))  # streams to disk, never whole in memory
    except Exception as error:
        if "404" in str(error) or "Not Found" in str(error):
            raise NotFoundError(f"{source} does not exist") from None
        raise
    return local


def _suffix(target: str) -> str:
    return ".csv" if target.endswith(".csv") else ".parquet"


def publish_file(local: Path, target: str, store: ObjectStore | None) -> str:
    """Copy a finished local file to its target (atomic rename locally, one multipart upload to S3).

    A local folder of Parquet parts at the target (a partitioned run's output, see
    :mod:`machine_learning.scale.publish`) is replaced by the file.
    """
    if target.startswith("s3://"):
        if store is None:
            raise InvalidInputError("an S3 output needs an S3 client")
        bucket, key = parse_s3_uri(target)
        store.client.upload_file(str(local), bucket, key)  # multipart: the object appears only when complete
        return target
    destination = Path(target)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staged = destination.with_name(f".{destination.name}.partial")
    try:
        shutil.copyfile(local, staged)
        if destination.is_dir() and not destination.is_symlink():
            shutil.rmtree(destination)
        staged.replace(destination)  # atomic on one file system
    finally:
        staged.unlink(missing_ok=True)  # after a failed copy or rename, nothing half-written stays behind
    return str(destination)


class TableWriter:
    """Appends DataFrames to one Parquet or CSV file with a fixed schema.

    Categorical columns (validated categories) are written as the text columns they stand for: the same Arrow
    types and pandas metadata as object columns of strings, without building a Python string per cell.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parquet: pq.ParquetWriter | None = None
        self.started = False

    def write(self, frame: pd.DataFrame | pa.Table) -> None:
        """Append one frame or Arrow table (the first one fixes the schema)."""
        if self.path.suffix == ".csv":
            frame = frame.to_pandas() if isinstance(frame, pa.Table) else frame
            neutralise_formula_cells(frame).to_csv(self.path, mode="a", header=not self.started, index=False)
        else:
            if isinstance(frame, pa.Table):
                # pandas metadata as a frame of the same rows would have it (what readers of the file get back)
                table, frame = frame, frame.slice(0, 1).to_pandas()
            else:
                table = pa.Table.from_pandas(frame, preserve_index=False)
            if self.parquet is None:
                self.parquet = self._open(frame, table)
            self.parquet.write_table(table.cast(self.parquet.schema), row_group_size=ROW_GROUP_ROWS)
        self.started = True

    def _open(self, frame: pd.DataFrame, table: pa.Table) -> pq.ParquetWriter:
        # An empty first chunk (no quarantined rows yet) has untyped text columns: make them text, or a later
        # chunk's strings cannot be cast to the file's schema. Categories are written as their text.
        fields = [
            field.with_type(pa.string())
            if pa.types.is_null(field.type)
            else field.with_type(field.type.value_type)
            if pa.types.is_dictionary(field.type)
            else field
            for field in table.schema
        ]
        categorical = [name for name in frame.columns if isinstance(frame[name].dtype, pd.CategoricalDtype)]
        metadata = (
            pa.Schema.from_pandas(frame.head(1).astype(dict.fromkeys(categorical, object)), preserve_index=False)
            if categorical or table.schema.metadata is None  # an Arrow table: the metadata of its rows as a frame
            else table.schema
        ).metadata
        # Dictionary pages only where values repeat: on unique ids and probabilities they cost most of the write
        # and are dropped by Parquet anyway once the dictionary outgrows its page.
        repeating = [field.name for field in fields if not pa.types.is_floating(field.type) and field.name != ID_COLUMN]
        return pq.ParquetWriter(self.path, pa.schema(fields, metadata=metadata), use_dictionary=repeating)

    def close(self) -> Path:
        """Finish the file (an empty table still gets a file) and return its path."""
        if self.parquet is not None:
            self.parquet.close()
        elif not self.started:
            self.path.touch()
        return self.path


def daily_batch_input(settings: Settings, batch_date: str) -> str:
    """Return where a day's batch of players is read from (``batches/date=D/players.csv``)."""
    return f"s3://{settings.s3_bucket}/{settings.s3_prefix}/batches/date={batch_date}/players.csv"


def daily_batch_locations(settings: Settings, batch_date: str, run_id: str | None = None) -> tuple[str, BatchOutputs]:
    """Where the day's batch is read from and where one run's outputs go (date-partitioned, a folder per run).

    Args:
        settings: Bucket and title prefix.
        batch_date: The day, ``YYYY-MM-DD``.
        run_id: The run (see :mod:`machine_learning.inference.daily`); a new one when omitted.

    Returns:
        The default input URI and the run's output URIs.

    """
    from machine_learning.inference.daily import new_run_id, run_folders

    base = f"s3://{settings.s3_bucket}"
    folders = run_folders(settings, batch_date, run_id or new_run_id())
    return daily_batch_input(settings, batch_date), BatchOutputs(
        predictions=f"{base}/{folders['predictions']}predictions.parquet",
        quarantine=f"{base}/{folders['predictions']}quarantine.parquet",
        current=f"{base}/{folders['current']}current.parquet",
    )


def run_daily_batch(
    settings: Settings, batch_date: date | datetime | str | None = None, input_uri: str | None = None
) -> dict[str, Any]:
    """Score one day's batch with the production model: the whole batch_inference pipeline as one call.

    The day's outputs are published together or not at all: they are written under the run's own folder and
    become the day's outputs only when the day's manifest is replaced, last (:mod:`machine_learning.inference.daily`).
    Composed of its steps (each one Mage block): :func:`locate_daily_batch`, :func:`score_daily_batch` and
    :func:`score_daily_shadow`.

    Args:
        settings: Everything about where things live.
        batch_date: The day (a date, a datetime such as Mage's ``execution_date``, or ``YYYY-MM-DD``); today
            when omitted.
        input_uri: Overrides the day's default input location.

    Returns:
        The batch result as a dict.

    """
    from machine_learning.services import connect

    day = as_day(batch_date)
    services = connect(settings)
    located = locate_daily_batch(services, settings, day, input_uri)
    return score_daily_shadow(services, settings, located, score_daily_batch(services, settings, located))


def locate_daily_batch(
    services: Any, settings: Settings, batch_date: date | datetime | str | None = None, input_uri: str | None = None
) -> dict[str, Any]:
    """Step 1: the day's input, this run's output folder, and the production version that will score it.

    Args:
        services: The MLflow client (resolves the ``production`` alias).
        settings: Bucket, title prefix and model name.
        batch_date: The day (a date, a datetime or ``YYYY-MM-DD``); today when omitted.
        input_uri: Overrides the day's default input location.

    Returns:
        ``batch_date``, ``run_id``, ``input_uri``, ``outputs`` (URIs by table) and ``model_version``.

    Raises:
        NotFoundError: Nothing is in production yet.

    """
    from machine_learning.inference.daily import new_run_id
    from machine_learning.inference.model import resolve_version

    day = as_day(batch_date)
    run_id = new_run_id()
    default_input, outputs = daily_batch_locations(settings, day, run_id)
    version = resolve_version(services.mlflow, settings)
    source = input_uri or default_input
    print(f"{day}: {source} will be scored by {settings.model_name} v{version}")
    return {
        "batch_date": day,
        "run_id": run_id,
        "input_uri": source,
        "outputs": asdict(outputs),
        "model_version": version,
    }


def score_daily_batch(services: Any, settings: Settings, located: dict[str, Any]) -> dict[str, Any]:
    """Step 2: validate and score the day's batch with the located version; publish its outputs together.

    Args:
        services: The S3 store.
        settings: Engine, chunk size, quarantine limit and model cache.
        located: The output of :func:`locate_daily_batch`.

    Returns:
        ``batch_date``, ``run_id`` and the :class:`BatchResult` as a dict (its outputs with the day's manifest).

    """
    from machine_learning.inference.daily import publish_day
    from machine_learning.inference.model import load_production_model
    from machine_learning.scale.engine import score_with_engine

    day, run_id, outputs = located["batch_date"], located["run_id"], BatchOutputs(**located["outputs"])
    model = load_production_model(services.mlflow, settings, located["model_version"])
    result = score_with_engine(settings, located["input_uri"], outputs, model, services.store)
    facts = {"model_version": model.version, "predictor": result.predictor, "scored_rows": result.scored_rows}
    result.outputs["day_manifest"] = publish_day(services.store, settings, day, run_id, result.outputs, facts)
    print(
        f"{day}: scored {result.scored_rows} of {result.input_rows} players with {model.name} v{model.version} "
        f"({result.predictor} predictor, {result.quarantined_rows} quarantined) -> {result.outputs['predictions']}"
    )
    return {"batch_date": day, "run_id": run_id, **result.to_dict()}


def score_daily_shadow(
    services: Any, settings: Settings, located: dict[str, Any], scored: dict[str, Any]
) -> dict[str, Any]:
    """Step 3: score the same batch with a waiting candidate, in shadow (never served).

    Args:
        services: The S3 store and MLflow client.
        settings: Model name, cache and bucket.
        located: The output of :func:`locate_daily_batch`.
        scored: The output of :func:`score_daily_batch`.

    Returns:
        The day's result: ``scored`` with ``shadow`` (the shadow run, or ``None`` without a separate candidate).

    """
    from machine_learning.inference.shadow import score_shadow_candidate

    day = located["batch_date"]
    shadow = score_shadow_candidate(services, settings, day, located["input_uri"], scored["model_version"])
    return {**scored, "shadow": shadow}


def as_day(value: date | datetime | str | None, name: str = "batch_date") -> str:
    """Normalise a day given as a date, a datetime (Mage's ``execution_date``) or text to ``YYYY-MM-DD``.

    ``name`` is what the caller calls the value, for the error message.
    """
    if value is None:
        return datetime.now(UTC).date().isoformat()
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    try:
        return datetime.fromisoformat(str(value)).date().isoformat()
    except ValueError:
        raise InvalidInputError(f"{name} must be a date like 2026-11-23, got {value!r}") from None
