"""The bulk (msgspec) request path against the reference pydantic path, on many good and bad bodies."""

import json
import random

import msgspec
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from serving_helpers import json_players, tiny_model

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABELS
from machine_learning.serving import bulk
from machine_learning.serving.bulk import InvalidRequestError, decode_request, duplicate_ids, encode_predictions
from machine_learning.serving.schemas import MAX_PLAYER_ID, MAX_PLAYERS, PredictRequest, PredictResponse

# Values that probe each rule: types, fractions, bounds, booleans, text numbers, categories' spelling, nulls.
ODD_VALUES = [
    None, True, False, 0, -1, 1, 4, 5, 120, 121, 200, 201, 1440, 1441, 100_000, 100_001, 2**62, 2**62 + 1, 2**64,
    -(2**63), 0.0, -0.0, 0.5, 25.0, 25.5, 168.0, 168.0000001, -1e-300, 1e308, 1e400, "25", "", "Male", "male",
    "Female ", "Asia", "RPG", "rpg", "Easy", [], {}, [1], {"a": 1},
]  # fmt: skip


def reference(body: bytes) -> tuple[str, object]:
    """What the pydantic model (the API's behaviour before the bulk path) says of a body."""
    try:
        request = PredictRequest.model_validate_json(body)
    except ValidationError as error:
        return "refused", error.errors(include_input=False)
    columns = {name: [getattr(player, name) for player in request.players] for name in (ID_COLUMN, *FEATURE_COLUMNS)}
    return "accepted", columns


def bulk_result(body: bytes) -> tuple[str, object]:
    try:
        decoded = decode_request(body)
    except InvalidRequestError as error:
        return "refused", error.errors
    return "accepted", {ID_COLUMN: listed(decoded.player_ids), **{k: listed(v) for k, v in decoded.columns.items()}}


