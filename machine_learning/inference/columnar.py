"""Batch outputs built as Arrow tables straight from the validated columns and the predictor's probabilities.

The same columns, types and values as :func:`machine_learning.inference.predict.predict_players` and the batch's
monitoring "current" rows, without a pandas frame in between: labels are taken from the classes by index,
categories from their codes, and the constant columns are repeated Arrow scalars.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN, LABELS
from machine_learning.inference.model import LoadedModel
from machine_learning.inference.predict import PREDICTION_COLUMN, probability_column

SCORED_AT_TYPE = pa.timestamp("us", tz="UTC")  # what pandas makes of a datetime (predict_players' column)


def score_columns(model: LoadedModel, columns: Mapping[str, Any], scored_at: datetime) -> pa.Table:
    """Score valid, typed columns (as validation gives them) into the prediction table, one row per player.

    Args:
        model: The model to use.
        columns: ``PlayerID`` and the feature columns, equal lengths (category columns as ``Categorical``).
        scored_at: Timestamp recorded on every row (timezone-aware).

    Returns:
        ``PlayerID``, ``predicted_engagement``, ``probability_<label>`` for High/Medium/Low, model name and
        version, and ``scored_at``: the columns and types of ``predict_players``.

    """
    ids = np.asarray(columns[ID_COLUMN], dtype="int64")
    classes = model.predictor.classes
    if len(ids):
        probabilities = model.predictor.predict_proba({name: columns[name] for name in FEATURE_COLUMNS})
    else:
        probabilities = np.empty((0, len(classes)))
    predicted = pa.array(classes, type=pa.string()).take(pa.array(probabilities.argmax(axis=1)))
    arrays = {
        ID_COLUMN: pa.array(ids),
        PREDICTION_COLUMN: predicted,
        **{
            probability_column(label): pa.array(np.asarray(probabilities[:, classes.index(label)], dtype="float64"))
            for label in LABELS
        },
        "model_name": pa.repeat(pa.scalar(model.name, pa.string()), len(ids)),
        "model_version": pa.repeat(pa.scalar(model.version, pa.string()), len(ids)),
        "scored_at": pa.repeat(pa.scalar(scored_at, SCORED_AT_TYPE), len(ids)),
    }
    return pa.table(arrays)


def current_table(columns: Mapping[str, Any], predicted: pa.Array | pa.ChunkedArray, name: str) -> pa.Table:
    """Build the monitoring "current" rows: what the model saw and said, categories as their text.

    Args:
        columns: The validated columns (the label too, when the batch has it).
        predicted: The predicted label of each row.
        name: The prediction column's name (the reference data's).

    Returns:
        ``PlayerID``, the features, the label when present, and the prediction.

    """
    names = [ID_COLUMN, *FEATURE_COLUMNS, *([LABEL_COLUMN] if LABEL_COLUMN in columns else [])]
    arrays = {column: as_arrow(columns[column]) for column in names}
    return pa.table({**arrays, name: predicted})


def as_arrow(values: Any) -> pa.Array:
    """One validated column as Arrow: a ``Categorical`` as the text of its categories, numbers as they are."""
    if isinstance(values, pd.Categorical):
        categories = pa.array(np.asarray(values.categories, dtype=object), type=pa.string())
        return categories.take(pa.array(values.codes))
    if isinstance(values, np.ndarray) and values.dtype == object:
        return pa.array(values, type=pa.string())
    return pa.array(values)
