"""Partitioned batch scoring: plan the input, score the partitions (on Dask or in this process), publish whole.

Hand-written on purpose, over ``distributed``'s futures rather than ``dask.dataframe``: the partitions must be
exactly the local engine's chunks (so validation gives the same answer), parts must be staged under fixed names
(so a retried task replaces its part), and nothing may be published before the quarantine limit is checked over
the whole batch. ``dask.dataframe`` decides partitions and writes by itself.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from machine_learning.data.validate import enforce_quarantine_share
from machine_learning.errors import InvalidInputError, MLOpsError, NotFoundError
from machine_learning.inference.batch import BatchOutputs, BatchResult, publish_file
from machine_learning.scale.partitions import (
    WHOLE_FILE,
    Partition,
    SplitMismatchError,
    list_input_files,
    plan_csv,
    plan_parquet,
)
from machine_learning.scale.publish import (
    PartMerger,
    conform_parts,
    publish_parts,
    remove_location,
    staging_location,
)
from machine_learning.scale.work import PartitionResult, ScoringJob, open_binary, score_partition, table_staging
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore, parse_s3_uri

Runner = Callable[[Sequence[Partition], ScoringJob], Iterator[PartitionResult]]


class ScaleError(MLOpsError):
    """A partitioned run failed on the cluster (a worker lost too often, the cluster gone); nothing was published."""


def is_partitioned_input(source: str) -> bool:
    """Tell whether the input is a folder or an ``s3://`` prefix ending with ``/`` (its files are one batch)."""
    return source.endswith("/") or (not source.startswith("s3://") and Path(source).is_dir())


def plan_input(
    source: str, store: ObjectStore | None, chunk_rows: int, whole: frozenset[str] = frozenset()
) -> list[Partition]:
    """Plan the partitions of a file, a folder or an S3 prefix (reads Parquet footers, scans CSV line ends).

    Args:
        source: Local path or ``s3://`` URI of a file, folder or prefix.
        store: S3 access.
        chunk_rows: The local engine's chunk size.
        whole: Files to keep as one partition each (CSV files whose lines turned out not to be rows).

    Returns:
        The partitions in input order.

    Raises:
        NotFoundError: The input does not exist or holds no input file.

    """
    partitions: list[Partition] = []
    for file in input_files(source, store):
        if file in whole:
            partitions.append(Partition(len(partitions), file, WHOLE_FILE))
            continue
        with open_binary(file, store) as handle:
            magic = handle.read(4)
            handle.seek(0)
            if magic == b"PAR1":
                meta = pq.ParquetFile(handle).metadata
                groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
                partitions += plan_parquet(file, groups, chunk_rows, len(partitions))
            else:
                partitions += plan_csv(file, handle, chunk_rows, len(partitions))
    return partitions


def input_files(source: str, store: ObjectStore | None) -> list[str]:
    """List the files of an input: the file itself, or the input files under a folder or prefix."""
    if not source.startswith("s3://"):
        path = Path(source)
        if path.is_dir():
            return list_input_files(source, [str(p) for p in path.rglob("*") if p.is_file()])
        if not path.is_file():
            raise NotFoundError(f"input file {source} does not exist")
        return [source]
    if store is None:
        raise InvalidInputError("an S3 input needs an S3 client")
    bucket, key = parse_s3_uri(source)
    if not source.endswith("/"):
        if not ObjectStore(store.client, bucket).exists(key):
            raise NotFoundError(f"{source} does not exist")
        return [source]
    keys = ObjectStore(store.client, bucket).list_keys(key)
    return list_input_files(source, [f"s3://{bucket}/{one}" for one in keys])


def score_partitioned(
    settings: Settings,
    source: str,
    outputs: BatchOutputs,
    model_version: str,
    store: ObjectStore | None,
    run: Runner,
    chunk_rows: int,
) -> tuple[BatchResult, int]:
    """Score an input partition by partition with ``run`` and publish the outputs whole.

    Args:
        settings: Model name, cache and S3 settings for the workers; ``MAX_QUARANTINE_SHARE``.
        source: File, folder or prefix (local or ``s3://``).
        outputs: Where the tables go.
        model_version: The registered version every worker loads from its cache.
        store: S3 access.
        run: Scores partitions and yields their results (on Dask, or in this process).
        chunk_rows: The local engine's chunk size.

    Returns:
        The result (as the local engine's) and the number of partitions.

    Raises:
        InvalidInputError: Unreadable input, missing columns, no rows, or too many invalid rows.
        ScaleError: The cluster failed the run; nothing was published.

    """
    whole: frozenset[str] = frozenset()
    while True:
        started = time.perf_counter()
        partitions = plan_input(source, store, chunk_rows, whole)
        planned = time.perf_counter() - started
        try:
            result = _score_once(settings, source, outputs, model_version, store, run, chunk_rows, partitions)
        except SplitMismatchError as error:
            whole |= {str(error)}  # its lines are not its rows: score that file as one partition
            continue
        result.timings = {"plan": round(planned, 3), **result.timings}
        return result, len(partitions)


