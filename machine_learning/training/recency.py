"""Training data that follows the game: weights by age, and the recent rows held out for model selection.

Why weights, and these defaults. A game changes: a patch can halve session lengths while players stay as engaged as
before, so the same engagement now *looks* different (a concept change). The original processed data (tens of
thousands of rows) then describes a game that no longer exists, and a few thousand newly labelled rows cannot
outvote it: trained on both at equal weight, the retrained model learns almost nothing (measured on the shipped
data with ``session_length=0.5`` from day 4: 0.59 accuracy on the next week, production 0.58). Down-weighting the
original data to ``RETRAINING_BASE_WEIGHT`` = 0.05 per row lets four labelled drifted days of 2,000 players decide
where the two disagree (0.92 on the next week; 0.88 for ``sessions_per_week=0.5``), while the old rows still fill
in regions the new data has not covered. Without a change the weights cost nothing measurable (0.93 either way):
the labelled days say the same as the old data. Labelled days decay with a half-life of
``RETRAINING_HALF_LIFE_DAYS`` (14), so last month's labels count half as much as last week's and a second change
overrides the first; the newest day weighs 1.

Why hold out recent rows. Model selection must compare candidate and production on players that neither was
trained on and that describe the game as it is now; the original held-out rows describe the game before the change,
on which an adapted model must score worse. So training keeps ``TEST_SIZE`` of the rows of the newest
``RECENT_HOLDOUT_DAYS`` labelled days out of the fit (stratified by label), and selection scores both models on
them, restricted to days newer than production's own training data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from machine_learning.data.schema import LABEL_COLUMN

# Column carrying the day a row's label was published for (empty for the original processed data).
LABEL_DAY_COLUMN = "label_day"


def recency_weights(frame: pd.DataFrame, base_weight: float, half_life_days: float) -> np.ndarray:
    """Weight each training row by the age of its label day (pure).

    Args:
        frame: Training rows; ``label_day`` (``YYYY-MM-DD``, empty for rows without one) is optional.
        base_weight: Weight of rows without a label day.
        half_life_days: A labelled row's weight halves with every this many days of age, counted from the newest
            labelled day (which weighs 1).

    Returns:
        One positive weight per row; all ones when no row has a label day (nothing to prefer).

    """
    if LABEL_DAY_COLUMN not in frame.columns:
        return np.ones(len(frame))
    days = pd.to_datetime(frame[LABEL_DAY_COLUMN].replace("", None), errors="coerce")
    if days.isna().all():
        return np.ones(len(frame))
    age = (days.max() - days).dt.days.to_numpy(dtype="float64")
    weights = np.power(0.5, age / half_life_days)
    weights[np.isnan(age)] = base_weight
    return weights


def split_recent_holdout(
    frame: pd.DataFrame, recent_days: int, share: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a label-stratified share of the rows of the newest labelled days (pure).

    Args:
        frame: Training rows, optionally with a ``label_day`` column.
        recent_days: How many of the newest labelled days the held-out rows come from.
        share: Share of those days' rows held out.
        seed: Random seed of the draw, the split seed of the run.

    Returns:
        The rows left for training, and the held-out recent rows (empty when no row has a label day).

    """
    if LABEL_DAY_COLUMN not in frame.columns:
        return frame, frame.iloc[0:0]
    labelled = frame[LABEL_DAY_COLUMN].replace("", None).dropna()
    newest = sorted(labelled.unique())[-recent_days:]
    pool = frame[frame[LABEL_DAY_COLUMN].isin(newest)]
    if pool.empty:
        return frame, frame.iloc[0:0]
    held = pool.groupby(LABEL_COLUMN, group_keys=False).sample(frac=share, random_state=seed)
    return frame.drop(index=held.index), held


def newest_label_day(frame: pd.DataFrame) -> str | None:
    """Return the newest label day among the rows (what a model was trained until), or ``None`` if none."""
    if LABEL_DAY_COLUMN not in frame.columns:
        return None
    days = frame[LABEL_DAY_COLUMN].replace("", None).dropna()
    return str(days.max()) if len(days) else None


def weighted_reference(frame: pd.DataFrame, weights: np.ndarray, seed: int) -> pd.DataFrame:
    """Resample the training table in proportion to its weights, as the drift tests' reference data.

    Evidently 0.4's tests take no sample weights. A reference made of every row at equal weight would describe the
    old game after an adaptation, and every night would report drift against data the model no longer follows.

    Args:
        frame: Train and test rows with their predictions.
        weights: One weight per row.
        seed: Random seed of the draw.

    Returns:
        The frame itself when all weights are equal, else as many rows drawn with replacement by weight.

    """
    if len(frame) == 0 or np.allclose(weights, weights[0]):
        return frame
    return frame.sample(n=len(frame), replace=True, weights=weights, random_state=seed).reset_index(drop=True)
