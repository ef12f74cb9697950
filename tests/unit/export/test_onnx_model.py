"""The ONNX export: the whole pipeline, identical to predict_proba, refused (and never written) when it differs."""

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import numpy_helper
from unit_helpers import synthetic_players

from machine_learning.data.schema import FEATURE_COLUMNS, LABEL_COLUMN
from machine_learning.export import convert
from machine_learning.export.onnx_model import (
    ExportRejectedError,
    export_model,
    judge_export,
    onnx_feeds,
    open_session,
    probe_rows,
    score_onnx,
    verify_export,
)
from machine_learning.training.model import build_pipeline


def fitted(seed: int, rows: int = 600):
    players = synthetic_players(rows, seed=seed)
    pipeline = build_pipeline(random_state=0, params={"classifier__max_iter": 10})
    return pipeline.fit(players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN]), players


@pytest.fixture(scope="module")
def model():
    return fitted(seed=3)


def test_the_export_scores_like_predict_proba_engineered_features_and_unseen_categories_included(model, tmp_path):
    pipeline, players = model
    export = export_model(pipeline, "m", "4", tmp_path)
    assert export.verification.passed and export.verification.max_abs_diff <= 1e-5
    assert export.etag == '"4"' and (tmp_path / "onnx" / "model.onnx").read_bytes() == export.content
    rows = {name: players[name].tolist() for name in FEATURE_COLUMNS}
    rows["Location"][0] = "Mars"  # a category the encoder never saw
    expected = pipeline.predict_proba(pd.DataFrame(rows))
    assert np.abs(score_onnx(open_session(export.content), rows) - expected).max() <= 1e-5
    labels = open_session(export.content).run(["label"], onnx_feeds(rows))[0]
    assert list(labels) == list(pipeline.predict(pd.DataFrame(rows)))


def test_a_cached_export_is_verified_again_and_reused(model, tmp_path):
    pipeline, _ = model
    first = export_model(pipeline, "m", "4", tmp_path)
    again = export_model(pipeline, "m", "4", tmp_path, convert=lambda *_: pytest.fail("converted again"))
    assert again.content == first.content and again.verification.passed


def shifted_baseline(pipeline, metadata):
    """A converter whose model differs: the first class's baseline score moved by 0.5."""
    model = onnx.load_from_string(convert.convert_pipeline(pipeline, metadata))
    baseline = next(tensor for tensor in model.graph.initializer if tensor.name.startswith("baseline"))
    values = numpy_helper.to_array(baseline).copy()
    values[0, 0] += 0.5
    baseline.CopyFrom(numpy_helper.from_array(values, baseline.name))
    return model.SerializeToString()


def test_an_export_that_differs_is_refused_and_nothing_is_written(model, tmp_path):
    with pytest.raises(ExportRejectedError, match="differ from predict_proba"):
        export_model(model[0], "m", "4", tmp_path, convert=shifted_baseline)
    assert not (tmp_path / "onnx").exists()


def test_a_model_of_another_pipeline_fails_verification_with_the_reason(model):
    pipeline, players = model
    other, _ = fitted(seed=11)
    rows = {name: players[name].tolist() for name in FEATURE_COLUMNS}
    verdict = verify_export(convert.convert_pipeline(other), pipeline, rows)
    assert not verdict.passed and "differ" in verdict.reason and verdict.max_abs_diff > 1e-5


def test_an_unrunnable_model_is_refused_with_the_reason(model):
    verdict = verify_export(b"not an onnx model", model[0], probe_rows(8))
    assert not verdict.passed and "onnxruntime cannot run it" in verdict.reason


@pytest.mark.parametrize(
    ("got", "passed"),
    [
        (np.array([[0.5, 0.5]]), True),
        (np.array([[0.5 + 2e-5, 0.5]]), False),
        (np.array([[np.nan, 0.5]]), False),
        (np.array([[0.5, 0.5, 0.0]]), False),
    ],
)
def test_judge_export_accepts_only_close_finite_probabilities_of_the_right_shape(got, passed):
    verdict = judge_export(got, np.array([[0.5, 0.5]]))
    assert verdict.passed is passed and verdict.reason
