import numpy as np
import pandas as pd
import pytest
from unit_helpers import synthetic_players

from machine_learning.data.schema import FEATURE_COLUMNS, LABEL_COLUMN
from machine_learning.inference.fast_model import CompiledPredictor, compile_predictor, probe_columns
from machine_learning.training.model import build_pipeline


@pytest.fixture(scope="module")
def pipeline():
    players = synthetic_players(600, seed=3)
    return build_pipeline(0).fit(players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN])


def test_big_batches_score_bit_for_bit_like_the_pipeline(pipeline):
    columns = {
        name: np.asarray(values, dtype=object if isinstance(values[0], str) else None)
        for name, values in probe_columns(70_000, seed=5).items()
    }  # several table blocks
    columns["Location"][::7] = "Mars"  # unknown categories are treated as missing, as the pipeline does

    predictor = compile_predictor(pipeline)
    expected = pipeline.predict_proba(pd.DataFrame(columns)[list(FEATURE_COLUMNS)])

    assert isinstance(predictor, CompiledPredictor)
    assert np.array_equal(predictor.predict_proba(columns), expected)


def test_missing_numbers_in_a_big_batch_still_score_like_the_pipeline(pipeline):
    columns = {name: list(values) for name, values in probe_columns(300, seed=6).items()}
    columns["PlayTimeHours"][3] = np.nan
    expected = pipeline.predict_proba(pd.DataFrame(columns)[list(FEATURE_COLUMNS)])
    np.testing.assert_allclose(compile_predictor(pipeline).predict_proba(columns), expected, rtol=1e-9, atol=1e-12)
