import typing

import pytest
from pydantic import ValidationError
from serving_helpers import json_players

from machine_learning.data.schema import CATEGORY_COLUMNS, FEATURE_COLUMNS, ID_COLUMN, NUMERIC_COLUMNS
from machine_learning.serving.schemas import MAX_PLAYERS, Player, PredictRequest


def test_fields_are_the_raw_schema_columns():
    assert list(Player.model_fields) == [ID_COLUMN, *FEATURE_COLUMNS]


@pytest.mark.parametrize("spec", CATEGORY_COLUMNS, ids=lambda spec: spec.name)
def test_category_literals_equal_the_schema_categories(spec):
    assert set(typing.get_args(Player.model_fields[spec.name].annotation)) == set(spec.allowed)


@pytest.mark.parametrize("spec", NUMERIC_COLUMNS, ids=lambda spec: spec.name)
def test_numeric_ranges_and_integer_types_equal_the_schema(spec):
    field = Player.model_fields[spec.name]
    bounds = {type(item).__name__: item for item in field.metadata}
    assert (bounds["Ge"].ge, bounds["Le"].le) == (spec.low, spec.high)
    assert field.annotation is (int if spec.integer else float)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Age", 25.5),
        ("Age", "25"),
        ("Age", True),
        ("PlayTimeHours", float("nan")),
        ("PlayTimeHours", float("inf")),
        ("PlayTimeHours", -1.0),
        ("SessionsPerWeek", 201),
        ("Gender", "male"),
    ],
)
def test_invalid_values_are_refused(field, value):
    player = {**json_players(1)[0], field: value}
    with pytest.raises(ValidationError) as error:
        Player.model_validate(player)
    assert error.value.errors()[0]["loc"] == (field,)


def test_an_integer_is_accepted_for_a_fractional_field():
    assert Player.model_validate({**json_players(1)[0], "PlayTimeHours": 3}).PlayTimeHours == 3.0


@pytest.mark.parametrize("count", [0, MAX_PLAYERS + 1])
def test_requests_hold_one_to_ten_thousand_players(count):
    player = json_players(1)[0]
    with pytest.raises(ValidationError):
        PredictRequest.model_validate({"players": [player] * count})
