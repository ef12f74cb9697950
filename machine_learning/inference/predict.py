"""Turning valid player rows into predictions: label, one probability per class, model version, time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABELS
from machine_learning.inference.model import LoadedModel

PREDICTION_COLUMN = "predicted_engagement"


def probability_column(label: str) -> str:
    """Name of the probability column of one class."""
    return f"probability_{label}"


def predict_players(model: LoadedModel, players: pd.DataFrame, scored_at: datetime | None = None) -> pd.DataFrame:
    """Score valid, typed player rows (as produced by validation), one output row per input row, in order.

    Args:
        model: The model to use.
        players: Valid rows with ``PlayerID`` and the feature columns.
        scored_at: Timestamp recorded on every row (default: now, UTC).

    Returns:
        ``PlayerID``, ``predicted_engagement``, ``probability_<label>`` for High/Medium/Low, model name and
        version, and ``scored_at``.

    """
    # The compiled predictor skips the pipeline's pandas steps (about 2 s per million rows) and limits OpenMP to
    # one thread (oversubscribed threads are far slower on a busy machine); its output equals predict_proba.
    # Categorical columns (validated Arrow text) are handed over as they are: the predictor maps their codes.
    columns = {name: _values(players[name]) for name in FEATURE_COLUMNS}
    probabilities = model.predictor.predict_proba(columns) if len(players) else None
    classes = model.predictor.classes
    out = pd.DataFrame({ID_COLUMN: players[ID_COLUMN].to_numpy()})
    if probabilities is None:
        probabilities = np.empty((0, len(classes)))
    # Text even without rows: a batch whose first chunk is all invalid must not give the file a number column.
    out[PREDICTION_COLUMN] = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
    for label in LABELS:
        out[probability_column(label)] = probabilities[:, classes.index(label)].astype("float64")
    out["model_name"] = model.name
    out["model_version"] = model.version
    out["scored_at"] = pd.Timestamp(scored_at or datetime.now(UTC))
    return out


def _values(column: pd.Series) -> Any:
    return column.array if isinstance(column.dtype, pd.CategoricalDtype) else column.to_numpy()
