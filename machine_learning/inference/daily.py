"""A day's batch outputs, published whole: the run's objects first, the day's manifest last; readers follow it.

Each batch_inference run writes its predictions, quarantine and monitoring "current" data under a folder of its
own (``predictions/date=D/run=<run id>/``, ``monitoring/current/date=D/run=<run id>/``), then replaces the day's
manifest ``predictions/date=D/manifest.json`` in one PUT: the commit point, as ``latest.json`` is for processed
data. A run that fails before the manifest changes nothing a reader sees; its objects are removed by a later run
that publishes, once they are older than ``RUN_IN_FLIGHT_SECONDS``: until then the run may still be going (two
runs of one day at once), and removing its objects would leave its manifest, written later, pointing at nothing.
The objects of the run before are kept one generation, so a reader that read the previous manifest a moment ago can
still read what it points at. Days scored before manifests existed are read at the old fixed keys.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from machine_learning.errors import InvalidInputError, NotFoundError
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore, parse_s3_uri

DAY_TABLES = ("predictions", "quarantine", "current")
# A run whose newest object is younger than this may still be writing parts and publish after us: leave it alone.
RUN_IN_FLIGHT_SECONDS = 3600.0
_LEGACY = {
    "predictions": "predictions/date={day}/predictions.parquet",
    "quarantine": "predictions/date={day}/quarantine.parquet",
    "current": "monitoring/current/date={day}/current.parquet",
}


def new_run_id() -> str:
    """Return a sortable, unique id for one batch run (UTC time, then random)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def day_manifest_key(settings: Settings, day: str) -> str:
    """Key of the manifest of a day's published batch outputs."""
    return f"{settings.s3_prefix}/predictions/date={day}/manifest.json"


def run_folders(settings: Settings, day: str, run_id: str) -> dict[str, str]:
    """Key prefixes of one run's objects: predictions and quarantine, and monitoring data."""
    return {name: f"{prefix}{run_id}/" for name, prefix in _run_prefixes(settings, day).items()}


def _run_prefixes(settings: Settings, day: str) -> dict[str, str]:
    return {
        "predictions": f"{settings.s3_prefix}/predictions/date={day}/run=",
        "current": f"{settings.s3_prefix}/monitoring/current/date={day}/run=",
    }


def read_day_manifest(store: ObjectStore, settings: Settings, day: str) -> dict[str, Any] | None:
    """Read a day's manifest (``None`` when the day has none).

    Raises:
        InvalidInputError: The manifest exists but is not readable JSON (named in the message).

    """
    key = day_manifest_key(settings, day)
    try:
        data = store.read_bytes(key)
    except NotFoundError:
        return None
    try:
        payload = json.loads(data)
    except ValueError:
        raise InvalidInputError(f"{store.uri(key)} is damaged (not JSON): rerun batch_inference for {day}") from None
    return payload if isinstance(payload, dict) else None


def day_table_key(store: ObjectStore, settings: Settings, day: str, table: str) -> str | None:
    """Return the key of one of a day's published tables, following the manifest.

    Args:
        store: The title's bucket.
        settings: Title prefix.
        day: ``YYYY-MM-DD``.
        table: ``predictions``, ``quarantine`` or ``current``.

    Returns:
        The key, or ``None`` when the published run did not write that table. A day without a manifest gives the
        old fixed key (which may not exist).

    """
    manifest = read_day_manifest(store, settings, day)
    if manifest is None:
        return f"{settings.s3_prefix}/{_LEGACY[table].format(day=day)}"
    uri = manifest.get("outputs", {}).get(table)
    return parse_s3_uri(uri)[1] if uri else None


def publish_day(
    store: ObjectStore, settings: Settings, day: str, run_id: str, outputs: dict[str, str], facts: dict[str, Any]
) -> str:
    """Make a run's outputs the day's published ones (the manifest, in one PUT), then tidy older runs.

    Args:
        store: The title's bucket.
        settings: Title prefix.
        day: ``YYYY-MM-DD``.
        run_id: The run whose objects are published.
        outputs: Table name -> ``s3://`` URI of the run's objects.
        facts: More to record (model, counts, predictor).

    Returns:
        The manifest's URI.

    """
    try:
        previous = read_day_manifest(store, settings, day)
    except InvalidInputError:
        previous = None  # a damaged manifest is replaced
    manifest = {
        "day": day,
        "run_id": run_id,
        "outputs": {name: outputs[name] for name in DAY_TABLES if name in outputs},
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **facts,
    }
    uri = store.write_json(day_manifest_key(settings, day), manifest)
    keep = {run_id, *([str(previous["run_id"])] if previous and previous.get("run_id") else [])}
    remove_unpublished(store, settings, day, keep)
    return uri


def remove_unpublished(
    store: ObjectStore,
    settings: Settings,
    day: str,
    keep: set[str],
    in_flight_seconds: float = RUN_IN_FLIGHT_SECONDS,
) -> int:
    """Delete a day's run objects of runs not in ``keep`` (failed runs, and runs two generations old).

    Args:
        store: The title's bucket.
        settings: Title prefix.
        day: ``YYYY-MM-DD``.
        keep: Run ids whose objects stay.
        in_flight_seconds: A run with an object written more recently than this may still be going; it stays too.

    Returns:
        How many objects were deleted.

    """
    by_run: dict[str, list[tuple[str, datetime]]] = {}
    for prefix in _run_prefixes(settings, day).values():
        for key, modified in store.list_objects(prefix):
            by_run.setdefault(key[len(prefix) :].split("/", 1)[0], []).append((key, modified))
    settled = datetime.now(UTC) - timedelta(seconds=in_flight_seconds)
    doomed = [
        key
        for run, objects in by_run.items()
        if run not in keep and max(modified for _, modified in objects) < settled
        for key, _ in objects
    ]
    legacy = [f"{settings.s3_prefix}/{pattern.format(day=day)}" for pattern in _LEGACY.values()]
    doomed += [key for key in legacy if store.exists(key)]  # superseded by the manifest
    for start in range(0, len(doomed), 1000):
        batch = [{"Key": key} for key in doomed[start : start + 1000]]
        store.client.delete_objects(Bucket=store.bucket, Delete={"Objects": batch, "Quiet": True})
    return len(doomed)
