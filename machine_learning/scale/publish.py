"""Publishing a partitioned run as a whole: parts staged per run, moved into place, manifest written last.

Tasks write their parts under ``<output folder>/_staging-<run id>/<table>/part-<index>``, each worker straight to
the storage. Nothing travels back through the driver but counts and schemas:

- A Parquet output (``predictions.parquet``) is published as a folder of those parts, ``part-000000.parquet``
  onwards, which Parquet readers (pandas, pyarrow, Spark, DuckDB, :meth:`ObjectStore.read_parquet`) read as one
  table in name order, which is input order. A part whose schema differs from the first part's (a partition
  whose first chunk had no quarantined rows, say) is rewritten cast to it, as the local engine casts every chunk
  to its first chunk's schema, so the table read back is the local engine's.
- A CSV output stays one file: the driver appends the parts' bytes in partition order while later partitions
  are still being scored (a copy, nothing is parsed).

Only when every partition has been scored and the batch passed the quarantine limit is anything published (a
folder rename on one file system, server-side copies on S3), then the manifest ``<predictions>.manifest.json``
is written, last. The previous manifest is removed before anything is published, so a reader that follows the
manifest never sees a mixture of two runs, and a run that fails leaves the previous outputs (or none) and no new
manifest. The staging folder is deleted in every case.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from machine_learning.inference.batch import BatchOutputs, BatchResult, publish_file
from machine_learning.scale.work import open_binary
from machine_learning.storage import ObjectStore, parse_s3_uri


def staging_location(outputs: BatchOutputs, run_id: str) -> str:
    """Return the folder (or S3 prefix) of a run's parts, beside the predictions."""
    folder = outputs.predictions.rsplit("/", 1)[0] if "/" in outputs.predictions else "."
    return f"{folder}/_staging-{run_id}"


def manifest_location(outputs: BatchOutputs) -> str:
    """Return where the manifest goes: ``out/predictions.parquet`` -> ``out/predictions.manifest.json``."""
    stem, dot, suffix = outputs.predictions.rpartition(".")
    return f"{stem}.manifest.json" if dot and "/" not in suffix else f"{outputs.predictions}.manifest.json"


class PartMerger:
    """Appends staged CSV parts to one local file per table, in partition order, while later partitions still run.

    Parts may arrive in any order; each is appended once all the parts before it have been. Each part has the
    header; the merged file has it once.
    """

    def __init__(self, tables: dict[str, str], folder: Path, store: ObjectStore | None) -> None:
        self.files = {name: folder / f"{name}{suffix}" for name, suffix in tables.items()}
        self.store = store
        self.waiting: dict[int, dict[str, str]] = {}
        self.next_index = 0

    def add(self, index: int, parts: dict[str, str]) -> None:
        """Take one partition's parts; append every part that is now next in order."""
        self.waiting[index] = parts
        while self.next_index in self.waiting:
            for name, part in self.waiting.pop(self.next_index).items():
                self._append(name, part)
            self.next_index += 1

    def _append(self, name: str, part: str) -> None:
        with open_binary(part, self.store) as handle, open(self.files[name], "ab") as out:
            if self.next_index:
                handle.readline()
            shutil.copyfileobj(handle, out, 16 << 20)

    def close(self) -> dict[str, Path]:
        """Finish the files and return them (table name -> local file)."""
        for path in self.files.values():
            path.touch()
        return self.files


def conform_parts(parts: list[str], schemas: list[pa.Schema], store: ObjectStore | None) -> int:
    """Rewrite, cast to the first part's schema, every Parquet part whose schema differs from it.

    Args:
        parts: One table's staged parts, in partition order.
        schemas: Their schemas, as the workers wrote them.
        store: S3 access.

    Returns:
        How many parts were rewritten (usually none).

    """
    rewritten = 0
    for part, schema in zip(parts[1:], schemas[1:], strict=True):
        if schema.equals(schemas[0], check_metadata=False):
            continue
        with open_binary(part, store) as handle:
            table = pq.read_table(handle).cast(schemas[0].remove_metadata())
        with tempfile.TemporaryDirectory(prefix="dask-conform-") as folder:
            local = Path(folder) / "part.parquet"
            pq.write_table(table.replace_schema_metadata(schemas[0].metadata), local)
            publish_file(local, part, store)
        rewritten += 1
    return rewritten