def listed(values) -> list:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def mutated_bodies(count: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    base = json_players(3, seed=seed)
    bodies = []
    for _ in range(count):
        players = [dict(player) for player in base]
        for _ in range(rng.choice([1, 1, 2, 3])):
            player = rng.choice(players)
            field = rng.choice([ID_COLUMN, *FEATURE_COLUMNS, "Score"])
            action = rng.random()
            if action < 0.15:
                player.pop(field, None)
            else:
                player[field] = rng.choice(ODD_VALUES)
        bodies.append(json.dumps({"players": players}).encode())
    return bodies


MISSHAPEN = [
    b"", b"{", b"[]", b"null", b"{}", b'{"players": []}', b'{"players": {}}', b'{"players": [1]}',
    b'{"players": [null]}', b'{"players": "x"}', b'{"players": [], "extra": 1}', b'{"players": [{}]} trailing',
    b'\xef\xbb\xbf{"players": []}', b'{"players": [{"Age": NaN}]}', b'{"players": [{"Age": Infinity}]}',
    b'{"players": [{"Age": 1e}]}', "{\"players\": [{\"Gender\": \"M\u00e4le\"}]}".encode(), b"\xff\xfe",
]  # fmt: skip


def with_nan(value: str) -> bytes:
    text = json.dumps({"players": [{**json_players(1)[0], "PlayTimeHours": 0.0}]})
    return text.replace("0.0", value, 1).encode()


def test_bulk_and_pydantic_agree_on_hundreds_of_good_and_bad_bodies():
    bodies = [
        *mutated_bodies(600),
        *MISSHAPEN,
        *(with_nan(value) for value in ("NaN", "Infinity", "-Infinity")),
        json.dumps({"players": json_players(50)}).encode(),
        json.dumps({"players": json_players(1)}, indent=2).encode(),
        json.dumps({"players": json_players(MAX_PLAYERS + 1)}).encode(),
        json.dumps({"players": [{**json_players(1)[0], "PlayerID": MAX_PLAYER_ID}]}).encode(),
        # A key given twice: both take the last value.
        json.dumps({"players": json_players(1)})[:-2].encode() + b', "Age": 300}]}',
        json.dumps({"players": json_players(1)}).replace("Male", "\\u004dale").encode(),
    ]
    decisions = {"accepted": 0, "refused": 0}
    for body in bodies:
        expected, got = reference(body), bulk_result(body)
        if expected[0] == "accepted" and got[0] == "refused":  # only duplicates are refused on top of pydantic
            assert all(problem["type"] == "duplicate" for problem in got[1]), body  # type: ignore[union-attr]
        else:
            assert got == expected, body
        decisions[expected[0]] += 1
    assert decisions["accepted"] > 20 and decisions["refused"] > 300  # both sides were really exercised


def test_valid_bodies_never_reach_pydantic(monkeypatch):
    def fail(*_: object) -> None:
        raise AssertionError("the reference path ran for a valid body")

    monkeypatch.setattr(bulk, "_decode_with_pydantic", fail)
    decoded = decode_request(json.dumps({"players": json_players(300)}).encode())
    assert len(decoded) == 300
    assert decoded.columns["Age"].dtype == np.int64 and decoded.columns["PlayTimeHours"].dtype == np.float64


def test_big_requests_agree_with_pydantic_and_carry_categories_as_codes():
    players = json_players(400, seed=3)
    body = json.dumps({"players": players}).encode()
    assert bulk_result(body) == reference(body)
    decoded = decode_request(body)
    assert isinstance(decoded.columns["Gender"], pd.Categorical)
    assert list(decoded.columns["Location"].categories) == ["Asia", "Europe", "Other", "USA"]
    players[350]["Location"] = "Mars"  # a bad cell deep in a big body: refused in pydantic's words
    bad = json.dumps({"players": players}).encode()
    assert bulk_result(bad) == reference(bad)


def test_a_big_request_scores_as_its_players_scored_one_by_one():
    model = tiny_model()
    players = json_players(300, seed=4)
    decoded = decode_request(json.dumps({"players": players}).encode())
    together = model.predictor.predict_proba(decoded.columns)
    one_by_one = [
        model.predictor.predict_proba(decode_request(json.dumps({"players": [p]}).encode()).columns) for p in players
    ]
    np.testing.assert_allclose(together, np.vstack(one_by_one), rtol=0, atol=1e-12)


@pytest.mark.parametrize("field", [ID_COLUMN, *FEATURE_COLUMNS])
def test_msgspec_rules_refuse_what_pydantic_refuses_field_by_field(field):
    for value in ODD_VALUES:
        player = {**json_players(1)[0], field: value}
        body = json.dumps({"players": [player]}).encode()
        try:
            msgspec.json.decode(body, type=bulk._Body)
            accepted = True
        except (msgspec.ValidationError, msgspec.DecodeError):
            accepted = False
        if accepted:
            assert reference(body)[0] == "accepted", (field, value)


def test_duplicate_player_ids_are_refused_naming_each_id_and_where():
    players = json_players(6)
    players[4][ID_COLUMN] = players[1][ID_COLUMN]
    players[5][ID_COLUMN] = players[1][ID_COLUMN]
    with pytest.raises(InvalidRequestError) as raised:
        decode_request(json.dumps({"players": players}).encode())
    (problem,) = raised.value.errors
    assert problem["loc"] == ("players", 1, ID_COLUMN)
    assert f"PlayerID {players[1][ID_COLUMN]} is given 3 times (players 1, 4, 5)" in problem["msg"]


def test_duplicate_player_ids_in_a_big_request_are_refused_too():
    players = json_players(500, seed=5)
    players[420][ID_COLUMN] = players[7][ID_COLUMN]
    with pytest.raises(InvalidRequestError) as raised:
        decode_request(json.dumps({"players": players}).encode())
    (problem,) = raised.value.errors
    assert problem["loc"] == ("players", 7, ID_COLUMN) and "(players 7, 420)" in problem["msg"]


def test_unique_ids_have_no_duplicate_problems():
    assert duplicate_ids(np.arange(10_000)) == []
    assert [problem["msg"].split()[1] for problem in duplicate_ids(np.array([7, 3, 7, 3, 1]))] == ["3", "7"]


def test_the_encoded_answer_is_a_valid_response_keeping_every_float_exactly():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet([1, 1, 1], size=50)
    classes = ["Low", "High", "Medium"]
    body = encode_predictions("m", "7", classes, np.arange(50) * 3, probabilities)
    response = PredictResponse.model_validate_json(body)
    assert [p.PlayerID for p in response.predictions] == list(range(0, 150, 3))
    for row, prediction in zip(probabilities, response.predictions, strict=True):
        assert prediction.predicted_engagement == classes[int(row.argmax())]
        assert prediction.model_version == "7"
        for label in LABELS:
            assert getattr(prediction, f"probability_{label}") == row[classes.index(label)]  # exact round trip
