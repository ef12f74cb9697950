import numpy as np
import pandas as pd
import pytest
from serving_helpers import tiny_model
from sklearn.tree import DecisionTreeClassifier

from machine_learning.data.schema import FEATURE_COLUMNS, LABEL_COLUMN
from machine_learning.data.validate import validate_players
from machine_learning.inference import fast_model
from machine_learning.inference.fast_model import (
    TREE_WALK_MAX_ROWS,
    CompiledPredictor,
    PipelinePredictor,
    compile_predictor,
    probe_columns,
)
from machine_learning.training.model import build_pipeline
from tests.conftest import sample_players


@pytest.fixture(scope="module")
def real_players(shipped_players: pd.DataFrame) -> pd.DataFrame:
    return validate_players(sample_players(shipped_players, 6000, seed=7)).clean


@pytest.fixture(scope="module")
def real_model(real_players: pd.DataFrame):
    train = real_players.iloc[:2000]
    return build_pipeline(random_state=0).fit(train[list(FEATURE_COLUMNS)], train[LABEL_COLUMN])


def columns_of(frame: pd.DataFrame) -> dict[str, list]:
    return {name: frame[name].tolist() for name in FEATURE_COLUMNS}


def test_compiled_probabilities_equal_the_pipeline_on_thousands_of_real_rows(real_model, real_players):
    predictor = compile_predictor(real_model)
    scored = real_players.iloc[2000:]  # 4,000 rows the model has not seen
    expected = real_model.predict_proba(scored[list(FEATURE_COLUMNS)])

    batch = predictor.predict_proba(columns_of(scored))  # big batch: the classifier's own code
    small = np.vstack(  # small batches: the numpy tree walk
        [
            predictor.predict_proba(columns_of(scored.iloc[start : start + TREE_WALK_MAX_ROWS]))
            for start in range(0, len(scored), TREE_WALK_MAX_ROWS)
        ]
    )

    assert isinstance(predictor, CompiledPredictor)
    assert predictor.classes == list(real_model.classes_)
    np.testing.assert_allclose(batch, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(small, expected, rtol=1e-9, atol=1e-12)
    assert (small.argmax(axis=1) == expected.argmax(axis=1)).all()


@pytest.mark.parametrize("rows", [1, 2, TREE_WALK_MAX_ROWS, TREE_WALK_MAX_ROWS + 1])
def test_every_row_gets_one_row_of_probabilities_summing_to_one(rows):
    model = tiny_model()
    columns = probe_columns(rows, seed=rows)
    probabilities = compile_predictor(model.pipeline).predict_proba(columns)
    expected = model.pipeline.predict_proba(pd.DataFrame(columns)[list(FEATURE_COLUMNS)])
    assert probabilities.shape == (rows, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-9, atol=1e-12)


def test_unknown_categories_score_like_the_pipeline_treats_them(real_model, real_players):
    rows = real_players.iloc[:200].copy()
    rows["GameGenre"] = ["Racing" if i % 2 else genre for i, genre in enumerate(rows["GameGenre"])]
    rows["Location"] = "Mars"
    expected = real_model.predict_proba(rows[list(FEATURE_COLUMNS)])
    predictor = compile_predictor(real_model)
    for chunk in (rows, rows.iloc[:5]):
        np.testing.assert_allclose(
            predictor.predict_proba(columns_of(chunk)), expected[: len(chunk)], rtol=1e-9, atol=1e-12
        )


def test_an_unexpected_pipeline_structure_falls_back_to_the_pipeline(real_players):
    train = real_players.iloc[:500]
    pipeline = build_pipeline(random_state=0)
    pipeline.steps[-1] = ("classifier", DecisionTreeClassifier(max_depth=4, random_state=0))
    pipeline.fit(train[list(FEATURE_COLUMNS)], train[LABEL_COLUMN])

    predictor = compile_predictor(pipeline)

    assert isinstance(predictor, PipelinePredictor)
    scored = real_players.iloc[500:520]
    expected = pipeline.predict_proba(scored[list(FEATURE_COLUMNS)])
    np.testing.assert_allclose(predictor.predict_proba(columns_of(scored)), expected)


def test_a_compiled_predictor_that_disagrees_with_the_pipeline_is_not_used(monkeypatch, real_model):
    # As if training's feature formula changed and the fast path was not updated: the probe check catches it.
    monkeypatch.setattr(fast_model, "LEVEL_ACHIEVEMENT_WEIGHT", 0.5)
    assert isinstance(compile_predictor(real_model), PipelinePredictor)