def publish_parts(staged: str, target: str, store: ObjectStore | None) -> str:
    """Publish a folder of staged Parquet parts as ``target``, replacing what was there (file or folder).

    Locally the staged folder is renamed into place (it is beside the target, on the same file system); on S3 each
    part is copied server-side to ``<target>/`` (the bytes do not pass through this process).

    Args:
        staged: The table's staging folder or prefix.
        target: The output location (``.../predictions.parquet``).
        store: S3 access.

    Returns:
        Where it was published.

    """
    if not target.startswith("s3://"):
        _move_folder(Path(staged), Path(target))
        return target
    if store is None:
        raise ValueError("an S3 output needs an S3 client")
    bucket, key = parse_s3_uri(target)
    store.client.delete_object(Bucket=bucket, Key=key)  # the previous run's single file, if any
    remove_location(f"{target.rstrip('/')}/", store)  # or its parts
    source_bucket, source_prefix = parse_s3_uri(staged.rstrip("/") + "/")
    for part in ObjectStore(store.client, source_bucket).list_keys(source_prefix):
        store.client.copy(
            {"Bucket": source_bucket, "Key": part}, bucket, f"{key.rstrip('/')}/{part[len(source_prefix) :]}"
        )
    return target


def _move_folder(staged: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_location(str(target), None)
    try:
        staged.replace(target)  # beside the predictions: one rename
    except OSError:  # another file system: copy beside the target, then rename, so no half folder is visible
        partial = target.with_name(f".{target.name}.partial")
        try:
            shutil.copytree(staged, partial)
            partial.replace(target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)


def remove_location(location: str, store: ObjectStore | None) -> None:
    """Delete a file, a folder or everything under an S3 key or prefix; missing ones are fine."""
    if location.startswith("s3://"):
        if store is None:
            return
        bucket, key = parse_s3_uri(location)
        keys = ObjectStore(store.client, bucket).list_keys(key)
        for start in range(0, len(keys), 1000):
            objects = [{"Key": one} for one in keys[start : start + 1000]]
            store.client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
        return
    path = Path(location)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_manifest(
    outputs: BatchOutputs, result: BatchResult, engine: str, store: ObjectStore | None, extra: dict[str, Any]
) -> str:
    """Write the run's manifest (the last write of a run): what was published, by which engine and model.

    Args:
        outputs: The run's outputs (the manifest goes beside the predictions).
        result: The published result.
        engine: ``local`` or ``dask``.
        store: S3 access.
        extra: More facts to record (partitions, workers).

    Returns:
        The manifest's location.

    """
    location = manifest_location(outputs)
    payload = {
        "engine": engine,
        "model_name": result.model_name,
        "model_version": result.model_version,
        "input_rows": result.input_rows,
        "scored_rows": result.scored_rows,
        "quarantined_rows": result.quarantined_rows,
        "quarantine_reasons": result.quarantine_reasons,
        "outputs": dict(result.outputs),
        "published_at": datetime.now(UTC).isoformat(),
        **extra,
    }
    data = json.dumps(payload, indent=2, sort_keys=True).encode()
    if location.startswith("s3://"):
        if store is None:
            raise ValueError("an S3 output needs an S3 client")
        bucket, key = parse_s3_uri(location)
        store.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
        return location
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.partial")
    try:
        staged.write_bytes(data)
        staged.replace(path)
    finally:
        staged.unlink(missing_ok=True)  # a full disk leaves nothing half-written behind
    return str(path)
