"""What one Dask task does: read a partition, validate and score it with the local engine's functions, stage it.

Each worker process loads the model once, from its local model cache (``MODEL_CACHE_DIR``; downloaded from MLflow
into it when missing), and keeps one S3 client. A task writes its part of each output table to the run's staging
location under a name fixed by the partition, so a task that Dask re-runs after losing a worker overwrites its
own part instead of adding one.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from machine_learning.inference.batch import (
    TableWriter,
    publish_file,
    read_tables,
    select_table_columns,
    validate_chunk,
    write_table_chunk,
)
from machine_learning.inference.columnar import score_columns
from machine_learning.inference.model import LoadedModel, load_model
from machine_learning.scale.partitions import CSV_BLOCK, PARQUET, Partition, check_partition_rows
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore, make_store, parse_s3_uri

# One model and one S3 client per worker process (a worker runs one task at a time: threads_per_worker=1).
_MODELS: dict[tuple[str, str, str], LoadedModel] = {}
_STORES: dict[tuple[str, str], ObjectStore] = {}


@dataclass(frozen=True)
class ScoringJob:
    """What every task of one run needs: settings (without secrets), model version, where parts go."""

    settings: Settings
    model_version: str
    staging: str
    tables: tuple[tuple[str, str], ...]
    scored_at: datetime
    chunk_rows: int


@dataclass
class PartitionResult:
    """Counts, reasons, timings, staged parts of one partition and the Arrow schema of each Parquet part."""

    index: int
    input_rows: int = 0
    scored_rows: int = 0
    quarantined_rows: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    timings: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    parts: dict[str, str] = field(default_factory=dict)
    schemas: dict[str, pa.Schema] = field(default_factory=dict)


def part_uri(staging: str, index: int, table: str, suffix: str) -> str:
    """Return where a partition's part of one table is staged: ``<staging>/<table>/part-<index>.<suffix>``.

    Zero-padded, so the parts' name order (the order Parquet readers read a folder in) is the input order.
    """
    return f"{table_staging(staging, table)}/part-{index:06d}{suffix}"


def table_staging(staging: str, table: str) -> str:
    """Return the folder (or S3 prefix) holding one table's staged parts."""
    return f"{staging.rstrip('/')}/{table}"


def score_partition(partition: Partition, job: ScoringJob) -> PartitionResult:
    """Validate and score one partition chunk by chunk, as the local engine does, and stage its parts.

    Args:
        partition: The rows to score.
        job: The run's settings, model version, staging location and tables.

    Returns:
        What the partition held and where its parts are.

    Raises:
        InvalidInputError: The rows are unreadable or lack columns (the local engine's messages).
        SplitMismatchError: A CSV block held another number of rows than planned.

    """
    model = worker_model(job.settings, job.model_version)
    store = worker_store(job.settings)
    result = PartitionResult(partition.index)
    local_staging = not job.staging.startswith("s3://")
    if local_staging:
        Path(job.staging).mkdir(parents=True, exist_ok=True)
    # Scratch beside the parts when they are local, so a finished part is renamed into place, not copied.
    with tempfile.TemporaryDirectory(prefix=".task-", dir=job.staging if local_staging else None) as folder:
        writers = {name: TableWriter(Path(folder) / f"{name}{suffix}") for name, suffix in job.tables}
        started = time.perf_counter()
        for chunk in read_partition(partition, store, job.chunk_rows, Path(folder)):
            result.timings["read"] += time.perf_counter() - started
            _score_chunk(chunk, model, job, writers, result)
            started = time.perf_counter()
        check_partition_rows(partition, result.input_rows)
        started = time.perf_counter()
        for name, suffix in job.tables:
            target = part_uri(job.staging, partition.index, name, suffix)
            written = writers[name].close()
            if suffix == ".parquet":
                result.schemas[name] = pq.read_schema(written)
            if local_staging:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                result.parts[name] = str(written.replace(target))  # a retried task replaces its own part
            else:
                result.parts[name] = publish_file(written, target, store)
        result.timings["stage"] += time.perf_counter() - started
    return result