def _score_once(
    settings: Settings,
    source: str,
    outputs: BatchOutputs,
    model_version: str,
    store: ObjectStore | None,
    run: Runner,
    chunk_rows: int,
    partitions: list[Partition],
) -> BatchResult:
    targets = {
        n: t
        for n, t in (
            ("predictions", outputs.predictions),
            ("quarantine", outputs.quarantine),
            ("current", outputs.current),
        )
        if t
    }
    staging = staging_location(outputs, uuid.uuid4().hex[:12])
    tables = tuple((name, ".csv" if target.endswith(".csv") else ".parquet") for name, target in targets.items())
    scored_at = pd.Timestamp.now(tz="UTC").to_pydatetime()
    worker_settings = dataclasses.replace(settings, serving_token="", mage_password="")
    job = ScoringJob(worker_settings, model_version, staging, tables, scored_at, chunk_rows)
    result = BatchResult(settings.model_name, model_version)
    reasons: Counter[str] = Counter()
    timings: defaultdict[str, float] = defaultdict(float)
    csv_tables = {name: suffix for name, suffix in tables if suffix == ".csv"}
    parquet_parts: dict[str, dict[int, tuple[str, pa.Schema]]] = {name: {} for name, s in tables if s == ".parquet"}
    try:
        with tempfile.TemporaryDirectory(prefix="dask-merge-") as folder:
            merger = PartMerger(csv_tables, Path(folder), store)
            for part in run(partitions, job):
                result.input_rows += part.input_rows
                result.scored_rows += part.scored_rows
                result.quarantined_rows += part.quarantined_rows
                reasons.update(part.reasons)
                for phase, seconds in part.timings.items():
                    timings[phase] += seconds
                for name, parts in parquet_parts.items():
                    parts[part.index] = (part.parts[name], part.schemas[name])
                started = time.perf_counter()
                merger.add(part.index, {name: part.parts[name] for name in csv_tables})
                timings["merge"] += time.perf_counter() - started
            files = merger.close()
            if result.input_rows == 0:
                raise InvalidInputError(f"{source} has a header but no rows")
            result.quarantine_reasons = dict(reasons.most_common())
            enforce_quarantine_share(
                result.quarantined_rows,
                result.input_rows,
                result.quarantine_reasons,
                settings.max_quarantine_share,
                source,
                "; nothing was written",
            )
            started = time.perf_counter()
            for name, parts in parquet_parts.items():
                ordered = [parts[index] for index in sorted(parts)]
                conform_parts([p for p, _ in ordered], [s for _, s in ordered], store)
                result.outputs[name] = publish_parts(table_staging(staging, name), targets[name], store)
            for name, local in files.items():
                result.outputs[name] = publish_file(local, targets[name], store)
            timings["publish"] += time.perf_counter() - started
        result.timings = {name: round(seconds, 3) for name, seconds in timings.items()}
    finally:
        remove_location(staging, store)
    return result


def run_in_process(partitions: Sequence[Partition], job: ScoringJob) -> Iterator[PartitionResult]:
    """Score the partitions one after the other in this process (the local engine on a folder or prefix)."""
    for partition in partitions:
        yield score_partition(partition, job)


def dask_runner(client: Any, on_progress: Callable[[str], None] | None = None) -> Runner:
    """Return a runner that scores partitions as tasks on the client's cluster.

    A lost worker's tasks are re-run by Dask on the others (up to ``distributed.scheduler.allowed-failures``
    times per task); beyond that the run fails with :class:`ScaleError`. On any failure the remaining tasks are
    cancelled.
    """

    def run(partitions: Sequence[Partition], job: ScoringJob) -> Iterator[PartitionResult]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        keys = [f"score-{Path(job.staging).name}-{p.index}" for p in partitions]
        futures = client.map(score_partition, partitions, job=job, key=keys, retries=0)
        done = rows = 0
        try:
            for future in as_completed(futures):
                part = future.result()
                done, rows = done + 1, rows + part.input_rows
                if on_progress:
                    on_progress(f"{done} of {len(partitions)} partitions, {rows:,} rows scored")
                yield part
        except KilledWorker as error:
            raise ScaleError(
                f"the Dask run lost workers while scoring ({error}); Dask gave up after the allowed retries, "
                "nothing was published: check the workers' memory and logs, then run again"
            ) from None
        finally:
            client.cancel([future for future in futures if not future.done()])

    return run
