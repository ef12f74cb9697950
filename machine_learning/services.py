"""Wiring: build the external services (S3 store, MLflow client) from settings, in one place."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore, make_store, parse_s3_uri, read_source_bytes


@dataclass(frozen=True)
class Services:
    """The services every step uses, created once and passed in."""

    store: ObjectStore
    mlflow: Any


def connect(settings: Settings) -> Services:
    """Create the S3 store and the MLflow client for these settings (no network call is made here)."""
    from machine_learning.health import limit_mlflow_retries

    limit_mlflow_retries(settings)
    return Services(store=make_store(settings), mlflow=MlflowClient(tracking_uri=settings.mlflow_tracking_uri))


def upload_batch(source: str, store: ObjectStore, settings: Settings, batch_date: str) -> str:
    """Copy a local scoring batch to the day's batch location that batch_inference reads by default.

    Args:
        source: Local CSV (optionally gzip-compressed; it is stored uncompressed).
        store: Destination store.
        settings: Bucket and title prefix.
        batch_date: The day, ``YYYY-MM-DD``.

    Returns:
        The S3 URI written.

    """
    from machine_learning.inference.batch import daily_batch_input

    uri = daily_batch_input(settings, batch_date)
    data = read_source_bytes(source, None)
    if data.startswith(b"\x1f\x8b"):
        data = gzip.decompress(data)
    return store.write_bytes(parse_s3_uri(uri)[1], data, content_type="text/csv")


def upload_raw(source: str, store: ObjectStore, settings: Settings) -> str:
    """Copy a local raw file into the title's ``raw/`` folder in S3; S3 URIs are returned unchanged.

    Args:
        source: Local path or ``s3://`` URI.
        store: Destination store.
        settings: Title prefix.

    Returns:
        The S3 URI the pipelines read from.

    """
    if source.startswith("s3://"):
        return source
    name = Path(source).name
    key = f"{settings.s3_prefix}/raw/{name}"
    return store.write_bytes(key, read_source_bytes(source, None), content_type="text/csv")
