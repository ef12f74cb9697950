"""Held-out evaluation: metrics, confusion matrix and feature importance."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from machine_learning.data.schema import LABELS


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one model on one labelled dataset.

    Attributes:
        metrics: ``accuracy``, macro ``precision`` / ``recall`` / ``f1_macro`` and per class
            ``precision_<label>``, ``recall_<label>``, ``f1_<label>``.
        confusion: Confusion matrix with rows = true label, columns = predicted label, in ``LABELS`` order.

    """

    metrics: dict[str, float]
    confusion: list[list[int]]


def evaluate_predictions(y_true: pd.Series, y_pred: np.ndarray | pd.Series) -> Evaluation:
    """Compute classification metrics.

    Args:
        y_true: True labels.
        y_pred: Predicted labels.

    Returns:
        The metrics and confusion matrix.

    """
    labels = list(LABELS)
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    metrics = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)),
        "f1_macro": float(np.mean(f1)),
    }
    for index, label in enumerate(labels):
        metrics[f"precision_{label}"] = float(precision[index])
        metrics[f"recall_{label}"] = float(recall[index])
        metrics[f"f1_{label}"] = float(f1[index])
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return Evaluation(metrics=metrics, confusion=matrix.tolist())


def compute_feature_importance(
    model: Any, features: pd.DataFrame, labels: pd.Series, random_state: int, max_rows: int = 2000
) -> pd.Series:
    """Permutation importance of each raw input column (engineered features are counted in their inputs).

    Args:
        model: A fitted pipeline.
        features: Held-out features.
        labels: Held-out labels.
        random_state: Seed of the sample and the permutations.
        max_rows: Rows sampled to keep this quick.

    Returns:
        Mean accuracy drop per column, largest first.

    """
    sample = features.sample(n=min(max_rows, len(features)), random_state=random_state)
    result = permutation_importance(
        model, sample, labels.loc[sample.index], n_repeats=3, random_state=random_state, n_jobs=1
    )
    return pd.Series(result.importances_mean, index=features.columns).sort_values(ascending=False)


def plot_confusion_matrix(evaluation: Evaluation) -> bytes:
    """Render the confusion matrix as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 4.2))
    matrix = np.array(evaluation.confusion)
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(LABELS)), LABELS)
    axes.set_yticks(range(len(LABELS)), LABELS)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for (row, column), value in np.ndenumerate(matrix):
        color = "white" if value > matrix.max() / 2 else "black"
        axes.text(column, row, str(value), ha="center", va="center", color=color)
    axes.set_title(f"Held-out confusion matrix (accuracy {evaluation.metrics['accuracy']:.3f})")
    return _to_png(figure)


def plot_feature_importance(importance: pd.Series) -> bytes:
    """Render feature importances as a horizontal bar chart PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4.5))
    ordered = importance.sort_values()
    axes.barh(ordered.index, ordered.to_numpy(), color="#4c72b0")
    axes.set_xlabel("mean accuracy drop when shuffled")
    axes.set_title("Permutation feature importance (held-out)")
    return _to_png(figure)


def _to_png(figure: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
