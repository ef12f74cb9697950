"""The model: one scikit-learn Pipeline holding feature engineering, preprocessing and the classifier.

Everything a prediction needs lives inside the Pipeline, so batch scoring and serving reuse it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

from machine_learning.data.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES

ENGINEERED_FEATURES: tuple[str, ...] = ("WeeklyPlayMinutes", "LevelTimesAchievements", "EngagementScore")
# Weight of PlayerLevel x AchievementsUnlocked in the engagement score: grid-searched on training rows of the
# seed-42 split. The labels follow this score closely (thresholds near 344 and 1437 separate Low/Medium/High).
LEVEL_ACHIEVEMENT_WEIGHT = 0.06


def add_engineered_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Add derived features: how much a player plays per week, and how far they have progressed.

    Args:
        frame: Raw feature columns.

    Returns:
        A copy with the engineered columns added.

    """
    out = frame.copy()
    out["WeeklyPlayMinutes"] = frame["SessionsPerWeek"].astype(float) * frame["AvgSessionDurationMinutes"]
    out["LevelTimesAchievements"] = frame["PlayerLevel"].astype(float) * frame["AchievementsUnlocked"]
    out["EngagementScore"] = out["WeeklyPlayMinutes"] + LEVEL_ACHIEVEMENT_WEIGHT * out["LevelTimesAchievements"]
    return out


def build_pipeline(random_state: int, params: Mapping[str, Any] | None = None) -> Pipeline:
    """Build the untrained model pipeline.

    Args:
        random_state: Seed of the classifier.
        params: Optional overrides in ``set_params`` form, e.g. ``{"classifier__max_iter": 100}``.

    Returns:
        An unfitted Pipeline taking the raw feature columns (any order, extra columns ignored) and predicting
        High / Medium / Low. Unknown or missing categories are treated as missing, never an error.

    """
    preprocess = ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1),
                list(CATEGORICAL_FEATURES),
            ),
            ("numeric", "passthrough", [*NUMERIC_FEATURES, *ENGINEERED_FEATURES]),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    # 15 rounds at a large step match 50 rounds at 0.1 on held-out data (the engineered score does the work) and
    # predict 2.8x faster: prediction cost grows with the number of trees (3 per round, one per class).
    classifier = HistGradientBoostingClassifier(
        learning_rate=0.3,
        max_iter=15,
        max_leaf_nodes=8,
        early_stopping=False,  # a fixed number of trees keeps training deterministic
        categorical_features=list(range(len(CATEGORICAL_FEATURES))),  # negative codes count as missing
        random_state=random_state,
    )
    pipeline = Pipeline(
        [
            ("features", FunctionTransformer(add_engineered_features)),
            ("preprocess", preprocess),
            ("classifier", classifier),
        ]
    )
    if params:
        pipeline.set_params(**dict(params))
    return pipeline
