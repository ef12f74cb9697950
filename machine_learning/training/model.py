"""The model: one scikit-learn Pipeline holding feature engineering, preprocessing and the classifier.

Everything a prediction needs lives inside the Pipeline, so batch scoring and serving reuse it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

from machine_learning.data.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES

ENGINEERED_FEATURES: tuple[str, ...] = ("WeeklyPlayMinutes",)


def add_engineered_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Add derived features; engagement is about how much a player plays per week.

    Args:
        frame: Raw feature columns.

    Returns:
        A copy with the engineered columns added.
    """
    out = frame.copy()
    out["WeeklyPlayMinutes"] = frame["SessionsPerWeek"].astype(float) * frame["AvgSessionDurationMinutes"]
    return out


def build_pipeline(random_state: int, params: Mapping[str, Any] | None = None) -> Pipeline:
    """Build the untrained model pipeline.

    Args:
        random_state: Seed of the classifier.
        params: Optional overrides in ``set_params`` form, e.g. ``{"classifier__max_iter": 50}``.

    Returns:
        An unfitted Pipeline taking the raw feature columns and predicting the engagement label.
    """
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan, dtype=np.float64
    )
    preprocess = ColumnTransformer(
        [
            ("numeric", "passthrough", [*NUMERIC_FEATURES, *ENGINEERED_FEATURES]),
            ("categorical", encoder, list(CATEGORICAL_FEATURES)),
        ],
        verbose_feature_names_out=False,
    )
    n_numeric = len(NUMERIC_FEATURES) + len(ENGINEERED_FEATURES)
    categorical_mask = [False] * n_numeric + [True] * len(CATEGORICAL_FEATURES)
    classifier = HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=200,
        max_leaf_nodes=31,
        categorical_features=categorical_mask,
        early_stopping=False,
        random_state=random_state,
    )
    pipeline = Pipeline(
        [
            ("features", FunctionTransformer(add_engineered_features, validate=False)),
            ("preprocess", preprocess),
            ("classifier", classifier),
        ]
    )
    if params:
        pipeline.set_params(**dict(params))
    return pipeline
