"""Accumulating labelled data for retraining.

The latest processed players plus every scored day whose labels have been published, published as a new processed
dataset (the same manifest data_preparation writes), so training and retraining read it like any other.
"""

from __future__ import annotations

import re

import pandas as pd

from machine_learning.data.ingest import parse_raw_players
from machine_learning.data.prepare import PreparedData, load_prepared_players, prepare_players
from machine_learning.data.schema import ID_COLUMN, LABEL_COLUMN, required_columns
from machine_learning.errors import NotFoundError
from machine_learning.inference.batch import daily_batch_input
from machine_learning.monitoring.data import load_labels
from machine_learning.scale.accumulate import read_labelled_batches
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore, parse_s3_uri
from machine_learning.training.recency import LABEL_DAY_COLUMN

_LABEL_DAY = re.compile(r"/labels/date=(\d{4}-\d{2}-\d{2})/labels\.parquet$")


def labelled_days(store: ObjectStore, settings: Settings, until: str) -> list[str]:
    """Days up to ``until`` (inclusive) whose labels have been published, oldest first."""
    keys = store.list_keys(f"{settings.s3_prefix}/labels/")
    days = {match.group(1) for key in keys if (match := _LABEL_DAY.search(key))}
    return sorted(day for day in days if day <= until)


def load_labelled_batches(store: ObjectStore, settings: Settings, days: list[str]) -> pd.DataFrame:
    """Join each day's raw batch with its published labels (players without a label are left out).

    Args:
        store: Where batches and labels live.
        settings: Title prefix.
        days: Days with published labels.

    Returns:
        Raw text rows in the labelled schema (features and EngagementLevel), plus the ``label_day`` of each.

    """
    labels = load_labels(store, settings, days)
    frames = []
    for day in days:
        uri = daily_batch_input(settings, day)
        try:
            batch = parse_raw_players(store.read_bytes(parse_s3_uri(uri)[1]), uri, require_label=False)
        except NotFoundError:
            print(f"  {day}: labels published but no batch at {uri}; skipped")
            continue
        day_labels = labels.loc[labels["date"] == day, [ID_COLUMN, LABEL_COLUMN]]
        ids = pd.to_numeric(batch[ID_COLUMN], errors="coerce")
        joined = batch.drop(columns=[LABEL_COLUMN], errors="ignore").assign(_id=ids)
        joined = joined.merge(day_labels.rename(columns={ID_COLUMN: "_id"}), on="_id", how="inner")
        frames.append(joined.drop(columns="_id").assign(**{LABEL_DAY_COLUMN: day}))
    columns = [*required_columns(require_label=True), LABEL_DAY_COLUMN]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def accumulate_training_data(
    store: ObjectStore, settings: Settings, until: str, changed_since: str | None = None
) -> PreparedData:
    """Publish the latest processed players plus every labelled day up to ``until`` as the new training data.

    Rows already in the processed data (same PlayerID) are replaced by the labelled batch's version, so running
    this twice does not count a day twice. Each labelled row's day is published beside the data, so training can
    weigh rows by age (``training/recency.py``).

    Args:
        store: Where everything lives.
        settings: Title prefix and the maximum share of invalid rows.
        until: The last day to include, ``YYYY-MM-DD``.
        changed_since: The first labelled day on which live quality dropped (from the nightly decision). Labelled
            days before it describe the game before the change: they are kept, but weigh like the original data
            (no label day), so the days since the change lead the retrained model.

    Returns:
        What was published (the manifest).

    Raises:
        NotFoundError: No processed data exists yet (run data_preparation first).
        InvalidInputError: Too many labelled rows fail validation.

    """
    base = load_prepared_players(store, settings)
    days = labelled_days(store, settings, until)
    labelled = read_labelled_batches(store, settings, days)  # scale: through SCORING_ENGINE
    columns = list(required_columns(require_label=True))
    combined = pd.concat([base[columns], labelled], ignore_index=True)
    ids = pd.to_numeric(combined[ID_COLUMN], errors="coerce")
    combined = combined[~ids.duplicated(keep="last") | ids.isna()].reset_index(drop=True)
    label_days = _label_days(combined, changed_since)
    source = (
        f"retraining up to {until}: processed data + labels of {len(days)} day(s)"
        + (f" ({days[0]}..{days[-1]})" if days else "")
        + (f"; led by the days since the change on {changed_since}" if changed_since else "")
    )
    prepared = prepare_players(combined[columns], store, settings, source, label_days)
    print(
        f"training data: {len(base)} processed + {len(labelled)} labelled rows from {len(days)} day(s) "
        f"-> {prepared.processed_rows} rows ({prepared.quarantined_rows} quarantined)"
    )
    return prepared


def _label_days(combined: pd.DataFrame, changed_since: str | None = None) -> pd.DataFrame:
    """``PlayerID`` (as validation types it) and ``label_day`` of the rows from labelled days (since the change)."""
    rows = combined[combined[LABEL_DAY_COLUMN].notna()]
    if changed_since:
        rows = rows[rows[LABEL_DAY_COLUMN].astype(str) >= changed_since]
    ids = pd.to_numeric(rows[ID_COLUMN], errors="coerce")
    known = ids.notna() & (ids % 1 == 0)
    return pd.DataFrame(
        {ID_COLUMN: ids[known].astype("int64").to_numpy(), LABEL_DAY_COLUMN: rows.loc[known, LABEL_DAY_COLUMN]}
    ).reset_index(drop=True)
