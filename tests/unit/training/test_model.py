import pickle

import numpy as np
import pytest
from unit_helpers import synthetic_players

from machine_learning.data.schema import FEATURE_COLUMNS, LABEL_COLUMN, LABELS
from machine_learning.training.model import add_engineered_features, build_pipeline

FAST = {"classifier__max_iter": 40}


@pytest.fixture(scope="module")
def players():
    return synthetic_players(300, seed=1)


@pytest.fixture(scope="module")
def fitted(players):
    return build_pipeline(random_state=0, params=FAST).fit(players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN])


def test_engineered_feature_is_weekly_play_minutes_and_input_is_untouched(players):
    features = players[list(FEATURE_COLUMNS)].head(5)
    before = features.copy()
    out = add_engineered_features(features)
    expected = features["SessionsPerWeek"] * features["AvgSessionDurationMinutes"]
    np.testing.assert_allclose(out["WeeklyPlayMinutes"], expected)
    assert list(features.columns) == list(before.columns)


def test_every_row_gets_one_of_the_labels(fitted, players):
    predictions = fitted.predict(players[list(FEATURE_COLUMNS)])
    assert len(predictions) == len(players)
    assert set(predictions) <= set(LABELS)


def test_model_learns_a_label_that_follows_weekly_play(fitted):
    holdout = synthetic_players(150, seed=2)
    accuracy = (fitted.predict(holdout[list(FEATURE_COLUMNS)]) == holdout[LABEL_COLUMN]).mean()
    assert accuracy > 0.8  # chance is 1/3


def test_probabilities_cover_all_labels_and_sum_to_one(fitted, players):
    probabilities = fitted.predict_proba(players[list(FEATURE_COLUMNS)].head(10))
    assert set(fitted.classes_) == set(LABELS)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("column", "value"),
    [("Gender", "Nonbinary"), ("Location", "Antarctica"), ("GameGenre", "Puzzle"), ("GameDifficulty", "")],
)
def test_unseen_category_at_predict_time_still_predicts(fitted, players, column, value):
    batch = players[list(FEATURE_COLUMNS)].head(5).assign(**{column: value})
    assert set(fitted.predict(batch)) <= set(LABELS)


def test_missing_numeric_value_still_predicts(fitted, players):
    batch = players[list(FEATURE_COLUMNS)].head(3).astype({"Age": float})
    batch.loc[batch.index[0], "Age"] = np.nan
    assert len(fitted.predict(batch)) == 3


def test_column_order_and_extra_columns_do_not_change_predictions(fitted, players):
    batch = players.head(20)
    expected = fitted.predict(batch[list(FEATURE_COLUMNS)])
    reordered = batch[[*reversed(FEATURE_COLUMNS), "PlayerID"]]
    np.testing.assert_array_equal(fitted.predict(reordered), expected)


def test_params_override_in_set_params_form():
    pipeline = build_pipeline(random_state=3, params={"classifier__max_iter": 7, "classifier__learning_rate": 0.3})
    params = pipeline.get_params()
    assert params["classifier__max_iter"] == 7
    assert params["classifier__learning_rate"] == 0.3
    assert params["classifier__random_state"] == 3


def test_no_params_keep_the_defaults():
    assert (
        build_pipeline(random_state=0).get_params()["classifier__max_iter"]
        == build_pipeline(0, {}).get_params()["classifier__max_iter"]
    )


def test_unknown_param_is_rejected():
    with pytest.raises(ValueError, match="no_such_param"):
        build_pipeline(random_state=0, params={"classifier__no_such_param": 1})


def test_same_seed_same_data_gives_the_same_model(players):
    x, y = players[list(FEATURE_COLUMNS)].head(100), players[LABEL_COLUMN].head(100)
    first = build_pipeline(5, FAST).fit(x, y).predict_proba(x)
    second = build_pipeline(5, FAST).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(first, second)


def test_pickle_round_trip_gives_the_same_predictions(fitted, players):
    x = players[list(FEATURE_COLUMNS)]
    restored = pickle.loads(pickle.dumps(fitted))  # noqa: S301 - our own object
    np.testing.assert_array_equal(restored.predict(x), fitted.predict(x))
