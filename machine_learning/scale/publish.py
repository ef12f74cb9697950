"""Publishing a partitioned run as a whole: parts staged per run, merged in input order, manifest written last.

Tasks write their parts under ``<output folder>/_staging-<run id>/``. The driver appends them, in partition
order and while later partitions are still being scored, to local files of the same single-file format the local
engine writes. Only when every partition has been scored and the batch passed the quarantine limit is each file
published atomically (a rename, or one multipart upload), then the manifest
``<predictions>.manifest.json`` is written. The previous manifest is removed before anything is published, so a
reader that follows the manifest never sees a mixture of two runs, and a run that fails leaves the previous
outputs (or none) and no new manifest. The staging folder is deleted in every case.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    """Appends staged parts to one local file per table, in partition order, while later partitions still run.

    Parts may arrive in any order; each is appended once all the parts before it have been. The first part's
    schema is the file's, as the local engine's first chunk fixes its file's schema.
    """

    def __init__(self, tables: dict[str, str], folder: Path, store: ObjectStore | None) -> None:
        self.files = {name: folder / f"{name}{suffix}" for name, suffix in tables.items()}
        self.store = store
        self.waiting: dict[int, dict[str, str]] = {}
        self.next_index = 0
        self.writers: dict[str, pq.ParquetWriter] = {}

    def add(self, index: int, parts: dict[str, str]) -> None:
        """Take one partition's parts; append every part that is now next in order."""
        self.waiting[index] = parts
        while self.next_index in self.waiting:
            for name, part in self.waiting.pop(self.next_index).items():
                self._append(name, part)
            self.next_index += 1

    def _append(self, name: str, part: str) -> None:
        target = self.files[name]
        with open_binary(part, self.store) as handle:
            if target.suffix == ".csv":
                with open(target, "ab") as out:
                    if self.next_index:
                        handle.readline()  # each part has the header; the merged file has it once
                    shutil.copyfileobj(handle, out, 16 << 20)
                return
            table = pq.read_table(handle)
        if name not in self.writers:
            self.writers[name] = pq.ParquetWriter(target, table.schema)
        self.writers[name].write_table(table.cast(self.writers[name].schema))

    def close(self) -> dict[str, Path]:
        """Finish the files and return them (table name -> local file)."""
        for writer in self.writers.values():
            writer.close()
        for path in self.files.values():
            path.touch()
        return self.files


def publish_tables(files: dict[str, Path], targets: dict[str, str], store: ObjectStore | None) -> dict[str, str]:
    """Publish each merged table to its target (atomic rename, or one multipart upload).

    Args:
        files: Table name -> merged local file.
        targets: Table name -> output location.
        store: S3 access.

    Returns:
        Table name -> where it was published.

    """
    return {name: publish_file(files[name], target, store) for name, target in targets.items()}


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
