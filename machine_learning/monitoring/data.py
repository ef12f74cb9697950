"""Where monitoring data lives, and loading it: the production model's reference data, the scored days, labels.

Layout under ``<bucket>/<game_title>/``:
- ``monitoring/current/date=D/run=<id>/current.parquet``: what batch inference scored on day D (features +
  prediction), of the run that the day's manifest ``predictions/date=D/manifest.json`` names.
- ``labels/date=D/labels.parquet``: ground truth for day D's players (PlayerID, EngagementLevel), published
  once the week is over.
- ``monitoring/decisions/date=D/decision.json`` and ``monitoring/state.json``: the nightly retraining decisions.
- ``reports/date=D/<report>.html``: HTML copies of the daily Evidently reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN
from machine_learning.errors import NotFoundError
from machine_learning.registry import PRODUCTION, get_alias_version
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore, parse_s3_uri
from machine_learning.training.train import PREDICTION_COLUMN

# Columns compared between reference and current data: the model's inputs and its prediction.
MONITORED_COLUMNS: tuple[str, ...] = (*FEATURE_COLUMNS, PREDICTION_COLUMN)


@dataclass(frozen=True)
class ReferenceData:
    """The data the production model was trained and tested on, with its own predictions."""

    model_version: str
    uri: str
    frame: pd.DataFrame


def current_key(store: ObjectStore, settings: Settings, day: str) -> str | None:
    """Key of the monitoring "current" data of a day's published batch run (follows the day's manifest)."""
    from machine_learning.inference.daily import day_table_key

    return day_table_key(store, settings, day, "current")


def labels_key(settings: Settings, day: str) -> str:
    """Key of the ground-truth labels of a day's players."""
    return f"{settings.s3_prefix}/labels/date={day}/labels.parquet"


def report_key(settings: Settings, day: str, name: str) -> str:
    """Key of the HTML copy of one daily report."""
    return f"{settings.s3_prefix}/reports/date={day}/{name}.html"


def window_days(day: str, days: int) -> list[str]:
    """Return the ``days`` days ending with ``day`` (inclusive), oldest first, as ``YYYY-MM-DD``."""
    end = date.fromisoformat(day)
    return [(end - timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]


def load_reference_data(client: object, store: ObjectStore, settings: Settings) -> ReferenceData:
    """Read the reference data of the model in production (saved by its training run).

    Args:
        client: An ``MlflowClient``.
        store: Where the reference data lives.
        settings: Names the registered model.

    Returns:
        The production version and its reference table (features, label, prediction, split).

    Raises:
        NotFoundError: Nothing is in production, or its reference data is missing.

    """
    production = get_alias_version(client, settings, PRODUCTION)
    if production is None:
        raise NotFoundError(f"no model in production for '{settings.game_title}': run training and model_selection")
    uri = production.tags.get("reference_uri", "")
    if not uri:
        raise NotFoundError(f"{settings.model_name} v{production.version} has no reference_uri tag")
    frame = store.read_parquet(parse_s3_uri(uri)[1])
    return ReferenceData(production.version, uri, frame)


def summarise_loaded_data(day: str, reference: ReferenceData, current: pd.DataFrame) -> dict[str, Any]:
    """Describe what a pipeline step loaded, small enough to hand to the next step (the tables stay in S3).

    Returns:
        ``day``, ``model_version``, ``reference_uri``, ``reference_rows``, ``current_rows`` and the scored
        ``current_days``.

    """
    return {
        "day": day,
        "model_version": reference.model_version,
        "reference_uri": reference.uri,
        "reference_rows": len(reference.frame),
        "current_rows": len(current),
        "current_days": sorted(set(current["date"].astype(str))),
    }


def load_current_data(store: ObjectStore, settings: Settings, day: str, days: int = 1) -> pd.DataFrame:
    """Read the scored batches of the window ending on ``day``; days without a batch are skipped.

    Args:
        store: Where batch inference wrote its monitoring data.
        settings: Title prefix.
        day: The last day of the window, ``YYYY-MM-DD``.
        days: Window length in days.

    Returns:
        The rows of every scored day in the window, with a ``date`` column.

    Raises:
        NotFoundError: No day in the window was scored.

    """
    frames = _read_days(store, [(one, current_key(store, settings, one)) for one in window_days(day, days)])
    if not frames:
        raise NotFoundError(
            f"no scored batch for {settings.game_title} in the {days} day(s) up to {day}: run batch_inference first"
        )
    return pd.concat(frames, ignore_index=True)


def load_labels(store: ObjectStore, settings: Settings, days: list[str]) -> pd.DataFrame:
    """Read the published labels of the given days (days without labels yet are skipped).

    Args:
        store: Where labels are published.
        settings: Title prefix.
        days: Days as ``YYYY-MM-DD``.

    Returns:
        PlayerID, EngagementLevel and ``date`` for every labelled player (possibly no rows).

    """
    read = _read_days(store, [(one, labels_key(settings, one)) for one in days])
    frames = [frame[[ID_COLUMN, LABEL_COLUMN, "date"]] for frame in read]
    if not frames:
        return pd.DataFrame({ID_COLUMN: pd.Series(dtype="int64"), LABEL_COLUMN: [], "date": []})
    return pd.concat(frames, ignore_index=True)


def _read_days(store: ObjectStore, keys: list[tuple[str, str | None]]) -> list[pd.DataFrame]:
    """Read one Parquet object per day, with a ``date`` column; days whose object does not exist are skipped."""
    frames = []
    for day, key in keys:
        if key is None:
            continue
        try:
            frames.append(store.read_parquet(key).assign(date=day))
        except NotFoundError:  # one request per day: no separate existence check
            continue
    return frames
