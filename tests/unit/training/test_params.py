"""Training parameters a run may set: an allowed list, JSON types and bounded ranges, checked before any work."""

from __future__ import annotations

import pytest

from machine_learning.errors import InvalidInputError
from machine_learning.training.model import build_pipeline
from machine_learning.training.params import allowed_param_names, parse_training_params


@pytest.mark.parametrize("params", [None, "", {}, "{}"])
def test_no_params_means_the_defaults(params):
    assert parse_training_params(params) == {}


def test_allowed_params_reach_the_pipeline():
    params = parse_training_params('{"classifier__max_iter": 30, "classifier__learning_rate": 0.2}')
    assert build_pipeline(0, params).get_params()["classifier__max_iter"] == 30


def test_every_allowed_name_is_a_parameter_of_the_pipeline():
    assert set(allowed_param_names()) <= set(build_pipeline(0).get_params())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("{not json", "params is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"max_iter": 10}, "'max_iter' cannot be set by a run; allowed: classifier__learning_rate"),
        ({"classifier__random_state": 3}, "cannot be set by a run"),
        ({"features__func": "os.system"}, "cannot be set by a run"),
        ({"classifier__max_iter": "10"}, 'classifier__max_iter must be an integer, got "10"'),
        ({"classifier__max_iter": True}, "classifier__max_iter must be an integer"),
        ({"classifier__max_iter": 10.5}, "classifier__max_iter must be an integer"),
        ({"classifier__max_iter": 10**12}, "at most 2000"),
        ({"classifier__max_iter": 10**400}, "at most 2000"),
        ('{"classifier__max_iter": 1' + "0" * 5000 + "}", "params is not usable JSON"),
        ({"classifier__max_iter": 0}, "classifier__max_iter"),
        ({"classifier__max_iter": -5}, "classifier__max_iter"),
        ({"classifier__learning_rate": float("nan")}, "finite number"),
        ({"classifier__learning_rate": float("inf")}, "finite number"),
        ({"classifier__learning_rate": 0}, "classifier__learning_rate"),
        ({"classifier__max_bins": 1000}, "at most 255"),
        ({"classifier__early_stopping": "sometimes"}, "classifier__early_stopping"),
    ],
)
def test_bad_params_are_refused_with_one_line_naming_the_parameter(params, message):
    with pytest.raises(InvalidInputError) as refused:
        parse_training_params(params)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