def _score_chunk(
    chunk: pa.Table | pd.DataFrame,
    model: LoadedModel,
    job: ScoringJob,
    writers: dict[str, TableWriter],
    result: PartitionResult,
) -> None:
    started = time.perf_counter()
    validation = validate_chunk(chunk)
    result.timings["validate"] += time.perf_counter() - started
    started = time.perf_counter()
    predictions = score_columns(model, validation.columns, job.scored_at)
    result.timings["predict"] += time.perf_counter() - started
    started = time.perf_counter()
    write_table_chunk(writers, validation, predictions)
    result.timings["write"] += time.perf_counter() - started
    result.input_rows += len(chunk)
    result.scored_rows += validation.clean_rows
    result.quarantined_rows += len(validation.quarantine)
    result.reasons.update(validation.reasons)


def read_partition(partition: Partition, store: ObjectStore | None, chunk_rows: int, folder: Path) -> Any:
    """Yield the partition's rows as the local engine's chunks: Arrow tables, or frames of what Arrow cannot read.

    Args:
        partition: What to read.
        store: S3 access for ``s3://`` sources.
        chunk_rows: The local engine's chunk size (a whole-file partition is streamed in such chunks).
        folder: Scratch space for this task.

    Returns:
        An iterator of chunks.

    """
    if partition.kind == PARQUET:
        with open_binary(partition.source, store) as handle:
            table = pq.ParquetFile(handle).read_row_groups(list(partition.row_groups))
        table = select_table_columns(table.slice(partition.skip_rows, partition.rows), partition.source)
        return (table.slice(start, chunk_rows) for start in range(0, max(table.num_rows, 1), chunk_rows))
    if partition.kind == CSV_BLOCK:
        local = folder / ("block" + "".join(Path(partition.source).suffixes))
        local.write_bytes(partition.header + read_range(partition.source, store, partition.start, partition.end))
    elif partition.source.startswith("s3://"):
        local = folder / ("input" + "".join(Path(partition.source).suffixes))
        copy_to_local(partition.source, store, local)
    else:
        local = Path(partition.source)
    return read_tables(local, partition.source, chunk_rows)


def open_binary(source: str, store: ObjectStore | None) -> Any:
    """Open a local file or an S3 object for random-access binary reads (S3 through s3fs, ranged GETs)."""
    if not source.startswith("s3://"):
        return open(source, "rb")  # the caller closes it (with-block)
    import s3fs

    endpoint = store.client.meta.endpoint_url if store is not None else None
    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}).open(source, "rb")


def read_range(source: str, store: ObjectStore | None, start: int, end: int) -> bytes:
    """Read bytes ``[start, end)`` of a local file or an S3 object."""
    if end <= start:
        return b""
    if not source.startswith("s3://"):
        with open(source, "rb") as handle:
            handle.seek(start)
            return handle.read(end - start)
    if store is None:
        raise ValueError("an S3 input needs an S3 client")
    bucket, key = parse_s3_uri(source)
    body = store.client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")["Body"]
    data: bytes = body.read()
    return data


def copy_to_local(source: str, store: ObjectStore | None, local: Path) -> None:
    """Download a whole S3 object to ``local`` (streamed, never whole in memory)."""
    if store is None:
        raise ValueError("an S3 input needs an S3 client")
    bucket, key = parse_s3_uri(source)
    store.client.download_file(bucket, key, str(local))


def worker_model(settings: Settings, version: str) -> LoadedModel:
    """Return the worker's model of that version, loaded from the local cache the first time and kept."""
    key = (settings.model_cache_dir, settings.model_name, version)
    if key not in _MODELS:
        _MODELS[key] = load_model(settings, version)
    return _MODELS[key]


def worker_store(settings: Settings) -> ObjectStore:
    """Return the worker's S3 store (one client per process)."""
    key = (settings.s3_endpoint_url, settings.s3_bucket)
    if key not in _STORES:
        _STORES[key] = make_store(settings)
    return _STORES[key]
