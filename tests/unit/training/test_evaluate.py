import numpy as np
import pandas as pd
import pytest
from unit_helpers import synthetic_players

from machine_learning.data.schema import FEATURE_COLUMNS, LABEL_COLUMN, LABELS
from machine_learning.training.evaluate import (
    Evaluation,
    compute_feature_importance,
    evaluate_predictions,
    plot_confusion_matrix,
    plot_feature_importance,
)
from machine_learning.training.model import build_pipeline

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("as_array", [False, True])
def test_perfect_predictions_score_one_everywhere(as_array):
    truth = pd.Series(["High", "Medium", "Low", "High", "Low"])
    predictions = truth.to_numpy() if as_array else truth.copy()
    evaluation = evaluate_predictions(truth, predictions)

    assert all(value == 1.0 for value in evaluation.metrics.values())
    assert evaluation.confusion == [[2, 0, 0], [0, 1, 0], [0, 0, 2]]


def test_metric_names_cover_macro_and_every_label():
    evaluation = evaluate_predictions(pd.Series(list(LABELS)), np.array(list(LABELS)))
    expected = {"accuracy", "precision", "recall", "f1_macro"}
    expected |= {f"{kind}_{label}" for kind in ("precision", "recall", "f1") for label in LABELS}
    assert set(evaluation.metrics) == expected
    assert all(isinstance(value, float) for value in evaluation.metrics.values())


def test_known_confusion_matrix_and_metrics():
    truth = pd.Series(["High", "High", "Medium", "Medium", "Low", "Low"])
    predictions = np.array(["High", "Medium", "Medium", "Medium", "Low", "High"])
    evaluation = evaluate_predictions(truth, predictions)

    # rows = true label, columns = predicted, in LABELS order (High, Medium, Low)
    assert evaluation.confusion == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    metrics = evaluation.metrics
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["recall_High"] == pytest.approx(0.5)
    assert metrics["precision_Medium"] == pytest.approx(2 / 3)
    assert metrics["recall_Medium"] == pytest.approx(1.0)
    assert metrics["precision_Low"] == pytest.approx(1.0)
    assert metrics["f1_Low"] == pytest.approx(2 / 3)
    assert metrics["f1_macro"] == pytest.approx(np.mean([metrics[f"f1_{label}"] for label in LABELS]))


def test_a_label_never_seen_scores_zero_not_an_error():
    truth = pd.Series(["High", "High", "Medium"])
    evaluation = evaluate_predictions(truth, np.array(["High", "Medium", "Medium"]))
    assert evaluation.metrics["precision_Low"] == 0.0
    assert evaluation.confusion[2] == [0, 0, 0]


@pytest.mark.parametrize(
    "confusion", [[[5, 1, 0], [0, 4, 2], [1, 0, 7]], [[0, 0, 0], [0, 0, 0], [0, 0, 0]]], ids=["usual", "all-zero"]
)
def test_confusion_matrix_plot_is_a_png(confusion):
    png = plot_confusion_matrix(Evaluation(metrics={"accuracy": 0.8}, confusion=confusion))
    assert png.startswith(PNG_MAGIC)


def test_feature_importance_plot_is_a_png():
    importance = pd.Series({"Age": 0.01, "SessionsPerWeek": 0.2, "Gender": -0.001})
    assert plot_feature_importance(importance).startswith(PNG_MAGIC)


def test_feature_importance_ranks_the_driving_columns_first():
    players = synthetic_players(200, seed=4)
    x, y = players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN]
    model = build_pipeline(0, {"classifier__max_iter": 15}).fit(x, y)
    importance = compute_feature_importance(model, x, y, random_state=0, max_rows=100)

    assert list(importance.index) != list(FEATURE_COLUMNS)
    assert set(importance.index) == set(FEATURE_COLUMNS)
    assert importance.is_monotonic_decreasing
    assert set(importance.index[:2]) == {"SessionsPerWeek", "AvgSessionDurationMinutes"}
