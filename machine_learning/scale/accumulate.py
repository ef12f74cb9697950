"""Reading labelled days for retraining through the scoring engine: one Dask task per day.

Each task runs :func:`machine_learning.data.accumulate.load_labelled_batches` for its one day on a worker (which
reads that day's batch and labels from S3 itself), and the days are concatenated in day order, so the result is
the same table the local engine builds by reading the days one after the other in this process.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore


def read_labelled_batches(store: ObjectStore, settings: Settings, days: list[str]) -> pd.DataFrame:
    """Join each day's raw batch with its labels, on the engine of ``SCORING_ENGINE``.

    Args:
        store: Where batches and labels live (the local engine reads through it; workers make their own client
            for the same bucket).
        settings: Engine and cluster, title prefix.
        days: Days with published labels, oldest first.

    Returns:
        Raw text rows in the labelled schema, days in the given order (as ``load_labelled_batches``).

    """
    from machine_learning.data.accumulate import load_labelled_batches

    if settings.scoring_engine == "local" or len(days) < 2:
        return load_labelled_batches(store, settings, days)
    from machine_learning.scale.cluster import dask_client

    worker_settings = dataclasses.replace(settings, serving_token="", mage_password="")
    with dask_client(settings) as client:
        futures = client.map(_read_day, days, settings=worker_settings, pure=False)
        frames = client.gather(futures)
    return pd.concat(frames, ignore_index=True)


def _read_day(day: str, settings: Settings) -> pd.DataFrame:
    from machine_learning.data.accumulate import load_labelled_batches
    from machine_learning.scale.work import worker_store

    return load_labelled_batches(worker_store(settings), settings, [day])
