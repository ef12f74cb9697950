"""Online inference: same validation and scores as batch, one prediction per valid input, nothing half-written."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from unit_helpers import FakeS3, raw_rows, synthetic_players

from machine_learning.data.schema import FEATURE_COLUMNS, LABEL_COLUMN, LABELS
from machine_learning.data.validate import validate_players
from machine_learning.errors import ConflictError, InvalidInputError, NotFoundError
from machine_learning.inference.model import LoadedModel
from machine_learning.inference.online import (
    MAX_ONLINE_INPUTS,
    fetch_online_result,
    online_result_key,
    request_id_for,
    score_online_inputs,
)
from machine_learning.inference.predict import predict_players
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore
from machine_learning.training.model import build_pipeline

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    players = synthetic_players(300, seed=1)
    fitted = build_pipeline(random_state=0, params={"classifier__max_iter": 30})
    fitted.fit(players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN])
    return LoadedModel("unit-test-engagement", "7", fitted)


def players_as_json(count: int, seed: int = 3) -> list[dict[str, object]]:
    """Typed players as a caller would send them: JSON numbers and strings, without the label."""
    frame = synthetic_players(count, seed=seed).drop(columns=[LABEL_COLUMN])
    frame["PlayerID"] += 5000
    records = frame.to_dict(orient="records")
    return [{key: value.item() if hasattr(value, "item") else value for key, value in row.items()} for row in records]


def test_every_valid_input_gets_one_prediction_equal_to_batch_scoring(model, store, settings):
    inputs = players_as_json(25)

    result = score_online_inputs(inputs, model, store, settings, "req-1", scored_at=AT)

    raw = pd.DataFrame([{k: str(v) for k, v in row.items()} for row in inputs], dtype=str)
    batch = predict_players(model, validate_players(raw).clean, AT)
    assert [p["input_index"] for p in result["predictions"]] == list(range(25))
    assert [p["PlayerID"] for p in result["predictions"]] == [row["PlayerID"] for row in inputs]
    for online, (_, expected) in zip(result["predictions"], batch.iterrows(), strict=True):
        assert online["predicted_engagement"] == expected["predicted_engagement"]
        for label in LABELS:
            assert online[f"probability_{label}"] == pytest.approx(expected[f"probability_{label}"], abs=1e-12)
        assert online["predicted_engagement"] == max(LABELS, key=lambda label: online[f"probability_{label}"])
    assert result["rejected"] == [] and result["predicted"] == result["inputs"] == 25
    assert (result["model_name"], result["model_version"]) == ("unit-test-engagement", "7")


def test_the_stored_result_is_what_was_returned(model, store, settings):
    result = score_online_inputs(players_as_json(3), model, store, settings, "req-2", scored_at=AT)

    assert result["result_uri"] == f"s3://unit-bucket/{online_result_key(settings, 'req-2')}"
    assert fetch_online_result(store, settings, "req-2") == result


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"GameGenre": "Racing"}, "GameGenre: unknown category 'Racing'"),
        ({"Age": None}, "Age: missing"),
        ({"SessionsPerWeek": "many"}, "SessionsPerWeek: not a number (many)"),
        ({"InGamePurchases": True}, "InGamePurchases: not a number (true)"),
        ({"Age": 12.5}, "Age: not a whole number (12.5)"),
    ],
)
def test_invalid_inputs_are_rejected_with_a_reason_and_the_rest_scored_in_order(model, store, settings, change, reason):
    inputs = players_as_json(4)
    inputs[1] = {**inputs[1], **change}

    result = score_online_inputs(inputs, model, store, settings, "req-3", scored_at=AT)

    assert [p["input_index"] for p in result["predictions"]] == [0, 2, 3]
    assert [r["input_index"] for r in result["rejected"]] == [1]
    assert reason in result["rejected"][0]["reason"]


def test_a_missing_field_and_duplicate_ids_are_reasons_too(model, store, settings):
    inputs = players_as_json(4)
    del inputs[0]["GameDifficulty"]
    inputs[3]["PlayerID"] = inputs[2]["PlayerID"]

    result = score_online_inputs(inputs, model, store, settings, "req-4", scored_at=AT)

    assert [p["input_index"] for p in result["predictions"]] == [1]
    reasons = {r["input_index"]: r["reason"] for r in result["rejected"]}
    assert reasons[0] == "GameDifficulty: missing"
    assert reasons[2] == reasons[3] == "PlayerID: duplicate"


def test_extra_fields_and_a_label_are_ignored(model, store, settings):
    inputs = [{**row, "EngagementLevel": "nonsense", "note": "x"} for row in players_as_json(2)]

    result = score_online_inputs(inputs, model, store, settings, "req-5", scored_at=AT)

    assert result["predicted"] == 2


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (None, "inputs must be a non-empty list"),
        ([], "inputs must be a non-empty list"),
        ({"PlayerID": 1}, "inputs must be a non-empty list"),
        ("not json", "inputs is text but not JSON"),
        ([{"PlayerID": 1}, "x"], r"inputs\[1\] must be an object"),
        ([{}] * (MAX_ONLINE_INPUTS + 1), "at most"),
        (
            [{**raw_rows(1)[0], "GameGenre": "Racing"}],
            r"no valid input to score \(1 rejected\): inputs\[0\]: GameGenre",
        ),
    ],
)
def test_a_request_that_cannot_be_scored_raises_and_writes_nothing(model, settings, inputs, message):
    fake = FakeS3()
    store = ObjectStore(client=fake, bucket=settings.s3_bucket)

    with pytest.raises(InvalidInputError, match=message):
        score_online_inputs(inputs, model, store, settings, "req-6")

    assert fake.objects == {}


def test_a_failed_write_leaves_no_result(model, settings):
    fake = FakeS3(fail_on_put=1)
    store = ObjectStore(client=fake, bucket=settings.s3_bucket)

    with pytest.raises(Exception, match="InternalError"):
        score_online_inputs(players_as_json(2), model, store, settings, "req-7")

    assert fake.objects == {}
    with pytest.raises(NotFoundError, match="no online result"):
        fetch_online_result(store, settings, "req-7")


def test_json_text_inputs_are_accepted(model, store, settings):
    result = score_online_inputs(json.dumps(players_as_json(2)), model, store, settings, "req-8")

    assert result["predicted"] == 2


@pytest.mark.parametrize("request_id", ["../escape", "a/b", "", "x" * 65, ".hidden"])
def test_request_ids_cannot_escape_the_online_folder(settings, request_id):
    with pytest.raises(InvalidInputError, match="request_id"):
        online_result_key(settings, request_id)


def test_request_id_is_the_callers_else_the_mage_run_else_random():
    assert request_id_for("mine", 12) == "mine"
    assert request_id_for(None, 12) == "mage-run-12"
    generated = {request_id_for(None, None) for _ in range(3)}
    assert len(generated) == 3 and all(len(value) == 32 for value in generated)


def test_results_of_two_titles_do_not_collide():
    first = online_result_key(Settings(game_title="title-a"), "r1")
    second = online_result_key(Settings(game_title="title-b"), "r1")
    assert first != second and first.startswith("title-a/online/")


def test_a_stored_result_cannot_be_overwritten_by_choosing_its_request_id(model, store, settings):
    first = score_online_inputs(players_as_json(2), model, store, settings, "taken-id")
    before = store.read_bytes(online_result_key(settings, "taken-id"))

    with pytest.raises(ConflictError, match="request_id 'taken-id' is taken") as refused:
        score_online_inputs(players_as_json(3, seed=9), model, store, settings, "taken-id")

    assert refused.value.http_status == 409
    assert store.read_bytes(online_result_key(settings, "taken-id")) == before
    assert fetch_online_result(store, settings, "taken-id") == first


def test_the_same_mage_run_may_store_its_result_again_but_no_other_run(model, store, settings):
    first = score_online_inputs(players_as_json(2), model, store, settings, "mage-run-5", pipeline_run_id=5)

    again = score_online_inputs(players_as_json(2), model, store, settings, "mage-run-5", pipeline_run_id=5)

    assert again["predictions"] == first["predictions"] and again["pipeline_run_id"] == "5"
    with pytest.raises(ConflictError, match="is taken"):
        score_online_inputs(players_as_json(2), model, store, settings, "mage-run-5", pipeline_run_id=6)
    with pytest.raises(ConflictError, match="is taken"):
        score_online_inputs(players_as_json(2), model, store, settings, "mage-run-5")


def test_a_caller_cannot_choose_another_runs_mage_run_id():
    with pytest.raises(InvalidInputError, match="given by Mage to its runs"):
        request_id_for("mage-run-13", 12)
    with pytest.raises(InvalidInputError, match="given by Mage to its runs"):
        request_id_for("mage-run-13", None)
    assert request_id_for("mage-run-12", 12) == "mage-run-12"
